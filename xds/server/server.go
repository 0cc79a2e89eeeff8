// Package server runs the ADS control plane: it translates each accepted
// config into a snapshot for the configured Envoy node and serves it over
// gRPC with go-control-plane. Envoy keeps its last config while the server is
// away and resyncs the full snapshot when it reconnects.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/envoyres"
	"github.com/milvus-edge/milvus-edge/xds/ir"
	"github.com/milvus-edge/milvus-edge/xds/snapshot"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// Server owns the snapshot cache for one Envoy node id.
type Server struct {
	nodeID string
	opts   translate.Options
	log    *slog.Logger
	cache  cachev3.SnapshotCache

	// updateMu serializes Update and RefreshCerts, so that each builds from
	// the latest accepted config and the certificate files as they are now,
	// and snapshots are set in the order they were built. It guards cfg and
	// certSum, certs and overlays.
	updateMu sync.Mutex
	cfg      *config.Config           // the config of the snapshot set last
	certSum  [32]byte                 // listener.tls's files as last read (readCertFiles)
	certs    *translate.ListenerCerts // their checked contents, as last set
	overlays []Overlay
	names    *names // the endpoints' names and their addresses (names.go)

	// mu guards the fields below.
	mu      sync.Mutex
	version string            // version of the snapshot set last
	secrets bool              // the snapshot set last holds SDS secrets
	acked   map[string]string // type URL → version Envoy ACKed last
	nack    string            // last NACK detail from Envoy, "" once ACKed again
	tls     *TLSStatus        // the listener certificate served; nil without TLS
	counts  Counts            // snapshots set, responses, ACKs and NACKs
}

// Counts are the control plane's cumulative counts since the start.
type Counts struct {
	// Snapshots counts the snapshots set (a changed content: a push).
	Snapshots uint64
	// Types holds, per resource type URL, the responses sent to Envoy and
	// the ACKs and NACKs Envoy answered them with.
	Types map[string]TypeCounts
}

// TypeCounts are the counts of one resource type.
type TypeCounts struct {
	Responses, ACKs, NACKs uint64
}

// Overlay changes the translated gateway before it is built, with state
// the config file does not hold: endpoints found by discovery, weights from
// probes and operators. It runs under the server's update lock on every
// build, must be quick, and must not keep g.
type Overlay func(g *ir.Gateway)

// SetOverlays sets the overlays applied, in order, to every build from now
// on; call Refresh to apply them to the current config.
func (s *Server) SetOverlays(o ...Overlay) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	s.overlays = o
}

// Refresh rebuilds the current config with the overlays' present state and
// sets the snapshot when its content changed (one build-then-swap, as a
// reload). Before the first Update it does nothing.
func (s *Server) Refresh(ctx context.Context) (version string, pushed bool, err error) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	if s.cfg == nil {
		return "", false, nil
	}
	return s.set(ctx, s.cfg, s.certs)
}

// New returns a server for the given node id with no snapshot yet.
func New(nodeID string, log *slog.Logger, o translate.Options) *Server {
	return &Server{
		nodeID: nodeID,
		opts:   o,
		log:    log,
		names:  newNames(log, nil),
		cache:  cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil),
		acked:  map[string]string{},
		counts: Counts{Types: map[string]TypeCounts{}},
	}
}

// Update reads listener.tls's files, translates cfg and sets the snapshot
// when its content changed. It returns the snapshot version and whether it
// was pushed. On error nothing changes: the last good snapshot keeps serving.
func (s *Server) Update(ctx context.Context, cfg *config.Config) (string, bool, error) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	files := readCertFiles(cfg.Listener.TLS)
	var certs *translate.ListenerCerts
	var st TLSStatus
	if cfg.Listener.TLS != nil {
		var err error
		if certs, st, err = files.check(); err != nil {
			return "", false, err
		}
	}
	v, pushed, err := s.set(ctx, cfg, certs)
	if err != nil {
		return "", false, err
	}
	s.cfg, s.certSum, s.certs = cfg, files.sum, certs
	s.setTLSStatus(cfg.Listener.TLS != nil, st)
	return v, pushed, nil
}

// RefreshCerts re-reads the listener's certificate files and, when their
// contents changed since they were last read, sets a snapshot of the
// current config with the new secrets: a new snapshot version whose
// listener is unchanged, so Envoy updates the secrets in place (new
// handshakes get the new certificate; open connections stay). Files that do
// not check out (a key that is not the certificate's, a half-written file)
// are refused once per change: the error is returned and kept in Status,
// and the secrets being served stay. pushed is false when nothing changed.
func (s *Server) RefreshCerts(ctx context.Context) (version string, pushed bool, err error) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	if s.cfg == nil || s.cfg.Listener.TLS == nil {
		return "", false, nil
	}
	files := readCertFiles(s.cfg.Listener.TLS)
	if files.sum == s.certSum {
		return "", false, nil
	}
	s.certSum = files.sum
	certs, st, err := files.check()
	if err == nil {
		version, pushed, err = s.set(ctx, s.cfg, certs)
	}
	if err == nil {
		s.certs = certs
	}
	if err != nil {
		s.mu.Lock()
		if s.tls != nil {
			s.tls.LastError = err.Error()
		}
		s.mu.Unlock()
		return "", false, err
	}
	s.setTLSStatus(true, st)
	return version, pushed, nil
}

