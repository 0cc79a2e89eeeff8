package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/milvus-edge/milvus-edge/inproc"
	"github.com/milvus-edge/milvus-edge/internal/config"
)

// This file runs inside Envoy's process (cmd/milvus-edge-module): the
// module's one set of filters, built from the config the edge sends over the
// sync stream (sync.go) and kept in step with it.

// moduleFirstConfig bounds the wait for the edge's config when Envoy first
// creates the filter: the edge serves its filter server before it starts
// Envoy, so this is only reached when the edge is gone.
const moduleFirstConfig = 15 * time.Second

// module is the process's one set of filters: built once it succeeds (a
// failed start is tried again at the next listener push), replaced whole
// when the edge sends a config whose restart-only fields differ (an edge
// restarted with another policy folder, say).
var module struct {
	mu  sync.Mutex
	cur atomic.Pointer[Filters]
}

// moduleChecker checks with the module's current filters and times each
// check as the filter server's interceptor times ext_authz's.
type moduleChecker struct{}

func (moduleChecker) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	f := module.cur.Load()
	start := time.Now()
	resp, err := f.Authz.Check(ctx, req)
	f.Timing.ObserveCheck(time.Since(start), resp, err)
	return resp, err
}

// ModuleChecker returns the module's checker, building the filters on the
// first call (Envoy's main thread, at the first listener push) from the
// config the edge sends. Later calls (listener updates) return the same
// filters: reloads arrive over the stream, not through Envoy.
func ModuleChecker(s inproc.Settings) (inproc.Checker, error) {
	module.mu.Lock()
	defer module.mu.Unlock()
	if module.cur.Load() == nil {
		if err := startModule(s.FiltersAddress); err != nil {
			return nil, err
		}
	}
	return moduleChecker{}, nil
}

// startModule connects to the edge, waits for its config and builds the
// filters; the stream then runs for the life of the process.
func startModule(addr string) error {
	conn, err := grpc.NewClient(dialTarget(addr), grpc.WithTransportCredentials(insecure.NewCredentials()),
		// A half-open connection to an edge elsewhere breaks the stream
		// (then the module reconnects) instead of silently losing events.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 15 * time.Second, Timeout: 5 * time.Second}))
	if err != nil {
		return fmt.Errorf("milvus_edge module: edge filter server %s: %w", addr, err)
	}
	ctx := context.Background()
	// The stream lives as long as Envoy; only the wait for its first
	// event is bounded.
	sctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(moduleFirstConfig, cancel)
	stream, first, err := openSync(sctx, conn)
	if !timer.Stop() && err == nil {
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		conn.Close()
		return fmt.Errorf("milvus_edge module: no config from the edge at %s within %s: %w", addr, moduleFirstConfig, err)
	}
	cfg, err := config.Parse(first.Config)
	if err != nil {
		conn.Close()
		return fmt.Errorf("milvus_edge module: the edge's config: %w", err)
	}
	log := NewLogger(os.Stderr, cfg.Log).With("component", "module")
	f, stopWatch, err := buildModuleFilters(log, cfg)
	if err != nil {
		conn.Close()
		return fmt.Errorf("milvus_edge module: %w", err)
	}
	module.cur.Store(f)
	m := &moduleSync{log: log, cfg: cfg, hash: first.ConfigHash, conn: conn, stopWatch: stopWatch, node: cfg.Envoy.NodeID}
	go m.run(ctx, stream)
	log.Info("in-process filters ready", "edge", addr, "config_hash", first.ConfigHash)
	return nil
}

// buildModuleFilters builds filters for cfg and watches their policy
// folder until stop.
func buildModuleFilters(log *slog.Logger, cfg *config.Config) (*Filters, context.CancelFunc, error) {
	ctx, stop := context.WithCancel(context.Background())
	f, err := NewFilters(ctx, log, cfg)
	if err != nil {
		stop()
		return nil, nil, err
	}
	if f.watch {
		go f.Policy.Watch(ctx, 250*time.Millisecond)
	}
	return f, stop, nil
}

// dialTarget turns edge.filters_address into a gRPC target (unix:/path
// stays as it is).
func dialTarget(addr string) string {
	if strings.HasPrefix(addr, "unix:") {
		return addr
	}
	return "passthrough:///" + addr
}

// openSync opens the stream and reads its first event (the config).
func openSync(ctx context.Context, conn *grpc.ClientConn) (grpc.ClientStream, SyncEvent, error) {
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, syncMethod, grpc.WaitForReady(true))
	if err != nil {
		return nil, SyncEvent{}, err
	}
	if err := stream.SendMsg(wrapperspb.String("milvus-edge module")); err != nil {
		return nil, SyncEvent{}, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, SyncEvent{}, err
	}
	ev, err := recvEvent(stream)
	if err != nil {
		return nil, SyncEvent{}, err
	}
	if len(ev.Config) == 0 {
		return nil, SyncEvent{}, errors.New("the first sync event has no config")
	}
	return stream, ev, nil
}

