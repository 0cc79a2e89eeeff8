// Package authz is the edge's ext_authz server: it authenticates the Milvus
// identity (password, API key or JWT), builds the OPA input from the
// CheckRequest and a decoded prefix of the body, asks the policy, and answers
// Envoy with Milvus's own messages so that clients see what a Milvus Proxy
// would say.
package authz

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
	"github.com/milvus-edge/milvus-edge/policy"
	"github.com/milvus-edge/milvus-edge/ratelimit"
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

// Policy is the engine the server asks; *policy.Engine implements it.
type Policy interface {
	Current() *policy.Bundle
	Eval(ctx context.Context, b *policy.Bundle, input astValue, cacheKey string) (policy.Decision, error)
}

// Options are the run-time switches of the server.
type Options struct {
	// DryRun logs denials and lets the requests pass.
	DryRun bool
	// RefuseUserRPCs refuses user, role and grant RPCs at the edge.
	RefuseUserRPCs bool
	// DecisionCache keys decisions for the policy's decision cache.
	DecisionCache bool
	// Metadata (the access log is on) makes a decision id for every
	// decision, in the call's facts (Facts: the access log joins the
	// decision log on it), even without a decision log. The other facts are
	// in Envoy's dynamic metadata on every call, whatever this says.
	Metadata bool
	// SinglePass lets the Preprocessor do ext_proc's request-side work for
	// allowed gRPC calls whose whole body is here (edge.single_pass).
	SinglePass bool
	// MaxRequestBytes refuses a call whose declared size (its gRPC frame's
	// length, or a REST content-length) is larger, before anything else —
	// as Milvus's gRPC server does before its auth interceptor — so that
	// it is never buffered whole. 0: no limit here.
	MaxRequestBytes int64
	// TraceSampling is the share (0..1) of calls without a client's
	// traceparent that start a trace, when tracing is on (UseTracer;
	// tracing.sampling). A client's traceparent decides for its call.
	TraceSampling float64
}

// Preprocessor is ext_proc's request side run inside Check (see
// extproc.Server.Preprocess): it returns the headers to set, or nil to leave
// the call to ext_proc.
type Preprocessor interface {
	Preprocess(ctx context.Context, grpcCall bool, path, dbHeader, encoding string, body []byte, decoded proto.Message) []*corev3.HeaderValueOption
}

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	log    *slog.Logger
	authn  *Authenticator
	policy Policy
	dlog   *DecisionLog
	opts   atomic.Pointer[Options]
	pre    Preprocessor
	limits *ratelimit.Limiter
	// tr records the spans of traced calls (UseTracer); nil: none.
	tr *edgetrace.Tracer
	// ids are the identities of the bundle version they were built from.
	ids atomic.Pointer[versionedStore]
	// dryRuns counts denials let through by Options.DryRun.
	dryRuns atomic.Uint64
}

type versionedStore struct {
	version string
	store   *IdentityStore
}

// New returns an authz server; dlog may be nil (no decision log).
func New(log *slog.Logger, authn *Authenticator, p Policy, dlog *DecisionLog, o Options) *Server {
	s := &Server{log: log, authn: authn, policy: p, dlog: dlog}
	s.opts.Store(&o)
	return s
}

// UsePreprocessor sets the preprocessor that Options.SinglePass enables; call
// it before serving.
func (s *Server) UsePreprocessor(p Preprocessor) { s.pre = p }

// SetOptions replaces the run-time switches (config reload).
func (s *Server) SetOptions(o Options) { s.opts.Store(&o) }

// identities returns the identity store of bundle b, built once per bundle
// version without a lock on the hot path (two racing builds are equal).
func (s *Server) identities(b *policy.Bundle) *IdentityStore {
	if v := s.ids.Load(); v != nil && v.version == b.Version {
		return v.store
	}
	users := make(map[string]UserRecord, len(b.Users))
	for name, u := range b.Users {
		users[name] = UserRecord{PasswordHash: u.PasswordHash, Roles: u.Roles}
	}
	keys := make([]APIKeyRecord, 0, len(b.APIKeys))
	for _, k := range b.APIKeys {
		keys = append(keys, APIKeyRecord{SHA256: k.SHA256, User: k.User, Roles: k.Roles})
	}
	v := &versionedStore{version: b.Version, store: NewIdentityStore(users, keys)}
	s.ids.Store(v)
	return v.store
}

