package authz

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/policy"
	"github.com/milvus-edge/milvus-edge/ratelimit"
)

// refusingPre is a single-pass preprocessor that refuses every call, as a
// validation refusal does (the responder answers it).
type refusingPre struct{}

func (refusingPre) Preprocess(context.Context, bool, string, string, string, []byte, proto.Message) []*corev3.HeaderValueOption {
	return []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: edgehdr.Reject, Value: "x"}}}
}

// TestCheckFacts: every answer of Check carries the call's facts in its
// dynamic metadata (edgemeta keys), and says who refused it.
func TestCheckFacts(t *testing.T) {
	allow, deny := policy.Decision{Allow: true}, policy.Decision{Reason: "PrivilegeSearch: permission deny to root in the `default` database"}
	search := framed(t, &milvuspb.SearchRequest{CollectionName: "docs", PartitionNames: []string{"p1", "p2"}, Nq: 2,
		SearchParams: []*commonpb.KeyValuePair{{Key: "topk", Value: "10"}}})
	insert := framed(t, &milvuspb.InsertRequest{DbName: "db1", CollectionName: "logs", NumRows: 100})
	root := b64("root:Milvus")
	for _, tc := range []struct {
		name           string
		ct, auth, path string
		headers        map[string]string
		body           []byte
		decision       policy.Decision
		o              Options
		limits         *ratelimit.Rules
		pre            Preprocessor
		want           map[string]any
	}{
		{name: "search allowed", auth: root, path: searchPath, body: search, decision: allow,
			want: map[string]any{"api": "Search", "surface": "grpc", "db": "default", "collection": "docs", "partition": "p1", "user": "root", "nq": 2.0, "topk": 10.0}},
		{name: "insert allowed, decision id", auth: root, path: "/milvus.proto.milvus.MilvusService/Insert", body: insert, decision: allow, o: Options{Metadata: true},
			headers: map[string]string{"dbname": "db1"},
			want:    map[string]any{"api": "Insert", "surface": "grpc", "db": "db1", "collection": "logs", "user": "root", "num_rows": 100.0, "decision_id": "*"}},
		{name: "rest search", ct: "application/json", auth: "Bearer root:Milvus", path: "/v2/vectordb/entities/search",
			body: []byte(`{"collectionName":"docs","limit":3,"data":[[0.1,0.2]]}`), decision: allow,
			want: map[string]any{"api": "Search", "surface": "rest", "db": "default", "collection": "docs", "user": "root", "nq": 1.0, "topk": 3.0}},
		{name: "wrong password", auth: b64("root:nope"), path: searchPath, body: search, decision: allow, headers: map[string]string{"dbname": "db1"},
			want: map[string]any{"api": "Search", "surface": "grpc", "db": "db1", "refused": "auth"}},
		{name: "no authorization over REST", ct: "application/json", path: "/v2/vectordb/collections/list", body: []byte(`{}`), decision: allow,
			want: map[string]any{"api": "ShowCollections", "surface": "rest", "db": "default", "refused": "auth"}},
		{name: "policy denial", auth: root, path: searchPath, body: search, decision: deny,
			want: map[string]any{"api": "Search", "surface": "grpc", "db": "default", "collection": "docs", "partition": "p1", "user": "root", "nq": 2.0, "topk": 10.0, "refused": "policy"}},
		{name: "rate limited", auth: root, path: searchPath, body: search, decision: allow, limits: &ratelimit.Rules{Edge: ratelimit.Level{DenyReading: true}},
			want: map[string]any{"api": "Search", "surface": "grpc", "db": "default", "collection": "docs", "partition": "p1", "user": "root", "nq": 2.0, "topk": 10.0, "refused": "rate_limit"}},
		{name: "single pass refusal", auth: root, path: searchPath, body: search, decision: allow, o: Options{SinglePass: true}, pre: refusingPre{},
			want: map[string]any{"api": "Search", "surface": "grpc", "db": "default", "collection": "docs", "partition": "p1", "user": "root", "nq": 2.0, "topk": 10.0, "refused": "validation"}},
		{name: "too large", auth: root, path: searchPath, body: search[:5], decision: allow, o: Options{MaxRequestBytes: 4},
			want: map[string]any{"api": "Search", "surface": "grpc", "db": "default", "refused": "validation"}},
		{name: "undecodable body", auth: root, path: searchPath, body: grpcFrame([]byte{0x12, 0x05, 'd'}, 0), decision: allow,
			want: map[string]any{"api": "Search", "surface": "grpc", "db": "default", "user": "root", "refused": "validation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, &fakePolicy{d: tc.decision}, tc.o, nil)
			if tc.limits != nil {
				s.UseLimiter(ratelimit.New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, tc.limits))
			}
			if tc.pre != nil {
				s.UsePreprocessor(tc.pre)
			}
			ct := tc.ct
			if ct == "" {
				ct = "application/grpc"
			}
			req := checkReq(ct, tc.auth, tc.path, tc.body)
			for k, v := range tc.headers {
				req.Attributes.Request.Http.Headers[k] = v
			}
			if ct == "application/json" {
				req.Attributes.Request.Http.Headers["content-length"] = strconv.Itoa(len(tc.body))
			}
			resp, err := s.Check(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got := factsMap(t, resp.GetDynamicMetadata())
			if id, ok := got["decision_id"].(string); ok && id != "" && tc.want["decision_id"] == "*" {
				got["decision_id"] = "*"
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("dynamic metadata\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestFactsWireForm: the facts written by hand decode as the Struct they
// stand for, and the rare ones are map fields the filter server's own
// readers see without decoding.
func TestFactsWireForm(t *testing.T) {
	nq, topk, rows, big := int64(3), int64(16384), int64(0), int64(1)<<40
	f := Facts{API: "Search", Surface: "grpc", DB: "default", Collection: "docs", Partition: "p1", User: "\u00e9l\u00e8ve",
		DecisionID: "abc", Refused: "policy", TraceID: "0af7651916cd43dd8448eb211c80319c", NQ: &nq, TopK: &topk, Rows: &rows}
	want := map[string]any{"api": "Search", "surface": "grpc", "db": "default", "collection": "docs", "partition": "p1", "user": "\u00e9l\u00e8ve",
		"decision_id": "abc", "refused": "policy", "trace_id": "0af7651916cd43dd8448eb211c80319c", "nq": 3.0, "topk": 16384.0, "num_rows": 0.0}
	s := f.Struct()
	if got := factsMap(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n got %v\nwant %v", got, want)
	}
	if s.Fields["refused"].GetStringValue() != "policy" || s.Fields["trace_id"] == nil || len(s.Fields) != 2 {
		t.Errorf("map fields %v, want refused and trace_id", s.Fields)
	}
	long := Facts{Collection: strings.Repeat("c", 300), Rows: &big}
	if got := factsMap(t, long.Struct()); got["collection"] != long.Collection || got["num_rows"] != float64(big) {
		t.Errorf("long values: %v", got)
	}
	if got := factsMap(t, (&Facts{}).Struct()); len(got) != 0 {
		t.Errorf("no facts: %v", got)
	}
}

// factsMap is s with every field decoded, as Envoy reads it.
func factsMap(t *testing.T, s *structpb.Struct) map[string]any {
	t.Helper()
	d, err := DecodeStruct(s)
	if err != nil {
		t.Fatal(err)
	}
	return d.AsMap()
}

// BenchmarkFacts is what the call's facts add to every Check: building them
// and marshalling them into the answer (gRPC marshals the CheckResponse),
// for a Search with an access log on (a decision id).
func BenchmarkFacts(b *testing.B) {
	nq, topk := int64(1), int64(10)
	f := Facts{API: "Search", Surface: "grpc", DB: "default", Collection: "docs", User: "root",
		DecisionID: "0123456789abcdef0123456789abcdef", NQ: &nq, TopK: &topk}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(f.Struct()); err != nil {
			b.Fatal(err)
		}
	}
}

// EachFact reads the same entries as a whole decode, the hand-encoded ones
// included.
func TestEachFactMatchesDecode(t *testing.T) {
	f := &Facts{API: "Search", DB: "default", Collection: "c1", User: "root", NQ: proto.Int64(3), Refused: "policy", TraceID: "abc"}
	s := f.Struct()
	want, err := DecodeStruct(s)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	EachFact(s, func(k string, v *structpb.Value) { got[k] = v.AsInterface() })
	if !reflect.DeepEqual(got, want.AsMap()) {
		t.Errorf("EachFact %v, decode %v", got, want.AsMap())
	}
}
