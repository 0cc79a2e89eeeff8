package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/cache"
)

// fakeClock is the injected clock: tests advance it and never sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// schema stands in for the backend's collection description.
type schema struct{ name string }

var errBoom = errors.New("backend unavailable")

// mapLoader serves "missing*" as not found, "flaky*" as a transient error,
// and anything else as a fresh *schema per call; it counts calls.
type mapLoader struct{ calls atomic.Int64 }

func (l *mapLoader) load(_ context.Context, k cache.SchemaKey) (*schema, error) {
	n := l.calls.Add(1)
	switch {
	case strings.HasPrefix(k.Collection, "missing"):
		return nil, fmt.Errorf("describe %s: %w", k.Collection, cache.ErrNotFound)
	case strings.HasPrefix(k.Collection, "flaky"):
		return nil, errBoom
	}
	return &schema{name: fmt.Sprintf("%s#%d", k.Collection, n)}, nil
}

type env struct {
	t     *testing.T
	s     *cache.Schemas[*schema]
	clock *fakeClock
	l     *mapLoader
}

func newEnv(t *testing.T, o cache.SchemaOptions) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), l: &mapLoader{}}
	o.Now = e.clock.Now
	s, err := cache.NewSchemas(e.l.load, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e.s = s
	return e
}

func key(c string) cache.SchemaKey {
	return cache.SchemaKey{Cluster: "c1", DB: "default", Collection: c}
}

// step is one action of a table case.
type step func(e *env)

// get expects the value of a fill (by its "name#call" label).
func get(k cache.SchemaKey, want string) step {
	return func(e *env) {
		e.t.Helper()
		v, err := e.s.Get(context.Background(), k)
		if err != nil || v == nil || v.name != want {
			e.t.Fatalf("Get(%v) = %v, %v; want %s", k, v, err, want)
		}
	}
}

// getErr expects an error wrapping target.
func getErr(k cache.SchemaKey, target error) step {
	return func(e *env) {
		e.t.Helper()
		v, err := e.s.Get(context.Background(), k)
		if !errors.Is(err, target) || v != nil {
			e.t.Fatalf("Get(%v) = %v, %v; want error wrapping %v", k, v, err, target)
		}
		if errors.Is(target, errBoom) && errors.Is(err, cache.ErrNotFound) {
			e.t.Fatalf("Get(%v) = %v: a transient error must not read as not found", k, err)
		}
	}
}

func advance(d time.Duration) step { return func(e *env) { e.clock.Advance(d) } }
func invalidate(k cache.SchemaKey) step {
	return func(e *env) { e.s.Invalidate(k) }
}

