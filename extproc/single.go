package extproc

import (
	"context"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
)

// Preprocess does ext_proc's request-side work for a gRPC or REST v2 call
// whose whole body ext_authz already holds: decode, validate, route key. It
// returns the
// headers for ext_authz to set — the route key and edgehdr.Checked, or the
// typed refusal for the responder — and Envoy's routes then skip ext_proc
// for the call, saving Envoy and the edge one more gRPC stream per request.
//
// It returns nil, leaving the call to ext_proc, whenever ext_proc has more to
// do than the request side: a body that is not whole (larger than ext_authz's
// buffer) or does not decode, DDL (its response invalidates the cache), the
// call chosen to have its response watched (claimed here and marked with
// edgehdr.Watch, so exactly one call per WatchEvery takes ext_proc for it),
// a body that needs db_name added from the dbname header (ext_authz cannot
// replace a body), and a REST call it would refuse (ext_proc answers it with
// Milvus's JSON error; ext_authz could only deny).
//
// decoded is the request message ext_authz already decoded from body (or
// nil); validation uses it instead of decoding the body again.
func (s *Server) Preprocess(ctx context.Context, grpcCall bool, path, dbHeader, encoding string, body []byte, decoded proto.Message) []*corev3.HeaderValueOption {
	if !grpcCall {
		return s.preprocessREST(path, dbHeader, body)
	}
	m, ok := milvusgrpc.Lookup(path)
	switch {
	case !ok || len(body) > s.c.MaxLen:
		return nil
	case s.c.Schemas != nil && ddlKinds[m.Name] != 0:
		return nil
	case s.c.Schemas != nil && dataChecks[m.Name] != nil && s.claimWatch():
		return []*corev3.HeaderValueOption{setHeader(edgehdr.Watch, "1")}
	}
	p := processor{s: s, ctx: ctx, path: path, dbHeader: dbHeader, encoding: encoding, grpcCall: true, method: m}
	d := p.decide(body, decoded)
	switch {
	case d.bad != "" || d.newMsg != nil:
		return nil
	case d.refuse != nil:
		return []*corev3.HeaderValueOption{setHeader(edgehdr.Reject, edgehdr.EncodeReject(d.refuse.Status()))}
	}
	h := []*corev3.HeaderValueOption{setHeader(edgehdr.Checked, "1"), setHeader(edgehdr.Class, string(m.Class()))}
	if d.routeKey != "" {
		h = append(h, setHeader(edgehdr.Route, d.routeKey))
	}
	return h
}

// preprocessREST is requestBody's REST branch.
func (s *Server) preprocessREST(path, dbHeader string, body []byte) []*corev3.HeaderValueOption {
	if !strings.HasPrefix(path, "/v2/vectordb/") || len(body) > s.c.MaxLen {
		return nil
	}
	m, _ := milvusgrpc.LookupREST(path)
	if m != nil && s.c.Schemas != nil && ddlKinds[m.Name] != 0 {
		return nil // its response invalidates the cache: ext_proc's
	}
	req, err := decodeREST(path, body, dbHeader)
	if err != nil || checkRESTNames(req) != nil {
		return nil
	}
	h := []*corev3.HeaderValueOption{setHeader(edgehdr.Checked, "1")}
	if m != nil {
		h = append(h, setHeader(edgehdr.Class, string(m.Class())))
	}
	if key := req.RouteKey(); key != "" {
		h = append(h, setHeader(edgehdr.Route, key))
	}
	return h
}

// setHeader is a header for ext_authz's OkHttpResponse, which reads value
// (ext_proc reads raw_value).
func setHeader(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
