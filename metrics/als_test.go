package metrics

import (
	"context"
	"net"
	"testing"
	"time"

	accesslogdatav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestAccessLogService streams entries as Envoy does (an identifier first,
// then batches of HTTP entries) to the real gRPC service and reads them back
// from the metrics; a closed stream is a clean end.
func TestAccessLogService(t *testing.T) {
	calls := NewCalls("n1", 10)
	gs := grpc.NewServer(grpc.ForceServerCodecV2(Codec{}))
	accesslogv3.RegisterAccessLogServiceServer(gs, &AccessLogService{Calls: calls})
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
	stream, err := accesslogv3.NewAccessLogServiceClient(conn).StreamAccessLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	search := entry{path: grpcPath + "Search", http: 200, grpcStatus: "0", authz: facts("Search", "default", "docs")}.proto(t)
	denied := entry{path: grpcPath + "Insert", http: 200, headerGRPCStatus: "7", authz: facts("Insert", "default", "docs")}.proto(t)
	for i, batch := range [][]*accesslogdatav3.HTTPAccessLogEntry{{search, search}, {denied, search}} {
		msg := &accesslogv3.StreamAccessLogsMessage{LogEntries: &accesslogv3.StreamAccessLogsMessage_HttpLogs{
			HttpLogs: &accesslogv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: batch}}}
		if i == 0 {
			msg.Identifier = &accesslogv3.StreamAccessLogsMessage_Identifier{LogName: "milvus_edge_metrics"}
		}
		if err := stream.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatalf("stream end: %v", err)
	}
	want(t, "entries", testutil.ToFloat64(calls.entries), 4)
	want(t, "searches", testutil.ToFloat64(calls.reqCount.WithLabelValues("n1", "Search", StatusSuccess, "default", "docs")), 3)
	want(t, "failed inserts", testutil.ToFloat64(calls.reqCount.WithLabelValues("n1", "Insert", StatusFail, "default", "docs")), 1)
}
