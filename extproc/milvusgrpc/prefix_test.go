package milvusgrpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func marshalT(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// floatPlaceholders is a serialized PlaceholderGroup of nq float vectors.
func floatPlaceholders(t testing.TB, nq, dim int) []byte {
	t.Helper()
	ph := &commonpb.PlaceholderValue{Tag: "$0", Type: commonpb.PlaceholderType_FloatVector}
	for q := 0; q < nq; q++ {
		v := make([]byte, 4*dim)
		for i := 0; i < dim; i++ {
			binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(float32(q+i)/10))
		}
		ph.Values = append(ph.Values, v)
	}
	return marshalT(t, &commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{ph}})
}

func searchRequest(t testing.TB, nq, dim int) *milvuspb.SearchRequest {
	return &milvuspb.SearchRequest{
		DbName:         "db1",
		CollectionName: "docs",
		PartitionNames: []string{"p1", "p2"},
		Dsl:            "id > 3",
		DslType:        commonpb.DslType_BoolExprV1,
		SearchInput:    &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: floatPlaceholders(t, nq, dim)},
		OutputFields:   []string{"id", "title"},
		SearchParams: []*commonpb.KeyValuePair{
			{Key: "anns_field", Value: "vec"}, {Key: "topk", Value: "10"}, {Key: "metric_type", Value: "L2"},
		},
		ConsistencyLevel: commonpb.ConsistencyLevel_Bounded,
	}
}

func mustMethod(t testing.TB, name string) *Method {
	t.Helper()
	m, ok := Lookup(ServicePrefix + name)
	if !ok {
		t.Fatalf("%s not in the method table", name)
	}
	return m
}

func i64(v int64) *int64   { return &v }
func str(s string) *string { return &s }

// checkInfo compares got with want, Msg aside, and Msg with msg.
func checkInfo(t *testing.T, want Info, got *Info, msg proto.Message) {
	t.Helper()
	g := *got
	g.Msg = nil
	if !reflect.DeepEqual(want, g) {
		t.Errorf("Info:\n got %s\nwant %s", fmtInfo(g), fmtInfo(want))
	}
	if msg != nil && (got.Msg == nil || !proto.Equal(msg, got.Msg.Interface())) {
		t.Errorf("Msg = %v, want %v", got.Msg, msg)
	}
}

