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
// edge (envoy.access_loggers.http_grpc, one stream per Envoy worker) and
// records each finished call in Calls. The gRPC server must use Codec.
type AccessLogService struct {
	accesslogv3.UnimplementedAccessLogServiceServer
	Calls *Calls
	// Traced, when set, gets the entry of every call whose facts carry a
	// trace id (edgemeta.TraceID: ext_authz traced it), during the
	// stream's receive; it must not keep the bytes. The edge builds
	// Envoy's spans from it (edgetrace.Tracer.ExportEnvoySpans).
	Traced func(entry []byte)
}

// StreamAccessLogs records every HTTP entry of the stream until Envoy closes
// it; a stream ended by Envoy or by the server's stop is a clean return.
// The messages arrive as bytes (Codec) and are decoded by hand
// (decodeEntry); a malformed one ends the stream with INVALID_ARGUMENT
// (Envoy opens a new one).
func (s *AccessLogService) StreamAccessLogs(stream accesslogv3.AccessLogService_StreamAccessLogsServer) error {
	var msg rawMessage
	var k call
	count := func(e []byte) error {
		if err := decodeEntry(e, &k); err != nil {
			return err
		}
		k.resolve()
		s.Calls.count(&k)
		if k.facts.TraceID != "" && s.Traced != nil {
			s.Traced(e)
		}
		return nil
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
		if err := forEachEntry(msg.b, count); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
	}
}
