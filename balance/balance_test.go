package balance

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// clock is a fake clock the tests advance by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)} }
func addr(port uint32) ir.Address    { return ir.Address{Host: "127.0.0.1", Port: port, IsIP: true} }
func key(port uint32) Key            { return Key{"default", EndpointKey(addr(port))} }
func ep(port, w uint32) ir.Endpoint  { return ir.Endpoint{Address: addr(port), Weight: w} }
func gateway(eps ...ir.Endpoint) *ir.Gateway {
	return &ir.Gateway{Clusters: []ir.Cluster{{Name: "default", Endpoints: slices.Clone(eps)}}}
}

// build runs the overlay on a fresh gateway and returns the pushed weights and drains.
func build(b *Balancer, eps ...ir.Endpoint) ([]uint32, []bool) {
	g := gateway(eps...)
	b.Overlay(g)
	var w []uint32
	var d []bool
	for _, e := range g.Clusters[0].Endpoints {
		w = append(w, e.Weight)
		d = append(d, e.Draining)
	}
	return w, d
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// probeAll feeds one round of latencies (ms; a negative value is an error) and ticks.
func probeAll(b *Balancer, c *clock, lat map[uint32]float64) bool {
	for p, ms := range lat {
		var err error
		if ms < 0 {
			err = errors.New("connection refused")
		}
		b.Observe(key(p), time.Duration(ms*1e6), err)
	}
	return b.Tick()
}

func TestLookAsideWeights(t *testing.T) {
	c := newClock()
	b := New(DefaultOptions(), c.now)
	eps := []ir.Endpoint{ep(1, 1), ep(2, 1), ep(3, 1)}
	if w, _ := build(b, eps...); !equal(w, []uint32{1, 1, 1}) {
		t.Fatalf("before probes: weights %v, want the configured 1 1 1", w)
	}
	// Similar latencies (noise within slack and hysteresis): nothing moves.
	for i := 0; i < 5; i++ {
		c.add(time.Second)
		if probeAll(b, c, map[uint32]float64{1: 0.8, 2: 1.5, 3: 2.5}) {
			t.Fatalf("round %d: a push for latencies within the hysteresis", i)
		}
	}
	if w, _ := build(b, eps...); !equal(w, []uint32{1, 1, 1}) {
		t.Fatalf("similar latencies: weights %v, want 1 1 1", w)
	}
	// One slow answer alone moves nothing (the median of three).
	c.add(time.Second)
	if probeAll(b, c, map[uint32]float64{1: 1, 2: 1, 3: 100}) {
		t.Fatal("a push after one slow probe")
	}
	for i := 0; i < 2; i++ {
		c.add(time.Second)
		if probeAll(b, c, map[uint32]float64{1: 1, 2: 1, 3: 1}) {
			t.Fatal("a push after a single spike")
		}
	}
	// Endpoint 3 slows to 100 ms: the second slow probe in a row moves its weight well down.
	c.add(time.Second)
	probeAll(b, c, map[uint32]float64{1: 1, 2: 1, 3: 100})
	c.add(time.Second)
	if !probeAll(b, c, map[uint32]float64{1: 1, 2: 1, 3: 100}) {
		t.Fatal("no push after endpoint 3 slowed down")
	}
	w, _ := build(b, eps...)
	t.Logf("after two slow probes: weights %v", w)
	if w[0] != 100 || w[1] != 100 || w[2] > 30 {
		t.Fatalf("weights %v: want 100 100 and endpoint 3 ≤ 30", w)
	}
	why := b.Clusters()[0].Endpoints[2].Why
	if !strings.HasPrefix(why, "latency ") || !strings.Contains(why, "vs best") {
		t.Fatalf("why = %q", why)
	}
	// It stays slow: the weight goes lower, but only at the push rate.
	c.add(time.Second)
	if probeAll(b, c, map[uint32]float64{1: 1, 2: 1, 3: 100}) {
		t.Fatal("pushed again 1 s after the last push (min_push_interval 2 s)")
	}
	c.add(time.Second)
	if !probeAll(b, c, map[uint32]float64{1: 1, 2: 1, 3: 100}) {
		t.Fatal("no push 2 s after the last one while the ratio kept falling")
	}
	w, _ = build(b, eps...)
	share := float64(w[2]) / float64(w[0]+w[1]+w[2])
	t.Logf("after four slow probes: weights %v, endpoint 3's share %.1f%%", w, 100*share)
	if share > 0.10 {
		t.Fatalf("weights %v: want endpoint 3 ≤ 10 %%", w)
	}
	// Latency gone: the EWMA decays and the weights come back to the configured ones.
	back := false
	for i := 0; i < 30 && !back; i++ {
		c.add(time.Second)
		probeAll(b, c, map[uint32]float64{1: 1, 2: 1, 3: 1})
		w, _ = build(b, eps...)
		back = equal(w, []uint32{1, 1, 1})
	}
	if !back {
		t.Fatalf("latency gone: weights %v after 30 s, want 1 1 1", w)
	}
}

func TestMedian(t *testing.T) {
	ms := func(v ...time.Duration) [3]time.Duration {
		var r [3]time.Duration
		copy(r[:], v)
		return r
	}
	for _, tc := range []struct {
		in   [3]time.Duration
		want time.Duration
	}{
		{ms(5), 5}, {ms(5, 3), 3}, {ms(1, 2, 3), 2}, {ms(3, 1, 2), 2}, {ms(100, 1, 1), 1}, {ms(1, 100, 100), 100},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestProbeErrorsFloorTheWeight(t *testing.T) {
	c := newClock()
	b := New(DefaultOptions(), c.now)
	eps := []ir.Endpoint{ep(1, 2), ep(2, 2)}
	build(b, eps...)
	for i := 0; i < 2; i++ {
		c.add(3 * time.Second)
		if probeAll(b, c, map[uint32]float64{1: 1, 2: -1}) {
			t.Fatalf("push after %d errors, threshold 3", i+1)
		}
	}
	c.add(3 * time.Second)
	if !probeAll(b, c, map[uint32]float64{1: 1, 2: -1}) {
		t.Fatal("no push after 3 errors")
	}
	if w, _ := build(b, eps...); !equal(w, []uint32{200, 1}) {
		t.Fatalf("weights %v, want 200 1", w)
	}
	if why := b.Clusters()[0].Endpoints[1].Why; why != "probe errors 3: connection refused" {
		t.Fatalf("why = %q", why)
	}
	c.add(3 * time.Second)
	probeAll(b, c, map[uint32]float64{1: 1, 2: 1})
	if w, _ := build(b, eps...); !equal(w, []uint32{2, 2}) {
		t.Fatalf("after a good probe: weights %v, want 2 2", w)
	}
}

func TestDrainAndOverride(t *testing.T) {
	c := newClock()
	b := New(DefaultOptions(), c.now)
	eps := []ir.Endpoint{ep(1, 1), ep(2, 1)}
	build(b, eps...)
	if err := b.Drain(key(2), true); err != nil {
		t.Fatal(err)
	}
	if _, d := build(b, eps...); !equal(d, []bool{false, true}) {
		t.Fatalf("drains %v", d)
	}
	if why := b.Clusters()[0].Endpoints[1].Why; why != "drained by operator" {
		t.Fatalf("why = %q", why)
	}
	if err := b.Drain(key(2), false); err != nil {
		t.Fatal(err)
	}
	if _, d := build(b, eps...); !equal(d, []bool{false, false}) {
		t.Fatalf("after undrain: drains %v", d)
	}

	until, err := b.Override(key(1), 5, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := build(b, eps...); !equal(w, []uint32{5, 1}) {
		t.Fatalf("override: weights %v, want 5 1", w)
	}
	v := b.Clusters()[0].Endpoints[0]
	if v.Override == nil || v.Override.Weight != 5 || !v.Override.Until.Equal(until) ||
		v.Why != "override 5 until 2026-12-01T10:10:00Z" {
		t.Fatalf("view %+v", v)
	}
	// An override is not moved by probes, and is scaled with its cluster.
	c.add(5 * time.Second)
	probeAll(b, c, map[uint32]float64{1: 80, 2: 1})
	if w, _ := build(b, eps...); !equal(w, []uint32{5, 1}) {
		t.Fatalf("a slow overridden endpoint: weights %v, want 5 1", w)
	}
	for i := 0; i < 10; i++ {
		c.add(5 * time.Second)
		probeAll(b, c, map[uint32]float64{1: 1, 2: 80})
	}
	if w, _ := build(b, eps...); w[0] != 500 || w[1] >= 100 {
		t.Fatalf("the other endpoint slow: weights %v, want 500 for the override and the other held back", w)
	}
	c.add(10 * time.Minute)
	if !b.Tick() {
		t.Fatal("expiry did not ask for a push")
	}
	if w, _ := build(b, eps...); w[0] != 100 || w[1] >= 100 {
		t.Fatalf("after expiry: weights %v, want 100 and the slow one held back", w)
	}
}

func TestOperatorErrors(t *testing.T) {
	b := New(DefaultOptions(), newClock().now)
	build(b, ep(1, 1))
	for name, tc := range map[string]struct {
		err  error
		want error
	}{
		"unknown cluster":  {b.Drain(Key{"nope", "127.0.0.1:1"}, true), ErrUnknownCluster},
		"unknown endpoint": {b.Drain(Key{"default", "127.0.0.1:9"}, true), ErrUnknownEndpoint},
		"weight too big":   {second(b.Override(key(1), 129, time.Minute)), ErrBadWeight},
		"no ttl":           {second(b.Override(key(1), 3, 0)), ErrBadTTL},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", name, tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestStateOfRemovedEndpointsIsDropped(t *testing.T) {
	b := New(DefaultOptions(), newClock().now)
	build(b, ep(1, 1), ep(2, 1))
	_ = b.Drain(key(2), true)
	build(b, ep(1, 1))
	if _, d := build(b, ep(1, 1), ep(2, 1)); d[1] {
		t.Fatal("a removed endpoint's drain came back with it")
	}
	if got := b.Targets()["default"]; !equal(got, []string{"127.0.0.1:1", "127.0.0.1:2"}) {
		t.Fatalf("targets %v", got)
	}
}

func TestDisabledKeepsConfiguredWeights(t *testing.T) {
	c := newClock()
	o := DefaultOptions()
	o.Enabled = false
	b := New(o, c.now)
	build(b, ep(1, 1), ep(2, 1))
	c.add(5 * time.Second)
	if probeAll(b, c, map[uint32]float64{1: 1, 2: 200}) {
		t.Fatal("push with look-aside weights off")
	}
	if why := b.Clusters()[0].Endpoints[1].Why; why != "configured (look-aside weights off)" {
		t.Fatalf("why = %q", why)
	}
}

// Endpoints given by name (resolved by the xDS server after the overlays)
// are balanced as IPs are: a slow one is held back, a failing one floored,
// and operators act on them by name.
func TestNamedEndpointsGetLookAsideWeights(t *testing.T) {
	c := newClock()
	b := New(DefaultOptions(), c.now)
	name := func(h string) ir.Endpoint {
		return ir.Endpoint{Address: ir.Address{Host: h, Port: 19530}, Weight: 2}
	}
	weights := func() (w []uint32, drained []bool) {
		gw := &ir.Gateway{Clusters: []ir.Cluster{{Name: "dns", Endpoints: []ir.Endpoint{name("milvus-a"), name("milvus-b")}}}}
		b.Overlay(gw)
		for _, e := range gw.Clusters[0].Endpoints {
			w, drained = append(w, e.Weight), append(drained, e.Draining)
		}
		return
	}
	weights()
	a, bb := Key{"dns", "milvus-a:19530"}, Key{"dns", "milvus-b:19530"}
	pushed := false
	for i := 0; i < 10; i++ {
		c.add(time.Second)
		b.Observe(a, time.Millisecond, nil)
		b.Observe(bb, 200*time.Millisecond, nil)
		pushed = b.Tick() || pushed
	}
	if w, _ := weights(); !pushed || w[1] >= w[0] {
		t.Errorf("a slow named endpoint: weights %v (pushed %v), want it held back", w, pushed)
	}
	for i := 0; i < 5; i++ {
		c.add(time.Second)
		b.Observe(bb, 0, errors.New("connection refused"))
		b.Tick()
	}
	if w, _ := weights(); w[1] != 1 {
		t.Errorf("a failing named endpoint: weights %v, want the second at 1", w)
	}
	if _, err := b.Override(a, 7, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Drain(bb, true); err != nil {
		t.Fatal(err)
	}
	if w, d := weights(); w[0] != 7*DefaultOptions().Scale || !equal(d, []bool{false, true}) {
		t.Errorf("override and drain by name: weights %v drains %v, want 700 and the second drained", w, d)
	}
}