func fmtInfo(i Info) string {
	p := func(v *int64) string {
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	f := "nil"
	if i.Filter != nil {
		f = strconv.Quote(*i.Filter)
	}
	return fmt.Sprintf("{API:%s DB:%s Coll:%s Parts:%q Obj:%q Objs:%q NQ:%s TopK:%s Rows:%s Out:%q HasOut:%v Filter:%s CL:%q Trunc:%v}",
		i.API, i.DB, i.Collection, i.Partitions, i.ObjectName, i.ObjectNames, p(i.NQ), p(i.TopK), p(i.NumRows),
		i.OutputFields, i.HasOutputFields, f, i.ConsistencyLevel, i.Truncated)
}

func TestDecodePrefix(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		msg    proto.Message
		want   Info
	}{{
		name: "search", method: "Search", msg: searchRequest(t, 2, 8),
		want: Info{API: "Search", DB: "db1", Collection: "docs", Partitions: []string{"p1", "p2"}, ObjectName: "docs",
			NQ: i64(2), TopK: i64(10), OutputFields: []string{"id", "title"}, HasOutputFields: true,
			Filter: str("id > 3"), ConsistencyLevel: "Bounded"},
	}, {
		name: "search nq field wins", method: "Search",
		msg:  &milvuspb.SearchRequest{CollectionName: "c", Nq: 5, UseDefaultConsistency: true, SearchParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "3"}}},
		want: Info{API: "Search", Collection: "c", ObjectName: "c", NQ: i64(5), TopK: i64(3), HasOutputFields: true},
	}, {
		name: "search topk not a number", method: "Search",
		msg:  &milvuspb.SearchRequest{CollectionName: "c", SearchParams: []*commonpb.KeyValuePair{{Key: "topk", Value: "ten"}}},
		want: Info{API: "Search", Collection: "c", ObjectName: "c", HasOutputFields: true, ConsistencyLevel: "Strong"},
	}, {
		name: "hybrid search", method: "HybridSearch",
		msg: &milvuspb.HybridSearchRequest{CollectionName: "docs", Requests: []*milvuspb.SearchRequest{
			{CollectionName: "docs", Nq: 3}, {CollectionName: "docs", Nq: 3},
		}, RankParams: []*commonpb.KeyValuePair{{Key: "strategy", Value: "rrf"}, {Key: "limit", Value: "5"}},
			OutputFields: []string{"id"}, ConsistencyLevel: commonpb.ConsistencyLevel_Session},
		want: Info{API: "HybridSearch", Collection: "docs", ObjectName: "docs", NQ: i64(3), SubSearches: 2, TopK: i64(5),
			OutputFields: []string{"id"}, HasOutputFields: true, ConsistencyLevel: "Session"},
	}, {
		name: "query strong by default", method: "Query",
		msg: &milvuspb.QueryRequest{CollectionName: "docs", Expr: "id in [1]", OutputFields: []string{"*"},
			PartitionNames: []string{"p"}, QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "7"}}},
		want: Info{API: "Query", Collection: "docs", Partitions: []string{"p"}, ObjectName: "docs", TopK: i64(7),
			OutputFields: []string{"*"}, HasOutputFields: true, Filter: str("id in [1]"), ConsistencyLevel: "Strong"},
	}, {
		name: "query default consistency", method: "Query",
		msg:  &milvuspb.QueryRequest{CollectionName: "docs", UseDefaultConsistency: true},
		want: Info{API: "Query", Collection: "docs", ObjectName: "docs", HasOutputFields: true},
	}, {
		name: "insert", method: "Insert",
		msg:  &milvuspb.InsertRequest{CollectionName: "docs", PartitionName: "p", NumRows: 1000},
		want: Info{API: "Insert", Collection: "docs", Partitions: []string{"p"}, ObjectName: "docs", NumRows: i64(1000)},
	}, {
		name: "delete", method: "Delete",
		msg:  &milvuspb.DeleteRequest{DbName: "x", CollectionName: "docs", Expr: "id < 0"},
		want: Info{API: "Delete", DB: "x", Collection: "docs", ObjectName: "docs", Filter: str("id < 0"), ConsistencyLevel: "Strong"},
	}, {
		name: "flush list", method: "Flush",
		msg:  &milvuspb.FlushRequest{CollectionNames: []string{"a", "b"}},
		want: Info{API: "Flush", ObjectName: "a", ObjectNames: []string{"a", "b"}},
	}, {
		name: "flush none", method: "Flush", msg: &milvuspb.FlushRequest{},
		want: Info{API: "Flush", ObjectName: "*"},
	}, {
		name: "select user", method: "SelectUser",
		msg:  &milvuspb.SelectUserRequest{User: &milvuspb.UserEntity{Name: "bob"}},
		want: Info{API: "SelectUser", ObjectName: "bob"},
	}, {
		name: "select all users", method: "SelectUser", msg: &milvuspb.SelectUserRequest{},
		want: Info{API: "SelectUser", ObjectName: "*"},
	}, {
		name: "update credential", method: "UpdateCredential",
		msg:  &milvuspb.UpdateCredentialRequest{Username: "bob", OldPassword: "b2xk", NewPassword: "bmV3"},
		want: Info{API: "UpdateCredential", ObjectName: "bob"},
	}, {
		name: "create collection is global", method: "CreateCollection",
		msg:  &milvuspb.CreateCollectionRequest{DbName: "d", CollectionName: "new", Schema: []byte("schema")},
		want: Info{API: "CreateCollection", DB: "d", Collection: "new", ObjectName: "*", ConsistencyLevel: "Strong"},
	}, {
		name: "has collection has no option", method: "HasCollection",
		msg:  &milvuspb.HasCollectionRequest{CollectionName: "docs"},
		want: Info{API: "HasCollection", Collection: "docs"},
	}, {
		name: "empty", method: "GetVersion", msg: &milvuspb.GetVersionRequest{},
		want: Info{API: "GetVersion"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustMethod(t, tc.method).DecodeMessage(marshalT(t, tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			checkInfo(t, tc.want, got, tc.msg)
		})
	}
}

