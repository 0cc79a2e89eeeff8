package authz

import (
	"context"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/ratelimit"
)

// UseLimiter sets the rate limiter Check consults once the policy allows a
// call (Milvus's RateLimitInterceptor also runs after authentication and
// privileges); call it before serving. nil: no limits.
func (s *Server) UseLimiter(l *ratelimit.Limiter) { s.limits = l }

// limit checks an allowed call against the rate limits; nil admits it.
func (s *Server) limit(ctx context.Context, sum *Summary, id Identity, size int64) *ratelimit.Refusal {
	if s.limits == nil {
		return nil
	}
	t, ok := ratelimit.TypeOf(sum.API)
	if !ok {
		return nil
	}
	c := ratelimit.Call{Type: t, DB: sum.DB, Collection: sum.Collection, Caller: callerOf(id)}
	var nq int64
	if info := sum.info; info != nil {
		if info.DB != "" { // db_name wins over the dbname header, as in Milvus
			c.DB = info.DB
		}
		c.Partitions = info.Partitions
		switch {
		case info.NQ != nil:
			nq = *info.NQ * int64(max(info.SubSearches, 1)) // a hybrid search: every sub-search's nq
		case info.NQEstimate != nil: // a large search, cut inside its vectors
			nq = *info.NQEstimate
		}
	}
	c.Cost = ratelimit.Cost(t, size, nq)
	return s.checkLimit(ctx, &c)
}

// messageSize is what Milvus charges a DML call: the request message's size
// (the gRPC frame's declared length, without its 5-byte prefix), or a REST
// body's length — its JSON, larger than the message Milvus's REST handler
// makes of it (docs/rate-limits.md).
func messageSize(grpcCall bool, h *authv3.AttributeContext_HttpRequest) int64 {
	n := declaredSize(grpcCall, h)
	switch {
	case grpcCall && n >= 5:
		return n - 5
	case !grpcCall && n == 0:
		return int64(max(len(h.GetRawBody()), len(h.GetBody())))
	}
	return n
}

func callerOf(id Identity) ratelimit.Caller {
	c := ratelimit.Caller{User: id.User, Roles: id.Roles, APIKey: id.KeyDigest}
	if gs, ok := id.Claims["groups"].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				c.Groups = append(c.Groups, s)
			}
		}
	}
	return c
}

// limited answers a refused call as Milvus does: gRPC calls go to the
// responder (edgehdr.Reject), which answers with the method's typed
// response carrying the status (code 8, retriable, so that pymilvus backs
// off and retries; or code 9); REST calls get Milvus's JSON error with HTTP
// 429 and Retry-After (Milvus's own REST answer is HTTP 200: see
// docs/rate-limits.md). Either way nothing reaches the backend.
func limited(grpcCall bool, user string, ref *ratelimit.Refusal, md *structpb.Struct) *authv3.CheckResponse {
	if grpcCall {
		resp := allow(user, nil, md)
		ok := resp.GetOkResponse()
		ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: edgehdr.Reject, Value: edgehdr.EncodeReject(ref.Status())},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
		return resp
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(code.Code_RESOURCE_EXHAUSTED), Message: ref.Reason},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests},
			Body:   ref.RESTBody(),
			Headers: []*corev3.HeaderValueOption{
				{Header: &corev3.HeaderValue{Key: "content-type", Value: "application/json"}},
				{Header: &corev3.HeaderValue{Key: "retry-after", Value: "1"}},
			},
		}},
		DynamicMetadata: md,
	}
}
