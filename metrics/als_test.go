package metrics

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// logEntry is an access-log entry as Envoy's http_grpc logger sends it,
// with the edge's authz metadata.
func logEntry(t testing.TB, path string, authz map[string]any) *accesslogdatav3.HTTPAccessLogEntry {
	t.Helper()
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	if authz != nil {
		s, err := structpb.NewStruct(authz)
		if err != nil {
			t.Fatal(err)
		}
		md.FilterMetadata[edgemeta.AuthzNamespace] = s
	}
	resp, err := structpb.NewStruct(map[string]any{edgemeta.Code: 0})
	if err != nil {
		t.Fatal(err)
	}
	md.FilterMetadata[edgemeta.ResponseNamespace] = resp
	return &accesslogdatav3.HTTPAccessLogEntry{
		CommonProperties: &accesslogdatav3.AccessLogCommon{Metadata: md, Duration: durationpb.New(3 * time.Millisecond)},
		Request:          &accesslogdatav3.HTTPRequestProperties{Path: path, RequestBodyBytes: 600},
		Response: &accesslogdatav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(200), ResponseBodyBytes: 900,
			ResponseTrailers: map[string]string{"grpc-status": "0"}},
	}
}

func streamMessage(es ...*accesslogdatav3.HTTPAccessLogEntry) *accesslogv3.StreamAccessLogsMessage {
	return &accesslogv3.StreamAccessLogsMessage{
		Identifier: &accesslogv3.StreamAccessLogsMessage_Identifier{LogName: "milvus_edge_traces"},
		LogEntries: &accesslogv3.StreamAccessLogsMessage_HttpLogs{
			HttpLogs: &accesslogv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: es}},
	}
}

// TestAccessLogService streams entries as Envoy does (an identifier first,
// then batches of HTTP entries) to the real gRPC service: the traced ones,
// and only those, reach Traced whole; a closed stream is a clean end; a
// malformed message ends the stream with INVALID_ARGUMENT.
func TestAccessLogService(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	gs := grpc.NewServer(grpc.ForceServerCodecV2(Codec{}))
	accesslogv3.RegisterAccessLogServiceServer(gs, &AccessLogService{Traced: func(e []byte) {
		mu.Lock()
		got = append(got, append([]byte(nil), e...))
		mu.Unlock()
	}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client := accesslogv3.NewAccessLogServiceClient(conn)
	stream, err := client.StreamAccessLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	traced := logEntry(t, grpcPath+"Search", map[string]any{edgemeta.API: "Search", edgemeta.TraceID: "0af7651916cd43dd8448eb211c80319c"})
	untraced := logEntry(t, grpcPath+"Search", map[string]any{edgemeta.API: "Search"})
	bare := logEntry(t, grpcPath+"GetVersion", nil)
	for _, batch := range [][]*accesslogdatav3.HTTPAccessLogEntry{{traced, untraced}, {bare, traced}} {
		if err := stream.Send(streamMessage(batch...)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatalf("stream end: %v", err)
	}
	mu.Lock()
	if len(got) != 2 {
		t.Errorf("Traced got %d entries, want the traced entry twice", len(got))
	}
	for _, b := range got {
		var e accesslogdatav3.HTTPAccessLogEntry
		if err := proto.Unmarshal(b, &e); err != nil || !proto.Equal(&e, traced) {
			t.Errorf("Traced got %v (%v), want the traced entry whole", &e, err)
		}
	}
	mu.Unlock()

	// A message whose entry claims more bytes than it has.
	bad, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true},
		"/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.SendMsg(&rawMessage{b: []byte{0x12, 0x05, 0x0a}}); err != nil {
		t.Fatal(err)
	}
	_ = bad.CloseSend()
	if err := bad.RecvMsg(&rawMessage{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("malformed message: %v, want INVALID_ARGUMENT", err)
	}
}

// rawCodec sends a rawMessage's bytes as they are.
type rawCodec struct{ Codec }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*rawMessage).b)}, nil
}

// TestEntryTracedAllocs pins the cost of reading an entry Envoy sends:
// no allocation.
func TestEntryTracedAllocs(t *testing.T) {
	raw, err := proto.Marshal(streamMessage(logEntry(t, grpcPath+"Search", map[string]any{edgemeta.API: "Search",
		edgemeta.DB: "default", edgemeta.User: "root", edgemeta.TraceID: "0af7651916cd43dd8448eb211c80319c"})))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	f := func(e []byte) error {
		if ok, err := entryTraced(e); ok {
			n++
		} else if err != nil {
			return err
		}
		return nil
	}
	if a := testing.AllocsPerRun(100, func() { _ = forEachEntry(raw, f) }); a > 0 {
		t.Errorf("%v allocations per entry, want 0", a)
	}
	if n == 0 {
		t.Error("the trace id was not found")
	}
}

// TestDecodeMalformed: truncated messages are errors, never panics.
func TestDecodeMalformed(t *testing.T) {
	raw, err := proto.Marshal(streamMessage(logEntry(t, grpcPath+"Search", map[string]any{edgemeta.TraceID: "x"})))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		_ = forEachEntry(raw[:i], func(e []byte) error { _, err := entryTraced(e); return err })
	}
	if err := forEachEntry([]byte{0x12, 0x05, 0x0a}, func(e []byte) error { _, err := entryTraced(e); return err }); err == nil {
		t.Error("a length past the end decoded")
	}
}
