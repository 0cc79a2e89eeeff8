package extproc

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilter "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/extproc/validate"
	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
)

func grpcBody(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 5)
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
	return append(out, b...)
}

func headers(kv ...string) *extprocv3.HttpHeaders {
	h := &corev3.HeaderMap{}
	for i := 0; i < len(kv); i += 2 {
		h.Headers = append(h.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocv3.HttpHeaders{Headers: h}
}

func run(t *testing.T, hs *extprocv3.HttpHeaders, body []byte) *extprocv3.ProcessingResponse {
	p := processor{s: New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 1 << 20})}
	p.requestHeaders(hs)
	return p.requestBody(&extprocv3.HttpBody{Body: body, EndOfStream: true})
}

func routeKey(r *extprocv3.ProcessingResponse) (string, bool) {
	c := r.GetRequestBody().GetResponse()
	for _, h := range c.GetHeaderMutation().GetSetHeaders() {
		if h.GetHeader().GetKey() == edgehdr.Route {
			return string(h.GetHeader().GetRawValue()), c.GetClearRouteCache()
		}
	}
	return "", c.GetClearRouteCache()
}

func TestRouteKey(t *testing.T) {
	const search = "/milvus.proto.milvus.MilvusService/Search"
	for _, tc := range []struct {
		name string
		hs   *extprocv3.HttpHeaders
		body []byte
		want string
	}{
		{"body names", headers(":path", search, "content-type", "application/grpc"),
			grpcBody(t, &milvuspb.SearchRequest{DbName: "db1", CollectionName: "docs"}), "db1/docs"},
		{"dbname header", headers(":path", search, "content-type", "application/grpc", "dbname", "tenant"),
			grpcBody(t, &milvuspb.SearchRequest{CollectionName: "docs"}), "tenant/docs"},
		{"default database", headers(":path", search, "content-type", "application/grpc"),
			grpcBody(t, &milvuspb.SearchRequest{CollectionName: "docs"}), "default/docs"},
		{"no collection", headers(":path", "/milvus.proto.milvus.MilvusService/GetVersion", "content-type", "application/grpc"),
			grpcBody(t, &milvuspb.GetVersionRequest{}), "default/"},
		{"rest", headers(":path", "/v2/vectordb/entities/search", "content-type", "application/json", "db-name", "d2"),
			[]byte(`{"collectionName":"docs","data":[[1,2]]}`), "d2/docs"},
		{"rest body db", headers(":path", "/v2/vectordb/entities/query", "content-type", "application/json"),
			[]byte(`{"dbName":"x","collectionName":"c"}`), "x/c"},
		{"other http", headers(":path", "/healthz", "content-type", "text/plain"), []byte("hi"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.hs, tc.body)
			got, clear := routeKey(r)
			if got != tc.want || clear != (tc.want != "") {
				t.Fatalf("route key %q clear=%v, want %q", got, clear, tc.want)
			}
		})
	}
}

// TestInvalidNameGetsTypedMilvusError: a name Milvus refuses gets its typed
// answer through the responder — 1100 where Milvus checks names (Query),
// CollectionNotFound where it only looks them up (Search).
func TestInvalidNameGetsTypedMilvusError(t *testing.T) {
	for _, tc := range []struct {
		method string
		body   proto.Message
		code   int32
	}{
		{"Query", &milvuspb.QueryRequest{CollectionName: "a/b", Expr: "id > 0"}, 1100},
		{"Search", &milvuspb.SearchRequest{CollectionName: "a/b"}, 100},
	} {
		r := run(t, headers(":path", "/milvus.proto.milvus.MilvusService/"+tc.method, "content-type", "application/grpc"), grpcBody(t, tc.body))
		var reject string
		for _, h := range r.GetRequestBody().GetResponse().GetHeaderMutation().GetSetHeaders() {
			if h.GetHeader().GetKey() == edgehdr.Reject {
				reject = string(h.GetHeader().GetRawValue())
			}
		}
		st, err := edgehdr.DecodeReject(reject)
		if err != nil || st.GetCode() != tc.code || !r.GetRequestBody().GetResponse().GetClearRouteCache() {
			t.Fatalf("%s of an invalid name → reject %v (%v), want code %d and a re-route", tc.method, st, err, tc.code)
		}
		if b := r.GetRequestBody().GetResponse().GetBodyMutation().GetBody(); len(b) != 5 {
			t.Fatalf("rejected body %x, want the empty frame", b)
		}
	}
}

