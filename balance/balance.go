// Package balance holds the control plane's runtime view of each backend
// endpoint — probe results, operators' drains and weight overrides — and
// turns it into the EDS weights Envoy balances by: look-aside weights, the
// role of the Milvus Proxy's look-aside balancer, so that a slow or failing
// endpoint gets less traffic before it fails outright.
//
// It is pure logic: no I/O, no goroutines, an injected clock. internal/app
// probes the endpoints and feeds Observe, calls Tick after each round and
// xds Refresh when Tick says so; the xDS server runs Overlay on every build.
//
// The weight of an endpoint is
//
//	configured × Scale × ratio, at least 1,   ratio = (best + slack) / (latency + slack)
//
// where latency is the endpoint's probe latency EWMA (of the median of its
// last three samples, so one slow answer moves nothing), best the lowest EWMA in
// its cluster and slack a constant that keeps sub-millisecond noise from
// moving weights. An endpoint whose last ErrorThreshold probes failed gets
// ratio 0 (weight 1: it keeps a trickle of calls and keeps being probed).
// While every ratio of a cluster is 1 the configured weights go out as they
// are (Scale only applies while some endpoint is held back), so a healthy
// cluster's weights read as in the config file.
//
// Hysteresis: a new ratio replaces the one pushed only when it differs by
// more than Hysteresis (relative), and a ratio within Hysteresis of 1 counts
// as 1. Push rate: probe-driven changes go out at most once per
// MinPushInterval; operators' actions (drain, undrain, override, an
// override's expiry) go out at once.
//
// Endpoints given by name are keyed by name here; the xDS server resolves
// them after the overlays, and each address gets the name's weight and drain.
//
// Drains and overrides live in memory only: they do not survive a restart of
// the edge, whose durable source is the config file.
package balance

import (
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Options tune the weights (config balance.*).
type Options struct {
	// Enabled moves weights by probe results; off, the configured weights
	// go out (drains and overrides still apply).
	Enabled bool
	// EWMA is the weight of the newest probe latency in the average, 0 < EWMA ≤ 1.
	EWMA float64
	// Slack is added to every latency before comparing them.
	Slack time.Duration
	// Hysteresis is the relative change of a ratio that is ignored, 0 ≤ h < 1.
	Hysteresis float64
	// ErrorThreshold is the consecutive probe errors that bring an endpoint's weight to 1.
	ErrorThreshold int
	// MinPushInterval is the shortest time between two probe-driven pushes.
	MinPushInterval time.Duration
	// Scale multiplies the configured weights while some endpoint of the
	// cluster is held back, so that held-back shares have room below them.
	Scale uint32
}

// DefaultOptions are the config's defaults.
func DefaultOptions() Options {
	return Options{Enabled: true, EWMA: 0.3, Slack: 10 * time.Millisecond, Hysteresis: 0.2,
		ErrorThreshold: 3, MinPushInterval: 2 * time.Second, Scale: 100}
}

// MaxOverrideWeight is the largest weight an operator may set (as the config's endpoint weights).
const MaxOverrideWeight = 128

// Errors callers branch on (the admin API answers 404 and 400).
var (
	ErrUnknownCluster  = errors.New("unknown cluster")
	ErrUnknownEndpoint = errors.New("unknown endpoint")
	ErrBadWeight       = fmt.Errorf("weight must be 1..%d", MaxOverrideWeight)
	ErrBadTTL          = errors.New("ttl must be positive")
)

// Key names one endpoint of one cluster.
type Key struct {
	Cluster, Endpoint string
}

// Balancer is the state of every endpoint of the last build. Its methods
// are safe for concurrent use.
type Balancer struct {
	now func() time.Time

	// mu guards the fields below.
	mu       sync.Mutex
	opts     Options
	clusters []clusterInfo        // as the last Overlay saw them, in order
	eps      map[Key]*endpoint    // probe results and operators' state
	lastPush time.Time            // the last probe-driven change handed out
	pending  map[string]time.Time // clusters whose fresh ratios wait for the push rate, since
}

type clusterInfo struct {
	name      string
	endpoints []string
}

// endpoint is one endpoint's state.
type endpoint struct {
	configured uint32 // the weight the config (or discovery) gives it
	// Probe results.
	probed    bool
	latency   time.Duration    // EWMA
	last      time.Duration    // the newest probe's latency
	recent    [3]time.Duration // the last three latencies, newest first (0: none)
	errors    int              // consecutive failed probes
	lastErr   string
	lastProbe time.Time
	// Operators' state.
	drained  bool
	override uint32 // 0 = none
	until    time.Time
	// ratio is the look-aside factor pushed (1 = untouched), and why.
	ratio float64
	why   string
}

// New returns a balancer with no endpoints yet.
func New(o Options, now func() time.Time) *Balancer {
	return &Balancer{now: now, opts: o, eps: map[Key]*endpoint{}, pending: map[string]time.Time{}}
}

// SetOptions applies reloaded options from the next Tick on.
func (b *Balancer) SetOptions(o Options) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opts = o
}

