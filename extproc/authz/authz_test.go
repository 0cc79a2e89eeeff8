package authz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/policy"
)

// fakePolicy answers with a fixed decision and records what it was asked.
type fakePolicy struct {
	bundle *policy.Bundle
	d      policy.Decision
	err    error
	inputs []astValue
}

func (f *fakePolicy) Current() *policy.Bundle { return f.bundle }

func (f *fakePolicy) Eval(_ context.Context, _ *policy.Bundle, in astValue, _ string) (policy.Decision, error) {
	f.inputs = append(f.inputs, in)
	return f.d, f.err
}

func newServer(t *testing.T, p *fakePolicy, o Options, log io.Writer) *Server {
	t.Helper()
	creds, err := cache.NewCredentials(100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(creds.Close)
	h, _ := bcrypt.GenerateFromPassword([]byte("Milvus"), bcrypt.MinCost)
	if p.bundle == nil {
		p.bundle = &policy.Bundle{Version: "v1", Users: map[string]policy.User{"root": {PasswordHash: string(h)}}}
	}
	var dlog *DecisionLog
	if log != nil {
		dlog = NewDecisionLog(log)
	}
	return New(slog.New(slog.NewTextHandler(io.Discard, nil)), NewAuthenticator(creds, nil), p, dlog, o)
}

func framed(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return grpcFrame(b, 0)
}

func checkReq(ct, auth, path string, body []byte) *authv3.CheckRequest {
	headers := map[string]string{"content-type": ct}
	if auth != "" {
		headers["authorization"] = auth
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Path: path, Headers: headers, RawBody: body,
		}},
	}}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const searchPath = "/milvus.proto.milvus.MilvusService/Search"

func TestCheckAnswers(t *testing.T) {
	deny := policy.Decision{Reason: "PrivilegeSearch: permission deny to root in the `default` database"}
	for _, tc := range []struct {
		name       string
		ct, auth   string
		decision   policy.Decision
		wantCode   code.Code
		wantHTTP   typev3.StatusCode
		wantInBody string
	}{
		{"grpc allow", "application/grpc", b64("root:Milvus"), policy.Decision{Allow: true}, code.Code_OK, 0, ""},
		{"grpc missing", "application/grpc", "", policy.Decision{Allow: true}, code.Code_UNAUTHENTICATED, 401, MsgMissing},
		{"grpc wrong password", "application/grpc", b64("root:nope"), policy.Decision{Allow: true}, code.Code_UNAUTHENTICATED, 401, MsgBadPassword},
		{"grpc policy deny", "application/grpc", b64("root:Milvus"), deny, code.Code_PERMISSION_DENIED, 403, deny.Reason},
		{"grpc policy 429", "application/grpc", b64("root:Milvus"), policy.Decision{Reason: "slow down", Status: 429}, code.Code_UNAVAILABLE, 429, "slow down"},
		{"rest deny", "application/json", "Bearer root:Milvus", deny, code.Code_PERMISSION_DENIED, 403, `"code":65535`},
		{"rest unauthenticated", "application/json", "Bearer root:x", deny, code.Code_UNAUTHENTICATED, 401, `"code":1800`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, &fakePolicy{d: tc.decision}, Options{Metadata: true}, nil)
			body := framed(t, &milvuspb.SearchRequest{CollectionName: "docs"})
			path := searchPath
			if tc.ct == "application/json" {
				path, body = "/v2/vectordb/entities/search", []byte(`{"collectionName":"docs"}`)
			}
			resp, err := s.Check(context.Background(), checkReq(tc.ct, tc.auth, path, body))
			if err != nil {
				t.Fatal(err)
			}
			if got := code.Code(resp.GetStatus().GetCode()); got != tc.wantCode {
				t.Fatalf("code %v, want %v (%q)", got, tc.wantCode, resp.GetStatus().GetMessage())
			}
			if tc.wantCode == code.Code_OK {
				if factsMap(t, resp.GetDynamicMetadata())["decision_id"] == "" {
					t.Fatal("no decision id in dynamic metadata")
				}
				// Without an access log no decision id is made; the other
				// facts are there all the same (TestCheckFacts).
				s.SetOptions(Options{})
				resp, _ := s.Check(context.Background(), checkReq(tc.ct, tc.auth, path, body))
				if md := factsMap(t, resp.GetDynamicMetadata()); md["decision_id"] != nil || md["api"] != "Search" {
					t.Fatalf("dynamic metadata %v without Options.Metadata, want the facts without a decision id", resp.GetDynamicMetadata())
				}
				return
			}
			d := resp.GetDeniedResponse()
			if d.GetStatus().GetCode() != tc.wantHTTP || !strings.Contains(d.GetBody(), tc.wantInBody) {
				t.Fatalf("denied %v %q, want %v containing %q", d.GetStatus().GetCode(), d.GetBody(), tc.wantHTTP, tc.wantInBody)
			}
		})
	}
}

