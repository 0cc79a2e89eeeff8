package testenv

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/otlpreceiver"
)

// OTLP is a running OTLP/gRPC trace receiver (otlpreceiver: the official
// collector protos, a real gRPC server) that Envoy and the edge export to.
type OTLP struct {
	*otlpreceiver.Receiver
	// Addr is its host:port, for tracing.otlp_endpoint.
	Addr string
}

// OTLPReceiver starts a trace receiver on a free loopback port that keeps
// every span; it stops when the test ends.
func OTLPReceiver(t testing.TB) *OTLP {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0") // bound here and held: no port race
	if err != nil {
		t.Fatal(err)
	}
	r := otlpreceiver.New(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &OTLP{Receiver: r, Addr: lis.Addr().String()}
}

// WaitTrace waits until the spans of traceID satisfy done (it gets them in
// start order), and returns them; it fails the test after limit, printing
// what did arrive.
func (o *OTLP) WaitTrace(t testing.TB, traceID string, limit time.Duration, done func([]otlpreceiver.Span) bool) []otlpreceiver.Span {
	t.Helper()
	deadline := time.After(limit)
	for {
		changed := o.Changed()
		spans := o.Trace(traceID)
		if done(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("trace %s incomplete after %s; received:\n%s", traceID, limit, otlpreceiver.Tree(spans))
			return nil
		}
	}
}
