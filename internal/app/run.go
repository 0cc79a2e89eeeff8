package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/milvus-edge/milvus-edge/internal/backendproc"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/procs"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// Options selects what Run does.
type Options struct {
	// ConfigPath is the YAML config; "" runs the embedded default (not hot-reloaded).
	ConfigPath string
	// Launch starts Envoy and the configured Milvus backends (`run`);
	// without it only the edge's servers run (`serve`).
	Launch bool
	// Stdout receives the ready line.
	Stdout io.Writer
	// Stderr receives logs.
	Stderr io.Writer
	// ReloadInterval is how often the config file is polled. Default 250ms.
	ReloadInterval time.Duration
}

const childGrace = 15 * time.Second

// Run runs milvus-edge until ctx ends or a part fails.
func Run(ctx context.Context, o Options) error {
	cfg, raw, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	log := NewLogger(o.Stderr, cfg.Log)
	if o.ReloadInterval == 0 {
		o.ReloadInterval = 250 * time.Millisecond
	}
	filters, err := NewFilters(ctx, log, cfg)
	if err != nil {
		return err
	}
	xo := XDSOptions()
	xo.AuthzHeaders = AuthzHeaders(filters.Policy.Current())
	if xo.CallsModulePath, err = prepareCallsModule(cfg, o.Launch); err != nil {
		filters.close()
		return err
	}
	if cfg.Edge.InProcess() {
		if xo.ModulePath, err = prepareModule(ctx, cfg, o.Launch); err != nil {
			filters.close()
			return err
		}
		filters.SyncModule(raw)
	}
	xds := xdsserver.New(cfg.Envoy.NodeID, log.With("component", "xds"), xo)
	filters.Balance = newBalancer(cfg)
	filters.Discovery = newDiscovery(log.With("component", "discovery"), cfg, xds, filters)
	xds.SetOverlays(filters.Discovery.Overlay, filters.Balance.Overlay)
	version, _, err := xds.Update(ctx, cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	st := &reloadState{cfg: cfg, fileHash: hash(raw), version: version, loadedAt: time.Now()}
	listeners, err := listen(cfg)
	if err != nil {
		filters.close()
		return err
	}
	// The filters close once every part that uses them has stopped.
	defer filters.close()
	// The servers, watchers and backends run until serving ends: at once
	// when ctx ends in `serve`, only once Envoy has drained and exited in
	// `run` (the calls finishing through Envoy still need them), or when a
	// part fails.
	serving, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	g, gctx := errgroup.WithContext(serving)
	g.Go(func() error { return xds.Serve(gctx, listeners[0]) })
	g.Go(func() error { return xds.WatchNames(gctx) })
	g.Go(func() error { return filters.serve(gctx, listeners[1]) })
	g.Go(func() error { return watchListenerCerts(gctx, log.With("component", "certs"), xds, certPollInterval) })
	g.Go(func() error { return filters.Discovery.Run(gctx) })
	g.Go(func() error { return serveAdmin(gctx, log.With("component", "admin"), listeners[2], st, xds, filters) })
	g.Go(func() error { return runBalancer(gctx, log.With("component", "balance"), st, xds, filters.Balance) })
	if o.ConfigPath != "" {
		g.Go(func() error {
			config.Watch(gctx, o.ConfigPath, o.ReloadInterval, raw, func(data []byte, err error) {
				st.apply(gctx, log, data, err, xds, filters)
			})
			return nil
		})
	}
	if !o.Launch {
		g.Go(func() error {
			select {
			case <-ctx.Done():
				stopServing()
			case <-gctx.Done():
			}
			return nil
		})
		log.Info("milvus-edge serving", "xds", cfg.Edge.XDSAddress, "filters", cfg.Edge.FiltersAddress, "admin", cfg.Edge.AdminAddress)
		return g.Wait()
	}
	g.Go(func() error { return launch(ctx, gctx, g, log, cfg, xds, o.Stdout, stopServing) })
	err = g.Wait()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// listen binds the edge's own addresses up front so a taken port fails fast.
func listen(cfg *config.Config) ([]net.Listener, error) {
	var out []net.Listener
	for _, a := range []struct{ field, addr string }{
		{"edge.xds_address", cfg.Edge.XDSAddress},
		{"edge.filters_address", cfg.Edge.FiltersAddress},
		{"edge.admin_address", cfg.Edge.AdminAddress},
	} {
		l, err := listenAddr(a.addr)
		if err != nil {
			for _, x := range out {
				x.Close()
			}
			return nil, fmt.Errorf("%s: %w", a.field, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// listenAddr listens on host:port, or on a Unix socket for "unix:/path"
// (a stale socket file from an earlier run is removed first).
func listenAddr(addr string) (net.Listener, error) {
	if p, ok := strings.CutPrefix(addr, config.UnixPrefix); ok {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		return net.Listen("unix", p)
	}
	return net.Listen("tcp", addr)
}

// bindLater are the addresses of cfg that are bound after the backends
// start: Envoy's listener and admin, and the launched backends'.
func bindLater(cfg *config.Config) []string {
	out := []string{cfg.Listener.Address, cfg.Envoy.AdminAddress}
	for _, s := range cfg.Launch.MilvusStandalone {
		out = append(out, s.Address)
	}
	for _, l := range cfg.Launch.MilvusLite {
		out = append(out, l.Address)
	}
	return out
}

// launch starts the milvus-lite servers and Milvus standalones, then Envoy,
// supervises them, and prints the ready line once a request can flow through
// Envoy. When stop ends, Envoy drains (drainEnvoy, up to
// envoy.drain_timeout) and exits, and only then stopServing ends the rest
// (ctx: the backends among them); when ctx ends first (a part failed),
// Envoy stops at once.
func launch(stop, ctx context.Context, g *errgroup.Group, log *slog.Logger, cfg *config.Config, xds *xdsserver.Server, stdout io.Writer, stopServing func()) error {
	// A stop while starting ends the start at once.
	starting, endStart := context.WithCancel(ctx)
	defer endStart()
	context.AfterFunc(stop, endStart)
	var children []*procs.Proc
	for _, l := range cfg.Launch.MilvusLite {
		p, err := backendproc.StartMilvusLite(starting, log, l)
		if err != nil {
			return err
		}
		log.Info("milvus-lite ready", "address", l.Address, "data_dir", l.DataDir)
		children = append(children, p)
		g.Go(func() error { return p.Supervise(ctx, childGrace) })
	}
	for _, s := range cfg.Launch.MilvusStandalone {
		start := time.Now()
		p, err := backendproc.StartStandalone(starting, log, s, bindLater(cfg))
		if err != nil {
			return err
		}
		log.Info("milvus standalone ready", "address", s.Address, "metrics", p.MetricsURL(),
			"authorization", s.Authorization, "data_dir", s.DataDir, "took", time.Since(start).Round(time.Millisecond).String())
		children = append(children, p.Proc)
		g.Go(func() error { return p.Supervise(ctx, childGrace) })
	}
	dir, err := os.MkdirTemp("", "milvus-edge-")
	if err != nil {
		return err
	}
	envoyProc, err := StartEnvoy(log, cfg, dir)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	envoyCtx, stopEnvoy := context.WithCancel(ctx)
	g.Go(func() error {
		select {
		case <-stop.Done():
			drainEnvoy(envoyCtx, log.With("component", "envoy"), cfg.Envoy.AdminAddress, envoyProc.Done(), cfg.Envoy.DrainTimeout.D())
			stopEnvoy()
		case <-envoyCtx.Done():
		}
		return nil
	})
	g.Go(func() error {
		defer os.RemoveAll(dir)
		defer stopServing()
		return envoyProc.Supervise(envoyCtx, childGrace)
	})
	if err := waitReady(starting, cfg, xds, envoyProc, 60*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "milvus-edge ready on %s\n", cfg.Listener.Address)
	log.Info("milvus-edge ready", "listener", cfg.Listener.Address, "envoy_admin", cfg.Envoy.AdminAddress, "backends", len(children))
	return nil
}

// waitReady waits until Envoy is live, has ACKed the current snapshot, and a
// real request through its listener reaches the edge's ext_authz.
func waitReady(ctx context.Context, cfg *config.Config, xds *xdsserver.Server, envoyProc *procs.Proc, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		switch {
		case !envoyLive(ctx, cfg.Envoy.AdminAddress):
			last = errors.New("envoy admin /ready is not LIVE")
		case xds.Status().Nack != "":
			// Nothing changes the config while starting: a rejection stays.
			return fmt.Errorf("envoy rejected the configuration: %s", xds.Status().Nack)
		case !xds.Synced():
			last = fmt.Errorf("envoy has not ACKed xDS version %s", xds.Status().Version)
		default:
			if last = probeListener(ctx, cfg); last == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-envoyProc.Done():
			return nil // the supervisor reports the exit
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s: %w", limit, last)
}

func envoyLive(ctx context.Context, admin string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/ready", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// reloadState is the config currently serving and the outcome of the last reload.
type reloadState struct {
	// mu guards the fields below.
	mu        sync.Mutex
	cfg       *config.Config
	fileHash  string
	version   string
	loadedAt  time.Time
	lastError string
}

// apply validates a changed file and, only if all of it is good, pushes the
// new snapshot and identities. A bad file changes nothing.
func (s *reloadState) apply(ctx context.Context, log *slog.Logger, data []byte, readErr error, xds *xdsserver.Server, f *Filters) {
	fail := func(err error) {
		s.mu.Lock()
		s.lastError = err.Error()
		s.mu.Unlock()
		log.Error("config rejected; the last good config keeps serving", "error", err)
	}
	if readErr != nil {
		fail(readErr)
		return
	}
	cfg, err := config.Parse(data)
	if err != nil {
		fail(err)
		return
	}
	s.mu.Lock()
	old := s.cfg
	s.mu.Unlock()
	if err := restartOnly(old, cfg); err != nil {
		fail(err)
		return
	}
	version, pushed, err := xds.Update(ctx, cfg)
	if err != nil {
		fail(err)
		return
	}
	f.Apply(log, cfg)
	f.Discovery.Update(cfg)
	if f.hub != nil {
		f.hub.SetConfig(data, hash(data))
	}
	s.mu.Lock()
	s.cfg, s.fileHash, s.version, s.loadedAt, s.lastError = cfg, hash(data), version, time.Now(), ""
	s.mu.Unlock()
	log.Info("config reloaded", "xds_version", version, "pushed", pushed)
}

// restartOnly refuses changes to fields the running process cannot adopt.
func restartOnly(old, cur *config.Config) error {
	var errs []error
	for _, f := range []struct {
		path     string
		old, cur any
	}{
		{"edge", old.Edge, cur.Edge},
		{"envoy", old.Envoy, cur.Envoy},
		{"launch", old.Launch, cur.Launch},
		{"log", old.Log, cur.Log},
		{"listener.max_request_bytes", old.Listener.MaxRequestBytes, cur.Listener.MaxRequestBytes},
		{"auth.credential_cache_ttl", old.Auth.CredentialCacheTTL, cur.Auth.CredentialCacheTTL},
		{"auth.policy_dir", old.Auth.PolicyDir, cur.Auth.PolicyDir},
		{"auth.decision_log", old.Auth.DecisionLog, cur.Auth.DecisionLog},
		{"auth.decision_cache_ttl", old.Auth.DecisionCacheTTL, cur.Auth.DecisionCacheTTL},
		{"auth.jwt", old.Auth.JWT, cur.Auth.JWT},
		{"auth.login_guard", old.Auth.LoginGuard, cur.Auth.LoginGuard},
		{"validation", old.Validation, cur.Validation},
		{"tracing.otlp_endpoint", old.Tracing.OTLPEndpoint, cur.Tracing.OTLPEndpoint},
		{"tracing.service_name", old.Tracing.ServiceName, cur.Tracing.ServiceName},
	} {
		if !reflect.DeepEqual(f.old, f.cur) {
			errs = append(errs, fmt.Errorf("%s: changing it needs a restart of milvus-edge", f.path))
		}
	}
	return errors.Join(errs...)
}

func hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// NewLogger returns the process logger.
func NewLogger(w io.Writer, c config.Log) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
