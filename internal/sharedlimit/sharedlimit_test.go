package sharedlimit

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/freeport"
)

// ratelimitBin is $RATELIMIT_BIN, else the repository's bin/ratelimit; the
// test fails (never skips) when it is missing.
func ratelimitBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RATELIMIT_BIN")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin/ratelimit")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ratelimit service: %v (run `make setup`)", err)
	}
	return bin
}

func startRedis(t *testing.T) *Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RedisTimeout)
	defer cancel()
	r, err := StartRedis(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// Redis stops and starts again on the same address, with a new directory
// each time (the old one is removed), and Stop is idempotent.
func TestSharedLimitRedisRestartsOnSamePort(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	addr, dir := r.Addr(), r.dir
	if err := Ping(ctx, addr); err != nil {
		t.Fatalf("ping after start: %v", err)
	}
	if err := r.Start(ctx); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("Start while running: %v, want already running", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if err := Ping(ctx, addr); err == nil {
		t.Fatal("ping answered after Stop")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("redis dir %s after Stop: %v, want removed", dir, err)
	}
	if r.Proc() != nil {
		t.Error("Proc() after Stop is not nil")
	}
	start := time.Now()
	if err := r.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("restarted on %s in %s", r.Addr(), time.Since(start).Round(time.Millisecond))
	if r.Addr() != addr {
		t.Fatalf("address after restart %s, want %s", r.Addr(), addr)
	}
	if err := Ping(ctx, addr); err != nil {
		t.Fatalf("ping after restart: %v", err)
	}
}

// The service exits at start when Redis is not there; the error carries its
// own words.
func TestSharedLimitServiceNeedsRedis(t *testing.T) {
	ports, err := freeport.LoopbackPorts(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ServiceTimeout)
	defer cancel()
	s, err := StartService(ctx, slog.New(slog.DiscardHandler), Config{RedisAddr: "127.0.0.1:" + ports[0], Binary: ratelimitBin(t)})
	if err == nil {
		_ = s.Stop()
		t.Fatal("started without Redis")
	}
	t.Logf("%v", err)
	for _, want := range []string{"exited while starting", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q", want)
		}
	}
}

// The service starts against a real Redis, answers on loopback ports, and
// its config directory goes with Stop.
func TestSharedLimitServiceStarts(t *testing.T) {
	r := startRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), ServiceTimeout)
	defer cancel()
	start := time.Now()
	s, err := StartService(ctx, slog.New(slog.DiscardHandler), Config{RedisAddr: r.Addr(), Binary: ratelimitBin(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ready on %s (HTTP %s) in %s", s.Addr(), s.HTTPAddr(), time.Since(start).Round(time.Millisecond))
	for _, a := range []string{s.Addr(), s.HTTPAddr()} {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("address %s is not loopback", a)
		}
	}
	conf, err := os.ReadFile(filepath.Join(s.dir, "ratelimit", "config", "milvus-edge.yaml"))
	if err != nil || string(conf) != ConfigYAML {
		t.Errorf("config file = %q, %v; want ConfigYAML", conf, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("service dir after Stop: %v, want removed", err)
	}
}

// Extra settings come after the harness's, so that they win.
func TestSharedLimitServiceEnv(t *testing.T) {
	env := serviceEnv(Config{RedisAddr: "127.0.0.1:1", Env: []string{"LOG_LEVEL=debug"}}, "/d", []string{"1", "2", "3"})
	for _, want := range []string{"REDIS_URL=127.0.0.1:1", "REDIS_SOCKET_TYPE=tcp", "GRPC_PORT=1", "PORT=2", "DEBUG_PORT=3", "RUNTIME_ROOT=/d", "USE_STATSD=false"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %v", want, env)
		}
	}
	if i, j := slices.Index(env, "LOG_LEVEL=warn"), slices.Index(env, "LOG_LEVEL=debug"); i < 0 || j < i {
		t.Errorf("LOG_LEVEL=debug (extra) must follow LOG_LEVEL=warn (default): %v", env)
	}
}
