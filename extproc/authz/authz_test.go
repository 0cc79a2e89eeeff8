package authz

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/policy"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	creds, err := cache.NewCredentials(100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(creds.Close)
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), creds, AuthenticatedOnly{})
	h, _ := bcrypt.GenerateFromPassword([]byte("Milvus"), bcrypt.MinCost)
	s.SetUsers(Users{"root": h})
	return s
}

func check(t *testing.T, s *Server, contentType, auth string) *authv3.CheckResponse {
	t.Helper()
	headers := map[string]string{"content-type": contentType}
	if auth != "" {
		headers["authorization"] = auth
	}
	resp, err := s.Check(context.Background(), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Path: "/milvus.proto.milvus.MilvusService/Search", Headers: headers,
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestCheck(t *testing.T) {
	s := newServer(t)
	const grpcCT, restCT = "application/grpc", "application/json"
	for _, tc := range []struct {
		name, ct, auth string
		want           code.Code
		msg            string
	}{
		{"grpc ok", grpcCT, b64("root:Milvus"), code.Code_OK, ""},
		{"grpc missing", grpcCT, "", code.Code_UNAUTHENTICATED, MsgMissing},
		{"grpc wrong password", grpcCT, b64("root:milvus"), code.Code_UNAUTHENTICATED, MsgBadPassword},
		{"grpc unknown user", grpcCT, b64("alice:Milvus"), code.Code_UNAUTHENTICATED, MsgBadPassword},
		{"grpc not base64", grpcCT, "root:Milvus", code.Code_UNAUTHENTICATED, MsgBadFormat},
		{"grpc api key", grpcCT, b64("sk-123"), code.Code_UNAUTHENTICATED, MsgBadAPIKey},
		{"grpc password with colon", grpcCT, b64("root:Mil:vus"), code.Code_UNAUTHENTICATED, MsgBadPassword},
		{"rest bearer ok", restCT, "Bearer root:Milvus", code.Code_OK, ""},
		{"rest basic ok", restCT, "Basic " + b64("root:Milvus"), code.Code_OK, ""},
		{"rest bearer wrong", restCT, "Bearer root:nope", code.Code_UNAUTHENTICATED, MsgBadPassword},
		{"rest unknown scheme", restCT, "Digest x", code.Code_UNAUTHENTICATED, MsgBadFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := check(t, s, tc.ct, tc.auth)
			if got := code.Code(resp.GetStatus().GetCode()); got != tc.want || resp.GetStatus().GetMessage() != tc.msg {
				t.Fatalf("status %v %q, want %v %q", got, resp.GetStatus().GetMessage(), tc.want, tc.msg)
			}
			if tc.want == code.Code_OK {
				if h := resp.GetOkResponse().GetHeaders(); len(h) != 1 || h[0].GetHeader().GetValue() != "root" {
					t.Fatalf("ok response headers %v", h)
				}
				return
			}
			d := resp.GetDeniedResponse()
			if d.GetStatus().GetCode() != typev3.StatusCode_Unauthorized {
				t.Fatalf("denied HTTP status %v", d.GetStatus().GetCode())
			}
			if tc.ct == grpcCT && d.GetBody() != tc.msg {
				t.Fatalf("gRPC denied body %q, want the Milvus message", d.GetBody())
			}
			if tc.ct == restCT && !strings.Contains(d.GetBody(), `"code":1800`) {
				t.Fatalf("REST denied body %q, want Milvus code 1800", d.GetBody())
			}
		})
	}
}

// TestBcryptOncePerTTL: after one verification the secret is served from the
// cache; a changed stored hash (new password) misses.
func TestBcryptOncePerTTL(t *testing.T) {
	s := newServer(t)
	hash := (*s.users.Load())["root"]
	key := cache.Key("root", "Milvus", string(hash))
	if s.creds.Verified(key) {
		t.Fatal("verified before any check")
	}
	check(t, s, "application/grpc", b64("root:Milvus"))
	s.creds.Wait()
	if !s.creds.Verified(key) {
		t.Fatal("successful check not cached")
	}
	h2, _ := bcrypt.GenerateFromPassword([]byte("Changed1"), bcrypt.MinCost)
	s.SetUsers(Users{"root": h2})
	if got := check(t, s, "application/grpc", b64("root:Milvus")); code.Code(got.GetStatus().GetCode()) != code.Code_UNAUTHENTICATED {
		t.Fatal("old password still accepted after the hash changed")
	}
	if got := check(t, s, "application/grpc", b64("root:Changed1")); code.Code(got.GetStatus().GetCode()) != code.Code_OK {
		t.Fatal("new password refused")
	}
}

type denyAll struct{}

func (denyAll) Decide(context.Context, *Input) (policy.Decision, error) {
	return policy.Decision{Reason: "PrivilegeSearch: permission deny to root in the `default` database"}, nil
}

func TestPolicyDeny(t *testing.T) {
	s := newServer(t)
	s.policy = denyAll{}
	resp := check(t, s, "application/grpc", b64("root:Milvus"))
	if code.Code(resp.GetStatus().GetCode()) != code.Code_PERMISSION_DENIED || resp.GetDeniedResponse().GetStatus().GetCode() != typev3.StatusCode_Forbidden {
		t.Fatalf("policy deny → %v / %v", resp.GetStatus(), resp.GetDeniedResponse().GetStatus())
	}
}
