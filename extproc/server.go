package extproc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/extproc/validate"
	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
)

// Schemas is the schema cache as ext_proc sees it.
type Schemas interface {
	// Get returns the schema of a collection (or alias) and its real name. An
	// unknown collection is an error wrapping ErrCollectionNotFound.
	Get(ctx context.Context, cluster, db, collection string) (*validate.Schema, string, error)
	// Invalidate drops what is cached for a collection or alias.
	Invalidate(cluster, db, collection string)
	// InvalidateDB drops everything cached for a database.
	InvalidateDB(cluster, db string)
}

// ErrCollectionNotFound is wrapped by Schemas.Get for unknown collections.
var ErrCollectionNotFound = errors.New("collection not found")

// Router returns the cluster whose schema governs (db, collection): the first
// cluster of the first matching route rule.
type Router func(db, collection string) string

// Config configures the ext_proc server.
type Config struct {
	Log *slog.Logger
	// MaxLen bounds a decompressed request.
	MaxLen int
	// Schemas enables schema validation; nil validates names and frames only.
	Schemas Schemas
	// Router picks the cluster for schema lookups; required with Schemas.
	Router Router
	// WatchEvery samples validated data-path responses: at most one every
	// WatchEvery has its status read, and a backend answer of
	// CollectionNotFound or SchemaMismatch drops the cached schema instead of
	// waiting for its TTL. Every watched call costs two more ext_proc messages,
	// hence the sampling. 0 turns it off.
	WatchEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tracer records the validation span of traced calls; nil: none.
	Tracer *edgetrace.Tracer
}

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocsvc.UnimplementedExternalProcessorServer
	c Config
	// lastWatch is when a response was last chosen to be watched (unix ns).
	lastWatch atomic.Int64
	// unvalidated limits the "passes unvalidated" warning to one a second.
	unvalidated rateLog
}

// New returns an ext_proc server.
func New(c Config) *Server {
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Server{c: c}
}

// rateLog lets one log line through per second and counts the rest, so a
// backend that is down does not turn every call into a log line.
type rateLog struct {
	last       atomic.Int64 // unix ns of the last line let through
	suppressed atomic.Int64
}

// allow says whether to log now, and how many lines were held back since.
func (r *rateLog) allow(now time.Time) (bool, int64) {
	n, last := now.UnixNano(), r.last.Load()
	if n-last < int64(time.Second) || !r.last.CompareAndSwap(last, n) {
		r.suppressed.Add(1)
		return false, 0
	}
	return true, r.suppressed.Swap(0)
}

// claimWatch says this call's response is the sampled one.
func (s *Server) claimWatch() bool {
	if s.c.WatchEvery <= 0 {
		return false
	}
	now, last := s.c.Now().UnixNano(), s.lastWatch.Load()
	return now-last >= int64(s.c.WatchEvery) && s.lastWatch.CompareAndSwap(last, now)
}

// Process serves one HTTP request's stream: one processor, one method per phase.
func (s *Server) Process(stream extprocsvc.ExternalProcessor_ProcessServer) error {
	p := processor{s: s, ctx: stream.Context()}
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		var resp *extprocsvc.ProcessingResponse
		switch v := req.GetRequest().(type) {
		case *extprocsvc.ProcessingRequest_RequestHeaders:
			resp = p.requestHeaders(v.RequestHeaders)
		case *extprocsvc.ProcessingRequest_RequestBody:
			resp = p.requestBody(v.RequestBody)
		case *extprocsvc.ProcessingRequest_ResponseBody:
			resp = p.responseBody(v.ResponseBody)
		default:
			resp = passThrough(req)
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// processor holds what one request's phases share.
type processor struct {
	s        *Server
	ctx      context.Context
	path     string
	dbHeader string
	encoding string
	grpcCall bool
	// watchClaimed: ext_authz claimed this call for the response watch.
	watchClaimed bool
	method       *milvusgrpc.Method
	// ddl is set for successful-DDL cache invalidation in the response phase.
	ddl *ddlTarget
	// watching says this call's response comes back (sampled); watched is
	// the validated collection whose response status is read.
	watching bool
	watched  *ddlTarget
}

func (p *processor) requestHeaders(h *extprocsvc.HttpHeaders) *extprocsvc.ProcessingResponse {
	for _, hv := range h.GetHeaders().GetHeaders() {
		v := hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		switch hv.GetKey() {
		case ":path":
			p.path, _, _ = strings.Cut(v, "?")
		case "dbname", "db-name": // gRPC metadata, REST header
			p.dbHeader = v
		case "grpc-encoding":
			p.encoding = v
		case "content-type":
			p.grpcCall = strings.HasPrefix(v, "application/grpc")
		case edgehdr.Watch:
			p.watchClaimed = true
		case edgehdr.Trace:
			// ext_authz traced the call: this phase's spans are children
			// of its server span.
			p.ctx = edgetrace.ContextFrom(p.ctx, v)
		}
	}
	resp := &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocsvc.HeadersResponse{},
	}}
	if !p.grpcCall {
		// REST DDL responses come back too, so that they invalidate as gRPC's do.
		if p.method, _ = milvusgrpc.LookupREST(p.path); p.method != nil && p.s.c.Schemas != nil && ddlKinds[p.method.Name] != 0 {
			resp.ModeOverride = ddlMode
		}
		return resp
	}
	p.method, _ = milvusgrpc.Lookup(p.path)
	switch {
	case p.method == nil || p.s.c.Schemas == nil:
	case ddlKinds[p.method.Name] != 0:
		// DDL responses come back to ext_proc: a success invalidates the cache.
		resp.ModeOverride = ddlMode
	case dataChecks[p.method.Name] != nil && (p.watchClaimed || p.s.claimWatch()):
		resp.ModeOverride = watchMode
		p.watching = true
	}
	return resp
}

