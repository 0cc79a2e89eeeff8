package extproc

import (
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	// Registers gzip: a refused call keeps the client's grpc-encoding and,
	// when ext_authz refused it, its compressed body, which the responder
	// reads before it answers.
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
)

// Responder answers requests ext_proc refused with the method's own typed
// response whose status carries the Milvus error, exactly as a Milvus Proxy
// answers a bad request (gRPC OK, status.code 1100, ...). Register it as the
// filter server's unknown-service handler: Envoy routes refused requests here.
func Responder(_ any, stream grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(stream)
	if !ok {
		return status.Error(codes.Internal, "responder: no method")
	}
	m, ok := milvusgrpc.Lookup(method)
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	vals := md.Get(edgehdr.Reject)
	if len(vals) == 0 {
		return status.Error(codes.Internal, "responder: request carries no rejection")
	}
	st, err := edgehdr.DecodeReject(vals[0])
	if err != nil {
		return status.Errorf(codes.Internal, "responder: %v", err)
	}
	// ext_proc replaced the body with an empty message; drain it.
	if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	resp, err := typedError(m, st)
	if err != nil {
		return status.Errorf(codes.Internal, "responder: %v", err)
	}
	// Answer uncompressed whatever the request was (grpc-go would mirror its
	// gzip): the answer is a few bytes, and Envoy reads its status for the
	// access log and the metrics (edgemeta.ResponseNamespace), which it
	// cannot in a compressed message.
	if err := grpc.SetSendCompressor(stream.Context(), encoding.Identity); err != nil {
		return status.Errorf(codes.Internal, "responder: %v", err)
	}
	return stream.SendMsg(resp)
}

// typedError builds method m's response message carrying st: the response
// is either common.Status itself or a message with a `status` field.
func typedError(m *milvusgrpc.Method, st *commonpb.Status) (proto.Message, error) {
	out := m.Output
	if out.FullName() == (&commonpb.Status{}).ProtoReflect().Descriptor().FullName() {
		return st, nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(out.FullName())
	if err != nil {
		return nil, fmt.Errorf("response type of %s: %w", m.Name, err)
	}
	msg := mt.New()
	f := out.Fields().ByName("status")
	if f == nil || f.Kind() != protoreflect.MessageKind {
		return nil, fmt.Errorf("%s has no status field", out.FullName())
	}
	msg.Set(f, protoreflect.ValueOfMessage(st.ProtoReflect()))
	return msg.Interface(), nil
}
