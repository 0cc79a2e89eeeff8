package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the tests move by hand; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeProperties is a Properties that answers from maps; err, when set, is
// every call's answer. Safe for concurrent reads.
type fakeProperties struct {
	coll map[string]map[string]string // by "db/collection"
	db   map[string]map[string]string
	err  error
}

func (p *fakeProperties) CollectionProperties(_ context.Context, db, coll string) (map[string]string, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.coll[db+"/"+coll], nil
}

func (p *fakeProperties) DatabaseProperties(_ context.Context, db string) (map[string]string, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.db[db], nil
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestLimiter returns a limiter on a fake clock; props may be nil.
func newTestLimiter(t *testing.T, props Properties, r *Rules) (*Limiter, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	l := New(discardLog(), props, r)
	l.now = clk.now
	return l, clk
}

// lv builds a level from rate type/value pairs.
func lv(pairs ...any) Level {
	var l Level
	for i := 0; i < len(pairs); i += 2 {
		l.Rates = l.Rates.Set(pairs[i].(RateType), toFloat(pairs[i+1]))
	}
	return l
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	panic("rate must be int or float64")
}

// query is a Query call (cost 1) on db/coll.
func query(db, coll string) Call { return Call{Type: DQLQuery, Cost: 1, DB: db, Collection: coll} }

// search is a Search call of nq vectors on db/coll.
func search(db, coll string, nq int64) Call {
	return Call{Type: DQLSearch, Cost: Cost(DQLSearch, 0, nq), DB: db, Collection: coll}
}

// insert is an Insert call of size bytes on db/coll.
func insert(db, coll string, size int64) Call {
	return Call{Type: DMLInsert, Cost: Cost(DMLInsert, size, 0), DB: db, Collection: coll}
}

func mustAdmit(t *testing.T, l *Limiter, c Call, what string) {
	t.Helper()
	if ref := l.Check(context.Background(), &c); ref != nil {
		t.Fatalf("%s: refused (%s %s, code %d): %s", what, ref.Scope, ref.Type, ref.Code, ref.Reason)
	}
}

func mustRefuse(t *testing.T, l *Limiter, c Call, what string) *Refusal {
	t.Helper()
	ref := l.Check(context.Background(), &c)
	if ref == nil {
		t.Fatalf("%s: admitted, want a refusal", what)
	}
	return ref
}

// burst counts the calls c admitted in a row at the current instant, up to
// limit; a bucket of whole rate r admits r+1 unit calls (the last one passes
// at 0 tokens and takes the bucket to -1).
func burst(l *Limiter, c Call, limit int) int {
	for i := range limit {
		if l.Check(context.Background(), &c) != nil {
			return i
		}
	}
	return limit
}