func TestRejects(t *testing.T) {
	r := run(t, headers(":path", "/milvus.proto.milvus.MilvusService/Search", "content-type", "application/grpc"), []byte{0, 0, 0, 0, 9, 1})
	if ir := r.GetImmediateResponse(); ir == nil || ir.GetGrpcStatus().GetStatus() != uint32(codes.InvalidArgument) {
		t.Fatalf("truncated frame → %v, want an immediate INVALID_ARGUMENT", r)
	}
	r = run(t, headers(":path", "/v2/vectordb/entities/search", "content-type", "application/json"), []byte(`{"collectionName":`))
	if ir := r.GetImmediateResponse(); ir == nil || ir.GetGrpcStatus() != nil || string(ir.GetBody())[:12] != `{"code":1100` {
		t.Fatalf("bad REST JSON → %v, want Milvus code 1100", r)
	}
	// ext_authz may have decided on the first collectionName of a cut body;
	// Milvus would act on the last.
	r = run(t, headers(":path", "/v2/vectordb/entities/insert", "content-type", "application/json"),
		[]byte(`{"collectionName":"mine","data":[{"id":1}],"CollectionName":"theirs"}`))
	if ir := r.GetImmediateResponse(); ir == nil || !strings.Contains(string(ir.GetBody()), `"code":1100`) || !strings.Contains(string(ir.GetBody()), "more than once") {
		t.Fatalf("REST body naming its collection twice → %v, want Milvus code 1100", r)
	}
}

// TestDDLModeOverrideKeepsRequestBody: an override replaces the whole mode, so
// the DDL override must keep sending the request body (or DDL would skip
// routing and validation) while asking for the response body.
func TestDDLModeOverrideKeepsRequestBody(t *testing.T) {
	p := processor{s: New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 1 << 20, Schemas: nopSchemas{}, Router: func(string, string) string { return "c" }})}
	r := p.requestHeaders(headers(":path", "/milvus.proto.milvus.MilvusService/DropCollection", "content-type", "application/grpc"))
	m := r.GetModeOverride()
	if m.GetRequestBodyMode() != extprocfilter.ProcessingMode_BUFFERED || m.GetResponseBodyMode() != extprocfilter.ProcessingMode_BUFFERED || m.GetRequestHeaderMode() != extprocfilter.ProcessingMode_SEND {
		t.Fatalf("DDL mode override %v", m)
	}
	if r := p.requestHeaders(headers(":path", "/milvus.proto.milvus.MilvusService/Search", "content-type", "application/grpc")); r.GetModeOverride() != nil {
		t.Fatal("Search asked for its response body")
	}
}

type nopSchemas struct{}

func (nopSchemas) Get(context.Context, string, string, string) (*validate.Schema, string, error) {
	return nil, "", ErrCollectionNotFound
}
func (nopSchemas) Invalidate(string, string, string) {}
func (nopSchemas) InvalidateDB(string, string)       {}

func TestWatchSampling(t *testing.T) {
	now := time.Unix(100, 0)
	s := New(Config{WatchEvery: 50 * time.Millisecond, Now: func() time.Time { return now }})
	got := []bool{s.claimWatch(), s.claimWatch()}
	now = now.Add(49 * time.Millisecond)
	got = append(got, s.claimWatch())
	now = now.Add(time.Millisecond)
	got = append(got, s.claimWatch(), s.claimWatch())
	if fmt.Sprint(got) != "[true false false true false]" {
		t.Fatalf("claims %v, want one per 50 ms", got)
	}
	if New(Config{}).claimWatch() {
		t.Fatal("watching with WatchEvery 0")
	}
}

// TestOversizedRequestIsResourceExhausted: Milvus's answer to a message over
// its receive limit.
func TestOversizedRequestIsResourceExhausted(t *testing.T) {
	p := processor{s: New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 64})}
	p.requestHeaders(headers(":path", "/milvus.proto.milvus.MilvusService/Query", "content-type", "application/grpc"))
	r := p.requestBody(&extprocv3.HttpBody{Body: grpcBody(t, &milvuspb.QueryRequest{CollectionName: "docs", Expr: strings.Repeat("x", 100)}), EndOfStream: true})
	ir := r.GetImmediateResponse()
	if ir.GetGrpcStatus().GetStatus() != uint32(codes.ResourceExhausted) || !strings.Contains(string(ir.GetBody()), "larger than max (113 vs. 64): milvus-edge listener.max_request_bytes") {
		t.Fatalf("oversized request → %v", r)
	}
}

// recordingSchemas records invalidations.
type recordingSchemas struct {
	nopSchemas
	got []string
}

func (r *recordingSchemas) Invalidate(cluster, db, coll string) {
	r.got = append(r.got, cluster+"/"+db+"/"+coll)
}
func (r *recordingSchemas) InvalidateDB(cluster, db string) {
	r.got = append(r.got, cluster+"/"+db+"/*")
}

