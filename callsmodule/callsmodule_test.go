package callsmodule

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/proto"
)

// frame is a gRPC message frame (uncompressed) of m.
func frame(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 5, 5+len(b))
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
	return append(out, b...)
}

// read feeds the body's prefix as the filter does: ask for more until the
// reader answers, then (on Ask) look the method's field up.
func read(body []byte, field int) (Status, int) {
	n := min(64, len(body))
	f := -1
	for {
		st, r, need := GRPCStatus(body[:n], f)
		switch r {
		case Ask:
			f = field
			continue
		case Need:
			if need <= n || need > len(body) {
				return st, None
			}
			n = need
			continue
		}
		return st, r
	}
}

func TestGRPCStatus(t *testing.T) {
	results := &schemapb.SearchResultData{NumQueries: 1, TopK: 3, Ids: &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: []int64{1, 2, 3}}}}}
	long := strings.Repeat("r", 300)
	cases := []struct {
		name  string
		body  []byte
		field int
		want  Status
		res   int
	}{
		{"search success", frame(t, &milvuspb.SearchResults{Status: &commonpb.Status{}, Results: results}), 1, Status{}, Read},
		{"search refused", frame(t, &milvuspb.SearchResults{Status: &commonpb.Status{Code: 1100, Reason: "the dim (64) of the vector"}}), 1,
			Status{Code: 1100, Reason: "the dim (64) of the vector", HasReason: true}, Read},
		{"legacy error code", frame(t, &milvuspb.BoolResponse{Status: &commonpb.Status{ErrorCode: commonpb.ErrorCode_UnexpectedError, Reason: "x"}}), 1,
			Status{ErrorCode: 1, Reason: "x", HasReason: true}, Read},
		{"a long reason past the first 64 bytes", frame(t, &milvuspb.QueryResults{Status: &commonpb.Status{Code: 65535, Reason: long}}), 1,
			Status{Code: 65535, Reason: long, HasReason: true}, Read},
		{"negative code", frame(t, &milvuspb.QueryResults{Status: &commonpb.Status{Code: -1}}), 1, Status{Code: -1}, Read},
		{"the message is the status", frame(t, &commonpb.Status{Code: 100, Reason: "collection not found"}), 1,
			Status{Code: 100, Reason: "collection not found", HasReason: true}, Read},
		{"empty message", frame(t, &commonpb.Status{}), 1, Status{}, Read},
		{"status in field 3", frame(t, &milvuspb.ComponentStates{State: &milvuspb.ComponentInfo{NodeID: 7, Role: "proxy"}, Status: &commonpb.Status{Code: 2, Reason: "down"}}), 3,
			Status{Code: 2, Reason: "down", HasReason: true}, Read},
		{"a method without a status", frame(t, &milvuspb.ComponentStates{State: &milvuspb.ComponentInfo{NodeID: 7}}), 0, Status{}, None},
		{"compressed", append([]byte{1}, frame(t, &milvuspb.SearchResults{Status: &commonpb.Status{Code: 5}})[1:]...), 1, Status{}, None},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, r := read(c.body, c.field)
			if r != c.res || (r == Read && got != c.want) {
				t.Fatalf("got %+v (result %d), want %+v (result %d)", got, r, c.want, c.res)
			}
		})
	}
}

func TestGRPCStatusAsksForBytes(t *testing.T) {
	body := frame(t, &milvuspb.SearchResults{Status: &commonpb.Status{Code: 1100, Reason: strings.Repeat("x", 100)}})
	if _, r, need := GRPCStatus(body[:3], -1); r != Need || need != 5 {
		t.Fatalf("3 bytes: result %d need %d, want Need 5", r, need)
	}
	// The status is cut: the reader asks for the whole of it.
	if _, r, need := GRPCStatus(body[:40], -1); r != Need || need <= 40 || need > len(body) {
		t.Fatalf("40 bytes of %d: result %d need %d, want Need of more", len(body), r, need)
	}
	// A plain success needs no lookup of the method.
	ok := frame(t, &milvuspb.SearchResults{Status: &commonpb.Status{}})
	if _, r, _ := GRPCStatus(ok, -1); r != Read {
		t.Fatalf("success: result %d, want Read", r)
	}
	if _, r, _ := GRPCStatus(body, -1); r != Ask {
		t.Fatalf("failure: result %d, want Ask (look the method up)", r)
	}
}

func TestRESTStatus(t *testing.T) {
	cases := []struct {
		body string
		want Status
		ok   bool
	}{
		{`{"code":0,"data":{}}`, Status{}, true},
		{` { "code" : 1100, "message": "bad \"dim\" caf\u00e9\n" }`, Status{Code: 1100, Reason: "bad \"dim\" café\n", HasReason: true}, true},
		{`{"code":-5}`, Status{Code: -5}, true},
		{`{"code":1800,"message":"cut`, Status{Code: 1800, Reason: "cut", HasReason: true}, true},
		{`{"data":{},"code":0}`, Status{}, false},
		{`[1]`, Status{}, false},
	}
	for _, c := range cases {
		got, ok := RESTStatus(c.body)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", c.body, got, ok, c.want, c.ok)
		}
	}
}

func TestPercentDecode(t *testing.T) {
	if got := PercentDecode("rate%20limit%3A exceeded %zz%2"); got != "rate limit: exceeded %zz%2" {
		t.Fatalf("got %q", got)
	}
}

// TestCaps pins the rule of metrics.collections and users, which the edge
// applies too.
func TestCaps(t *testing.T) {
	c := NewCaps(2, 2)
	defer c.Free()
	for _, x := range []struct{ db, coll, wdb, wcoll string }{
		{"", "", "", ""},
		{"default", "a", "default", "a"},
		{"default", "b", "default", "b"},
		{"default", "c", "default", "__other__"},
		{"other", "x", "__other__", "__other__"},
		{"default", "a", "default", "a"},
		{"default", strings.Repeat("n", 256), "__other__", "__other__"},
		{"default", "\xff", "__other__", "__other__"},
		{"", "", "", ""},
	} {
		if d, k := c.Collection(x.db, x.coll); d != x.wdb || k != x.wcoll {
			t.Errorf("(%q, %q): got (%q, %q), want (%q, %q)", x.db, x.coll, d, k, x.wdb, x.wcoll)
		}
	}
	for _, x := range [][2]string{{"root", "root"}, {"alice@example.com", "alice@example.com"}, {"bob", "__other__"}, {"root", "root"}, {"\xc3", "__other__"}} {
		if got := c.User(x[0]); got != x[1] {
			t.Errorf("user %q: got %q, want %q", x[0], got, x[1])
		}
	}
}
