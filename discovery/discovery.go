// Package discovery finds a cluster's endpoints in Milvus's own registry: the
// proxy sessions a Milvus deployment keeps in its etcd
// (<root_path>/meta/session/proxy-<id>), watched, with the cluster's static
// endpoints as the fallback.
//
// One watcher per cluster with clusters[].discovery lists the sessions, then
// watches the prefix from the listed revision, lists again after a watch
// error (a compacted revision included) and reconnects with backoff. The set
// in use reaches the xDS snapshot through Overlay (the xDS server runs it on
// every build; the watcher calls OnChange after each change, which refreshes
// the snapshot) and the edge's own backend calls through Endpoints.
//
// Which set is in use (see docs/discovery.md):
//   - etcd connected and some proxy session live: the discovered endpoints;
//   - etcd connected and no live proxy session, or nothing read yet: the
//     static endpoints;
//   - etcd unreachable: the last discovered endpoints for keep_last_for
//     (forever when the cluster has no static endpoints), then the static
//     ones.
package discovery

import (
	"context"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Manager runs the watchers of the configured clusters.
type Manager struct {
	log      *slog.Logger
	onChange func()

	// mu guards the fields below.
	mu       sync.Mutex
	ctx      context.Context // Run's; nil before Run
	watchers map[string]*watcher
}

// New returns a manager; onChange is called (from a watcher's goroutine, with
// no lock held) whenever a cluster's endpoints in use change.
func New(log *slog.Logger, onChange func()) *Manager {
	if onChange == nil {
		onChange = func() {}
	}
	return &Manager{log: log, onChange: onChange, watchers: map[string]*watcher{}}
}

// Update follows a config (the first, and every accepted reload): watchers of
// new clusters start, those of removed clusters or with changed settings are
// replaced, and the static endpoints of the others are updated.
func (m *Manager) Update(cfg *config.Config) {
	if m == nil {
		return
	}
	want := map[string]config.Cluster{}
	for _, cl := range cfg.Clusters {
		if cl.Discovery != nil && cl.Discovery.Etcd != nil {
			want[cl.Name] = cl
		}
	}
	var stale []*watcher
	var kept []func()
	m.mu.Lock()
	for name, w := range m.watchers {
		cl, ok := want[name]
		if ok && reflect.DeepEqual(*cl.Discovery.Etcd, w.src) {
			// Not under m.mu: a change of the endpoints in use calls
			// onChange, whose rebuild runs Overlay, which takes m.mu.
			kept = append(kept, func() { w.setStatic(staticOf(cl), handoverOf(cl)) })
			continue
		}
		stale = append(stale, w)
		delete(m.watchers, name)
	}
	for name, cl := range want {
		if m.watchers[name] != nil {
			continue
		}
		w := newWatcher(m.log.With("cluster", name), name, *cl.Discovery.Etcd, staticOf(cl), handoverOf(cl), m.onChange)
		m.watchers[name] = w
		if m.ctx != nil {
			w.start(m.ctx)
		}
	}
	m.mu.Unlock()
	for _, set := range kept {
		set()
	}
	for _, w := range stale {
		w.stop()
	}
	if len(stale) > 0 {
		// The snapshot may hold a replaced watcher's endpoints.
		m.onChange()
	}
}

// Run starts the watchers and stops them when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	for _, w := range m.watchers {
		w.start(ctx)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	return nil
}

// Overlay replaces the endpoints of every discovered cluster whose watcher
// has a discovered set in use. An endpoint that is also a static one keeps
// its static weight; the others get weight 1. The other static endpoints
// stay as standbys, DRAINING in EDS (no calls, still health-checked, so that
// a fallback to them finds them healthy at once), except during the
// handover after a switch from static to discovered endpoints, when they
// still take calls while the new hosts await their first health check.
// It is an xds/server Overlay.
func (m *Manager) Overlay(g *ir.Gateway) {
	for i := range g.Clusters {
		c := &g.Clusters[i]
		if !c.Discovered {
			continue
		}
		m.mu.Lock()
		w := m.watchers[c.Name]
		m.mu.Unlock()
		if w == nil {
			continue
		}
		eps, discovered := w.inUse()
		if !discovered {
			continue
		}
		weights := make(map[string]uint32, len(c.Endpoints))
		for _, ep := range c.Endpoints {
			weights[hostPort(ep.Address)] = ep.Weight
		}
		out := make([]ir.Endpoint, 0, len(eps))
		for _, a := range eps {
			addr, ok := irAddress(a)
			if !ok {
				continue
			}
			wt := weights[a]
			if wt == 0 {
				wt = 1
			}
			out = append(out, ir.Endpoint{Address: addr, Weight: wt})
		}
		handover := w.inHandover()
		for _, ep := range c.Endpoints {
			if !slices.Contains(eps, hostPort(ep.Address)) {
				ep.Draining = ep.Draining || !handover
				out = append(out, ep)
			}
		}
		c.Endpoints = out
	}
}