// EndpointKey is the name of an endpoint's address in the balancer, the
// admin API and metrics: host:port as in the config.
func EndpointKey(a ir.Address) string {
	if a.Pipe != "" {
		return "unix:" + a.Pipe
	}
	return net.JoinHostPort(a.Host, strconv.FormatUint(uint64(a.Port), 10))
}

// Overlay sets the pushed weights and drains on g's endpoints (an
// xds/server Overlay) and records which endpoints exist: the ones the
// prober probes and the admin API shows. State of endpoints no longer in g
// is dropped.
func (b *Balancer) Overlay(g *ir.Gateway) {
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := make(map[Key]bool, len(b.eps))
	b.clusters = b.clusters[:0]
	for ci := range g.Clusters {
		c := &g.Clusters[ci]
		info := clusterInfo{name: c.Name}
		for i := range c.Endpoints {
			k := Key{c.Name, EndpointKey(c.Endpoints[i].Address)}
			e := b.eps[k]
			if e == nil {
				e = &endpoint{ratio: 1}
				b.eps[k] = e
			}
			if !seen[k] {
				info.endpoints = append(info.endpoints, k.Endpoint)
			}
			seen[k] = true
			e.configured = c.Endpoints[i].Weight
		}
		scaled := b.scaled(info)
		for i := range c.Endpoints {
			ep := &c.Endpoints[i]
			e := b.eps[Key{c.Name, EndpointKey(ep.Address)}]
			ep.Weight = e.weight(scaled, b.opts.Scale)
			ep.Draining = ep.Draining || e.drained
		}
		b.clusters = append(b.clusters, info)
	}
	for k := range b.eps {
		if !seen[k] {
			delete(b.eps, k)
		}
	}
}

// scaled says a cluster's weights are multiplied by Scale: some endpoint
// is held back by its probes.
func (b *Balancer) scaled(c clusterInfo) bool {
	for _, ep := range c.endpoints {
		if e := b.eps[Key{c.name, ep}]; e != nil && e.override == 0 && e.ratio < 1 {
			return true
		}
	}
	return false
}

// weight is the weight pushed for e.
func (e *endpoint) weight(scaled bool, scale uint32) uint32 {
	w, r := e.configured, e.ratio
	if e.override != 0 {
		w, r = e.override, 1
	}
	if !scaled {
		return w
	}
	return max(1, uint32(math.Round(float64(w)*float64(scale)*r)))
}

// Observe records one probe of an endpoint: its latency, or its error. An
// endpoint the last build did not have is ignored.
func (b *Balancer) Observe(k Key, latency time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.eps[k]
	if e == nil {
		return
	}
	e.lastProbe = b.now()
	if err != nil {
		e.errors++
		e.lastErr = err.Error()
		return
	}
	e.errors, e.lastErr, e.last = 0, "", latency
	e.recent = [3]time.Duration{latency, e.recent[0], e.recent[1]}
	if !e.probed {
		e.probed, e.latency = true, latency
		return
	}
	// The average takes the median of the last three samples: one slow
	// answer (a GC pause, a busy core) moves nothing; two in a row do.
	a := b.opts.EWMA
	e.latency = time.Duration(a*float64(median(e.recent)) + (1-a)*float64(e.latency))
}