// TestCheckTooLarge: a call whose frame (or REST content-length) declares
// more than Options.MaxRequestBytes is refused from its prefix, before
// authentication (as Milvus's gRPC server checks size first), with Milvus's
// RESOURCE_EXHAUSTED text; one at the limit goes on.
func TestCheckTooLarge(t *testing.T) {
	body := framed(t, &milvuspb.SearchRequest{CollectionName: "docs", Dsl: strings.Repeat("x", 990)})
	limit := int64(len(body))
	s := newServer(t, &fakePolicy{d: policy.Decision{Allow: true}}, Options{MaxRequestBytes: limit}, nil)
	over := bytes.Clone(body)
	binary.BigEndian.PutUint32(over[1:5], uint32(limit-4)) // declares one byte more than it holds
	resp, _ := s.Check(context.Background(), checkReq("application/grpc", "", searchPath, over))
	d := resp.GetDeniedResponse()
	if code.Code(resp.GetStatus().GetCode()) != code.Code_RESOURCE_EXHAUSTED ||
		d.GetBody() != fmt.Sprintf("grpc: received message larger than max (%d vs. %d): milvus-edge listener.max_request_bytes", limit+1, limit) ||
		len(d.GetHeaders()) != 1 || d.GetHeaders()[0].GetHeader().GetValue() != "8" {
		t.Fatalf("over the limit: %v", resp)
	}
	if resp, _ := s.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), searchPath, body)); code.Code(resp.GetStatus().GetCode()) != code.Code_OK {
		t.Fatalf("at the limit: %v", resp.GetStatus())
	}
	s.SetOptions(Options{MaxRequestBytes: 1000})
	rest := checkReq("application/json", "Bearer root:Milvus", "/v2/vectordb/entities/insert", []byte(`{"collectionName":"docs","data":[`))
	rest.Attributes.Request.Http.Headers["content-length"] = "1001"
	resp, _ = s.Check(context.Background(), rest)
	if d := resp.GetDeniedResponse(); d.GetStatus().GetCode() != 413 || !strings.Contains(d.GetBody(), "larger than max (1001 vs. 1000)") {
		t.Fatalf("REST over the limit: %v", resp)
	}
}

func TestDryRunAndDecisionLog(t *testing.T) {
	var buf bytes.Buffer
	p := &fakePolicy{d: policy.Decision{Reason: "no"}}
	s := newServer(t, p, Options{DryRun: true}, &buf)
	resp, err := s.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), searchPath, framed(t, &milvuspb.SearchRequest{CollectionName: "docs"})))
	if err != nil || code.Code(resp.GetStatus().GetCode()) != code.Code_OK {
		t.Fatalf("dry run: %v %v", resp.GetStatus(), err)
	}
	if n := s.DryRuns(); n != 1 {
		t.Errorf("DryRuns = %d, want 1", n)
	}
	s.dlog.Close()
	line := buf.String()
	for _, want := range []string{`"allow":false`, `"dry_run":true`, `"api":"Search"`, `"user":"root"`, `"object":"docs"`, `"reason":"no"`} {
		if !strings.Contains(line, want) {
			t.Errorf("decision log %q lacks %s", line, want)
		}
	}
	if strings.Contains(line, "Milvus") {
		t.Fatalf("password in the decision log: %q", line)
	}
}

func TestPolicyErrorFailsClosed(t *testing.T) {
	s := newServer(t, &fakePolicy{err: errors.New("eval: boom")}, Options{}, nil)
	if _, err := s.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), searchPath, nil)); err == nil {
		t.Fatal("a policy error was answered; Envoy must see an error and fail closed")
	}
	none := newServer(t, &fakePolicy{}, Options{}, nil)
	none.policy.(*fakePolicy).bundle = nil
	if _, err := none.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), searchPath, nil)); err == nil {
		t.Fatal("answered without a policy")
	}
}