// TestRESTDDLInvalidates: a successful REST v2 DDL answer drops what it
// changed from the schema cache, as gRPC DDL does; a failed one drops nothing.
func TestRESTDDLInvalidates(t *testing.T) {
	for _, tc := range []struct {
		path, body, answer string
		want               string
	}{
		{"/v2/vectordb/collections/drop", `{"collectionName":"docs"}`, `{"code":0,"data":{}}`, "[c/default/docs]"},
		{"/v2/vectordb/collections/drop", `{"collectionName":"docs"}`, `{"code":100,"message":"collection not found"}`, "[]"},
		{"/v2/vectordb/collections/create", `{"dbName":"t","collectionName":"docs","dimension":8}`, `{"code":0}`, "[c/t/docs]"},
		{"/v2/vectordb/collections/rename", `{"collectionName":"a","newCollectionName":"b"}`, `{"code":0}`, "[c/default/a c/default/b]"},
		{"/v2/vectordb/aliases/alter", `{"aliasName":"al","collectionName":"docs"}`, `{"code":0}`, "[c/default/docs c/default/al]"},
		{"/v2/vectordb/partitions/drop", `{"collectionName":"docs","partitionName":"p"}`, `{"code":0}`, "[c/default/docs]"},
		{"/v2/vectordb/databases/drop", `{"dbName":"t"}`, `{"code":0}`, "[c/t/*]"},
	} {
		t.Run(tc.path+" "+tc.answer, func(t *testing.T) {
			rec := &recordingSchemas{}
			p := processor{s: New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 1 << 20, Schemas: rec, Router: func(string, string) string { return "c" }})}
			if r := p.requestHeaders(headers(":path", tc.path, "content-type", "application/json")); r.GetModeOverride() != ddlMode {
				t.Fatalf("REST DDL did not ask for its response: %v", r.GetModeOverride())
			}
			p.requestBody(&extprocv3.HttpBody{Body: []byte(tc.body), EndOfStream: true})
			p.responseBody(&extprocv3.HttpBody{Body: []byte(tc.answer), EndOfStream: true})
			if got := fmt.Sprint(rec.got); got != tc.want {
				t.Fatalf("invalidated %s, want %s", got, tc.want)
			}
		})
	}
	p := processor{s: New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 1 << 20, Schemas: nopSchemas{}, Router: func(string, string) string { return "c" }})}
	if r := p.requestHeaders(headers(":path", "/v2/vectordb/entities/search", "content-type", "application/json")); r.GetModeOverride() != nil {
		t.Fatal("a REST search asked for its response")
	}
}

// slowSchemas answers as the schema store does when a fill outlasts its
// wait budget (a backend that hangs).
type slowSchemas struct{ nopSchemas }

func (slowSchemas) Get(context.Context, string, string, string) (*validate.Schema, string, error) {
	return nil, "", fmt.Errorf("default/docs: %w", cache.ErrWaitBudget)
}

// TestSlowFillPasses: a call whose schema is not there in time passes
// unvalidated with its route key, never refused or held.
func TestSlowFillPasses(t *testing.T) {
	s := New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxLen: 1 << 20, Schemas: slowSchemas{},
		Router: func(string, string) string { return "c" }})
	p := processor{s: s, ctx: context.Background()}
	p.requestHeaders(headers(":path", "/milvus.proto.milvus.MilvusService/Query", "content-type", "application/grpc"))
	r := p.requestBody(&extprocv3.HttpBody{Body: grpcBody(t, &milvuspb.QueryRequest{CollectionName: "docs", Expr: "id > 0"}), EndOfStream: true})
	if r.GetImmediateResponse() != nil || r.GetRequestBody() == nil {
		t.Fatalf("slow fill: %v, want the call to go on", r)
	}
	if hs := r.GetRequestBody().GetResponse().GetHeaderMutation().GetSetHeaders(); len(hs) != 2 || string(hs[0].GetHeader().GetRawValue()) != "default/docs" ||
		hs[1].GetHeader().GetKey() != edgehdr.Class || string(hs[1].GetHeader().GetRawValue()) != "read" {
		t.Fatalf("headers %v, want route key default/docs and class read", hs)
	}
}

func TestRateLog(t *testing.T) {
	var r rateLog
	now := time.Unix(100, 0)
	got := []bool{}
	for _, d := range []time.Duration{0, 10 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		ok, _ := r.allow(now.Add(d))
		got = append(got, ok)
	}
	if fmt.Sprint(got) != "[true false false true]" {
		t.Fatalf("allowed %v", got)
	}
	r.allow(now.Add(1100 * time.Millisecond))
	if ok, held := r.allow(now.Add(2 * time.Second)); !ok || held != 1 {
		t.Fatalf("after a second: %v, %d held back; want true, 1", ok, held)
	}
}
