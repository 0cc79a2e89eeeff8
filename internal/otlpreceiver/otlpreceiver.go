// Package otlpreceiver is a real OpenTelemetry trace receiver: an OTLP/gRPC
// TraceService (opentelemetry.proto.collector.trace.v1) built on the official
// protos, which Envoy's OpenTelemetry tracer and the edge's OTLP exporter
// send spans to exactly as they would to a collector. It keeps what it
// receives in memory for assertions (tests, through internal/testenv) or only
// counts it (the bench's sink). It is not a collector: no processing, no
// forwarding.
package otlpreceiver

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	collectortracev1 "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is one received span, flattened: ids in lower-case hex as W3C
// traceparent and the access log's trace_id write them.
type Span struct {
	// Service is the resource's service.name.
	Service string `json:"service"`
	// Scope is the instrumentation scope's name.
	Scope    string                `json:"scope"`
	TraceID  string                `json:"trace_id"`
	SpanID   string                `json:"span_id"`
	ParentID string                `json:"parent_id"` // "" for a root span
	Name     string                `json:"name"`
	Kind     tracev1.Span_SpanKind `json:"kind"`
	Start    time.Time             `json:"start"`
	End      time.Time             `json:"end"`
	Attrs    map[string]string     `json:"attributes"`
	Links    []Link                `json:"links,omitempty"`
	// StatusCode is 0 unset, 1 ok, 2 error.
	StatusCode         tracev1.Status_StatusCode `json:"status_code"`
	StatusMsg          string                    `json:"status_message,omitempty"`
	ReceivedAt         time.Time                 `json:"received_at"`
	ResourceAttributes map[string]string         `json:"resource_attributes"`
}

// Link is a span link.
type Link struct {
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
}

// Receiver implements the OTLP TraceService.
type Receiver struct {
	collectortracev1.UnimplementedTraceServiceServer
	// keep bounds the stored spans (0: count only).
	keep  int
	total atomic.Int64
	// mu guards spans and changed.
	mu      sync.Mutex
	spans   []Span
	changed chan struct{}
}

// New returns a receiver that stores up to keep spans (later ones are only
// counted); keep 0 stores nothing.
func New(keep int) *Receiver {
	return &Receiver{keep: keep, changed: make(chan struct{})}
}

// Export implements TraceServiceServer: the OTLP/gRPC export call.
func (r *Receiver) Export(_ context.Context, req *collectortracev1.ExportTraceServiceRequest) (*collectortracev1.ExportTraceServiceResponse, error) {
	now := time.Now()
	var got []Span
	n := 0
	for _, rs := range req.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				n++
				if r.keep == 0 {
					continue
				}
				got = append(got, flatten(s, res, ss.GetScope().GetName(), now))
			}
		}
	}
	r.total.Add(int64(n))
	if len(got) > 0 {
		r.mu.Lock()
		room := max(r.keep-len(r.spans), 0)
		r.spans = append(r.spans, got[:min(room, len(got))]...)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
	return &collectortracev1.ExportTraceServiceResponse{}, nil
}

func flatten(s *tracev1.Span, res map[string]string, scope string, now time.Time) Span {
	out := Span{
		Service: res["service.name"], Scope: scope, ResourceAttributes: res,
		TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: s.GetKind(),
		Start: time.Unix(0, int64(s.GetStartTimeUnixNano())), End: time.Unix(0, int64(s.GetEndTimeUnixNano())),
		Attrs: attrs(s.GetAttributes()), StatusCode: s.GetStatus().GetCode(), StatusMsg: s.GetStatus().GetMessage(),
		ReceivedAt: now,
	}
	for _, l := range s.GetLinks() {
		out.Links = append(out.Links, Link{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId())})
	}
	return out
}

// attrs renders attribute values as strings (enough for assertions).
func attrs(kvs []*commonv1.KeyValue) map[string]string {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonv1.AnyValue_StringValue:
			out[kv.GetKey()] = x.StringValue
		case *commonv1.AnyValue_IntValue:
			out[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonv1.AnyValue_BoolValue:
			out[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		case *commonv1.AnyValue_DoubleValue:
			out[kv.GetKey()] = fmt.Sprint(x.DoubleValue)
		default:
			out[kv.GetKey()] = v.String()
		}
	}
	return out
}

// Serve answers OTLP/gRPC on lis until ctx ends.
func (r *Receiver) Serve(ctx context.Context, lis net.Listener) error {
	srv := grpc.NewServer()
	collectortracev1.RegisterTraceServiceServer(srv, r)
	stop := context.AfterFunc(ctx, srv.Stop)
	defer stop()
	err := srv.Serve(lis)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Total is how many spans were received (stored or not).
func (r *Receiver) Total() int64 { return r.total.Load() }

// Spans returns a copy of the stored spans, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Trace returns the stored spans of one trace, ordered by start time.
func (r *Receiver) Trace(traceID string) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Changed returns a channel closed at the next export that stored a span.
func (r *Receiver) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Tree renders spans as an indented parent/child tree ("service: name"),
// children in start order; spans whose parent is not among them are roots.
func Tree(spans []Span) string {
	ids := make(map[string]bool, len(spans))
	kids := map[string][]Span{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	var roots []Span
	for _, s := range spans {
		if s.ParentID == "" || !ids[s.ParentID] {
			roots = append(roots, s)
			continue
		}
		kids[s.ParentID] = append(kids[s.ParentID], s)
	}
	var b strings.Builder
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		fmt.Fprintf(&b, "%s%s: %s (%s)\n", strings.Repeat("  ", depth), s.Service, s.Name, s.End.Sub(s.Start).Round(time.Microsecond))
		k := kids[s.SpanID]
		sort.SliceStable(k, func(i, j int) bool { return k[i].Start.Before(k[j].Start) })
		for _, c := range k {
			walk(c, depth+1)
		}
	}
	sort.SliceStable(roots, func(i, j int) bool { return roots[i].Start.Before(roots[j].Start) })
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
