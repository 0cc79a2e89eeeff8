package authz

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestGuard(c *fakeClock) *Guard {
	g := NewGuard(GuardConfig{Concurrency: 1, Failures: 3, Backoff: time.Second, MaxBackoff: 8 * time.Second})
	g.now = c.now
	return g
}

func TestGuardBacksOffPerUserAndAddress(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	g := newTestGuard(c)
	ctx := context.Background()
	checks := 0
	wrong := func() bool { checks++; return false }
	right := func() bool { checks++; return true }
	// Three failures for alice from a: the budget.
	for i := range 3 {
		if ok, th := g.check(ctx, "alice", "a", wrong); ok || th {
			t.Fatalf("attempt %d: ok=%v throttled=%v", i, ok, th)
		}
	}
	// Now alice is refused without a check, from any address, even with the
	// right password; and address a is refused for any user.
	if ok, th := g.check(ctx, "alice", "b", right); ok || !th {
		t.Fatalf("alice from b during back-off: ok=%v throttled=%v", ok, th)
	}
	if ok, th := g.check(ctx, "bob", "a", right); ok || !th {
		t.Fatalf("bob from a during back-off: ok=%v throttled=%v", ok, th)
	}
	if checks != 3 {
		t.Fatalf("%d bcrypt checks, want 3", checks)
	}
	// Another user from another address is untouched.
	if ok, th := g.check(ctx, "carol", "c", right); !ok || th {
		t.Fatalf("carol: ok=%v throttled=%v", ok, th)
	}
	// After the first back-off (1 s) one more try; failing doubles it.
	c.add(1100 * time.Millisecond)
	if ok, th := g.check(ctx, "alice", "a", wrong); ok || th {
		t.Fatalf("after 1 s: ok=%v throttled=%v", ok, th)
	}
	c.add(1100 * time.Millisecond)
	if _, th := g.check(ctx, "alice", "z", right); !th {
		t.Fatal("back-off did not double to 2 s")
	}
	c.add(time.Second)
	// A success clears both counts.
	if ok, th := g.check(ctx, "alice", "a", right); !ok || th {
		t.Fatalf("right password after back-off: ok=%v throttled=%v", ok, th)
	}
	if ok, _ := g.check(ctx, "bob", "a", right); !ok {
		t.Fatal("address a still backing off after a success")
	}
	st := g.Stats()
	if st.Checked != 7 || st.Throttled != 3 || st.Failed != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGuardBackoffIsBounded(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	g := newTestGuard(c)
	for range 60 {
		c.add(time.Hour / 8) // past any back-off, within the 15 min that keep failures
		g.check(context.Background(), "u", "", func() bool { return false })
	}
	g.mu.Lock()
	s := g.users["u"]
	g.mu.Unlock()
	if s == nil || s.until.Sub(c.now()) > 8*time.Second {
		t.Fatalf("back-off beyond max: %+v", s)
	}
}

func TestGuardCapsConcurrency(t *testing.T) {
	g := NewGuard(GuardConfig{Concurrency: 2, Failures: 1000})
	var in, peak atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.check(context.Background(), "u"+string(rune('a'+i)), "", func() bool {
				n := in.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				in.Add(-1)
				return false
			})
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrent checks %d, want ≤ 2", p)
	}
}

func TestGuardGivesUpWithTheCaller(t *testing.T) {
	g := NewGuard(GuardConfig{Concurrency: 1})
	g.sem <- struct{}{} // the one slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, th := g.check(ctx, "u", "a", func() bool { t.Fatal("checked"); return true }); ok || !th {
		t.Fatalf("ok=%v throttled=%v", ok, th)
	}
}
