// Package sharedlimit starts the real parts of the shared rate limit, through
// internal/procs: Redis (Debian's redis-server) and the envoyproxy/ratelimit
// service (bin/ratelimit, built by scripts/setup.sh at a pinned version), on
// free loopback ports with readiness waits. The edge's filter server calls
// the service's gRPC API itself,
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, and falls back
// to local buckets when the call fails.
//
// # What the edge sends
//
// One RateLimitRequest per call, with Domain "milvus-edge" and one
// descriptor per limit that applies to the call:
//
//	&rlsv3.RateLimitRequest{
//		Domain: sharedlimit.Domain, // "milvus-edge"
//		Descriptors: []*rlcommon.RateLimitDescriptor{{
//			Entries: []*rlcommon.RateLimitDescriptor_Entry{
//				{Key: sharedlimit.DescriptorKey, Value: limitID}, // "milvus_edge_limit", an opaque id
//			},
//			Limit: &rlcommon.RateLimitDescriptor_RateLimitOverride{
//				RequestsPerUnit: 1_000_000, Unit: typev3.RateLimitUnit_SECOND,
//			},
//			HitsAddend: wrapperspb.UInt64(cost), // this call's cost against this limit
//		}},
//	}
//
// How the service (at the pinned version) treats it, pinned by
// test/integration/sharedlimit_test.go unless marked (source):
//
//   - The limit comes from the descriptor: the service takes a descriptor's
//     Limit override before it looks at its config, so the config names the
//     domain and no descriptor ([ConfigYAML]); any key and value are counted.
//     The domain must exist: a request for an unknown domain is answered OK
//     and counts nothing, and so is a descriptor without a Limit.
//   - One counter per descriptor value and window: the limit is not part of
//     it, so two descriptors with the same value and different limits share
//     one counter. (Source: the Redis key is
//     "milvus-edge_<key>_<value>_<window start>", INCRBY then EXPIRE after
//     the window plus up to EXPIRATION_JITTER_MAX_SECONDS, 300.)
//   - Fixed windows: per SECOND the window is the current Unix second of the
//     service's clock; a new second starts from zero. (Source: MINUTE and
//     HOUR windows start at Unix time rounded down to 60 and 3,600 s.)
//   - The cost: a descriptor's HitsAddend wins (0 means check without
//     counting); a descriptor without one uses the request's HitsAddend
//     (uint32; 0 means 1). With several limits of different costs in one
//     request, only the per-descriptor HitsAddend can say so.
//   - A descriptor is OVER_LIMIT when its counter after this call's cost
//     exceeds RequestsPerUnit; OverallCode is OVER_LIMIT when any descriptor
//     is. A refused call's cost is still added to every descriptor's counter
//     (STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT is off), so a refused call
//     spends budget until the window ends.
//   - Redis down: the calls that find a pooled connection broken (up to
//     REDIS_POOL_SIZE, 10, right after Redis went) fail at once with gRPC
//     code Unknown ("response returned from Conn: EOF"); after that the
//     service waits for Redis with no deadline of its own, so a call ends
//     only at the caller's deadline (DeadlineExceeded), and its handler
//     stays blocked in the service until Redis is back. The edge must give
//     each call a short deadline and treat every error as "service down".
//     After Redis is back the service reconnects with a backoff of up to 4 s
//     (its Redis client's maximum) and answers OK again; this Redis keeps
//     nothing, so the counters start from zero.
package sharedlimit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// Domain is the rate limit domain the edge's requests name.
const Domain = "milvus-edge"

// DescriptorKey is the key of the one entry of each descriptor the edge
// sends; its value is an opaque limit id.
const DescriptorKey = "milvus_edge_limit"

// ConfigYAML is the service's config: the domain and no descriptors, since
// every descriptor the edge sends carries its own limit.
const ConfigYAML = `# Written by milvus-edge. The edge's descriptors carry their own limit
# (RateLimitDescriptor.limit), which the service applies before it looks at
# the descriptors configured here; the domain only has to exist.
domain: ` + Domain + "\n"

// ServiceTimeout bounds a service start (it listens within ~0.1 s).
const ServiceTimeout = 20 * time.Second

// healthName is the service name the ratelimit server registers with the
// gRPC health service (SERVING once its config is loaded).
const healthName = "ratelimit"

// Config says how StartService runs the ratelimit service.
type Config struct {
	// RedisAddr is the Redis host:port. Required.
	RedisAddr string
	// Binary is the ratelimit service. Default $RATELIMIT_BIN, else
	// bin/ratelimit (from `make setup`).
	Binary string
	// LogLevel is the service's LOG_LEVEL (debug, info, warn, error).
	// Default warn: the listening lines and Redis connection errors.
	LogLevel string
	// Env holds extra KEY=VALUE settings of the service, after the ones
	// StartService sets (a later one wins), e.g.
	// STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT=true. Default none.
	Env []string
	// ProcOptions are passed to procs.Start (an output file, a log level).
	ProcOptions []procs.Option
}

