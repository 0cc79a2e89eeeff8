package app

import (
	"time"

	"google.golang.org/grpc"
)

// handlerGrace is how long the filter server's handlers get to return once
// their calls were cut (contexts canceled) by the hard stop.
const handlerGrace = 2 * time.Second

// stopGRPC stops a gRPC server within a bound. It first stops gracefully:
// no new calls, and calls in flight run to their end, for up to grace;
// then hard: every connection is closed and the handlers' contexts are
// canceled, and it waits up to handlerGrace for them to return. The server
// must have been built with grpc.WaitForHandlers(true), so that a stop
// returns only once its handlers have. It reports whether every handler
// returned: only then may what they use (caches, the decision log) close.
func stopGRPC(s *grpc.Server, grace time.Duration) (idle bool) {
	done := make(chan struct{})
	go func() {
		s.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	}
	// Stop cuts the calls left; it and GracefulStop return once their
	// handlers have, so it runs on its own goroutine.
	go s.Stop()
	t.Reset(handlerGrace)
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
