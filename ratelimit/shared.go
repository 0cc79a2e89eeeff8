package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// DescriptorKey is the one descriptor key the edge sends to the rate limit
// service; its value names the limit ("<scope>|<rate type>|<name>") and the
// descriptor carries the limit itself (RateLimitOverride), so the service's
// own configuration only has to count the key (deploy/compose/ratelimit).
const DescriptorKey = "milvus_edge_limit"

// Shared makes limits hold across edge replicas: every admitted-or-not
// decision is the envoyproxy/ratelimit service's, counted in Redis (fixed
// one-second windows). When the service fails or is slower than the timeout,
// each replica falls back for a second at a time to local buckets holding
// its share, 1/replicas, of every limit — so that the whole stays near the
// limit without the service and no call waits on a dead one.
type Shared struct {
	log      *slog.Logger
	conn     *grpc.ClientConn
	client   rlsv3.RateLimitServiceClient
	domain   string
	timeout  time.Duration
	replicas int
	now      func() time.Time // time.Now; tests inject a fake clock

	downUntil atomic.Int64 // unix nanoseconds
	fallbacks atomic.Uint64
	failures  atomic.Uint64
}

// SharedConfig says where the service is.
type SharedConfig struct {
	Address string
	Domain  string
	// Timeout bounds one ShouldRateLimit call; past it the call is decided
	// locally.
	Timeout time.Duration
	// Replicas is how many edges share the limits: a replica's fallback share
	// is 1/Replicas.
	Replicas int
}

// DownFor is how long a failed service is left alone before it is asked again.
const DownFor = time.Second

// NewShared connects (lazily) to the rate limit service.
func NewShared(log *slog.Logger, cfg SharedConfig) (*Shared, error) {
	conn, err := grpc.NewClient(cfg.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("rate limit service %s: %w", cfg.Address, err)
	}
	return &Shared{log: log, conn: conn, client: rlsv3.NewRateLimitServiceClient(conn),
		domain: cfg.Domain, timeout: cfg.Timeout, replicas: max(cfg.Replicas, 1), now: time.Now}, nil
}

// Close closes the connection.
func (s *Shared) Close() error { return s.conn.Close() }

// SharedStatus is what the admin status shows.
type SharedStatus struct {
	Up        bool   `json:"up"`
	Failures  uint64 `json:"failures"`
	Fallbacks uint64 `json:"fallback_calls"`
	Replicas  int    `json:"replicas"`
}

// Status reports the service's state as this replica sees it.
func (s *Shared) Status() SharedStatus {
	return SharedStatus{Up: s.now().UnixNano() >= s.downUntil.Load(), Failures: s.failures.Load(),
		Fallbacks: s.fallbacks.Load(), Replicas: s.replicas}
}

func (s *Shared) check(ctx context.Context, l *Limiter, lims []limit, c *Call) *Refusal {
	if s.now().UnixNano() < s.downUntil.Load() {
		s.fallbacks.Add(1)
		return l.checkLocal(lims, c.Cost, s.replicas)
	}
	req := &rlsv3.RateLimitRequest{Domain: s.domain, HitsAddend: uint32(min(max(c.Cost, 1), math.MaxUint32))}
	for _, lim := range lims {
		req.Descriptors = append(req.Descriptors, descriptor(lim, c.Cost))
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	resp, err := s.client.ShouldRateLimit(cctx, req)
	cancel()
	if err == nil && resp.GetOverallCode() == rlsv3.RateLimitResponse_UNKNOWN {
		err = fmt.Errorf("answer with code UNKNOWN")
	}
	if err != nil && ctx.Err() != nil {
		// The caller gave up (client reset, its own deadline): not the
		// service's failure, so the service is not marked down for everyone.
		return l.checkLocal(lims, c.Cost, s.replicas)
	}
	if err != nil {
		s.failures.Add(1)
		if now := s.now(); s.downUntil.Swap(now.Add(DownFor).UnixNano()) < now.UnixNano() {
			s.log.Warn("rate limit service failed: each replica holds its share of every limit for a while", "error", err, "share", "1/"+strconv.Itoa(s.replicas), "retry_in", DownFor)
		}
		s.fallbacks.Add(1)
		return l.checkLocal(lims, c.Cost, s.replicas)
	}
	if resp.GetOverallCode() != rlsv3.RateLimitResponse_OVER_LIMIT {
		return nil
	}
	for i, st := range resp.GetStatuses() {
		if st.GetCode() == rlsv3.RateLimitResponse_OVER_LIMIT && i < len(lims) {
			return rateRefusal(lims[i].scope, lims[i].typ, lims[i].rate)
		}
	}
	return rateRefusal(lims[0].scope, lims[0].typ, lims[0].rate)
}

// descriptor is one limit as the service counts it, charged cost: per second when the
// rate is a whole number of calls or bytes (to within 0.1%, so that byte
// rates such as 0.3 MB/s stay per second), else per minute or hour.
//
// The service refuses any call whose cost exceeds a whole window's limit, so
// that, unlike Milvus's bucket, it would never admit a call larger than the
// limit (a 32 MiB insert under 1 MB/s, retried by pymilvus until it gives
// up). Such a call is charged one full window instead: it passes when its
// window is fresh and leaves nothing else in it.
func descriptor(lim limit, cost float64) *rlcommon.RateLimitDescriptor {
	unit, n := typev3.RateLimitUnit_SECOND, lim.rate
	if !nearlyWhole(n) {
		unit, n = typev3.RateLimitUnit_MINUTE, n*60
	}
	if !nearlyWhole(n) {
		unit, n = typev3.RateLimitUnit_HOUR, n*60
	}
	perUnit := uint32(min(math.Max(math.Round(n), 1), math.MaxUint32))
	return &rlcommon.RateLimitDescriptor{
		Entries:    []*rlcommon.RateLimitDescriptor_Entry{{Key: DescriptorKey, Value: lim.scope.String() + "|" + lim.typ.String() + "|" + lim.name}},
		Limit:      &rlcommon.RateLimitDescriptor_RateLimitOverride{RequestsPerUnit: perUnit, Unit: unit},
		HitsAddend: wrapperspb.UInt64(uint64(min(max(cost, 1), float64(perUnit)))),
	}
}

// nearlyWhole reports whether n ≥ 1 rounds to a whole count losing at most
// 0.1% (1.5/s truncated to 1/s would lose a third of the limit).
func nearlyWhole(n float64) bool {
	return n >= 1 && math.Abs(n-math.Round(n)) <= n/1000
}
