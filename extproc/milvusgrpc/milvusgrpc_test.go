package milvusgrpc

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

func frame(msg []byte, compressed bool) []byte {
	out := make([]byte, 5, 5+len(msg))
	if compressed {
		out[0] = 1
	}
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEveryMethodKnown(t *testing.T) {
	for _, name := range []string{"Search", "Insert", "Query", "CreateCollection", "Connect", "GetVersion", "CheckHealth", "HybridSearch", "CreateCredential"} {
		if _, ok := Lookup(ServicePrefix + name); !ok {
			t.Errorf("%s not in the method table", name)
		}
	}
	if n := len(Methods()); n < 80 {
		t.Errorf("only %d MilvusService methods found", n)
	}
	if _, ok := Lookup("/other.Service/Search"); ok {
		t.Error("foreign service resolved")
	}
}

func TestNames(t *testing.T) {
	big := make([]float32, 768)
	for _, tc := range []struct {
		method   string
		msg      proto.Message
		db, coll string
	}{
		{"Search", &milvuspb.SearchRequest{Base: &commonpb.MsgBase{MsgID: 7}, DbName: "db1", CollectionName: "docs", SearchInput: &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: []byte("xx")}, Dsl: "id > 1"}, "db1", "docs"},
		{"Insert", &milvuspb.InsertRequest{CollectionName: "docs", NumRows: 1, FieldsData: []*schemapb.FieldData{{FieldName: "vec", Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{Dim: 768, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: big}}}}}}}, "", "docs"},
		{"Query", &milvuspb.QueryRequest{DbName: "x", CollectionName: "c"}, "x", "c"},
		{"CreateDatabase", &milvuspb.CreateDatabaseRequest{DbName: "tenant"}, "tenant", ""},
		{"GetVersion", &milvuspb.GetVersionRequest{}, "", ""},
		{"CreateAlias", &milvuspb.CreateAliasRequest{CollectionName: "c", Alias: "a"}, "", "c"},
	} {
		t.Run(tc.method, func(t *testing.T) {
			m, ok := Lookup(ServicePrefix + tc.method)
			if !ok {
				t.Fatal("unknown method")
			}
			msg, err := Frame(frame(mustMarshal(t, tc.msg), false), "", 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			db, coll, err := m.Names(msg)
			if err != nil || db != tc.db || coll != tc.coll {
				t.Fatalf("Names = %q, %q, %v; want %q, %q", db, coll, err, tc.db, tc.coll)
			}
		})
	}
}

func TestFrameErrors(t *testing.T) {
	msg := mustMarshal(t, &milvuspb.HasCollectionRequest{CollectionName: "docs"})
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(msg)
	zw.Close()
	for _, tc := range []struct {
		name     string
		body     []byte
		encoding string
		max      int
		want     error
	}{
		{"short", []byte{0, 0, 0}, "", 100, ErrShortFrame},
		{"truncated", frame(msg, false)[:8], "", 100, ErrTruncatedFrame},
		{"compressed without encoding", frame(zb.Bytes(), true), "", 100, ErrCompressed},
		{"compressed snappy", frame(zb.Bytes(), true), "snappy", 100, ErrCompressed},
		{"gzip too large", frame(zb.Bytes(), true), "gzip", 3, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Frame(tc.body, tc.encoding, tc.max); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	got, err := Frame(frame(zb.Bytes(), true), "gzip", 100)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("gzip frame: %v", err)
	}
}

func TestNamesRefusesDuplicates(t *testing.T) {
	m, _ := Lookup(ServicePrefix + "Search")
	b := mustMarshal(t, &milvuspb.SearchRequest{CollectionName: "public"})
	b = append(b, mustMarshal(t, &milvuspb.SearchRequest{Dsl: strings.Repeat("x", 100000)})...)
	b = append(b, mustMarshal(t, &milvuspb.SearchRequest{CollectionName: "secret"})...)
	if _, _, err := m.Names(b); !errors.Is(err, ErrDuplicateName) {
		t.Fatalf("Names on a repeated collection_name: %v, want ErrDuplicateName", err)
	}
}

func TestNamesRefusesGarbage(t *testing.T) {
	m, _ := Lookup(ServicePrefix + "HasCollection")
	for _, b := range [][]byte{{0x1a, 0x50, 'a'}, {0xff}, {0x1a}} {
		if _, _, err := m.Names(b); err == nil {
			t.Errorf("Names(%x) accepted garbage", b)
		}
	}
}

// FuzzFrameAndNames: no input may panic the frame decoder or the name scan.
func FuzzFrameAndNames(f *testing.F) {
	f.Add(frame(mustMarshal(f, &milvuspb.SearchRequest{DbName: "d", CollectionName: "c"}), false), "Search", "")
	f.Add(frame(mustMarshal(f, &milvuspb.InsertRequest{CollectionName: "c", NumRows: 3}), false), "Insert", "")
	f.Add([]byte{1, 0, 0, 0, 3, 1, 2, 3}, "Query", "gzip")
	f.Add([]byte{0, 0, 0, 0, 2, 0x1a, 0x50}, "HasCollection", "")
	f.Fuzz(func(t *testing.T, body []byte, method, encoding string) {
		msg, err := Frame(body, encoding, 1<<16)
		if err != nil {
			return
		}
		if m, ok := Lookup(ServicePrefix + method); ok {
			_, _, _ = m.Names(msg)
		}
	})
}