// check authenticates and authorizes one request (Check, trace.go).
func (s *Server) check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	h := req.GetAttributes().GetRequest().GetHttp()
	grpcCall := strings.HasPrefix(h.GetHeaders()["content-type"], "application/grpc")
	o := s.opts.Load()
	if n := declaredSize(grpcCall, h); o.MaxRequestBytes > 0 && n > o.MaxRequestBytes {
		f := headerFacts(grpcCall, h, edgemeta.RefusedValidation)
		return deny(grpcCall, code.Code_RESOURCE_EXHAUSTED, 413, milvusgrpc.TooLarge(n, o.MaxRequestBytes), f.Struct()), nil
	}
	b := s.policy.Current()
	if b == nil {
		return nil, errNoPolicy // fail closed: Envoy answers 503 / UNAVAILABLE
	}
	from := fromOf(req)
	id, err := s.authn.AuthenticateFrom(ctx, s.identities(b), h.GetHeaders()["authorization"], grpcCall, from)
	if err != nil {
		// Audit: the name tried, how, from where — never the secret.
		if id.Method != "" {
			path, _, _ := strings.Cut(h.GetPath(), "?")
			s.dlog.Log(DecisionRecord{Time: start.UTC(), User: id.User, AuthMethod: id.Method, Client: from.Addr,
				Surface: surface(grpcCall), API: apiOf(grpcCall, path), Reason: auditReason(err), PolicyVer: b.Version,
				TraceID: edgetrace.TraceID(ctx)})
		}
		f := headerFacts(grpcCall, h, edgemeta.RefusedAuth)
		return deny(grpcCall, code.Code_UNAUTHENTICATED, 401, err.Error(), f.Struct()), nil
	}
	input, sum, err := BuildInput(req, id, "default", b.Input)
	if err != nil {
		f := factsOf(sum, id.User)
		f.Refused = edgemeta.RefusedValidation
		return deny(grpcCall, code.Code_INVALID_ARGUMENT, 400, err.Error(), f.Struct()), nil
	}
	rec := DecisionRecord{
		Time: start.UTC(), User: id.User, AuthMethod: id.Method,
		Surface: sum.Surface, API: sum.API, Privilege: sum.Privilege, DB: sum.DB,
		ObjectType: sum.ObjectType, Object: sum.ObjectName, PolicyVer: b.Version,
	}
	if o.Metadata || o.DryRun || s.dlog != nil {
		rec.DecisionID = newDecisionID()
	}
	var d policy.Decision
	if o.RefuseUserRPCs && isUserRPC(sum) {
		d = policy.Decision{Reason: sum.API + " is refused by milvus-edge: users, roles and grants are managed in the edge's policy files, not by RPC (auth.user_rpcs: refuse)"}
	} else {
		key := ""
		if o.DecisionCache {
			key, _ = b.CacheKey(input) // "" (no caching) unless the bundle allows it
		}
		d, err = s.eval(ctx, b, input, key)
		if err != nil {
			// Envoy turns an error into status_on_error (503): fail closed.
			s.log.Error("policy evaluation failed", "user", id.User, "api", sum.API, "error", err)
			return nil, err
		}
	}
	rec.Allow, rec.Reason = d.Allow, d.Reason
	rec.EvalMicros = time.Since(start).Microseconds()
	if !d.Allow && o.DryRun {
		rec.DryRun = true
		s.dryRuns.Add(1)
		s.log.Warn("dry run: denial let through", "user", id.User, "api", sum.API, "reason", d.Reason, "decision_id", rec.DecisionID)
		d = policy.Decision{Allow: true}
	}
	var ref *ratelimit.Refusal
	if d.Allow {
		ref = s.limit(ctx, sum, id, messageSize(grpcCall, h))
		if ref != nil {
			rec.Limited = ref.Reason
		}
	}
	traceDecision(ctx, &rec)
	s.dlog.Log(rec)
	f := factsOf(sum, id.User)
	f.DecisionID, f.TraceID = rec.DecisionID, rec.TraceID
	if ref != nil {
		f.Refused = edgemeta.RefusedRateLimit
		return limited(grpcCall, id.User, ref, f.Struct()), nil
	}
	if !d.Allow {
		status := d.Status
		if status == 0 {
			status = 403
		}
		f.Refused = edgemeta.RefusedPolicy
		return deny(grpcCall, grpcCode(status), status, d.Reason, f.Struct()), nil
	}
	var pre []*corev3.HeaderValueOption
	if o.SinglePass && s.pre != nil && !sum.partial {
		hs := h.GetHeaders()
		dbHeader, _, _ := strings.Cut(cmp.Or(hs["dbname"], hs["db-name"]), ",")
		path, _, _ := strings.Cut(h.GetPath(), "?")
		pre = s.pre.Preprocess(ctx, grpcCall, path, dbHeader, hs["grpc-encoding"], h.GetRawBody(), sum.decoded)
		if rejects(pre) {
			f.Refused = edgemeta.RefusedValidation // the responder answers with the typed refusal
		}
	}
	resp := allow(id.User, d.Headers, f.Struct())
	ok := resp.GetOkResponse()
	ok.Headers = append(ok.Headers, pre...)
	return resp, nil
}