// TestDecodePrefixTruncated cuts a search request at every byte: decoding
// never fails, and exactly the fields that end before the cut are known.
func TestDecodePrefixTruncated(t *testing.T) {
	req := searchRequest(t, 1, 768)
	full := marshalT(t, req)
	m := mustMethod(t, "Search")
	ends, boundary := fieldEnds(t, full)
	topkEnd := 0 // "topk" is the second search param
	for off, n := 0, 0; n < 2; {
		num, typ, l := protowire.ConsumeTag(full[off:])
		off += l + protowire.ConsumeFieldValue(num, typ, full[off+l:])
		if num == 9 {
			n, topkEnd = n+1, off
		}
	}
	// knownAfter(n): where the first field numbered above n (the oneof
	// placeholder_group, written last, aside) ends.
	knownAfter := func(n protowire.Number) int {
		off := len(full)
		for off2, num := range firstEnds(t, full) {
			if num > n && num != 6 && off2 < off {
				off = off2
			}
		}
		return off
	}
	for cut := 0; cut <= len(full); cut++ {
		got, err := m.DecodePrefix(full[:cut])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if got.Truncated == boundary[cut] {
			t.Fatalf("cut %d: Truncated = %v", cut, got.Truncated)
		}
		if (got.Collection == "docs") != (cut >= ends[3]) || (got.ObjectName == "docs") != (cut >= ends[3]) {
			t.Fatalf("cut %d: collection %q object %q", cut, got.Collection, got.ObjectName)
		}
		if (got.Filter != nil) != (cut >= ends[5]) {
			t.Fatalf("cut %d: filter %v", cut, got.Filter)
		}
		if (got.NQ != nil) != (cut >= ends[6]) {
			t.Fatalf("cut %d: nq %v", cut, got.NQ)
		}
		if (got.TopK != nil) != (cut >= topkEnd) {
			t.Fatalf("cut %d: topk %v", cut, got.TopK)
		}
		// Lists are known once a later field was seen.
		if (len(got.Partitions) == 2) != (cut >= knownAfter(4)) || len(got.Partitions) == 1 {
			t.Fatalf("cut %d: partitions %q", cut, got.Partitions)
		}
		if got.HasOutputFields != (cut >= knownAfter(8)) || got.HasOutputFields != (len(got.OutputFields) == 2) {
			t.Fatalf("cut %d: output fields known %v", cut, got.HasOutputFields)
		}
		if (got.ConsistencyLevel == "Bounded") != (cut >= ends[14]) || got.ConsistencyLevel != "" && got.ConsistencyLevel != "Bounded" {
			t.Fatalf("cut %d: consistency %q", cut, got.ConsistencyLevel)
		}
	}
}

// fieldEnds maps each top-level field number of msg to the offset where its
// last occurrence ends, and returns every field boundary.
func fieldEnds(t *testing.T, msg []byte) (map[protowire.Number]int, map[int]bool) {
	t.Helper()
	ends, boundary := map[protowire.Number]int{}, map[int]bool{0: true}
	for off := 0; off < len(msg); {
		num, typ, n := protowire.ConsumeTag(msg[off:])
		v := protowire.ConsumeFieldValue(num, typ, msg[off+n:])
		if n < 0 || v < 0 {
			t.Fatalf("bad test message at %d", off)
		}
		off += n + v
		ends[num], boundary[off] = off, true
	}
	return ends, boundary
}

// firstEnds maps the end offset of each top-level field of msg to its number.
func firstEnds(t *testing.T, msg []byte) map[int]protowire.Number {
	t.Helper()
	out := map[int]protowire.Number{}
	for off := 0; off < len(msg); {
		num, typ, n := protowire.ConsumeTag(msg[off:])
		off += n + protowire.ConsumeFieldValue(num, typ, msg[off+n:])
		out[off] = num
	}
	return out
}

