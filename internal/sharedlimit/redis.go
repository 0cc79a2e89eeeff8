package sharedlimit

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// RedisTimeout bounds a Redis start (it answers PING in a few milliseconds).
const RedisTimeout = 10 * time.Second

// readyPoll is how often a start checks readiness.
const readyPoll = 50 * time.Millisecond

// stopGrace is how long Stop waits for a process after SIGINT before SIGKILL.
const stopGrace = 5 * time.Second

// Redis is a redis-server child process that can be stopped and started
// again on the same address (Stop, then Start), as a test of the edge's
// fallback needs. It keeps nothing: no RDB snapshots, no append-only file,
// so a restarted Redis starts with no counters.
type Redis struct {
	log  *slog.Logger
	bin  string
	addr string
	opts []procs.Option

	// mu guards proc and dir.
	mu   sync.Mutex
	proc *procs.Proc // nil while stopped
	dir  string      // the running server's working directory, removed by Stop
}

// RedisOption changes how StartRedis runs Redis.
type RedisOption func(*Redis)

// RedisBinary is the redis-server to run. Default $REDIS_SERVER_BIN, else
// redis-server on $PATH (Debian's package, installed by scripts/setup.sh).
func RedisBinary(path string) RedisOption { return func(r *Redis) { r.bin = path } }

// RedisAddr is the loopback host:port to listen on. Default a free
// loopback port (internal/freeport).
func RedisAddr(addr string) RedisOption { return func(r *Redis) { r.addr = addr } }

// RedisProcOptions are passed to procs.Start (an output file, a log level).
func RedisProcOptions(opts ...procs.Option) RedisOption {
	return func(r *Redis) { r.opts = append(r.opts, opts...) }
}

// StartRedis starts redis-server on a loopback port, without persistence
// and in a temporary directory of its own, and waits until it answers PING.
func StartRedis(ctx context.Context, log *slog.Logger, opts ...RedisOption) (*Redis, error) {
	r := &Redis{log: log}
	for _, o := range opts {
		o(r)
	}
	if r.bin == "" {
		r.bin = os.Getenv("REDIS_SERVER_BIN")
	}
	if r.bin == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			return nil, fmt.Errorf("redis-server: %w (set REDIS_SERVER_BIN, or run `make setup`)", err)
		}
		r.bin = p
	}
	if r.addr == "" {
		addr, err := freeport.Loopback()
		if err != nil {
			return nil, fmt.Errorf("redis port: %w", err)
		}
		r.addr = addr
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Addr is the host:port Redis listens on, the same across restarts.
func (r *Redis) Addr() string { return r.addr }

// Proc is the running process, or nil while Redis is stopped.
func (r *Redis) Proc() *procs.Proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// Start starts Redis again on its address after Stop, and waits until it
// answers PING. It fails if Redis runs or the port was taken meanwhile.
func (r *Redis) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return fmt.Errorf("redis %s is already running", r.addr)
	}
	host, port, err := net.SplitHostPort(r.addr)
	if err != nil {
		return fmt.Errorf("redis address: %w", err)
	}
	dir, err := os.MkdirTemp("", "milvus-edge-redis-")
	if err != nil {
		return fmt.Errorf("redis dir: %w", err)
	}
	args := []string{
		"--bind", host, "--port", port,
		"--save", "", "--appendonly", "no", // a counter store: nothing to keep
		"--dir", dir,
		"--daemonize", "no",
		"--loglevel", "warning", // its start-up notices are ~10 lines per start
	}
	p, err := procs.Start(r.log, "redis "+r.addr, r.bin, args, os.Environ(), r.opts...)
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("%w (set REDIS_SERVER_BIN, or run `make setup`)", err)
	}
	if err := p.WaitReady(ctx, RedisTimeout, readyPoll, func(ctx context.Context) error { return Ping(ctx, r.addr) }); err != nil {
		_ = p.Stop(stopGrace)
		os.RemoveAll(dir)
		return err
	}
	r.proc, r.dir = p, dir
	return nil
}

// Stop stops Redis (SIGINT; SIGKILL after a grace period) and removes its
// directory; the address stays reserved for Start. Stopping a stopped
// Redis does nothing.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	err := r.proc.Stop(stopGrace)
	os.RemoveAll(r.dir)
	r.proc, r.dir = nil, ""
	return err
}

// Ping sends PING to the Redis at addr and fails unless it answers PONG.
func Ping(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis %s answered PING with %q", addr, strings.TrimSpace(line))
	}
	return nil
}