// Endpoints returns the discovered endpoints a cluster uses now; ok is false
// when the cluster uses its static endpoints (or has no discovery).
func (m *Manager) Endpoints(cluster string) (eps []string, ok bool) {
	m.mu.Lock()
	w := m.watchers[cluster]
	m.mu.Unlock()
	if w == nil {
		return nil, false
	}
	return w.inUse()
}

// Status is GET /v1/status's discovery section.
type Status struct {
	Clusters []ClusterStatus `json:"clusters"`
}

// ClusterStatus is one discovered cluster's state.
type ClusterStatus struct {
	Cluster string `json:"cluster"`
	// Source is the registry and the key prefix watched.
	Source    string `json:"source"`
	Connected bool   `json:"connected"`
	// LastError is the last failure to read or watch etcd (or a session that
	// could not be read), kept after recovery; LastErrorAt says when.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Revision is the etcd revision the sessions were last read at.
	Revision int64 `json:"revision"`
	// Sessions are the proxy sessions seen (stopping ones included).
	Sessions []SessionStatus `json:"sessions"`
	// Endpoints are the endpoints in use: discovered ones, or the static
	// ones when UsingFallback.
	Endpoints     []string `json:"endpoints"`
	UsingFallback bool     `json:"using_fallback"`
	// Standby are the static endpoints kept, draining, beside discovered
	// ones (health-checked, for a fallback); during a Handover they still
	// take calls.
	Standby  []string `json:"standby,omitempty"`
	Handover bool     `json:"handover,omitempty"`
	// ChangedAt is when the endpoints in use last changed.
	ChangedAt time.Time `json:"changed_at"`
}

// SessionStatus is one proxy session seen.
type SessionStatus struct {
	Key      string `json:"key"`
	ServerID int64  `json:"server_id"`
	Address  string `json:"address"`
	// Endpoint is the client address the edge calls ("" when the session
	// is stopping).
	Endpoint string `json:"endpoint,omitempty"`
	Stopping bool   `json:"stopping,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Status reports every discovered cluster, sorted by name.
func (m *Manager) Status() Status {
	if m == nil {
		return Status{Clusters: []ClusterStatus{}}
	}
	m.mu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for _, w := range m.watchers {
		ws = append(ws, w)
	}
	m.mu.Unlock()
	out := Status{Clusters: []ClusterStatus{}}
	for _, w := range ws {
		out.Clusters = append(out.Clusters, w.status())
	}
	slices.SortFunc(out.Clusters, func(a, b ClusterStatus) int {
		switch {
		case a.Cluster < b.Cluster:
			return -1
		case a.Cluster > b.Cluster:
			return 1
		}
		return 0
	})
	return out
}

// handoverOf is how long static endpoints keep taking calls beside newly
// discovered ones: long enough for the new hosts' first active health check
// (two intervals and a timeout); none without active checks, where a new
// host takes calls at once.
func handoverOf(cl config.Cluster) time.Duration {
	h := cl.Health.Defaulted()
	if !h.Checks() {
		return 0
	}
	return 2*h.Interval.D() + h.Timeout.D()
}

func staticOf(cl config.Cluster) []string {
	out := make([]string, 0, len(cl.Endpoints))
	for _, ep := range cl.Endpoints {
		out = append(out, ep.Address)
	}
	return out
}

func hostPort(a ir.Address) string {
	return net.JoinHostPort(a.Host, strconv.FormatUint(uint64(a.Port), 10))
}

// irAddress is the model's address for host:port; a host that is not an IP
// is resolved by the xDS server (xds/server names.go).
func irAddress(s string) (ir.Address, bool) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return ir.Address{}, false
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return ir.Address{}, false
	}
	return ir.Address{Host: host, Port: uint32(port), IsIP: net.ParseIP(host) != nil}, true
}