// watchMode is the mode of validated data calls when responses are watched:
// the first part of the response body (its status is field 1) comes back, and
// large results never fail for it (BUFFERED_PARTIAL).
var watchMode = &extprocv3.ProcessingMode{
	RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
	RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
	RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
	ResponseHeaderMode:  extprocv3.ProcessingMode_SEND,
	ResponseBodyMode:    extprocv3.ProcessingMode_BUFFERED_PARTIAL,
	ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
}

// ddlMode is the processing mode of DDL calls. An override replaces the whole
// mode, so it restates the request side (headers SEND, body BUFFERED).
var ddlMode = &extprocv3.ProcessingMode{
	RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
	RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
	RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
	ResponseHeaderMode:  extprocv3.ProcessingMode_SEND,
	ResponseBodyMode:    extprocv3.ProcessingMode_BUFFERED,
	ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
}

func (p *processor) requestBody(b *extprocsvc.HttpBody) *extprocsvc.ProcessingResponse {
	if n := len(b.GetBody()); n > p.s.c.MaxLen {
		// Envoy buffers HTTP/2 bodies past the listener's buffer limit, so the
		// limit is enforced here, where the whole body is seen.
		// Milvus's own answer to a message over its receive limit (gRPC's
		// text), naming the edge's knob.
		return p.reject(codes.ResourceExhausted, milvusgrpc.TooLarge(int64(n), int64(p.s.c.MaxLen)))
	}
	switch {
	case p.grpcCall:
		return p.grpcBody(b.GetBody())
	case strings.HasPrefix(p.path, "/v2/vectordb/"):
		req, err := decodeREST(p.path, b.GetBody(), p.dbHeader)
		if err != nil {
			return p.reject(codes.InvalidArgument, err.Error())
		}
		if e := checkRESTNames(req); e != nil {
			return p.rejectTyped(e)
		}
		if m := p.method; m != nil && p.s.c.Schemas != nil && ddlKinds[m.Name] != 0 {
			p.ddl = newRESTDDLTarget(ddlKinds[m.Name], b.GetBody(), req, p.s.c.Router)
		}
		return bodyContinue(routeHeader(req.RouteKey(), classOf(p.method)), nil)
	default:
		return bodyContinue(nil, nil)
	}
}

func (p *processor) grpcBody(body []byte) *extprocsvc.ProcessingResponse {
	d := p.decide(body, nil)
	var resp *extprocsvc.ProcessingResponse
	switch {
	case d.bad != "":
		return p.reject(codes.InvalidArgument, d.bad)
	case d.refuse != nil:
		resp = p.rejectTyped(d.refuse)
	default:
		var bodyMut []byte
		if d.newMsg != nil {
			bodyMut = milvusgrpc.AppendFrame(nil, d.newMsg)
		}
		resp = bodyContinue(routeHeader(d.routeKey, classOf(p.method)), bodyMut)
	}
	if d.rows != nil {
		resp.DynamicMetadata = rowsMetadata(*d.rows, d.refuse != nil)
	}
	return resp
}