func recvEvent(stream grpc.ClientStream) (SyncEvent, error) {
	var b wrapperspb.BytesValue
	if err := stream.RecvMsg(&b); err != nil {
		return SyncEvent{}, err
	}
	var ev SyncEvent
	return ev, json.Unmarshal(b.GetValue(), &ev)
}

// moduleSync applies the edge's events to the module's filters.
type moduleSync struct {
	log       *slog.Logger
	cfg       *config.Config
	hash      string
	conn      *grpc.ClientConn
	stopWatch context.CancelFunc
	// node is envoy.node_id (restart-only); reg gathers the counters of
	// the filters regOf (sendReport, on its own goroutines).
	node  string
	regMu sync.Mutex
	reg   *prometheus.Registry
	regOf *Filters
}

// run reads the stream until it breaks, then reconnects (with a context
// that does not end: the stream lives as long as Envoy). Events may have
// been missed meanwhile, so a reconnect drops every cached schema.
func (m *moduleSync) run(ctx context.Context, stream grpc.ClientStream) {
	for {
		for {
			ev, err := recvEvent(stream)
			if err != nil {
				m.log.Warn("sync stream with the edge broke; reconnecting", "error", err)
				break
			}
			m.apply(ev)
		}
		for {
			time.Sleep(time.Second)
			s, first, err := openSync(ctx, m.conn)
			if err != nil {
				continue
			}
			stream = s
			module.cur.Load().Schemas.InvalidateAll()
			m.apply(first)
			break
		}
	}
}

func (m *moduleSync) apply(ev SyncEvent) {
	f := module.cur.Load()
	switch {
	case len(ev.Config) > 0 && ev.ConfigHash != m.hash:
		cfg, err := config.Parse(ev.Config)
		if err != nil {
			m.log.Error("the edge's config does not parse here; keeping the last one", "error", err)
			return
		}
		if restartOnly(m.cfg, cfg) != nil {
			m.rebuild(f, cfg)
		} else {
			f.Apply(m.log, cfg)
		}
		m.cfg, m.hash = cfg, ev.ConfigHash
		m.log.Info("config reloaded", "config_hash", ev.ConfigHash)
	case ev.Invalidate != nil:
		inv := ev.Invalidate
		switch {
		case inv.All:
			f.Schemas.InvalidateAll()
		case inv.Collection == "":
			f.Schemas.InvalidateDB(inv.Cluster, inv.DB)
		default:
			f.Schemas.Invalidate(inv.Cluster, inv.DB, inv.Collection)
		}
	case ev.ReportNow > 0:
		go m.sendReport(ev.ReportNow)
	case ev.HasDiscovered:
		eps := ev.Discovered
		f.Schemas.SetDiscovered(func(cluster string) ([]string, bool) {
			e, ok := eps[cluster]
			return e, ok
		})
	}
}

// rebuild replaces the filters when the edge (restarted) sends a config
// whose restart-only fields differ; the old ones close once the checks
// they run are over (a filter timeout and its grace).
func (m *moduleSync) rebuild(old *Filters, cfg *config.Config) {
	f, stopWatch, err := buildModuleFilters(m.log, cfg)
	if err != nil {
		m.log.Error("the edge's new config does not build here; keeping the last one", "error", err)
		return
	}
	module.cur.Store(f)
	m.stopWatch()
	m.stopWatch = stopWatch
	time.AfterFunc(2*m.cfg.Edge.FilterTimeout.D()+handlerGrace, old.close)
	m.log.Warn("the edge restarted with other restart-only settings; the module's filters were rebuilt")
}
