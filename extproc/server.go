package extproc

import (
	"errors"
	"io"
	"log/slog"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
)

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	log    *slog.Logger
	maxLen int
}

// New returns an ext_proc server; maxLen bounds a decompressed request.
func New(log *slog.Logger, maxLen int) *Server {
	return &Server{log: log, maxLen: maxLen}
}

// Process serves one HTTP request's stream: one processor, one method per phase.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	p := processor{s: s}
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		var resp *extprocv3.ProcessingResponse
		switch v := req.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			resp = p.requestHeaders(v.RequestHeaders)
		case *extprocv3.ProcessingRequest_RequestBody:
			resp = p.requestBody(v.RequestBody)
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
	path     string
	dbHeader string
	encoding string
	grpcCall bool
}

func (p *processor) requestHeaders(h *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
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
		}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{},
	}}
}

func (p *processor) requestBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	var (
		req *Request
		err error
	)
	switch {
	case p.grpcCall:
		req, err = decodeGRPC(p.path, b.GetBody(), p.encoding, p.dbHeader, p.s.maxLen)
	case strings.HasPrefix(p.path, "/v2/vectordb/"):
		req, err = decodeREST(p.path, b.GetBody(), p.dbHeader)
	default:
		return bodyContinue(nil)
	}
	if err != nil {
		p.s.log.Debug("refusing undecodable request", "path", p.path, "error", err)
		return p.reject(codes.InvalidArgument, err.Error())
	}
	key := req.RouteKey()
	if key == "" {
		return bodyContinue(nil)
	}
	return bodyContinue(&extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
		Header:       &corev3.HeaderValue{Key: edgehdr.Route, RawValue: []byte(key)},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}}})
}

// bodyContinue lets the request go on; with a header mutation it also clears
// the route cache so Envoy routes on the new route key.
func bodyContinue(m *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
		RequestBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{
			HeaderMutation:  m,
			ClearRouteCache: m != nil,
		}},
	}}
}

// reject answers the client without calling a backend: gRPC clients get the
// gRPC status, REST clients Milvus's JSON error shape.
func (p *processor) reject(c codes.Code, msg string) *extprocv3.ProcessingResponse {
	ir := &extprocv3.ImmediateResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode_OK},
		Details: "milvus_edge_rejected",
	}
	if p.grpcCall {
		ir.GrpcStatus = &extprocv3.GrpcStatus{Status: uint32(c)}
		ir.Body = []byte(msg)
	} else {
		// Milvus REST answers HTTP 200 with {code, message}; 1100 = ParameterInvalid.
		ir.Body = []byte(`{"code":1100,"message":` + jsonString(msg) + `}`)
		ir.Headers = &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
			Header: &corev3.HeaderValue{Key: "content-type", RawValue: []byte("application/json")},
		}}}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: ir}}
}

// passThrough answers any other phase without changes.
func passThrough(req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	cont := &extprocv3.CommonResponse{}
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{Response: cont}}}
	case *extprocv3.ProcessingRequest_ResponseBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{Response: cont}}}
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{}}}
	default:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}}}
	}
}