// decision is what the request side made of a gRPC call.
type decision struct {
	// bad is set for a request the edge cannot decode (gRPC INVALID_ARGUMENT).
	bad string
	// refuse is a Milvus status for a request that decoded but is refused.
	refuse *validate.Error
	// routeKey is the route key header value ("" = default route).
	routeKey string
	// newMsg replaces the message (db_name added from the dbname header).
	newMsg []byte
	// rows is an Insert's or Upsert's num_rows (rowsOf).
	rows *int64
}

// decide makes the decision; decoded is the message already decoded, or nil.
func (p *processor) decide(body []byte, decoded proto.Message) decision {
	m := p.method
	if m == nil {
		return decision{routeKey: orDefault(p.dbHeader) + "/"}
	}
	msg, err := milvusgrpc.Frame(body, p.encoding, p.s.c.MaxLen)
	if err != nil {
		return decision{bad: "invalid " + m.Name + " request: " + err.Error()}
	}
	db, coll, err := m.Names(msg)
	if err != nil {
		return decision{bad: "invalid " + m.Name + " request: " + err.Error()}
	}
	req := &Request{API: m.Name, DB: db, Collection: coll}
	d := decision{rows: rowsOf(m, msg)}
	if db == "" {
		req.DB = orDefault(p.dbHeader)
		if p.dbHeader != "" {
			// As Milvus does, the dbname header names the database when the body does not.
			d.newMsg = m.WithDB(msg, p.dbHeader)
		}
	}
	if d.refuse = p.tracedValidate(m, msg, decoded, req); d.refuse == nil {
		d.routeKey = req.RouteKey()
	}
	return d
}

// lookupOnly are the calls Milvus does not check collection names on: it
// only looks the name up, so a name no collection can have is
// CollectionNotFound (Milvus 2.3 to 2.6, searchTask.PreExecute).
var lookupOnly = map[string]bool{"Search": true, "HybridSearch": true}

// validate checks the request against Milvus's rules and the collection's
// schema; it resolves an alias to its collection for routing and records
// DDL targets for invalidation.
func (p *processor) validate(m *milvusgrpc.Method, msg []byte, decoded proto.Message, req *Request) *validate.Error {
	if req.Collection != "" {
		if e := validate.Names(req.DB, req.Collection); e != nil {
			if lookupOnly[m.Name] && e.Code == validate.CodeParameterInvalid {
				// Search only looks the name up: no collection can have it.
				return collectionNotFound(req.DB, req.Collection)
			}
			return e
		}
	}
	sc := p.s.c.Schemas
	if sc == nil {
		return nil
	}
	if kind := ddlKinds[m.Name]; kind != 0 {
		p.ddl = newDDLTarget(kind, m, msg, req, p.s.c.Router)
	}
	check := dataChecks[m.Name]
	if check == nil {
		if m.Name == "CreateCollection" {
			return checkCreateCollection(msg)
		}
		return nil
	}
	if req.Collection == "" {
		return nil // Milvus answers a missing collection name itself
	}
	cluster := p.s.c.Router(req.DB, req.Collection)
	// A miss waits at most the schema store's budget (validation.fill_budget).
	schema, real, err := sc.Get(p.ctx, cluster, req.DB, req.Collection)
	switch {
	case errors.Is(err, ErrCollectionNotFound):
		return collectionNotFound(req.DB, req.Collection)
	case err != nil:
		// The backend validates anyway: a failed or slow schema fill must not
		// take the data path down with it, nor flood the log.
		if ok, held := p.s.unvalidated.allow(p.s.c.Now()); ok {
			p.s.c.Log.Warn("schema lookup failed; request passes unvalidated", "cluster", cluster, "db", req.DB, "collection", req.Collection, "error", err, "similar_lines_held_back", held)
		}
		return nil
	}
	if p.watching {
		p.watched = &ddlTarget{kind: ddlCollection, cluster: cluster, db: req.DB, names: []string{req.Collection}}
	}
	if real != "" {
		req.Collection = real // an alias routes as its collection
	}
	return check(msg, decoded, schema)
}

// responseBody sees DDL responses only: a success invalidates the cache.
func (p *processor) responseBody(b *extprocsvc.HttpBody) *extprocsvc.ProcessingResponse {
	switch {
	case p.ddl != nil && !p.grpcCall:
		if restResponseOK(b.GetBody()) {
			p.ddl.invalidate(p.s.c.Schemas)
		}
	case p.ddl != nil && p.method != nil:
		if msg, err := milvusgrpc.Frame(b.GetBody(), "", p.s.c.MaxLen); err == nil && responseOK(p.method, msg) {
			p.ddl.invalidate(p.s.c.Schemas)
		}
	case p.watched != nil && p.method != nil:
		if schemaMoved(p.method, b.GetBody()) {
			p.s.c.Log.Info("backend says the schema moved; dropping the cached schema", "cluster", p.watched.cluster, "db", p.watched.db, "collection", p.watched.names[0])
			p.watched.invalidate(p.s.c.Schemas)
		}
	}
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseBody{
		ResponseBody: &extprocsvc.BodyResponse{Response: &extprocsvc.CommonResponse{}},
	}}
}