func TestUserRPCsRefused(t *testing.T) {
	p := &fakePolicy{d: policy.Decision{Allow: true}}
	s := newServer(t, p, Options{RefuseUserRPCs: true}, nil)
	body := framed(t, &milvuspb.CreateCredentialRequest{Username: "eve"})
	resp, _ := s.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), "/milvus.proto.milvus.MilvusService/CreateCredential", body))
	if code.Code(resp.GetStatus().GetCode()) != code.Code_PERMISSION_DENIED || !strings.Contains(resp.GetStatus().GetMessage(), "policy files") {
		t.Fatalf("CreateCredential: %v", resp.GetStatus())
	}
	if len(p.inputs) != 0 {
		t.Fatal("a refused user RPC was evaluated by the policy")
	}
	s.SetOptions(Options{})
	resp, _ = s.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), "/milvus.proto.milvus.MilvusService/CreateCredential", body))
	if code.Code(resp.GetStatus().GetCode()) != code.Code_OK {
		t.Fatalf("with user_rpcs: pass, CreateCredential: %v", resp.GetStatus())
	}
}

func TestMalformedFrameIsInvalidArgument(t *testing.T) {
	s := newServer(t, &fakePolicy{d: policy.Decision{Allow: true}}, Options{}, nil)
	resp, _ := s.Check(context.Background(), checkReq("application/grpc", b64("root:Milvus"), searchPath, []byte{0, 0, 0, 0, 3, 0x1a, 0x50, 'a'}))
	if code.Code(resp.GetStatus().GetCode()) != code.Code_INVALID_ARGUMENT {
		t.Fatalf("malformed frame: %v", resp.GetStatus())
	}
}

// recordingPre is a Preprocessor that records its calls.
type recordingPre struct {
	paths   []string
	decoded []proto.Message
}

func (r *recordingPre) Preprocess(_ context.Context, _ bool, path, _, _ string, _ []byte, decoded proto.Message) []*corev3.HeaderValueOption {
	r.paths, r.decoded = append(r.paths, path), append(r.decoded, decoded)
	return []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-milvus-edge-checked", Value: "1"}}}
}

// TestSinglePassOnlyForAllowedWholeCalls: the preprocessor runs for allowed
// calls whose whole body is here, and its headers are set; never for
// denials, partial bodies, or with the option off.
func TestSinglePassOnlyForAllowedWholeCalls(t *testing.T) {
	body := framed(t, &milvuspb.SearchRequest{CollectionName: "docs"})
	partial := checkReq("application/grpc", b64("root:Milvus"), searchPath, body[:8])
	partial.Attributes.Request.Http.Headers[PartialBodyHeader] = "true"
	restShort := checkReq("application/json", "Bearer root:Milvus", "/v2/vectordb/entities/search", []byte(`{"collectionName":"docs"}`))
	restShort.Attributes.Request.Http.Headers["content-length"] = "4000"
	for _, tc := range []struct {
		name   string
		opts   Options
		allow  bool
		req    *authv3.CheckRequest
		called bool
	}{
		{"allowed", Options{SinglePass: true}, true, checkReq("application/grpc", b64("root:Milvus"), searchPath, body), true},
		{"option off", Options{}, true, checkReq("application/grpc", b64("root:Milvus"), searchPath, body), false},
		{"denied", Options{SinglePass: true}, false, checkReq("application/grpc", b64("root:Milvus"), searchPath, body), false},
		{"partial body", Options{SinglePass: true}, true, partial, false},
		{"REST", Options{SinglePass: true}, true, checkReq("application/json", "Bearer root:Milvus", "/v2/vectordb/entities/search", []byte(`{"collectionName":"docs"}`)), true},
		{"REST body shorter than its content-length", Options{SinglePass: true}, true, restShort, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, &fakePolicy{d: policy.Decision{Allow: tc.allow, Reason: "no"}}, tc.opts, nil)
			pre := &recordingPre{}
			s.UsePreprocessor(pre)
			resp, err := s.Check(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(pre.paths) == 1; got != tc.called {
				t.Fatalf("preprocessor called %d times, want called=%v", len(pre.paths), tc.called)
			}
			set := false
			for _, h := range resp.GetOkResponse().GetHeaders() {
				set = set || h.GetHeader().GetKey() == "x-milvus-edge-checked"
			}
			if set != tc.called {
				t.Fatalf("checked header set=%v, want %v", set, tc.called)
			}
			if tc.called && tc.req.GetAttributes().GetRequest().GetHttp().GetHeaders()["content-type"] == "application/grpc" {
				// The message BuildInput decoded is handed on, not decoded again.
				if m, ok := pre.decoded[0].(*milvuspb.SearchRequest); !ok || m.GetCollectionName() != "docs" {
					t.Fatalf("decoded message %T %v, want the *milvuspb.SearchRequest", pre.decoded[0], pre.decoded[0])
				}
			}
		})
	}
}
