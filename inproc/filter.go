// Package inproc is the edge's in-process filter (edge.filters: in_process):
// the ext_authz check — authentication, the policy, rate limits and, in
// single pass, validation and the route key — run inside Envoy's process as a
// Go dynamic module (cmd/milvus-edge-module), without a gRPC callout per
// call. It builds the CheckRequest Envoy's ext_authz filter would send and
// applies the CheckResponse as that filter does, so both modes run the same
// check code (extproc/authz) on the same input. docs/in-process.md.
//
// The package uses only the SDK's interfaces (shared), not its cgo half, so
// its tests run without Envoy.
package inproc

import (
	"context"
	"time"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// Checker is the edge's ext_authz check (authz.Server.Check).
type Checker interface {
	Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error)
}

// Limits are ext_authz's settings the module copies: how much of the body
// the check gets, and how long it may take.
type Limits struct {
	// BodyBytes is the body prefix the check reads (ext_authz's
	// with_request_body.max_request_bytes); the rest is buffered and passed on.
	BodyBytes int
	// Timeout bounds one check (edge.filter_timeout); past it the call fails
	// as ext_authz's does on a timeout: 503, UNAVAILABLE to gRPC clients.
	Timeout time.Duration
}

// state is where a call is in the filter.
type state uint8

const (
	waiting  state = iota // for the body prefix
	checking              // the check runs on a goroutine; Envoy holds the call
	done                  // answered or let through
)

// filter is one call. Envoy calls it on one worker thread; the check runs on
// a goroutine and its result comes back to that thread through the stream's
// scheduler (finish), which Envoy drops if the stream ended first.
type filter struct {
	shared.EmptyHttpFilter
	h      shared.HttpFilterHandle
	check  Checker
	limits Limits
	state  state
	// cancel ends the check's context, timer its deadline (start).
	cancel context.CancelFunc
	timer  *time.Timer
}

func newFilter(h shared.HttpFilterHandle, c Checker, l Limits) *filter {
	return &filter{h: h, check: c, limits: l}
}

func (f *filter) OnRequestHeaders(_ shared.HeaderMap, endOfStream bool) shared.HeadersStatus {
	if endOfStream {
		f.start(nil, false)
	}
	return shared.HeadersStatusStop
}

func (f *filter) OnRequestBody(chunk shared.BodyBuffer, endOfStream bool) shared.BodyStatus {
	switch f.state {
	case done:
		return shared.BodyStatusContinue
	case checking:
		return shared.BodyStatusStopAndWatermark
	}
	n := f.receivedSize(chunk)
	if !endOfStream && n < f.limits.BodyBytes {
		return shared.BodyStatusStopAndBuffer
	}
	f.start(f.received(chunk, f.limits.BodyBytes), !endOfStream || n > f.limits.BodyBytes)
	return shared.BodyStatusStopAndWatermark
}

func (f *filter) OnRequestTrailers(shared.HeaderMap) shared.TrailersStatus {
	switch f.state {
	case done:
		return shared.TrailersStatusContinue
	case waiting:
		f.start(f.received(nil, f.limits.BodyBytes), f.receivedSize(nil) > f.limits.BodyBytes)
	}
	return shared.TrailersStatusStop
}

// receivedSize is the body's size so far: what Envoy buffered plus the
// chunk of this callback (which Envoy may hand over as the buffer itself,
// replayed).
func (f *filter) receivedSize(chunk shared.BodyBuffer) int {
	n := 0
	if chunk == nil || !f.h.ReceivedBufferedRequestBody() {
		if b := f.h.BufferedRequestBody(); b != nil {
			n += int(b.GetSize())
		}
	}
	if chunk != nil {
		n += int(chunk.GetSize())
	}
	return n
}

// received copies the first limit bytes of the body so far (once, when the
// check starts: nothing is copied while the prefix fills).
func (f *filter) received(chunk shared.BodyBuffer, limit int) []byte {
	out := make([]byte, 0, min(f.receivedSize(chunk), limit))
	if chunk == nil || !f.h.ReceivedBufferedRequestBody() {
		if b := f.h.BufferedRequestBody(); b != nil {
			out = appendChunks(out, b, limit)
		}
	}
	if chunk != nil {
		out = appendChunks(out, chunk, limit)
	}
	return out
}

func appendChunks(out []byte, b shared.BodyBuffer, limit int) []byte {
	for _, c := range b.GetChunks() {
		if len(out) >= limit {
			break
		}
		data := c.ToUnsafeBytes()
		out = append(out, data[:min(len(data), limit-len(out))]...)
	}
	return out
}

// start reads the call on the worker thread (everything the check needs is
// copied) and runs the check on a goroutine. As ext_authz, the filter gives
// up at the timeout whatever the check does: the timer answers 503 and the
// check's late answer is dropped.
func (f *filter) start(body []byte, partial bool) {
	f.state = checking
	req := checkRequest(f.h, body, partial)
	sched := f.h.GetScheduler()
	ctx, cancel := context.WithTimeout(context.Background(), f.limits.Timeout)
	f.cancel = cancel
	c := f.check
	go func() {
		resp, err := c.Check(ctx, req)
		sched.Schedule(func() { f.finish(resp, err) })
	}()
	f.timer = time.AfterFunc(f.limits.Timeout, func() {
		sched.Schedule(func() { f.finish(nil, context.DeadlineExceeded) })
	})
}

// finish applies the first answer (the check's, or the timeout) on the
// worker thread.
func (f *filter) finish(resp *authv3.CheckResponse, err error) {
	if f.state == done {
		return
	}
	f.state = done
	f.stop()
	if !apply(f.h, resp, err) {
		return // answered locally
	}
	f.h.ContinueRequest()
}

// OnDestroy ends a check still running for a stream that is gone (a reset
// client): its context is cancelled, so it stops waiting on fills or
// limiters.
func (f *filter) OnDestroy() { f.stop() }

func (f *filter) stop() {
	if f.cancel != nil {
		f.cancel()
		f.timer.Stop()
	}
}
