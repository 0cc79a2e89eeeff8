package metrics

import (
	"context"
	"errors"
	"io"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// AccessLogService receives the access-log entries Envoy streams to the
// edge (envoy.access_loggers.http_grpc, one stream per Envoy worker): those
// of the calls ext_authz traced, for their spans. It counts nothing: the
// per-call metrics come from Envoy's stats (Calls). The gRPC server must
// use Codec.
type AccessLogService struct {
	accesslogv3.UnimplementedAccessLogServiceServer
	// Traced, when set, gets the entry of every call whose facts carry a
	// trace id (edgemeta.TraceID: ext_authz traced it), during the
	// stream's receive; it must not keep the bytes. The edge builds
	// Envoy's spans from it (edgetrace.Tracer.ExportEnvoySpans).
	Traced func(entry []byte)
}

// StreamAccessLogs hands every traced HTTP entry of the stream to Traced
// until Envoy closes it; a stream ended by Envoy or by the server's stop is
// a clean return. The messages arrive as bytes (Codec) and are read by hand
// (entryTraced); a malformed one ends the stream with INVALID_ARGUMENT
// (Envoy opens a new one).
func (s *AccessLogService) StreamAccessLogs(stream accesslogv3.AccessLogService_StreamAccessLogsServer) error {
	var msg rawMessage
	traced := func(e []byte) error {
		ok, err := entryTraced(e)
		if ok && err == nil && s.Traced != nil {
			s.Traced(e)
		}
		return err
	}
	for {
		err := stream.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&accesslogv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		if err := forEachEntry(msg.b, traced); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
	}
}