func TestSchemasGet(t *testing.T) {
	a, b := key("a"), key("b")
	db1 := func(c, db, coll string) cache.SchemaKey { return cache.SchemaKey{Cluster: c, DB: db, Collection: coll} }
	errGone := errors.New("gone")
	cases := []struct {
		name      string
		opts      cache.SchemaOptions
		loader    cache.Loader[*schema] // nil: mapLoader
		steps     []step
		wantCalls int64
		wantStats *cache.SchemaStats
	}{{
		name:      "miss fills then hits",
		steps:     []step{get(a, "a#1"), get(a, "a#1"), get(b, "b#2"), get(a, "a#1")},
		wantCalls: 2,
		wantStats: &cache.SchemaStats{Hits: 2, Misses: 2, Fills: 2},
	}, {
		name: "unknown collection is cached negatively for NegativeTTL",
		steps: []step{getErr(key("missing"), cache.ErrNotFound), getErr(key("missing"), cache.ErrNotFound),
			advance(1999 * time.Millisecond), getErr(key("missing"), cache.ErrNotFound),
			advance(time.Millisecond), getErr(key("missing"), cache.ErrNotFound)},
		wantCalls: 2,
		wantStats: &cache.SchemaStats{Hits: 2, Misses: 2, Fills: 2},
	}, {
		name:      "negative caching can be disabled",
		opts:      cache.SchemaOptions{NegativeTTL: -1},
		steps:     []step{getErr(key("missing"), cache.ErrNotFound), getErr(key("missing"), cache.ErrNotFound)},
		wantCalls: 2,
	}, {
		name:      "TTL expiry refills",
		steps:     []step{get(a, "a#1"), advance(29 * time.Second), get(a, "a#1"), advance(time.Second), get(a, "a#2"), get(a, "a#2")},
		wantCalls: 2,
		wantStats: &cache.SchemaStats{Hits: 2, Misses: 2, Fills: 2},
	}, {
		name:      "custom TTL",
		opts:      cache.SchemaOptions{TTL: time.Minute},
		steps:     []step{get(a, "a#1"), advance(59 * time.Second), get(a, "a#1"), advance(time.Second), get(a, "a#2")},
		wantCalls: 2,
	}, {
		name:      "errors other than not found are not cached",
		steps:     []step{getErr(key("flaky"), errBoom), getErr(key("flaky"), errBoom)},
		wantCalls: 2,
		wantStats: &cache.SchemaStats{Misses: 2, Fills: 2, FillErrors: 2},
	}, {
		name:      "Invalidate drops one key",
		steps:     []step{get(a, "a#1"), get(b, "b#2"), invalidate(a), get(a, "a#3"), get(b, "b#2")},
		wantCalls: 3,
		wantStats: &cache.SchemaStats{Hits: 1, Misses: 3, Fills: 3, Invalidations: 1},
	}, {
		name:      "Invalidate drops a negative entry (CreateCollection seen)",
		steps:     []step{getErr(key("missing"), cache.ErrNotFound), invalidate(key("missing")), getErr(key("missing"), cache.ErrNotFound)},
		wantCalls: 2,
	}, {
		name: "InvalidateDB drops that database only",
		steps: []step{
			get(db1("c1", "db1", "a"), "a#1"), get(db1("c1", "db1", "b"), "b#2"),
			get(db1("c1", "db2", "a"), "a#3"), get(db1("c2", "db1", "a"), "a#4"),
			func(e *env) { e.s.InvalidateDB("c1", "db1") },
			get(db1("c1", "db1", "a"), "a#5"), get(db1("c1", "db1", "b"), "b#6"),
			get(db1("c1", "db2", "a"), "a#3"), get(db1("c2", "db1", "a"), "a#4"),
			func(e *env) { e.s.InvalidateDB("c1", "db1") }, get(db1("c1", "db1", "a"), "a#7"),
		},
		wantCalls: 7,
	}, {
		name:      "InvalidateAll drops everything",
		steps:     []step{get(a, "a#1"), get(b, "b#2"), func(e *env) { e.s.InvalidateAll() }, get(a, "a#3"), get(b, "b#4"), get(a, "a#3")},
		wantCalls: 4,
		wantStats: &cache.SchemaStats{Hits: 1, Misses: 4, Fills: 4, Invalidations: 1},
	}, {
		name:      "an entry costing more than MaxCost is not stored",
		opts:      cache.SchemaOptions{MaxCost: 10, Cost: func(v any) int64 { return int64(100 * len(v.(*schema).name)) }},
		steps:     []step{get(a, "a#1"), get(a, "a#2")},
		wantCalls: 2,
	}, {
		name: "IsNotFound recognises the backend's own sentinel",
		opts: cache.SchemaOptions{IsNotFound: func(err error) bool { return errors.Is(err, errGone) }},
		loader: func(context.Context, cache.SchemaKey) (*schema, error) {
			return nil, fmt.Errorf("describe: %w", errGone)
		},
		steps:     []step{getErr(a, cache.ErrNotFound), getErr(a, errGone)},
		wantCalls: 1,
	}, {
		name: "a loader panic is an error, not a crash",
		loader: func(context.Context, cache.SchemaKey) (*schema, error) {
			panic("boom")
		},
		steps:     []step{func(e *env) { _, err := e.s.Get(context.Background(), a); assertErr(e.t, err, "panicked") }},
		wantCalls: 1,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			if tc.loader != nil {
				e = newEnvLoader(t, tc.opts, tc.loader)
			} else {
				e = newEnv(t, tc.opts)
			}
			for _, s := range tc.steps {
				s(e)
			}
			if got := e.l.calls.Load(); got != tc.wantCalls {
				t.Errorf("loader calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.wantStats != nil {
				if got := e.s.Stats(); got != *tc.wantStats {
					t.Errorf("stats = %+v, want %+v", got, *tc.wantStats)
				}
			}
		})
	}
}