// rejects says the preprocessor refused the call (it sends it to the
// responder).
func rejects(h []*corev3.HeaderValueOption) bool {
	for _, o := range h {
		if o.GetHeader().GetKey() == edgehdr.Reject {
			return true
		}
	}
	return false
}

// auditReason is a failed login's reason in the decision log.
func auditReason(err error) string {
	if ae, ok := err.(*AuthError); ok && ae.Throttled {
		return "authentication failed: backing off after repeated failures for this user or address (not checked)"
	}
	return "authentication failed: " + err.Error()
}

func surface(grpcCall bool) string {
	if grpcCall {
		return "grpc"
	}
	return "rest"
}

// apiOf names the RPC of a path (REST paths by the RPC they map to).
func apiOf(grpcCall bool, path string) string {
	if grpcCall {
		if m, ok := milvusgrpc.Lookup(path); ok {
			return m.Name
		}
	} else if m, ok := milvusgrpc.LookupREST(path); ok {
		return m.Name
	}
	return path
}

// userPrivileges are the privileges of the user, role and grant RPCs.
var userPrivileges = map[string]bool{
	"CreateOwnership": true, "DropOwnership": true, "SelectOwnership": true, "ManageOwnership": true,
	"UpdateUser": true, "SelectUser": true, "BackupRBAC": true, "RestoreRBAC": true,
	"CreatePrivilegeGroup": true, "DropPrivilegeGroup": true, "ListPrivilegeGroups": true, "OperatePrivilegeGroup": true,
}

func isUserRPC(s *Summary) bool { return userPrivileges[s.Privilege] }

func grpcCode(httpStatus int) code.Code {
	switch httpStatus {
	case 401:
		return code.Code_UNAUTHENTICATED
	case 429, 502, 503, 504:
		return code.Code_UNAVAILABLE
	default:
		return code.Code_PERMISSION_DENIED
	}
}

func allow(user string, extra map[string]string, md *structpb.Struct) *authv3.CheckResponse {
	headers := []*corev3.HeaderValueOption{{
		Header:       &corev3.HeaderValue{Key: edgehdr.User, Value: user},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}}
	for k, v := range extra {
		headers = append(headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: k, Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return &authv3.CheckResponse{
		Status:          &rpcstatus.Status{Code: int32(code.Code_OK)},
		HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: headers}},
		DynamicMetadata: md,
	}
}

// deny answers with the Milvus message. For gRPC clients Envoy turns the HTTP
// status into grpc-status (401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED) and
// the body into grpc-message; REST clients get Milvus's JSON body.
func deny(grpcCall bool, c code.Code, httpStatus int, msg string, md *structpb.Struct) *authv3.CheckResponse {
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(httpStatus)}}
	switch {
	case grpcCall:
		denied.Body = msg
		if c == code.Code_INVALID_ARGUMENT || c == code.Code_RESOURCE_EXHAUSTED {
			// Envoy would map HTTP 400 and 413 to INTERNAL and UNKNOWN; say what it is.
			denied.Headers = []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "grpc-status", Value: strconv.Itoa(int(c))}}}
		}
	case c == code.Code_UNAUTHENTICATED:
		denied.Body = restUnauthenticated
	default:
		denied.Body = `{"code":65535,"message":` + quote(msg) + `}`
	}
	if !grpcCall {
		denied.Headers = append(denied.Headers, &corev3.HeaderValueOption{
			Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
		})
	}
	return &authv3.CheckResponse{
		Status:          &rpcstatus.Status{Code: int32(c), Message: msg},
		HttpResponse:    &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
		DynamicMetadata: md,
	}
}

// declaredSize is the size a call says it has: the 5-byte prefix plus its
// gRPC frame's declared length, or a REST body's content-length; 0 when
// nothing says.
func declaredSize(grpcCall bool, h *authv3.AttributeContext_HttpRequest) int64 {
	if !grpcCall {
		n, _ := strconv.ParseInt(h.GetHeaders()["content-length"], 10, 64)
		return n
	}
	if raw := h.GetRawBody(); len(raw) >= 5 {
		return 5 + int64(binary.BigEndian.Uint32(raw[1:5]))
	}
	return 0
}

func quote(s string) string {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return string(b)
}

// astValue is OPA's input value type.
type astValue = ast.Value

var errNoPolicy = errors.New("no policy bundle loaded")
