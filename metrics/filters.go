package metrics

import (
	"context"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// The filter server's methods that Filters measures.
const (
	checkMethod   = "/envoy.service.auth.v3.Authorization/Check"
	processMethod = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"
)

// Authz decision classes (the decision label).
const (
	DecisionAllow       = "allow"
	DecisionDenyAuth    = "deny_auth"
	DecisionDenyPolicy  = "deny_policy"
	DecisionRateLimited = "rate_limited"
	DecisionInvalid     = "invalid"
	DecisionError       = "error"
)

var decisions = []string{DecisionAllow, DecisionDenyAuth, DecisionDenyPolicy, DecisionRateLimited, DecisionInvalid, DecisionError}

// ext_proc phases (the phase label), by ProcessingRequest kind.
var phases = []string{"request_headers", "request_body", "request_trailers", "response_headers", "response_body", "response_trailers", "other"}

// filterBuckets are the filters' latency buckets in seconds, 50 µs .. ~3.3 s
// (the filter timeout defaults to 2 s).
var filterBuckets = prometheus.ExponentialBuckets(0.00005, 2, 17)

// Filters measures the edge's filter server as gRPC interceptors: ext_authz
// Check durations and decisions, and ext_proc's time per message (from a
// request message received to its response sent). It is a
// prometheus.Collector. The children are bound once, so a call costs two
// clock reads and two atomic updates.
type Filters struct {
	checkDur  *prometheus.HistogramVec
	decisions *prometheus.CounterVec
	procDur   *prometheus.HistogramVec

	byDecision map[string]decisionMetrics
	byPhase    []prometheus.Observer
}

type decisionMetrics struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

// NewFilters returns the filter metrics.
func NewFilters() *Filters {
	f := &Filters{
		checkDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "milvus_edge", Name: "authz_check_duration_seconds",
			Help: "time ext_authz took to answer Envoy's Check, by decision", Buckets: filterBuckets}, []string{"decision"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "milvus_edge", Name: "authz_decisions_total",
			Help: "ext_authz answers by decision: allow, deny_auth, deny_policy, rate_limited, invalid (malformed or too large), error (Envoy answers 503)"},
			[]string{"decision"}),
		procDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "milvus_edge", Name: "extproc_message_duration_seconds",
			Help: "time ext_proc took to answer one message from Envoy, by phase", Buckets: filterBuckets}, []string{"phase"}),
		byDecision: map[string]decisionMetrics{},
	}
	for _, d := range decisions {
		f.byDecision[d] = decisionMetrics{count: f.decisions.WithLabelValues(d), dur: f.checkDur.WithLabelValues(d)}
	}
	for _, p := range phases {
		f.byPhase = append(f.byPhase, f.procDur.WithLabelValues(p))
	}
	return f
}

// Describe implements prometheus.Collector.
func (f *Filters) Describe(ch chan<- *prometheus.Desc) {
	f.checkDur.Describe(ch)
	f.decisions.Describe(ch)
	f.procDur.Describe(ch)
}

// Collect implements prometheus.Collector.
func (f *Filters) Collect(ch chan<- prometheus.Metric) {
	f.checkDur.Collect(ch)
	f.decisions.Collect(ch)
	f.procDur.Collect(ch)
}

// UnaryInterceptor times and classifies ext_authz's Check; other unary
// methods pass untouched.
func (f *Filters) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != checkMethod {
			return handler(ctx, req)
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		r, _ := resp.(*authv3.CheckResponse)
		f.ObserveCheck(time.Since(start), r, err)
		return resp, err
	}
}

// ObserveCheck records one ext_authz check: by the filter server's
// interceptor, and by the in-process module around its checks.
func (f *Filters) ObserveCheck(d time.Duration, r *authv3.CheckResponse, err error) {
	m := f.byDecision[decisionOf(r, err)]
	m.dur.Observe(d.Seconds())
	m.count.Inc()
}

// decisionOf classifies a Check answer. A denial's gRPC code says what
// refused it; an allowed gRPC call the rate limiter refused is sent on to
// the edge's responder, which edgemeta.Refused in the answer's metadata
// says.
func decisionOf(r *authv3.CheckResponse, err error) string {
	if err != nil || r == nil {
		return DecisionError
	}
	refused := r.GetDynamicMetadata().GetFields()[edgemeta.Refused].GetStringValue()
	switch code.Code(r.GetStatus().GetCode()) {
	case code.Code_OK:
		if refused == edgemeta.RefusedRateLimit {
			return DecisionRateLimited
		}
		return DecisionAllow
	case code.Code_UNAUTHENTICATED:
		return DecisionDenyAuth
	case code.Code_RESOURCE_EXHAUSTED:
		// REST calls refused by the limiter get 429; a call over the size
		// limit 413.
		if refused == edgemeta.RefusedRateLimit || r.GetDeniedResponse().GetStatus().GetCode() == 429 {
			return DecisionRateLimited
		}
		return DecisionInvalid
	case code.Code_INVALID_ARGUMENT:
		return DecisionInvalid
	default: // PERMISSION_DENIED, or the status the policy chose
		return DecisionDenyPolicy
	}
}

// StreamInterceptor times each ext_proc message; other streams (the access
// log, the responder) pass untouched.
func (f *Filters) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if info.FullMethod != processMethod {
			return handler(srv, ss)
		}
		return handler(srv, &timedStream{ServerStream: ss, f: f})
	}
}

// timedStream observes the time from a message received to the next one sent.
type timedStream struct {
	grpc.ServerStream
	f     *Filters
	start time.Time
	phase int
}

func (s *timedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.start, s.phase = time.Now(), phaseOf(m)
	}
	return err
}

func (s *timedStream) SendMsg(m any) error {
	if !s.start.IsZero() {
		s.f.byPhase[s.phase].Observe(time.Since(s.start).Seconds())
		s.start = time.Time{}
	}
	return s.ServerStream.SendMsg(m)
}

// phaseOf is the index in phases of a ProcessingRequest's kind.
func phaseOf(m any) int {
	r, _ := m.(*extprocv3.ProcessingRequest)
	switch r.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return 0
	case *extprocv3.ProcessingRequest_RequestBody:
		return 1
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return 2
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return 3
	case *extprocv3.ProcessingRequest_ResponseBody:
		return 4
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return 5
	}
	return 6
}
