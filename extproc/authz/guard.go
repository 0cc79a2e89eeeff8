package authz

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Guard bounds what password guessing can cost and find. bcrypt is the
// expensive part of a login (~90 ms of CPU at cost 10): at most Concurrency
// checks run at once, so guesses cannot take every core from the calls of
// users already logged in (whose credentials the credential cache holds, and
// who never reach bcrypt or the guard). Each user name and each client
// address has a failure budget: after Failures failed logins in a row, its
// next attempts are refused at once, without a bcrypt check, for a back-off
// that doubles with every further failure up to MaxBackoff. A success
// clears the user's and the address's count. Refusals say what a wrong
// password says, so a guesser learns nothing from them.
type Guard struct {
	sem        chan struct{}
	failures   int
	backoff    time.Duration
	maxBackoff time.Duration
	now        func() time.Time

	mu    sync.Mutex
	users map[string]*strikes
	addrs map[string]*strikes

	checked, throttled, failed atomic.Uint64
}

// GuardConfig sizes a Guard.
type GuardConfig struct {
	Concurrency int           // bcrypt checks at once; < 1 means 1
	Failures    int           // failed logins before back-off; < 1 means 5
	Backoff     time.Duration // first back-off; 0 means 1 s
	MaxBackoff  time.Duration // longest back-off; 0 means 1 min
}

type strikes struct {
	fails int
	until time.Time // refused before this
	last  time.Time
}

// forget is how long a quiet name or address keeps its failures.
const forget = 15 * time.Minute

// maxTracked bounds each map; past it, entries quiet for a minute go.
const maxTracked = 100_000

// NewGuard returns a guard.
func NewGuard(c GuardConfig) *Guard {
	g := &Guard{
		sem: make(chan struct{}, max(c.Concurrency, 1)), failures: c.Failures,
		backoff: c.Backoff, maxBackoff: c.MaxBackoff, now: time.Now,
		users: map[string]*strikes{}, addrs: map[string]*strikes{},
	}
	if g.failures < 1 {
		g.failures = 5
	}
	if g.backoff <= 0 {
		g.backoff = time.Second
	}
	if g.maxBackoff <= 0 {
		g.maxBackoff = time.Minute
	}
	return g
}

// GuardStats are the guard's counts.
type GuardStats struct {
	// Checked logins ran bcrypt; Throttled were refused by a back-off
	// without it; Failed are the checked ones that failed.
	Checked   uint64 `json:"checked"`
	Throttled uint64 `json:"throttled"`
	Failed    uint64 `json:"failed"`
}

// Stats returns the counts.
func (g *Guard) Stats() GuardStats {
	return GuardStats{Checked: g.checked.Load(), Throttled: g.throttled.Load(), Failed: g.failed.Load()}
}

// check runs verify (a bcrypt comparison) for user from addr unless either
// is backing off, within the concurrency cap. ok is verify's result;
// throttled reports a refusal without a check.
func (g *Guard) check(ctx context.Context, user, addr string, verify func() bool) (ok, throttled bool) {
	if g == nil {
		return verify(), false
	}
	now := g.now()
	g.mu.Lock()
	blocked := g.blockedLocked(g.users, user, now) || g.blockedLocked(g.addrs, addr, now)
	g.mu.Unlock()
	if blocked {
		g.throttled.Add(1)
		return false, true
	}
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		g.throttled.Add(1)
		return false, true
	}
	ok = verify()
	<-g.sem
	g.checked.Add(1)
	now = g.now()
	g.mu.Lock()
	if ok {
		delete(g.users, user)
		delete(g.addrs, addr)
	} else {
		g.failed.Add(1)
		g.strikeLocked(g.users, user, now)
		g.strikeLocked(g.addrs, addr, now)
	}
	g.mu.Unlock()
	return ok, false
}

func (g *Guard) blockedLocked(m map[string]*strikes, k string, now time.Time) bool {
	s := m[k]
	if s == nil || k == "" {
		return false
	}
	if now.Sub(s.last) > forget {
		delete(m, k)
		return false
	}
	return now.Before(s.until)
}

func (g *Guard) strikeLocked(m map[string]*strikes, k string, now time.Time) {
	if k == "" {
		return
	}
	s := m[k]
	if s == nil || now.Sub(s.last) > forget {
		if len(m) >= maxTracked {
			for k2, s2 := range m {
				if now.Sub(s2.last) > time.Minute {
					delete(m, k2)
				}
			}
		}
		s = &strikes{}
		m[k] = s
	}
	s.fails++
	s.last = now
	if over := s.fails - g.failures; over >= 0 {
		d := g.maxBackoff
		if over < 30 {
			d = min(g.backoff<<over, g.maxBackoff)
		}
		s.until = now.Add(d)
	}
}