// Service is a running ratelimit service.
type Service struct {
	proc     *procs.Proc
	grpcAddr string
	httpAddr string
	dir      string
}

// Addr is the gRPC address (RateLimitService and grpc.health.v1).
func (s *Service) Addr() string { return s.grpcAddr }

// HTTPAddr is the HTTP address (/healthcheck, /json).
func (s *Service) HTTPAddr() string { return s.httpAddr }

// Proc is the process.
func (s *Service) Proc() *procs.Proc { return s.proc }

// Stop stops the service (SIGINT; SIGKILL after a grace period: with Redis
// down its graceful stop waits for calls that wait for Redis) and removes
// its config directory.
func (s *Service) Stop() error {
	err := s.proc.Stop(stopGrace)
	os.RemoveAll(s.dir)
	return err
}

// StartService writes the service's config ([ConfigYAML]) into a new
// temporary directory, starts the service on free loopback ports with
// cfg.RedisAddr as its Redis, and waits until its gRPC health service
// answers SERVING. Redis must be up: the service exits when it cannot reach
// Redis at start. A start that fails because a picked port was taken
// before the service bound it is tried again on fresh ports (3 starts).
func StartService(ctx context.Context, log *slog.Logger, cfg Config) (*Service, error) {
	if cfg.RedisAddr == "" {
		return nil, fmt.Errorf("redis address: required")
	}
	bin := firstOf(cfg.Binary, os.Getenv("RATELIMIT_BIN"), "bin/ratelimit")
	for attempt := 1; ; attempt++ {
		s, err := startServiceOnce(ctx, log, cfg, bin)
		if err == nil || attempt == 3 || !portTaken(err) {
			return s, err
		}
		log.Warn("ratelimit service: a picked port was taken; trying other ports", "attempt", attempt, "error", err)
	}
}

// portTaken reports whether a start failed on a port bound by another
// process (the service exits with these words; its debug listener only
// logs them).
func portTaken(err error) bool {
	return strings.Contains(err.Error(), "Failed to open HTTP listener") || strings.Contains(err.Error(), "Failed to listen for gRPC")
}

func startServiceOnce(ctx context.Context, log *slog.Logger, cfg Config, bin string) (*Service, error) {
	dir, err := os.MkdirTemp("", "milvus-edge-ratelimit-")
	if err != nil {
		return nil, fmt.Errorf("ratelimit dir: %w", err)
	}
	// The file provider reads RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config/*.yaml.
	confDir := filepath.Join(dir, "ratelimit", "config")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ratelimit config dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "milvus-edge.yaml"), []byte(ConfigYAML), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ratelimit config: %w", err)
	}
	ports, err := freeport.LoopbackPorts(3)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Service{
		grpcAddr: net.JoinHostPort("127.0.0.1", ports[0]),
		httpAddr: net.JoinHostPort("127.0.0.1", ports[1]),
		dir:      dir,
	}
	env := serviceEnv(cfg, dir, ports)
	p, err := procs.Start(log, "ratelimit "+s.grpcAddr, bin, nil, env, cfg.ProcOptions...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w (set RATELIMIT_BIN, or run `make setup`)", err)
	}
	s.proc = p
	if err := p.WaitReady(ctx, ServiceTimeout, readyPoll, func(ctx context.Context) error { return checkHealth(ctx, s.grpcAddr) }); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// serviceEnv is the service's whole environment. Nothing is inherited: the
// service reads ~150 settings under generic names (PORT, HOST, LOG_LEVEL),
// which an unrelated variable of the caller's could change.
func serviceEnv(cfg Config, dir string, ports []string) []string {
	env := []string{
		"REDIS_SOCKET_TYPE=tcp",
		"REDIS_TYPE=SINGLE",
		"REDIS_URL=" + cfg.RedisAddr,
		// Every listener on loopback (the defaults are 0.0.0.0).
		"GRPC_HOST=127.0.0.1", "GRPC_PORT=" + ports[0],
		"HOST=127.0.0.1", "PORT=" + ports[1],
		"DEBUG_HOST=127.0.0.1", "DEBUG_PORT=" + ports[2],
		// No statsd; and no stats at all, since without a sink the service
		// logs every counter to stdout each 10 s.
		"USE_STATSD=false", "DISABLE_STATS=true",
		"RUNTIME_ROOT=" + dir,
		"RUNTIME_SUBDIRECTORY=ratelimit",
		"RUNTIME_WATCH_ROOT=false", // reload on edits in the config directory itself
		"LOG_LEVEL=" + firstOf(cfg.LogLevel, "warn"),
		"LOG_FORMAT=text",
	}
	return append(env, cfg.Env...)
}

// checkHealth asks the service's gRPC health service and fails unless it
// answers SERVING.
func checkHealth(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: healthName})
	if err != nil {
		return err
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health: %s", st)
	}
	return nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
