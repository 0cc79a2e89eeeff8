package app

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The sync stream keeps the in-process module (edge.filters: in_process,
// module.go) in step with the edge: the module's first message is the
// config the edge accepted, then every reload the edge accepts, every
// schema cache invalidation (a DDL call seen by ext_proc, `ctl cache
// invalidate`) and every change of discovered endpoints follow in order.
// The other way, the module reports its metrics (modulemetrics.go). Both
// are served by the filter server, beside ext_authz and ext_proc.
const (
	syncService = "milvus_edge.module.v1.Sync"
	syncMethod  = "/" + syncService + "/Watch"
	// moduleLag is how many events a module may lag behind; past it the
	// edge ends its stream and the module reconnects and starts over (full
	// config, every schema dropped).
	moduleLag = 4096
)

// SyncEvent is one message of the stream, JSON in a BytesValue.
type SyncEvent struct {
	// Config is the raw YAML the edge accepted, with its hash.
	Config     []byte `json:"config,omitempty"`
	ConfigHash string `json:"config_hash,omitempty"`
	// Invalidate drops schema cache entries.
	Invalidate *Invalidation `json:"invalidate,omitempty"`
	// Discovered are the discovered endpoints per cluster (all of them; a
	// cluster not named uses its configured ones). Set with HasDiscovered.
	Discovered    map[string][]string `json:"discovered,omitempty"`
	HasDiscovered bool                `json:"has_discovered,omitempty"`
	// ReportNow asks for the module's counters, answered with this number
	// (modulemetrics.go).
	ReportNow uint64 `json:"report_now,omitempty"`
}

// Invalidation names schema cache entries: all, a database, or a collection.
type Invalidation struct {
	All        bool   `json:"all,omitempty"`
	Cluster    string `json:"cluster,omitempty"`
	DB         string `json:"db,omitempty"`
	Collection string `json:"collection,omitempty"`
}

// SyncHub fans the edge's events out to the connected modules.
type SyncHub struct {
	mu         sync.Mutex
	config     SyncEvent
	discovered *SyncEvent
	subs       map[chan SyncEvent]struct{}
	// metrics is the module's last report, answering ReportNow metricsSeq,
	// received at metricsAt; reportSeq is the last asked; reported closes
	// at each report (modulemetrics.go).
	metrics    []*dto.MetricFamily
	metricsAt  time.Time
	metricsSeq uint64
	reportSeq  uint64
	reported   chan struct{}
}

// NewSyncHub returns a hub whose first event for every module is config.
func NewSyncHub(raw []byte, hash string) *SyncHub {
	return &SyncHub{config: SyncEvent{Config: raw, ConfigHash: hash}, subs: map[chan SyncEvent]struct{}{}, reported: make(chan struct{})}
}

// SetConfig records and sends an accepted reload.
func (h *SyncHub) SetConfig(raw []byte, hash string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.config = SyncEvent{Config: raw, ConfigHash: hash}
	h.publishLocked(h.config)
}

// Invalidated sends a schema cache invalidation.
func (h *SyncHub) Invalidated(inv Invalidation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(SyncEvent{Invalidate: &inv})
}

// Discovered records and sends the discovered endpoints.
func (h *SyncHub) Discovered(eps map[string][]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := SyncEvent{Discovered: eps, HasDiscovered: true}
	h.discovered = &ev
	h.publishLocked(ev)
}

// publishLocked never blocks: a module that fell moduleLag events behind
// is cut off (its stream ends) and starts over when it reconnects.
func (h *SyncHub) publishLocked(ev SyncEvent) {
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// subscribe returns a channel that starts with the current state.
func (h *SyncHub) subscribe() chan SyncEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan SyncEvent, moduleLag)
	ch <- h.config
	if h.discovered != nil {
		ch <- *h.discovered
	}
	h.subs[ch] = struct{}{}
	return ch
}

func (h *SyncHub) unsubscribe(ch chan SyncEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// register adds the stream to the filter server.
func (h *SyncHub) register(s *grpc.Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: syncService,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Report",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				in := &wrapperspb.BytesValue{}
				if err := dec(in); err != nil {
					return nil, err
				}
				return &emptypb.Empty{}, h.report(in.GetValue())
			},
		}},
		Streams: []grpc.StreamDesc{{
			StreamName:    "Watch",
			ServerStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				return h.serve(stream)
			},
		}},
	}, h)
}

func (h *SyncHub) serve(stream grpc.ServerStream) error {
	if err := stream.RecvMsg(&wrapperspb.StringValue{}); err != nil {
		return err
	}
	ch := h.subscribe()
	defer h.unsubscribe(ch)
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return nil // fell behind: the module starts over
			}
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := stream.SendMsg(wrapperspb.Bytes(b)); err != nil {
				return err
			}
		}
	}
}