// newEnvLoader wraps a custom loader so that calls are still counted.
func newEnvLoader(t *testing.T, o cache.SchemaOptions, load cache.Loader[*schema]) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), l: &mapLoader{}}
	o.Now = e.clock.Now
	s, err := cache.NewSchemas(func(ctx context.Context, k cache.SchemaKey) (*schema, error) {
		e.l.calls.Add(1)
		return load(ctx, k)
	}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e.s = s
	return e
}

func assertErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), substr) {
		t.Fatalf("err = %v, want one containing %q", err, substr)
	}
}

// gatedLoader blocks call n until release(n, value); started receives n.
type gatedLoader struct {
	calls   atomic.Int64
	started chan int
	mu      sync.Mutex
	gates   map[int]chan string
	ctxErrs sync.Map // call → ctx.Err() at release
}

func newGated() *gatedLoader {
	return &gatedLoader{started: make(chan int, 16), gates: map[int]chan string{}}
}

func (g *gatedLoader) gate(n int) chan string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gates[n] == nil {
		g.gates[n] = make(chan string, 1)
	}
	return g.gates[n]
}

func (g *gatedLoader) load(ctx context.Context, k cache.SchemaKey) (*schema, error) {
	n := int(g.calls.Add(1))
	g.started <- n
	select {
	case v := <-g.gate(n):
		g.ctxErrs.Store(n, ctx.Err())
		return &schema{name: v}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gatedLoader) release(n int, v string) { g.gate(n) <- v }

func (g *gatedLoader) waitStarted(t *testing.T, want int) {
	t.Helper()
	select {
	case n := <-g.started:
		if n != want {
			t.Fatalf("loader call %d started, want %d", n, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("loader call %d never started", want)
	}
}

type result struct {
	v   *schema
	err error
}

func goGet(ctx context.Context, s *cache.Schemas[*schema], k cache.SchemaKey) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, err := s.Get(ctx, k)
		ch <- result{v, err}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return")
		return result{}
	}
}

// waitFor polls cond (bounded): the only waiting the tests do.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A fill that started before an invalidation answers its waiters but is not
// stored, and Gets after the invalidation do not join it.
func TestSchemasInvalidateDuringFill(t *testing.T) {
	k := key("a")
	for _, tc := range []struct {
		name string
		inv  func(s *cache.Schemas[*schema])
	}{
		{"Invalidate", func(s *cache.Schemas[*schema]) { s.Invalidate(k) }},
		{"InvalidateDB", func(s *cache.Schemas[*schema]) { s.InvalidateDB(k.Cluster, k.DB) }},
		{"InvalidateAll", func(s *cache.Schemas[*schema]) { s.InvalidateAll() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGated()
			s, err := cache.NewSchemas(g.load, cache.SchemaOptions{Now: newClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			old := goGet(context.Background(), s, k)
			g.waitStarted(t, 1)
			tc.inv(s)
			fresh := goGet(context.Background(), s, k) // must not join the stale fill
			g.waitStarted(t, 2)
			g.release(2, "after DDL")
			if r := recv(t, fresh); r.err != nil || r.v.name != "after DDL" {
				t.Fatalf("fresh Get = %+v", r)
			}
			g.release(1, "before DDL")
			if r := recv(t, old); r.err != nil || r.v.name != "before DDL" {
				t.Fatalf("stale fill's waiter got %+v, want its value", r)
			}
			if v, err := s.Get(context.Background(), k); err != nil || v.name != "after DDL" {
				t.Fatalf("Get after both fills = %v, %v; the stale fill must not be stored", v, err)
			}
			if got := g.calls.Load(); got != 2 {
				t.Fatalf("loader calls = %d, want 2", got)
			}
		})
	}
	t.Run("stale fill alone: next Get refills", func(t *testing.T) {
		g := newGated()
		s, err := cache.NewSchemas(g.load, cache.SchemaOptions{Now: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		old := goGet(context.Background(), s, k)
		g.waitStarted(t, 1)
		s.Invalidate(k)
		g.release(1, "v1")
		if r := recv(t, old); r.err != nil || r.v.name != "v1" {
			t.Fatalf("waiter got %+v", r)
		}
		next := goGet(context.Background(), s, k)
		g.waitStarted(t, 2)
		g.release(2, "v2")
		if r := recv(t, next); r.err != nil || r.v.name != "v2" {
			t.Fatalf("refill got %+v", r)
		}
	})
}

// A waiter whose ctx ends leaves; the fill (on a detached context) goes on
// for the others and is stored.
func TestSchemasWaiterCancel(t *testing.T) {
	g := newGated()
	s, err := cache.NewSchemas(g.load, cache.SchemaOptions{Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := key("a")
	ctx, cancel := context.WithCancel(context.Background())
	first := goGet(ctx, s, k) // starts the fill with a ctx that will end
	g.waitStarted(t, 1)
	second := goGet(context.Background(), s, k)
	waitFor(t, "both Gets waiting", func() bool { return s.Stats().Misses == 2 })
	cancel()
	if r := recv(t, first); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled waiter got %+v, want context.Canceled", r)
	}
	g.release(1, "v1")
	if r := recv(t, second); r.err != nil || r.v.name != "v1" {
		t.Fatalf("other waiter got %+v", r)
	}
	if err, _ := g.ctxErrs.Load(1); err != nil {
		t.Fatalf("fill ctx ended with its starter: %v", err)
	}
	if v, err := s.Get(context.Background(), k); err != nil || v.name != "v1" || g.calls.Load() != 1 {
		t.Fatalf("Get = %v, %v after %d calls; want the stored v1", v, err, g.calls.Load())
	}
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if _, err := s.Get(done, key("b")); !errors.Is(err, context.Canceled) || g.calls.Load() != 1 {
		t.Fatalf("Get with an ended ctx = %v (calls %d); want Canceled and no fill", err, g.calls.Load())
	}
}

func TestSchemasFillTimeoutAndClose(t *testing.T) {
	block := func(ctx context.Context, _ cache.SchemaKey) (*schema, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	s, err := cache.NewSchemas(block, cache.SchemaOptions{FillTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), key("a")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want DeadlineExceeded from the fill timeout", err)
	}
	s.Close()

	s, err = cache.NewSchemas(block, cache.SchemaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := goGet(context.Background(), s, key("a"))
	waitFor(t, "the fill to start", func() bool { return s.Stats().Misses == 1 })
	s.Close()
	if got := recv(t, r); !errors.Is(got.err, context.Canceled) {
		t.Fatalf("Get during Close = %+v, want Canceled", got)
	}
	if _, err := s.Get(context.Background(), key("a")); !errors.Is(err, cache.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
}

// 1,000 concurrent first Gets for one key make exactly one loader call and
// all get the same value.
func TestSchemasConcurrentFirstGets(t *testing.T) {
	const n = 1000
	for _, blocked := range []bool{true, false} {
		t.Run(fmt.Sprintf("loader blocked until all wait=%v", blocked), func(t *testing.T) {
			var calls atomic.Int64
			release := make(chan struct{})
			if !blocked {
				close(release)
			}
			load := func(context.Context, cache.SchemaKey) (*schema, error) {
				calls.Add(1)
				<-release
				return &schema{name: "a"}, nil
			}
			s, err := cache.NewSchemas(load, cache.SchemaOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			start := make(chan struct{})
			got := make([]*schema, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					v, err := s.Get(context.Background(), key("a"))
					if err != nil {
						t.Error(err)
					}
					got[i] = v
				})
			}
			close(start)
			if blocked {
				waitFor(t, "all Gets to wait for the fill", func() bool { return s.Stats().Misses == n })
				close(release)
			}
			wg.Wait()
			if c := calls.Load(); c != 1 {
				t.Fatalf("loader calls = %d, want 1", c)
			}
			for i, v := range got {
				if v != got[0] || v == nil {
					t.Fatalf("Get %d = %p, Get 0 = %p: want one shared value", i, v, got[0])
				}
			}
			if st := s.Stats(); st.Hits+st.Misses != n || st.Fills != 1 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func newHitCache(tb testing.TB) (*cache.Schemas[*schema], cache.SchemaKey) {
	tb.Helper()
	s, err := cache.NewSchemas(func(context.Context, cache.SchemaKey) (*schema, error) {
		return &schema{name: "a"}, nil
	}, cache.SchemaOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	k := cache.SchemaKey{Cluster: "default-cluster", DB: "default", Collection: "books_2024"}
	if _, err := s.Get(context.Background(), k); err != nil {
		tb.Fatal(err)
	}
	return s, k
}

// The hit path is on every validated request: it must not allocate.
func TestSchemaHitAllocs(t *testing.T) {
	s, k := newHitCache(t)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("hit allocates %.2f times, want 0", allocs)
	}
	if st := s.Stats(); st.Misses != 1 {
		t.Fatalf("stats = %+v, want one miss", st)
	}
}

func BenchmarkSchemaHit(b *testing.B) {
	s, k := newHitCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSchemaHitParallel(b *testing.B) {
	s, k := newHitCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, k); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSchemasFailTTL: a failed fill is remembered for FailTTL — Gets in that
// time get its error without a loader call, counted as FailHits, not Hits —
// and tried again after it; without FailTTL every Get calls the loader.
func TestSchemasFailTTL(t *testing.T) {
	e := newEnv(t, cache.SchemaOptions{FailTTL: 2 * time.Second})
	k := key("flaky1")
	for i := 0; i < 3; i++ {
		if _, err := e.s.Get(context.Background(), k); !errors.Is(err, errBoom) {
			t.Fatalf("Get %d: %v, want %v", i, err, errBoom)
		}
	}
	st := e.s.Stats()
	if e.l.calls.Load() != 1 || st.FillErrors != 1 || st.FailHits != 2 || st.Hits != 0 {
		t.Fatalf("after 3 Gets: %d loader calls, %+v; want 1 call, 1 fill error, 2 fail hits", e.l.calls.Load(), st)
	}
	e.clock.Advance(2 * time.Second)
	_, _ = e.s.Get(context.Background(), k)
	if e.l.calls.Load() != 2 {
		t.Fatalf("after FailTTL: %d loader calls, want 2", e.l.calls.Load())
	}
	// An invalidation forgets a failure too.
	e.s.Invalidate(k)
	_, _ = e.s.Get(context.Background(), k)
	if e.l.calls.Load() != 3 {
		t.Fatalf("after Invalidate: %d loader calls, want 3", e.l.calls.Load())
	}

	off := newEnv(t, cache.SchemaOptions{})
	for i := 0; i < 3; i++ {
		_, _ = off.s.Get(context.Background(), k)
	}
	if off.l.calls.Load() != 3 {
		t.Fatalf("without FailTTL: %d loader calls, want 3", off.l.calls.Load())
	}
}

// TestSchemasMaxWait: a Get that misses waits at most MaxWait, then returns
// ErrWaitBudget while the fill goes on; the fill's result is stored for the
// Gets after it. Hits never wait.
func TestSchemasMaxWait(t *testing.T) {
	g := newGated()
	e := newEnvLoader(t, cache.SchemaOptions{MaxWait: 20 * time.Millisecond}, g.load)
	k := key("slow")
	start := time.Now()
	_, err := e.s.Get(context.Background(), k)
	if !errors.Is(err, cache.ErrWaitBudget) {
		t.Fatalf("Get during a stalled fill: %v, want ErrWaitBudget", err)
	}
	if took := time.Since(start); took < 20*time.Millisecond || took > 5*time.Second {
		t.Fatalf("waited %v, want the 20ms budget", took)
	}
	g.waitStarted(t, 1)
	g.release(1, "v1")
	waitFor(t, "the fill to be stored", func() bool {
		v, err := e.s.Get(context.Background(), k)
		return err == nil && v.name == "v1"
	})
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d loader calls, want the one fill", n)
	}
}

// TestSchemasTTLOf: a value TTLOf gives a TTL of its own (a schema read from
// a stand-in source) lives that long; the others live TTL.
func TestSchemasTTLOf(t *testing.T) {
	e := newEnv(t, cache.SchemaOptions{TTL: 30 * time.Second, TTLOf: func(v any) time.Duration {
		if strings.HasPrefix(v.(*schema).name, "short") {
			return 2 * time.Second
		}
		return 0
	}})
	for _, c := range []string{"short1", "long1"} {
		if _, err := e.s.Get(context.Background(), key(c)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(2 * time.Second)
	for _, c := range []string{"short1", "long1"} {
		_, _ = e.s.Get(context.Background(), key(c))
	}
	if n := e.l.calls.Load(); n != 3 {
		t.Fatalf("after 2 s: %d loader calls, want 3 (short1 refilled, long1 a hit)", n)
	}
}
