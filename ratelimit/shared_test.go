package ratelimit

import (
	"context"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// fakeRateLimitService is an in-process stand-in for the envoyproxy/ratelimit
// service: it records every request and answers with answer (OK when nil).
type fakeRateLimitService struct {
	rlsv3.UnimplementedRateLimitServiceServer

	srv  *grpc.Server
	addr string

	mu     sync.Mutex
	reqs   []*rlsv3.RateLimitRequest
	answer func(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error)
}

func (f *fakeRateLimitService) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	answer := f.answer
	f.mu.Unlock()
	if answer == nil {
		return &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK}, nil
	}
	return answer(ctx, req)
}

func (f *fakeRateLimitService) setAnswer(a func(context.Context, *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error)) {
	f.mu.Lock()
	f.answer = a
	f.mu.Unlock()
}

func (f *fakeRateLimitService) requests() []*rlsv3.RateLimitRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// startFakeRateLimitService serves the fake on 127.0.0.1:0 until the test ends.
func startFakeRateLimitService(t *testing.T) *fakeRateLimitService {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRateLimitService{srv: grpc.NewServer(), addr: lis.Addr().String()}
	rlsv3.RegisterRateLimitServiceServer(f.srv, f)
	go f.srv.Serve(lis) //nolint:errcheck // Serve returns when the test stops the server
	t.Cleanup(f.srv.Stop)
	return f
}

// newSharedLimiter is a limiter on a fake clock whose limits are shared
// through the fake service; the clock also drives Shared's down window.
func newSharedLimiter(t *testing.T, f *fakeRateLimitService, r *Rules, replicas int, timeout time.Duration) (*Limiter, *Shared, *fakeClock) {
	t.Helper()
	l, clk := newTestLimiter(t, nil, r)
	s, err := NewShared(discardLog(), SharedConfig{Address: f.addr, Domain: "milvus-edge", Timeout: timeout, Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.now = clk.now
	l.SetShared(s)
	return l, s, clk
}

// wantDescriptor is a limit as the edge sends it, charged hits (the call's
// cost, at most one whole window).
func wantDescriptor(value string, n uint32, unit typev3.RateLimitUnit, hits uint64) *rlcommon.RateLimitDescriptor {
	return &rlcommon.RateLimitDescriptor{
		Entries:    []*rlcommon.RateLimitDescriptor_Entry{{Key: "milvus_edge_limit", Value: value}},
		Limit:      &rlcommon.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: n, Unit: unit},
		HitsAddend: wrapperspb.UInt64(hits),
	}
}

const (
	second = typev3.RateLimitUnit_SECOND
	minute = typev3.RateLimitUnit_MINUTE
	hour   = typev3.RateLimitUnit_HOUR
)

func TestSharedRequest(t *testing.T) {
	f := startFakeRateLimitService(t)
	for _, tc := range []struct {
		name  string
		rules *Rules
		call  Call
		want  *rlsv3.RateLimitRequest
	}{
		{
			name: "every level, fractional rates per minute or hour",
			rules: &Rules{
				Edge:        lv(DQLSearch, 10),
				Databases:   map[string]Level{"*": lv(DQLSearch, 0.1)},
				Collections: map[string]Level{"default/c": lv(DQLSearch, 1.5)},
				Partitions:  map[string]Level{"*/*/*": lv(DQLSearch, 1.0/1800)},
				Callers:     []CallerRule{{User: "*", Rates: Rates{}.Set(DQLSearch, 2.5)}, {Role: "r", Rates: Rates{}.Set(DQLSearch, 1e6)}},
			},
			call: Call{Type: DQLSearch, Cost: 3, DB: "default", Collection: "c", Partitions: []string{"p1", "p2"},
				Caller: Caller{User: "alice", Roles: []string{"r"}}},
			want: &rlsv3.RateLimitRequest{Domain: "milvus-edge", HitsAddend: 3, Descriptors: []*rlcommon.RateLimitDescriptor{
				wantDescriptor("edge|DQLSearch|", 10, second, 3),
				wantDescriptor("database|DQLSearch|default", 6, minute, 3),
				wantDescriptor("collection|DQLSearch|default/c", 90, minute, 3),
				wantDescriptor("partition|DQLSearch|default/c/p1", 2, hour, 2), // a cost above the window's limit: one window
				wantDescriptor("partition|DQLSearch|default/c/p2", 2, hour, 2),
				wantDescriptor("caller|DQLSearch|user*:alice", 150, minute, 3),
				wantDescriptor("caller|DQLSearch|role:r", 1e6, second, 3),
			}},
		},
		{
			name:  "DML in bytes, upsert as insert, _default partition",
			rules: &Rules{Edge: lv(DMLInsert, 1), Partitions: map[string]Level{"d/c/*": lv(DMLInsert, 0.3)}},
			call:  Call{Type: DMLUpsert, Cost: 5000, DB: "d", Collection: "c"},
			want: &rlsv3.RateLimitRequest{Domain: "milvus-edge", HitsAddend: 5000, Descriptors: []*rlcommon.RateLimitDescriptor{
				wantDescriptor("edge|DMLInsert|", 1<<20, second, 5000),
				// 0.3 MB/s = 314572.8 B/s: per second, rounded (0.1% off at most).
				wantDescriptor("partition|DMLInsert|d/c/_default", 314573, second, 5000),
			}},
		},
		{
			name:  "caller by API key and JWT group, cost below 1 sent as 1",
			rules: &Rules{Callers: []CallerRule{{APIKey: "ab12", Rates: Rates{}.Set(DMLDelete, 2)}, {JWTGroup: "etl", Rates: Rates{}.Set(DMLDelete, 4)}}},
			call:  Call{Type: DMLDelete, Cost: 0, DB: "d", Collection: "c", Caller: Caller{APIKey: "ab12", Groups: []string{"etl"}}},
			want: &rlsv3.RateLimitRequest{Domain: "milvus-edge", HitsAddend: 1, Descriptors: []*rlcommon.RateLimitDescriptor{
				wantDescriptor("caller|DMLDelete|key:ab12", 2<<20, second, 1),
				wantDescriptor("caller|DMLDelete|group:etl", 4<<20, second, 1),
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _, _ := newSharedLimiter(t, f, tc.rules, 1, 5*time.Second)
			before := len(f.requests())
			mustAdmit(t, l, tc.call, "shared call")
			reqs := f.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests to the service, want 1", len(reqs))
			}
			if !proto.Equal(reqs[0], tc.want) {
				t.Fatalf("request\n got %s\nwant %s", prototext.Format(reqs[0]), prototext.Format(tc.want))
			}
		})
	}
	t.Run("no request when nothing limits or a level denies", func(t *testing.T) {
		l, _, _ := newSharedLimiter(t, f, &Rules{
			Edge:        Level{DenyWriting: true},
			Collections: map[string]Level{"d/a": lv(DQLQuery, 5)},
			Databases:   map[string]Level{"z": lv(DDLFlush, 0)},
		}, 1, 5*time.Second)
		before := len(f.requests())
		mustAdmit(t, l, query("d", "b"), "query to an unlimited collection")
		if ref := mustRefuse(t, l, insert("d", "a", 1), "insert, denied"); ref.Code != CodeQuotaExceeded {
			t.Fatalf("refusal %+v", ref)
		}
		if ref := mustRefuse(t, l, Call{Type: DDLFlush, Cost: 1, DB: "z", Collection: "c"}, "flush, rate 0"); ref.Code != CodeQuotaExceeded {
			t.Fatalf("refusal %+v", ref)
		}
		if n := len(f.requests()) - before; n != 0 {
			t.Fatalf("%d requests to the service for calls decided without it", n)
		}
	})
}

func TestDescriptorUnits(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		n    uint32
		unit typev3.RateLimitUnit
	}{
		{10, 10, second},
		{1, 1, second},
		{0.5, 30, minute},
		{0.1, 6, minute},
		{1.5, 90, minute},
		{10.25, 615, minute},
		{1.0 / 7, 514, hour},       // 514.28…/h, rounded
		{1.0 / 1800, 2, hour},      // 2/h
		{1e-6, 1, hour},            // 0.0036/h: never below 1
		{0.3 * mb, 314573, second}, // within 0.1% of whole
		{1e12, math.MaxUint32, second},
	} {
		d := descriptor(limit{scope: ScopeEdge, typ: DQLQuery, rate: tc.rate}, 1)
		if got := d.GetLimit(); got.GetRequestsPerUnit() != tc.n || got.GetUnit() != tc.unit {
			t.Errorf("rate %v/s: %d per %v, want %d per %v", tc.rate, got.GetRequestsPerUnit(), got.GetUnit(), tc.n, tc.unit)
		}
	}
}

