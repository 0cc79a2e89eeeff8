// Package authz is the edge's ext_authz server: it reads the Milvus identity
// from the authorization header, verifies it (bcrypt, cached), asks the policy
// engine, and answers Envoy with Milvus's own messages so that clients see
// what a Milvus Proxy would say.
package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/policy"
)

// Milvus's own answers (internal/proxy/authentication_interceptor.go).
const (
	MsgMissing     = "missing authorization in header"
	MsgBadFormat   = "invalid token format"
	MsgBadPassword = "auth check failure, please check username and password are correct"
	MsgBadAPIKey   = "auth check failure, please check api key is correct"
	// restUnauthenticated is the REST v2 body for 401, as Milvus sends it.
	restUnauthenticated = `{"code":1800,"message":"user hasn't authenticated"}`
)

// dummyHash is compared against when the user is unknown, so unknown users
// cost as much as known ones (no user enumeration by timing).
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("milvus-edge-no-such-user"), bcrypt.DefaultCost)

// Users maps user names to bcrypt hashes; replaced whole on config reload.
type Users map[string][]byte

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	log    *slog.Logger
	users  atomic.Pointer[Users]
	creds  *cache.Credentials
	policy Decider
}

// Decider is what the authz server asks after authentication.
type Decider interface {
	Decide(ctx context.Context, in *Input) (policy.Decision, error)
}

// Input is what a decision is made on (replaced by the OPA input document).
type Input struct {
	User, AuthMethod, API, Path string
}

// AuthenticatedOnly allows every authenticated identity.
type AuthenticatedOnly struct{}

// Decide allows any input whose user is set.
func (AuthenticatedOnly) Decide(_ context.Context, in *Input) (policy.Decision, error) {
	return policy.Decision{Allow: in.User != ""}, nil
}

// New returns an authz server. SetUsers must be called before it serves.
func New(log *slog.Logger, creds *cache.Credentials, engine Decider) *Server {
	s := &Server{log: log, creds: creds, policy: engine}
	s.users.Store(&Users{})
	return s
}

// SetUsers atomically replaces the identity store.
func (s *Server) SetUsers(u Users) { s.users.Store(&u) }

// Check authenticates and authorizes one request.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	grpcCall := strings.HasPrefix(h.GetHeaders()["content-type"], "application/grpc")
	user, secret, msg := credentials(h.GetHeaders()["authorization"], grpcCall)
	if msg != "" {
		return deny(grpcCall, code.Code_UNAUTHENTICATED, msg), nil
	}
	if !s.verify(user, secret) {
		return deny(grpcCall, code.Code_UNAUTHENTICATED, MsgBadPassword), nil
	}
	in := &Input{User: user, AuthMethod: "password", Path: h.GetPath(), API: apiName(h.GetPath())}
	d, err := s.policy.Decide(ctx, in)
	if err != nil {
		// Envoy turns a gRPC error into status_on_error (503): fail closed.
		s.log.Error("policy evaluation failed", "user", user, "api", in.API, "error", err)
		return nil, err
	}
	if !d.Allow {
		return deny(grpcCall, code.Code_PERMISSION_DENIED, d.Reason), nil
	}
	return allow(user), nil
}

// credentials parses the authorization header. gRPC carries base64("user:password")
// (no scheme); REST carries "Bearer user:password" (not base64) or Basic.
func credentials(header string, grpcCall bool) (user, secret, errMsg string) {
	if header == "" {
		return "", "", MsgMissing
	}
	var raw string
	switch {
	case grpcCall:
		b, err := base64.StdEncoding.DecodeString(header)
		if err != nil {
			return "", "", MsgBadFormat
		}
		raw = string(b)
	case strings.HasPrefix(header, "Bearer "):
		raw = strings.TrimPrefix(header, "Bearer ")
	case strings.HasPrefix(header, "Basic "):
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(header, "Basic "))
		if err != nil {
			return "", "", MsgBadFormat
		}
		raw = string(b)
	default:
		return "", "", MsgBadFormat
	}
	user, secret, ok := strings.Cut(raw, ":")
	if !ok {
		// An API key: not accepted until API keys are configured.
		return "", "", MsgBadAPIKey
	}
	return user, secret, ""
}

// verify checks a password against the user's bcrypt hash, remembering success.
func (s *Server) verify(user, password string) bool {
	hash, known := (*s.users.Load())[user]
	if !known {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	}
	key := cache.Key(user, password, string(hash))
	if s.creds.Verified(key) {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	s.creds.Remember(key)
	return true
}

func apiName(path string) string {
	if m, ok := milvusgrpc.Lookup(path); ok {
		return m.Name
	}
	return ""
}

func allow(user string) *authv3.CheckResponse {
	md, _ := structpb.NewStruct(map[string]any{"user": user})
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code.Code_OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{{
				Header:       &corev3.HeaderValue{Key: edgehdr.User, Value: user},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
		}},
		DynamicMetadata: md,
	}
}

// deny answers with the Milvus message. For gRPC clients Envoy turns the HTTP
// status into grpc-status (401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED) and
// the body into grpc-message; REST clients get Milvus's JSON body.
func deny(grpcCall bool, c code.Code, msg string) *authv3.CheckResponse {
	httpStatus := typev3.StatusCode_Unauthorized
	restBody := restUnauthenticated
	if c == code.Code_PERMISSION_DENIED {
		httpStatus = typev3.StatusCode_Forbidden
		restBody = `{"code":65535,"message":` + quote(msg) + `}`
	}
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: httpStatus}}
	if grpcCall {
		denied.Body = msg
	} else {
		denied.Body = restBody
		denied.Headers = []*corev3.HeaderValueOption{{
			Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
		}}
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(c), Message: msg},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return string(b)
}