func (s *Server) setTLSStatus(on bool, st TLSStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !on {
		s.tls = nil
		return
	}
	st.LoadedAt = time.Now()
	s.tls = &st
}

// set translates cfg with the certificates' contents and sets the snapshot
// when its content changed.
func (s *Server) set(ctx context.Context, cfg *config.Config, certs *translate.ListenerCerts) (string, bool, error) {
	o := s.opts
	o.ListenerCerts = certs
	g, err := translate.Translate(cfg, o)
	if err != nil {
		return "", false, fmt.Errorf("translating config: %w", err)
	}
	for _, o := range s.overlays {
		o(g)
	}
	s.names.expand(ctx, g)
	snap, err := snapshot.New(envoyres.Build(g))
	if err != nil {
		return "", false, err
	}
	v := snap.GetVersion(snapshotTypeURL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == s.version {
		return v, false, nil
	}
	if err := s.cache.SetSnapshot(ctx, s.nodeID, snap); err != nil {
		return "", false, fmt.Errorf("setting snapshot: %w", err)
	}
	s.version = v
	s.secrets = len(snap.GetResources(resourcev3.SecretType)) > 0
	s.counts.Snapshots++
	return v, true, nil
}

const snapshotTypeURL = "type.googleapis.com/envoy.config.listener.v3.Listener"

// Status is what Envoy last acknowledged, and the listener certificate.
type Status struct {
	Version     string            `json:"version"`
	Acked       map[string]string `json:"acked"`
	Nack        string            `json:"nack,omitempty"`
	ListenerTLS *TLSStatus        `json:"listener_tls,omitempty"`
}

// Status reports the current snapshot version and Envoy's ACKs.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	acked := make(map[string]string, len(s.acked))
	for k, v := range s.acked {
		acked[k] = v
	}
	st := Status{Version: s.version, Acked: acked, Nack: s.nack}
	if s.tls != nil {
		tls := *s.tls
		st.ListenerTLS = &tls
	}
	return st
}

// Synced says Envoy has ACKed the current version for every resource type:
// listeners, routes, clusters, endpoints (every QueryNode cluster is an EDS
// one), and secrets when the snapshot has any (a secret ACK left from an
// older snapshot does not count against it).
func (s *Server) Synced() bool {
	s.mu.Lock()
	secrets := s.secrets
	s.mu.Unlock()
	st := s.Status()
	if st.Version == "" {
		return false
	}
	types := []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType}
	if secrets {
		types = append(types, resourcev3.SecretType)
	}
	for _, t := range types {
		if st.Acked[t] != st.Version {
			return false
		}
	}
	return true
}

// Counts returns the control plane's counts.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := Counts{Snapshots: s.counts.Snapshots, Types: make(map[string]TypeCounts, len(s.counts.Types))}
	for k, v := range s.counts.Types {
		c.Types[k] = v
	}
	return c
}

func (s *Server) onResponse(_ context.Context, _ int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tc := s.counts.Types[resp.GetTypeUrl()]
	tc.Responses++
	s.counts.Types[resp.GetTypeUrl()] = tc
}

func (s *Server) onRequest(_ int64, req *discoveryv3.DiscoveryRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A request with a response nonce answers a response: a NACK when it
	// carries an error, an ACK otherwise (the first request of a stream has
	// no nonce).
	if req.GetResponseNonce() != "" {
		tc := s.counts.Types[req.GetTypeUrl()]
		if req.GetErrorDetail() != nil {
			tc.NACKs++
		} else {
			tc.ACKs++
		}
		s.counts.Types[req.GetTypeUrl()] = tc
	}
	if d := req.GetErrorDetail(); d != nil {
		s.nack = fmt.Sprintf("%s version %s: %s", req.GetTypeUrl(), req.GetResponseNonce(), d.GetMessage())
		s.log.Error("envoy rejected config", "type", req.GetTypeUrl(), "error", d.GetMessage())
		return nil
	}
	if req.GetVersionInfo() != "" {
		s.acked[req.GetTypeUrl()] = req.GetVersionInfo()
		s.nack = ""
	}
	return nil
}

// Serve runs the ADS gRPC server on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	cb := serverv3.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, typ string) error {
			s.log.Info("envoy connected", "stream", id)
			return nil
		},
		StreamClosedFunc: func(id int64, _ *corev3.Node) {
			s.log.Info("envoy stream closed", "stream", id)
		},
		StreamRequestFunc:  s.onRequest,
		StreamResponseFunc: s.onResponse,
	}
	xds := serverv3.NewServer(ctx, s.cache, cb)
	gs := grpc.NewServer(
		// Envoy holds one long-lived ADS stream; keepalive finds dead peers, and
		// the enforcement policy must tolerate Envoy's own pings.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1000),
	)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, xds)
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(lis) }()
	select {
	case <-ctx.Done():
		gs.Stop() // ADS streams never end by themselves; graceful stop would wait forever
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("xds server: %w", err)
	}
}

// WatchNames resolves the endpoints' names in use every NameRefresh and
// pushes when an answer changed, until ctx ends.
func (s *Server) WatchNames(ctx context.Context) error {
	t := time.NewTicker(NameRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !s.names.refresh(ctx) {
			continue
		}
		v, pushed, err := s.Refresh(ctx)
		switch {
		case err != nil:
			s.log.Error("push after endpoint names changed", "err", err)
		case pushed:
			s.log.Info("endpoint names resolved to new addresses", "xds_version", v)
		}
	}
}