func TestSharedOverLimit(t *testing.T) {
	f := startFakeRateLimitService(t)
	rules := &Rules{Edge: lv(DQLQuery, 100), Databases: map[string]Level{"d": lv(DQLQuery, 7)},
		Collections: map[string]Level{"d/c": lv(DQLQuery, 50)}}
	l, s, _ := newSharedLimiter(t, f, rules, 3, 5*time.Second)
	f.setAnswer(func(_ context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
		return &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OVER_LIMIT, Statuses: []*rlsv3.RateLimitResponse_DescriptorStatus{
			{Code: rlsv3.RateLimitResponse_OK}, {Code: rlsv3.RateLimitResponse_OVER_LIMIT}, {Code: rlsv3.RateLimitResponse_OK},
		}}, nil
	})
	ref := mustRefuse(t, l, query("d", "c"), "over limit at the database")
	if ref.Scope != ScopeDatabase || ref.Code != CodeRateLimit || ref.Type != DQLQuery ||
		ref.Reason != "request is rejected by grpc RateLimiter middleware, please retry later: rate limit exceeded[rate=7]" {
		t.Fatalf("refusal %+v, want database code 8 at the whole rate 7", ref)
	}
	if st := ref.Status(); !st.GetRetriable() {
		t.Fatal("shared refusal not retriable")
	}
	f.setAnswer(func(context.Context, *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
		return &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OVER_LIMIT}, nil
	})
	if ref := mustRefuse(t, l, query("d", "c"), "over limit, no statuses"); ref.Scope != ScopeEdge {
		t.Fatalf("without statuses refused at %s, want the first level", ref.Scope)
	}
	want := []Count{
		{Scope: "edge", RateType: "DQLQuery", Refused: 1},
		{Scope: "database", RateType: "DQLQuery", Refused: 1},
	}
	if got := l.Stats(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	if st := s.Status(); !st.Up || st.Failures != 0 || st.Fallbacks != 0 || st.Replicas != 3 {
		t.Fatalf("Status = %+v: an answer is not a failure", st)
	}
}