// median is the median of the samples present (the smaller of two).
func median(r [3]time.Duration) time.Duration {
	switch {
	case r[1] == 0:
		return r[0]
	case r[2] == 0:
		return min(r[0], r[1])
	}
	return max(min(r[0], r[1]), min(max(r[0], r[1]), r[2]))
}

// Tick expires overrides and recomputes the look-aside ratios; it reports
// whether the weights to push changed (call xds Refresh then). Probe-driven
// changes are held back until MinPushInterval has passed since the last one.
func (b *Balancer) Tick() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	changed := false
	for _, e := range b.eps {
		if e.override != 0 && !now.Before(e.until) {
			e.override, e.until = 0, time.Time{}
			changed = true
		}
	}
	due := now.Sub(b.lastPush) >= b.opts.MinPushInterval
	lookAside := false
	for _, c := range b.clusters {
		ratios, whys := b.ratios(c)
		moved := false
		for i, ep := range c.endpoints {
			e := b.eps[Key{c.name, ep}]
			e.why = whys[i]
			if differs(e.ratio, ratios[i], b.opts.Hysteresis) {
				moved = true
			}
		}
		if !moved {
			delete(b.pending, c.name)
			continue
		}
		if !due {
			if _, ok := b.pending[c.name]; !ok {
				b.pending[c.name] = now
			}
			continue
		}
		delete(b.pending, c.name)
		for i, ep := range c.endpoints {
			if e := b.eps[Key{c.name, ep}]; differs(e.ratio, ratios[i], b.opts.Hysteresis) {
				e.ratio = ratios[i]
			}
		}
		lookAside = true
	}
	if lookAside {
		b.lastPush = now
	}
	return changed || lookAside
}

// differs says a fresh ratio is far enough from the pushed one to push it.
func differs(pushed, fresh, h float64) bool {
	if pushed == fresh {
		return false
	}
	if fresh == 0 || pushed == 0 {
		return true
	}
	return math.Abs(fresh-pushed) > h*max(pushed, fresh)
}

// ratios computes each endpoint's fresh look-aside ratio in a cluster, and why.
func (b *Balancer) ratios(c clusterInfo) ([]float64, []string) {
	o := b.opts
	out, whys := make([]float64, len(c.endpoints)), make([]string, len(c.endpoints))
	best := time.Duration(-1)
	for _, ep := range c.endpoints {
		e := b.eps[Key{c.name, ep}]
		if e.probed && e.errors < o.ErrorThreshold && (best < 0 || e.latency < best) {
			best = e.latency
		}
	}
	for i, ep := range c.endpoints {
		e := b.eps[Key{c.name, ep}]
		out[i] = 1
		switch {
		case !o.Enabled:
			whys[i] = "look-aside weights off"
		case e.errors >= o.ErrorThreshold:
			out[i] = 0
			whys[i] = fmt.Sprintf("probe errors %d: %s", e.errors, e.lastErr)
		case !e.probed:
			whys[i] = "not probed yet"
		default:
			r := float64(best+o.Slack) / float64(e.latency+o.Slack)
			if r >= 1-o.Hysteresis {
				r = 1
			}
			out[i] = r
			whys[i] = fmt.Sprintf("latency %s vs best %s", ms(e.latency), ms(best))
		}
	}
	return out, whys
}

