package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/sharedlimit"
)

// Redis starts a real redis-server ($REDIS_SERVER_BIN, else redis-server on
// $PATH) on a free loopback port, without persistence; it stops when the
// test ends. Stop and Start on the result restart it on the same port.
func Redis(t testing.TB) *sharedlimit.Redis {
	t.Helper()
	bin := os.Getenv("REDIS_SERVER_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			t.Fatalf("redis-server: %v (set REDIS_SERVER_BIN, or run `make setup`)", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedlimit.RedisTimeout+5*time.Second)
	defer cancel()
	r, err := sharedlimit.StartRedis(ctx, Logger(t), sharedlimit.RedisBinary(bin))
	if err != nil {
		t.Fatalf("redis: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("redis: %v", err)
		}
	})
	return r
}

// RateLimitService starts the real envoyproxy/ratelimit service
// ($RATELIMIT_BIN, else the repository's bin/ratelimit) against the Redis
// at redisAddr, with the edge's domain configured
// (sharedlimit.ConfigYAML); it stops when the test ends.
func RateLimitService(t testing.TB, redisAddr string) *sharedlimit.Service {
	t.Helper()
	bin := os.Getenv("RATELIMIT_BIN")
	if bin == "" {
		bin = filepath.Join(RepoRoot(t), "bin/ratelimit")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("ratelimit service: %v (set RATELIMIT_BIN, or run `make setup`)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedlimit.ServiceTimeout+5*time.Second)
	defer cancel()
	s, err := sharedlimit.StartService(ctx, Logger(t), sharedlimit.Config{RedisAddr: redisAddr, Binary: bin})
	if err != nil {
		t.Fatalf("ratelimit service: %v", err)
	}
	// Stop's SIGKILL after the grace period is expected while Redis is
	// down (the graceful stop waits for calls that wait for Redis), so its
	// error is logged, not failed.
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("ratelimit service: %v", err)
		}
	})
	return s
}