// TestSharedFallback: a failed service leaves each replica to its share of
// every limit, in local buckets, for DownFor; then the service decides again.
func TestSharedFallback(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		answer  func(context.Context, *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error)
	}{
		{"error", 5 * time.Second, func(context.Context, *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
			return nil, status.Error(codes.Unavailable, "redis down")
		}},
		{"code UNKNOWN", 5 * time.Second, func(context.Context, *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
			return &rlsv3.RateLimitResponse{}, nil
		}},
		{"slower than the timeout", 100 * time.Millisecond, func(ctx context.Context, _ *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
			<-ctx.Done() // the edge's deadline
			return nil, ctx.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeRateLimitService(t)
			l, s, clk := newSharedLimiter(t, f, &Rules{Edge: lv(DQLQuery, 10)}, 2, tc.timeout)
			mustAdmit(t, l, query("d", "c"), "service up")
			f.setAnswer(tc.answer)

			// Share 10/2 = 5: a full local bucket admits 6 at once, the
			// first of them decided locally right after the failed call.
			if got := burst(l, query("d", "c"), 20); got != 6 {
				t.Fatalf("fallback admitted %d at once, want 6 (rate 10 / 2 replicas, + the call at 0)", got)
			}
			ref := mustRefuse(t, l, query("d", "c"), "fallback in debt")
			if ref.Scope != ScopeEdge || !strings.HasSuffix(ref.Reason, "[rate=5]") {
				t.Fatalf("refusal %+v, want the local share rate=5", ref)
			}
			if n := len(f.requests()); n != 2 {
				t.Fatalf("%d requests, want 2: none while the service is down", n)
			}
			st := s.Status()
			if st.Up || st.Failures != 1 || st.Fallbacks != 8 {
				t.Fatalf("Status = %+v, want down, 1 failure, 8 fallback calls", st)
			}

			clk.advance(DownFor - time.Nanosecond)
			mustAdmit(t, l, query("d", "c"), "just before DownFor: local, refilled")
			if n := len(f.requests()); n != 2 {
				t.Fatalf("asked the service %d times within DownFor of a failure", n-1)
			}

			f.setAnswer(nil) // back
			clk.advance(time.Nanosecond)
			for i := range 20 { // far past the local share: the service decides
				mustAdmit(t, l, query("d", "c"), "service back")
				if n := len(f.requests()); n != 3+i {
					t.Fatalf("call %d after DownFor: %d requests, want %d", i, n, 3+i)
				}
			}
			if st := s.Status(); !st.Up || st.Failures != 1 {
				t.Fatalf("Status = %+v, want up again", st)
			}
		})
	}
}

// TestSharedServiceStopped: a stopped service (connection refused) is a
// failure like any other, and is not asked again within DownFor.
func TestSharedServiceStopped(t *testing.T) {
	f := startFakeRateLimitService(t)
	l, s, clk := newSharedLimiter(t, f, &Rules{Edge: lv(DQLQuery, 4)}, 4, 5*time.Second)
	mustAdmit(t, l, query("d", "c"), "service up")
	f.srv.Stop()
	if got := burst(l, query("d", "c"), 20); got != 2 { // share 4/4 = 1
		t.Fatalf("fallback admitted %d at once, want 2", got)
	}
	if st := s.Status(); st.Up || st.Failures != 1 {
		t.Fatalf("Status = %+v, want down after one failed call", st)
	}
	clk.advance(DownFor)
	mustAdmit(t, l, query("d", "c"), "DownFor later: the service is asked again, fails, local share")
	if st := s.Status(); st.Up || st.Failures != 2 {
		t.Fatalf("Status = %+v, want a second failure once DownFor passed", st)
	}
}

// TestSharedCallerCancel: a call whose caller has gone is not the service's
// failure and must not send every other call to the fallback.
func TestSharedCallerCancel(t *testing.T) {
	f := startFakeRateLimitService(t)
	l, s, _ := newSharedLimiter(t, f, &Rules{Edge: lv(DQLQuery, 10)}, 2, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Check(ctx, &Call{Type: DQLQuery, Cost: 1, DB: "d", Collection: "c"})
	if st := s.Status(); !st.Up || st.Failures != 0 {
		t.Fatalf("Status = %+v after a cancelled call, want up with no failure", st)
	}
	before := len(f.requests())
	mustAdmit(t, l, query("d", "c"), "next call")
	if n := len(f.requests()) - before; n != 1 {
		t.Fatalf("the next call sent %d requests, want 1: the service is not down", n)
	}
}
