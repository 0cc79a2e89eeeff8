package inproc

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared/fake"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/extproc/authz"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// handle is a test double of Envoy's side of one stream: the methods the
// filter uses, recording what it did. Scheduled functions run on the test's
// goroutine (run), as Envoy runs them on the worker thread.
type handle struct {
	shared.HttpFilterHandle
	headers   *fake.FakeHeaderMap
	buffered  *fake.FakeBodyBuffer
	scheduled chan func()
	meta      map[string]any
	reply     *localReply
	continued bool
	cleared   bool
}

type localReply struct {
	status  uint32
	headers [][2]string
	body    string
	details string
}

func newHandle(h map[string][]string) *handle {
	return &handle{headers: fake.NewFakeHeaderMap(h), buffered: fake.NewFakeBodyBuffer(nil),
		scheduled: make(chan func(), 1), meta: map[string]any{}}
}

func (h *handle) RequestHeaders() shared.HeaderMap       { return h.headers }
func (h *handle) BufferedRequestBody() shared.BodyBuffer { return h.buffered }
func (h *handle) ReceivedBufferedRequestBody() bool      { return false }
func (h *handle) GetScheduler() shared.Scheduler         { return h }
func (h *handle) Schedule(f func())                      { h.scheduled <- f }
func (h *handle) ContinueRequest()                       { h.continued = true }
func (h *handle) ClearRouteCache()                       { h.cleared = true }
func (h *handle) SetMetadata(ns, k string, v any)        { h.meta[ns+"/"+k] = v }
func (h *handle) SendLocalResponse(s uint32, hs [][2]string, b []byte, d string) {
	h.reply = &localReply{status: s, headers: hs, body: string(b), details: d}
}

func (h *handle) GetAttributeString(id shared.AttributeID) (shared.UnsafeEnvoyBuffer, bool) {
	v := ""
	switch id {
	case shared.AttributeIDSourceAddress:
		v = "10.1.2.3:5555"
	case shared.AttributeIDRequestProtocol:
		v = "HTTP/2"
	default:
		return shared.UnsafeEnvoyBuffer{}, false
	}
	return shared.UnsafeEnvoyBuffer{Ptr: unsafe.StringData(v), Len: uint64(len(v))}, true
}

// run waits for the check and runs its result as Envoy would.
func (h *handle) run(t *testing.T) {
	t.Helper()
	select {
	case f := <-h.scheduled:
		f()
	case <-time.After(5 * time.Second):
		t.Fatal("the check's result never came back")
	}
}

// checker records the request and answers resp / err.
type checker struct {
	got  chan *authv3.CheckRequest
	resp *authv3.CheckResponse
	err  error
}

func (c *checker) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	c.got <- req
	return c.resp, c.err
}

func newChecker(resp *authv3.CheckResponse, err error) *checker {
	return &checker{got: make(chan *authv3.CheckRequest, 1), resp: resp, err: err}
}

var grpcHeaders = map[string][]string{
	":method": {"POST"}, ":path": {"/milvus.proto.milvus.MilvusService/Search"}, ":authority": {"edge"},
	"content-type": {"application/grpc"}, "authorization": {"cm9vdDpNaWx2dXM="}, "x-multi": {"a", "b"},
}

func allowWith(h ...*corev3.HeaderValueOption) *authv3.CheckResponse {
	f := &authz.Facts{API: "Search", DB: "default", Collection: "c1", User: "root", NQ: proto.Int64(2)}
	return &authv3.CheckResponse{
		Status:          &rpcstatus.Status{},
		HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: h}},
		DynamicMetadata: f.Struct(),
	}
}

// The check gets ext_authz's request: headers joined, a body prefix of
// BodyBytes marked partial when cut, the peer's address; an allow's
// headers replace the request's, the route is recomputed, the facts land in
// ext_authz's namespace (those authz encodes by hand too), and the call goes on.
func TestAllowAfterBodyPrefix(t *testing.T) {
	c := newChecker(allowWith(&corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: "x-milvus-edge-route", Value: "default/c1"},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}), nil)
	h := newHandle(grpcHeaders)
	f := newFilter(h, c, Limits{BodyBytes: 64 << 10, Timeout: time.Second})
	if s := f.OnRequestHeaders(h.headers, false); s != shared.HeadersStatusStop {
		t.Fatalf("headers: %v", s)
	}
	first := bytes.Repeat([]byte{1}, 40<<10)
	if s := f.OnRequestBody(fake.NewFakeBodyBuffer(first), false); s != shared.BodyStatusStopAndBuffer {
		t.Fatalf("first 40 KiB: %v, want buffering", s)
	}
	h.buffered.Append(first) // Envoy buffers it after the callback
	if s := f.OnRequestBody(fake.NewFakeBodyBuffer(bytes.Repeat([]byte{2}, 40<<10)), false); s != shared.BodyStatusStopAndWatermark {
		t.Fatalf("past the prefix: %v, want the call held while the check runs", s)
	}
	req := <-c.got
	hr := req.GetAttributes().GetRequest().GetHttp()
	if len(hr.GetRawBody()) != 64<<10 || hr.GetRawBody()[40<<10] != 2 {
		t.Errorf("body prefix %d bytes", len(hr.GetRawBody()))
	}
	if hr.GetHeaders()[partialBodyHeader] != "true" || hr.GetHeaders()["x-multi"] != "a,b" || hr.GetPath() != "/milvus.proto.milvus.MilvusService/Search" {
		t.Errorf("headers %v path %q", hr.GetHeaders(), hr.GetPath())
	}
	if a := req.GetAttributes().GetSource().GetAddress().GetSocketAddress(); a.GetAddress() != "10.1.2.3" || a.GetPortValue() != 5555 {
		t.Errorf("source %v", a)
	}
	if s := f.OnRequestBody(fake.NewFakeBodyBuffer([]byte{3}), true); s != shared.BodyStatusStopAndWatermark {
		t.Errorf("the rest while checking: %v", s)
	}
	h.run(t)
	if !h.continued || !h.cleared || h.reply != nil {
		t.Fatalf("continued %v cleared %v reply %+v", h.continued, h.cleared, h.reply)
	}
	if got := h.headers.GetOne("x-milvus-edge-route").ToString(); got != "default/c1" {
		t.Errorf("route header %q", got)
	}
	ns := edgemeta.AuthzNamespace + "/"
	if h.meta[ns+edgemeta.Collection] != "c1" || h.meta[ns+edgemeta.NQ] != float64(2) || h.meta[ns+edgemeta.User] != "root" {
		t.Errorf("metadata %v", h.meta)
	}
	if s := f.OnRequestBody(fake.NewFakeBodyBuffer([]byte{4}), true); s != shared.BodyStatusContinue {
		t.Errorf("after the check: %v", s)
	}
}