// ms prints a latency in milliseconds, readably.
func ms(d time.Duration) string {
	v := float64(d) / 1e6
	switch {
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
}

// find returns the endpoint's state, or why there is none.
func (b *Balancer) find(k Key) (*endpoint, error) {
	if e := b.eps[k]; e != nil {
		return e, nil
	}
	for _, c := range b.clusters {
		if c.name == k.Cluster {
			return nil, fmt.Errorf("%w %q in cluster %q (it has %v)", ErrUnknownEndpoint, k.Endpoint, k.Cluster, c.endpoints)
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownCluster, k.Cluster)
}

// Drain marks an endpoint DRAINING (Envoy sends it no new calls; calls in
// flight finish) or, with on false, takes it back. Call xds Refresh after.
func (b *Balancer) Drain(k Key, on bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.find(k)
	if err != nil {
		return err
	}
	e.drained = on
	return nil
}

// Override pins an endpoint's weight to w until ttl has passed, or, with w
// 0, removes the override. Call xds Refresh after.
func (b *Balancer) Override(k Key, w uint32, ttl time.Duration) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, err := b.find(k)
	if err != nil {
		return time.Time{}, err
	}
	if w == 0 {
		e.override, e.until = 0, time.Time{}
		return time.Time{}, nil
	}
	if w > MaxOverrideWeight {
		return time.Time{}, ErrBadWeight
	}
	if ttl <= 0 {
		return time.Time{}, ErrBadTTL
	}
	e.override, e.until = w, b.now().Add(ttl)
	return e.until, nil
}

// Cluster is what the admin API shows of one cluster.
type Cluster struct {
	Name      string     `json:"name"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Endpoint is what the admin API shows of one endpoint.
type Endpoint struct {
	Address string `json:"address"`
	// Configured is the weight of the config file (or discovery).
	Configured uint32 `json:"configured_weight"`
	// Weight is the weight pushed to Envoy.
	Weight uint32 `json:"weight"`
	// Why says where Weight comes from.
	Why      string    `json:"why"`
	Draining bool      `json:"draining"`
	Override *Override `json:"override,omitempty"`
	Probe    Probe     `json:"probe"`
}

// Override is an operator's weight and when it ends.
type Override struct {
	Weight uint32    `json:"weight"`
	Until  time.Time `json:"until"`
}

// Probe is an endpoint's probe results.
type Probe struct {
	// LatencyMS is the EWMA; LastMS the newest successful probe.
	LatencyMS float64   `json:"latency_ms"`
	LastMS    float64   `json:"last_ms"`
	Errors    int       `json:"consecutive_errors"`
	LastError string    `json:"last_error,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// Clusters returns every cluster of the last build with its endpoints' state.
func (b *Balancer) Clusters() []Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Cluster, 0, len(b.clusters))
	for _, c := range b.clusters {
		cl := Cluster{Name: c.name}
		scaled := b.scaled(c)
		for _, ep := range c.endpoints {
			e := b.eps[Key{c.name, ep}]
			v := Endpoint{Address: ep, Configured: e.configured, Weight: e.weight(scaled, b.opts.Scale),
				Why: e.reason(b.opts), Draining: e.drained,
				Probe: Probe{LatencyMS: msf(e.latency), LastMS: msf(e.last), Errors: e.errors, LastError: e.lastErr, At: e.lastProbe}}
			if e.override != 0 {
				v.Override = &Override{Weight: e.override, Until: e.until}
			}
			cl.Endpoints = append(cl.Endpoints, v)
		}
		out = append(out, cl)
	}
	return out
}

// Targets returns every endpoint of the last build, by cluster, for the prober.
func (b *Balancer) Targets() map[string][]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string][]string, len(b.clusters))
	for _, c := range b.clusters {
		out[c.name] = slices.Clone(c.endpoints)
	}
	return out
}

// reason is why e has its pushed weight.
func (e *endpoint) reason(o Options) string {
	switch {
	case e.drained:
		return "drained by operator"
	case e.override != 0:
		return fmt.Sprintf("override %d until %s", e.override, e.until.UTC().Format(time.RFC3339))
	case e.ratio < 1 && e.why != "":
		return e.why
	case e.ratio < 1:
		return "held back by probes"
	case !o.Enabled:
		return "configured (look-aside weights off)"
	case e.why == "" || e.why == "not probed yet":
		return "configured (not probed yet)"
	}
	return "configured (" + e.why + ")"
}

func msf(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
