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
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

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

var module struct {
	once sync.Once
	f    *Filters
	err  error
}

// ModuleChecker returns the module's checker, building the filters on the
// first call (Envoy's main thread, at the first listener push) from the
// config the edge sends. Later calls (listener updates) return the same
// filters: reloads arrive over the stream, not through Envoy.
func ModuleChecker(s inproc.Settings) (inproc.Checker, error) {
	module.once.Do(func() { module.f, module.err = startModule(s.FiltersAddress) })
	if module.err != nil {
		return nil, module.err
	}
	return timedChecker{c: module.f.Authz, m: module.f.Timing}, nil
}

// startModule connects to the edge, waits for its config and builds the
// filters; the stream then runs for the life of the process.
func startModule(addr string) (*Filters, error) {
	conn, err := grpc.NewClient(dialTarget(addr), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("milvus_edge module: edge filter server %s: %w", addr, err)
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
		return nil, fmt.Errorf("milvus_edge module: no config from the edge at %s within %s: %w", addr, moduleFirstConfig, err)
	}
	cfg, err := config.Parse(first.Config)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("milvus_edge module: the edge's config: %w", err)
	}
	log := NewLogger(os.Stderr, cfg.Log).With("component", "module")
	f, err := NewFilters(ctx, log, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("milvus_edge module: %w", err)
	}
	if f.watch {
		go f.Policy.Watch(ctx, 250*time.Millisecond)
	}
	m := &moduleSync{f: f, log: log, hash: first.ConfigHash, conn: conn}
	go m.run(ctx, stream)
	go reportMetrics(conn, log, cfg.Envoy.NodeID, f)
	log.Info("in-process filters ready", "edge", addr, "config_hash", first.ConfigHash)
	return f, nil
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
	f    *Filters
	log  *slog.Logger
	hash string
	conn *grpc.ClientConn
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
			m.f.Schemas.InvalidateAll()
			m.apply(first)
			break
		}
	}
}

func (m *moduleSync) apply(ev SyncEvent) {
	switch {
	case len(ev.Config) > 0 && ev.ConfigHash != m.hash:
		cfg, err := config.Parse(ev.Config)
		if err != nil {
			m.log.Error("the edge's config does not parse here; keeping the last one", "error", err)
			return
		}
		m.f.Apply(m.log, cfg)
		m.hash = ev.ConfigHash
		m.log.Info("config reloaded", "config_hash", ev.ConfigHash)
	case ev.Invalidate != nil:
		inv := ev.Invalidate
		switch {
		case inv.All:
			m.f.Schemas.InvalidateAll()
		case inv.Collection == "":
			m.f.Schemas.InvalidateDB(inv.Cluster, inv.DB)
		default:
			m.f.Schemas.Invalidate(inv.Cluster, inv.DB, inv.Collection)
		}
	case ev.HasDiscovered:
		eps := ev.Discovered
		m.f.Schemas.SetDiscovered(func(cluster string) ([]string, bool) {
			e, ok := eps[cluster]
			return e, ok
		})
	}
}