// A whole small body is not partial; a call without a body is checked at
// its headers.
func TestWholeBodyAndNoBody(t *testing.T) {
	c := newChecker(allowWith(), nil)
	h := newHandle(grpcHeaders)
	f := newFilter(h, c, Limits{BodyBytes: 64 << 10, Timeout: time.Second})
	f.OnRequestHeaders(h.headers, false)
	if s := f.OnRequestBody(fake.NewFakeBodyBuffer([]byte("abc")), true); s != shared.BodyStatusStopAndWatermark {
		t.Fatalf("whole body: %v", s)
	}
	if hr := (<-c.got).GetAttributes().GetRequest().GetHttp(); hr.GetHeaders()[partialBodyHeader] != "false" || string(hr.GetRawBody()) != "abc" {
		t.Errorf("headers %v body %q", hr.GetHeaders(), hr.GetRawBody())
	}
	h.run(t)
	if !h.continued || h.cleared {
		t.Errorf("continued %v cleared %v (no header changed)", h.continued, h.cleared)
	}

	c = newChecker(allowWith(), nil)
	h = newHandle(map[string][]string{":path": {"/v2/vectordb/collections/list"}})
	f = newFilter(h, c, Limits{BodyBytes: 64 << 10, Timeout: time.Second})
	f.OnRequestHeaders(h.headers, true)
	if _, ok := (<-c.got).GetAttributes().GetRequest().GetHttp().GetHeaders()[partialBodyHeader]; ok {
		t.Error("a call without a body says partial-body")
	}
	h.run(t)
}

// Denials are answered locally as Envoy's ext_authz answers them, with the
// grpc-status Envoy would derive (a module's local reply says 0 otherwise);
// an error fails closed with 503 / UNAVAILABLE.
func TestDenyAndError(t *testing.T) {
	deny := func(status int, hs ...*corev3.HeaderValueOption) *authv3.CheckResponse {
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: 16},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode(status)}, Body: "no", Headers: hs,
			}},
		}
	}
	for _, tc := range []struct {
		name       string
		resp       *authv3.CheckResponse
		err        error
		status     uint32
		grpcStatus string
		details    string
	}{
		{"401", deny(401), nil, 401, "16", detailsDenied},
		{"403", deny(403), nil, 403, "7", detailsDenied},
		{"413 names its status", deny(413, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "grpc-status", Value: "8"}}), nil, 413, "8", detailsDenied},
		{"error", nil, errors.New("no policy"), 503, "14", detailsError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandle(grpcHeaders)
			f := newFilter(h, newChecker(tc.resp, tc.err), Limits{BodyBytes: 1024, Timeout: time.Second})
			f.OnRequestHeaders(h.headers, true)
			h.run(t)
			r := h.reply
			if r == nil || h.continued {
				t.Fatalf("reply %+v continued %v", r, h.continued)
			}
			n := 0
			for _, kv := range r.headers {
				if kv[0] == "grpc-status" {
					n++
					if kv[1] != tc.grpcStatus {
						t.Errorf("grpc-status %s, want %s", kv[1], tc.grpcStatus)
					}
				}
			}
			if r.status != tc.status || r.details != tc.details || n != 1 {
				t.Errorf("reply %+v", r)
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string]string{"1.2.3.4:5": "1.2.3.4 5", "[::1]:80": "::1 80", "/tmp/sock": "/tmp/sock 0"} {
		h, p := splitHostPort(in)
		if got := h + " " + strconv.Itoa(int(p)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// slowChecker answers after d whatever its context says.
type slowChecker struct{ d time.Duration }

func (s slowChecker) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	time.Sleep(s.d)
	return allowWith(), nil
}

// As ext_authz, the filter answers 503 (UNAVAILABLE) at its timeout even
// when the check ignores its context, and the late allow is dropped.
func TestTimeoutAnswersAlone(t *testing.T) {
	h := newHandle(grpcHeaders)
	f := newFilter(h, slowChecker{300 * time.Millisecond}, Limits{BodyBytes: 1024, Timeout: 50 * time.Millisecond})
	f.OnRequestHeaders(h.headers, true)
	h.run(t) // the timeout
	if h.reply == nil || h.reply.status != 503 || h.reply.details != detailsError || h.continued {
		t.Fatalf("at the timeout: reply %+v continued %v", h.reply, h.continued)
	}
	h.reply = nil
	h.run(t) // the late allow
	if h.reply != nil || h.continued {
		t.Errorf("the late answer was applied: reply %+v continued %v", h.reply, h.continued)
	}
}
