package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/milvus-edge/milvus-edge/extproc/authz"
	"github.com/milvus-edge/milvus-edge/internal/config"
)

// TestFiltersStopWaitsForHandlers: a filter call still running when the
// edge stops (its handler returns 300 ms after its call was cut, then
// remembers a credential and logs a decision, as a Check does) finishes
// before Serve closes the caches and the decision log: Serve returns only
// after the handler, and nothing panics (run with -race). Before, Serve
// closed them right after grpc.Server.Stop, which does not wait for
// handlers: ristretto's Close then raced the handler's Set (a send on the
// channel Close closes).
func TestFiltersStopWaitsForHandlers(t *testing.T) {
	cfg, err := config.Parse([]byte("edge: {filter_timeout: 200ms}\nvalidation: {fill_budget: 100ms}\nauth: {decision_log: " +
		t.TempDir() + "/decisions.log}\nclusters: [{name: qn, endpoints: [{address: 127.0.0.1:1}]}]\nroutes: [{cluster: qn}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFilters(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	var finished atomic.Bool
	f.GRPC.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.Slow",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(&emptypb.Empty{}); err != nil {
				return nil, err
			}
			close(entered)
			<-ctx.Done() // cut by the hard stop, after the graceful part
			time.Sleep(300 * time.Millisecond)
			f.creds.Remember("late")
			f.dlog.Log(authz.DecisionRecord{User: "late"})
			finished.Store(true)
			return &emptypb.Empty{}, nil
		}}},
	}, struct{}{})
	took, err := stopWithCallInFlight(t, f, cfg, "/test.Slow/Call", entered)
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	t.Logf("stopped in %v", took.Round(time.Millisecond))
	if !finished.Load() {
		t.Fatal("Serve returned (and closed the caches and the decision log) while a handler was still running")
	}
	if took < cfg.Edge.FilterTimeout.D() {
		t.Errorf("stopped in %v: the call in flight did not get filter_timeout (%v) to finish", took, cfg.Edge.FilterTimeout.D())
	}
}

// TestFiltersStopBounded: a handler that never returns does not hold the
// stop past filter_timeout + handlerGrace, and then nothing it uses is closed.
func TestFiltersStopBounded(t *testing.T) {
	cfg, err := config.Parse([]byte("edge: {filter_timeout: 100ms}\nvalidation: {fill_budget: 50ms}\nclusters: [{name: qn, endpoints: [{address: 127.0.0.1:1}]}]\nroutes: [{cluster: qn}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFilters(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	f.GRPC.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.Stuck",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			_ = dec(&emptypb.Empty{})
			close(entered)
			<-release // ignores its context
			f.creds.Remember("late")
			return &emptypb.Empty{}, nil
		}}},
	}, struct{}{})
	took, _ := stopWithCallInFlight(t, f, cfg, "/test.Stuck/Call", entered)
	t.Logf("stopped in %v with a stuck handler", took.Round(time.Millisecond))
	if !f.busy.Load() || f.closed.Load() {
		t.Errorf("busy %v closed %v: want the caches left open under the stuck handler", f.busy.Load(), f.closed.Load())
	}
}

// stopWithCallInFlight serves f, makes one call to method, waits until its
// handler has entered, stops f and returns how long Serve took to return
// and what it returned; the test fails when Serve is not back within
// filter_timeout + handlerGrace + 2 s.
func stopWithCallInFlight(t *testing.T, f *Filters, cfg *config.Config, method string, entered <-chan struct{}) (time.Duration, error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { _ = conn.Invoke(context.Background(), method, &emptypb.Empty{}, &emptypb.Empty{}) }()
	<-entered
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		return time.Since(start), err
	case <-time.After(cfg.Edge.FilterTimeout.D() + handlerGrace + 2*time.Second):
		t.Fatal("Serve did not return within filter_timeout + handlerGrace")
	}
	return 0, nil
}