// TestDecodeMessageIncomplete: a complete message may not end inside a field.
func TestDecodeMessageIncomplete(t *testing.T) {
	full := marshalT(t, searchRequest(t, 1, 8))
	if _, err := mustMethod(t, "Search").DecodeMessage(full[:len(full)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}

// TestDecodePrefixZeroBeforeCut: a field numbered below one already seen
// is known even when the body is cut later (encoders write in order).
func TestDecodePrefixZeroBeforeCut(t *testing.T) {
	b := marshalT(t, &milvuspb.QueryRequest{CollectionName: "c", QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "1"}},
		ConsistencyLevel: commonpb.ConsistencyLevel_Eventually, ExprTemplateValues: map[string]*schemapb.TemplateValue{"a": {}}})
	got, err := mustMethod(t, "Query").DecodePrefix(b[:len(b)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !got.Truncated || !got.HasOutputFields || got.ConsistencyLevel != "Eventually" || got.Filter != nil {
		t.Errorf("got truncated %v, output fields known %v, consistency %q, filter %v",
			got.Truncated, got.HasOutputFields, got.ConsistencyLevel, got.Filter)
	}
}

func TestDecodePrefixMalformed(t *testing.T) {
	m := mustMethod(t, "Search")
	for name, b := range map[string][]byte{
		"field number 0":     {0x00, 0x01},
		"end group":          {0x0c},
		"varint overflow":    {0x60, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bad utf-8":          {0x1a, 0x02, 0xff, 0xfe},
		"bad nested message": {0x4a, 0x02, 0x00, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := m.DecodePrefix(b); !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestCountPlaceholders(t *testing.T) {
	for _, nq := range []int{0, 1, 3} {
		n, ok := countPlaceholders(floatPlaceholders(t, nq, 4))
		if !ok || n != int64(nq) {
			t.Errorf("nq %d: got %d, %v", nq, n, ok)
		}
	}
	if _, ok := countPlaceholders([]byte{0x0a, 0x05, 0x1a}); ok {
		t.Error("a truncated group was counted")
	}
}

func FuzzDecodePrefix(f *testing.F) {
	f.Add("Search", marshalT(f, searchRequest(f, 2, 4)))
	f.Add("Search", marshalT(f, searchRequest(f, 1, 16))[:40])
	f.Add("HybridSearch", marshalT(f, &milvuspb.HybridSearchRequest{CollectionName: "c",
		Requests: []*milvuspb.SearchRequest{searchRequest(f, 1, 2)}, RankParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "3"}}}))
	f.Add("Query", marshalT(f, &milvuspb.QueryRequest{CollectionName: "c", Expr: "a > 1", QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "9"}}}))
	f.Add("Insert", marshalT(f, &milvuspb.InsertRequest{CollectionName: "c", NumRows: 3}))
	f.Add("Flush", marshalT(f, &milvuspb.FlushRequest{CollectionNames: []string{"a", "b"}}))
	f.Add("SelectUser", marshalT(f, &milvuspb.SelectUserRequest{User: &milvuspb.UserEntity{Name: "u"}}))
	f.Add("Delete", []byte{0x2a, 0x05, 'a'})
	f.Fuzz(func(t *testing.T, method string, msg []byte) {
		m, ok := Lookup(ServicePrefix + method)
		if !ok {
			m = mustMethod(t, "Search")
		}
		info, err := m.DecodePrefix(msg)
		if info == nil {
			t.Fatal("nil Info")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if info.Msg == nil {
			t.Fatal("no message decoded")
		}
		whole, werr := m.DecodeMessage(msg)
		if (werr == nil) == info.Truncated {
			t.Fatalf("DecodeMessage error %v, but prefix truncated %v", werr, info.Truncated)
		}
		if werr != nil {
			return
		}
		// A complete message decodes as the proto library decodes it.
		want := whole.Msg.New().Interface()
		if err := proto.Unmarshal(msg, want); err != nil {
			t.Fatalf("DecodeMessage accepted what proto.Unmarshal rejects: %v", err)
		}
		if !proto.Equal(want, whole.Msg.Interface()) || !proto.Equal(want, info.Msg.Interface()) {
			t.Fatal("decoded message differs from proto.Unmarshal")
		}
		// Every prefix of a valid message decodes. (Its names may differ from
		// the whole message's: a repeated singular field's last value wins,
		// see TestDecodePrefixDuplicateName.)
		for _, cut := range []int{len(msg) / 2, len(msg) - 1} {
			if cut < 0 {
				continue
			}
			if _, err := m.DecodePrefix(msg[:cut]); err != nil {
				t.Fatalf("prefix %d of a valid message fails: %v", cut, err)
			}
		}
	})
}

func BenchmarkDecodePrefixSearch(b *testing.B) {
	full := marshalT(b, searchRequest(b, 1, 768))
	m := mustMethod(b, "Search")
	for _, bc := range []struct {
		name string
		msg  []byte
	}{{"prefix2KiB", full[:2048]}, {"full", full}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.msg)))
			for b.Loop() {
				if _, err := m.DecodePrefix(bc.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// marshalInOrder encodes m with its fields in number order, oneofs included,
// as the C++ and Python (pymilvus) encoders do; Go writes oneofs last.
func marshalInOrder(t testing.TB, m proto.Message) []byte {
	t.Helper()
	r := m.ProtoReflect()
	var fds []protoreflect.FieldDescriptor
	r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		fds = append(fds, fd)
		return true
	})
	slices.SortFunc(fds, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	var out []byte
	for _, fd := range fds {
		one := r.New()
		one.Set(fd, r.Get(fd))
		out = append(out, marshalT(t, one.Interface())...)
	}
	return out
}

// TestDecodePrefixPymilvusOrder: pymilvus writes placeholder_group (6) before
// output_fields and search_params, so a 2 KiB prefix of a 768-d search holds
// only the names and the filter — and the start of the vectors, from which
// nq is estimated for rate limits.
func TestDecodePrefixPymilvusOrder(t *testing.T) {
	req := searchRequest(t, 1, 768)
	full := marshalInOrder(t, req)
	if got, err := mustMethod(t, "Search").DecodeMessage(full); err != nil || !proto.Equal(got.Msg.Interface(), req) {
		t.Fatalf("in-order encoding does not decode: %v", err)
	}
	got, err := mustMethod(t, "Search").DecodePrefix(full[:2048])
	if err != nil {
		t.Fatal(err)
	}
	checkInfo(t, Info{API: "Search", DB: "db1", Collection: "docs", Partitions: []string{"p1", "p2"}, ObjectName: "docs",
		Filter: str("id > 3"), Truncated: true, NQEstimate: i64(1)}, got, nil)
}

// TestDecodePrefixDuplicateName pins a limit of prefixes: protobuf lets a
// singular field repeat and the last value wins, so a name after the cut
// overrides the one the prefix shows. Policies must not trust names of a
// truncated body (input.truncated_body) for anything they would deny.
func TestDecodePrefixDuplicateName(t *testing.T) {
	msg := []byte("\x1a\x06public\x1a\x06secret")
	m := mustMethod(t, "Search")
	whole, err := m.DecodeMessage(msg)
	if err != nil || whole.Collection != "secret" {
		t.Fatalf("whole: %q, %v", whole.Collection, err)
	}
	cut, err := m.DecodePrefix(msg[:10])
	if err != nil || cut.Collection != "public" || !cut.Truncated {
		t.Fatalf("prefix: %q truncated %v, %v", cut.Collection, cut.Truncated, err)
	}
}

// A large search reaches ext_authz cut inside its placeholder group, before
// its nq field: nq is read from the group's declared length, so that rate
// limits charge the vectors it asks for.
func TestDecodePrefixEstimatesNQ(t *testing.T) {
	m := mustMethod(t, "Search")
	for _, c := range []struct{ nq, dim, cut int }{
		{37, 256, 8 << 10}, {1, 768, 2 << 10}, {200, 128, 64 << 10}, {10, 2048, 400},
	} {
		full := marshalT(t, searchRequest(t, c.nq, c.dim))
		info, err := m.DecodePrefix(full[:c.cut])
		if err != nil {
			t.Fatal(err)
		}
		if !info.Truncated || info.NQ != nil || info.NQEstimate == nil || *info.NQEstimate != int64(c.nq) {
			t.Errorf("nq %d dim %d cut at %d: NQ %v, NQEstimate = %v, truncated %v", c.nq, c.dim, c.cut, info.NQ, info.NQEstimate, info.Truncated)
		}
	}
	// Cut before the group's first value: unknown, not a guess.
	full := marshalT(t, searchRequest(t, 5, 64))
	info, err := m.DecodePrefix(full[:40])
	if err != nil {
		t.Fatal(err)
	}
	if info.NQEstimate != nil {
		t.Errorf("cut at 40 bytes: NQEstimate = %d, want unknown", *info.NQEstimate)
	}
}