// routeHeader sets the route key and the call's class (either may be "").
func routeHeader(key string, class milvusgrpc.Class) *extprocsvc.HeaderMutation {
	if key == "" && class == "" {
		return nil
	}
	m := &extprocsvc.HeaderMutation{}
	if key != "" {
		m.SetHeaders = append(m.SetHeaders, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: edgehdr.Route, RawValue: []byte(key)},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	if class != "" {
		m.SetHeaders = append(m.SetHeaders, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: edgehdr.Class, RawValue: []byte(class)},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return m
}

// classOf is the class of a known method, "" for an unknown one (it routes
// as a write).
func classOf(m *milvusgrpc.Method) milvusgrpc.Class {
	if m == nil {
		return ""
	}
	return m.Class()
}

// bodyContinue lets the request go on; with a header mutation it also clears
// the route cache so Envoy routes on the new route key; body replaces the body.
func bodyContinue(m *extprocsvc.HeaderMutation, body []byte) *extprocsvc.ProcessingResponse {
	cr := &extprocsvc.CommonResponse{HeaderMutation: m, ClearRouteCache: m != nil}
	if body != nil {
		cr.BodyMutation = &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: body}}
		// Envoy keeps the client's content-length when a buffered body is
		// replaced: the next hop would then wait for bytes that never come
		// (the client saw UNAVAILABLE). HTTP/2 needs none; drop it.
		if cr.HeaderMutation == nil {
			cr.HeaderMutation = &extprocsvc.HeaderMutation{}
		}
		cr.HeaderMutation.RemoveHeaders = append(cr.HeaderMutation.RemoveHeaders, "content-length")
	}
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestBody{
		RequestBody: &extprocsvc.BodyResponse{Response: cr},
	}}
}

// emptyFrame is the body a refused request carries to the responder.
var emptyFrame = []byte{0, 0, 0, 0, 0}

// rejectTyped refuses a request with a Milvus status: gRPC calls go to the
// edge's responder, which answers with the method's typed response (so
// pymilvus raises the same MilvusException as against Milvus); REST calls get
// Milvus's JSON {code, message}. The backend never sees the call.
func (p *processor) rejectTyped(e *validate.Error) *extprocsvc.ProcessingResponse {
	if !p.grpcCall {
		return restError(e.Code, e.Reason)
	}
	m := &extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
		Header:       &corev3.HeaderValue{Key: edgehdr.Reject, RawValue: []byte(edgehdr.EncodeReject(e.Status()))},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}}}
	resp := bodyContinue(m, emptyFrame)
	resp.DynamicMetadata = refusedMetadata
	return resp
}

// reject answers a request the edge cannot even decode: gRPC clients get the
// gRPC status (as a Milvus server answers an unparsable message), REST
// clients Milvus's JSON error.
func (p *processor) reject(c codes.Code, msg string) *extprocsvc.ProcessingResponse {
	if !p.grpcCall {
		return restError(1100, msg)
	}
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvc.ImmediateResponse{
		Status:     &typev3.HttpStatus{Code: typev3.StatusCode_OK},
		Details:    "milvus_edge_rejected",
		GrpcStatus: &extprocsvc.GrpcStatus{Status: uint32(c)},
		Body:       []byte(msg),
	}}, DynamicMetadata: refusedMetadata}
}

// restError is Milvus REST's answer: HTTP 200 with {code, message}.
func restError(code int32, msg string) *extprocsvc.ProcessingResponse {
	return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvc.ImmediateResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode_OK},
		Details: "milvus_edge_rejected",
		Body:    []byte(`{"code":` + itoa(code) + `,"message":` + jsonString(msg) + `}`),
		Headers: &extprocsvc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
			Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte("application/json")},
		}}},
	}}, DynamicMetadata: refusedMetadata}
}

// passThrough answers any other phase without changes.
func passThrough(req *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
	cont := &extprocsvc.CommonResponse{}
	switch req.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvc.HeadersResponse{Response: cont}}}
	case *extprocsvc.ProcessingRequest_RequestTrailers:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocsvc.TrailersResponse{}}}
	default:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocsvc.TrailersResponse{}}}
	}
}
