package cache

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// ErrNotFound marks an unknown collection or database. A Loader returns an
// error wrapping it (or one SchemaOptions.IsNotFound accepts); Get then
// remembers the answer for NegativeTTL and returns an error wrapping it.
var ErrNotFound = errors.New("collection not found")

// ErrWaitBudget is returned (wrapped) by a Get that waited
// SchemaOptions.MaxWait for a fill that is still running.
var ErrWaitBudget = errors.New("schema fill slower than the wait budget")

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("schema cache closed")

// SchemaKey names one collection on one QueryNode cluster. Callers normalise
// DB first (Milvus treats "" as "default"; the cache does not).
type SchemaKey struct{ Cluster, DB, Collection string }

// String renders the key for messages.
func (k SchemaKey) String() string { return k.Cluster + "/" + k.DB + "/" + k.Collection }

// Loader fills one key from the backend. It must honour ctx (the fill's own
// context: detached from callers, bounded by FillTimeout, canceled by Close).
type Loader[T any] func(ctx context.Context, k SchemaKey) (T, error)

// SchemaOptions configures NewSchemas. Zero values take the defaults.
type SchemaOptions struct {
	// MaxEntries is the expected number of entries; it sizes ristretto's
	// admission counters (10×). Default 10,000.
	MaxEntries int64
	// MaxCost bounds the summed Cost of stored entries. Default MaxEntries
	// (every entry costs 1). Set it to a byte budget when Cost returns bytes.
	MaxCost int64
	// Cost returns the cost of a loaded value (it is called with the T the
	// Loader returned, once per stored fill). Default: 1. Negative entries
	// cost 1.
	Cost func(value any) int64
	// TTL bounds staleness from DDL that bypassed the edge. Default 30s.
	TTL time.Duration
	// TTLOf, when set and positive for a loaded value, is that value's TTL
	// instead of TTL (a value the Loader got from a stand-in source lives
	// shorter). Default nil.
	TTLOf func(value any) time.Duration
	// NegativeTTL is how long an unknown collection is remembered. Default
	// 2s; negative disables negative caching.
	NegativeTTL time.Duration
	// FillTimeout bounds one Loader call. Default 5s.
	FillTimeout time.Duration
	// MaxWait bounds how long a Get that misses waits for the fill: past it
	// the Get returns an error wrapping ErrWaitBudget and the fill goes on
	// for later Gets. Hits never start the timer. Default 0: no bound (the
	// caller's ctx and FillTimeout only).
	MaxWait time.Duration
	// FailTTL is how long a failed fill (any error but not-found) is
	// remembered: Gets in that time get its error at once instead of each
	// paying a call to a backend that is down, slow or refusing the edge.
	// Default 0: not remembered.
	FailTTL time.Duration
	// IsNotFound says a Loader error means "no such collection or database".
	// Default: errors.Is(err, ErrNotFound).
	IsNotFound func(error) bool
	// Now is the clock for TTLs. Default time.Now.
	Now func() time.Time
}

// SchemaStats are cumulative counters; HitRatio derives the exported ratio.
type SchemaStats struct {
	Hits          uint64 // Gets answered from the cache (negative entries included, failures not)
	FailHits      uint64 // Gets answered with a remembered fill failure (FailTTL)
	Misses        uint64 // Gets that waited for a fill (started or joined)
	Fills         uint64 // Loader calls completed
	FillErrors    uint64 // Loader calls that failed with anything but not-found
	Evictions     uint64 // entries ristretto dropped for space
	Invalidations uint64 // calls to Invalidate, InvalidateDB and InvalidateAll
}

// HitRatio is Hits/(Hits+Misses), 0 before the first Get.
func (s SchemaStats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Schemas caches collection schemas (any T the Loader returns) by SchemaKey,
// as the Milvus Proxy's meta cache does (reference/milvus-proxy.md §5), plus
// a TTL because DDL may bypass the edge:
//   - a miss starts one fill per key; concurrent Gets wait for it and share
//     its result; a waiter whose ctx ends leaves, the fill goes on;
//   - unknown collections are remembered for NegativeTTL; other errors are
//     returned to that fill's waiters and never stored;
//   - each fill carries the generation it started in; an invalidation that
//     covers a running fill marks it stale and detaches it, so its result goes
//     to its waiters but is not stored, and later Gets start a fresh fill.
//     Stored entries carry the epoch and database generation of their fill;
//     InvalidateAll and InvalidateDB bump those, which turns entries into
//     misses without iterating ristretto.
type Schemas[T any] struct {
	c      *ristretto.Cache[uint64, *entry[T]]
	seed   maphash.Seed
	load   Loader[T]
	o      SchemaOptions
	hits   atomic.Uint64
	fhits  atomic.Uint64
	misses atomic.Uint64
	fills  atomic.Uint64
	errs   atomic.Uint64
	evicts atomic.Uint64
	invals atomic.Uint64

	// epoch and dbGens are written under mu and read lock-free on hits.
	epoch  atomic.Uint64
	dbGens atomic.Pointer[map[dbKey]uint64] // copy on write

	closing context.Context // canceled by Close: stops running fills
	stop    context.CancelFunc
	wg      sync.WaitGroup // running fills

	mu      sync.Mutex
	flights map[SchemaKey]*flight[T] // the current fill per key
	closed  bool
}

type dbKey struct{ cluster, db string }

// entry is one stored answer. err != nil makes it negative; failed marks a
// remembered fill failure (FailTTL).
type entry[T any] struct {
	key     SchemaKey // checked on hit: the ristretto key is a 64-bit hash
	val     T
	err     error
	failed  bool
	expires time.Time
	epoch   uint64
	dbGen   uint64
}

// flight is one running fill; val and err are set before done is closed.
type flight[T any] struct {
	key   SchemaKey
	hash  uint64
	start time.Time
	epoch uint64
	dbGen uint64
	stale bool // guarded by Schemas.mu: an invalidation covered this fill
	done  chan struct{}
	val   T
	err   error
}

// NewSchemas returns a schema cache filled by load.
func NewSchemas[T any](load Loader[T], o SchemaOptions) (*Schemas[T], error) {
	if load == nil {
		return nil, errors.New("schema cache: nil loader")
	}
	o = o.withDefaults()
	s := &Schemas[T]{seed: maphash.MakeSeed(), load: load, o: o, flights: map[SchemaKey]*flight[T]{}}
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry[T]]{
		NumCounters:        o.MaxEntries * 10,
		MaxCost:            o.MaxCost,
		BufferItems:        64,
		IgnoreInternalCost: true, // MaxCost counts entries or the caller's bytes only
		OnEvict:            func(*ristretto.Item[*entry[T]]) { s.evicts.Add(1) },
	})
	if err != nil {
		return nil, fmt.Errorf("schema cache: %w", err)
	}
	s.c = c
	s.closing, s.stop = context.WithCancel(context.Background())
	return s, nil
}

func (o SchemaOptions) withDefaults() SchemaOptions {
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10_000
	}
	if o.MaxCost <= 0 {
		o.MaxCost = o.MaxEntries
	}
	if o.Cost == nil {
		o.Cost = func(any) int64 { return 1 }
	}
	if o.TTL <= 0 {
		o.TTL = 30 * time.Second
	}
	if o.NegativeTTL == 0 {
		o.NegativeTTL = 2 * time.Second
	}
	if o.FillTimeout <= 0 {
		o.FillTimeout = 5 * time.Second
	}
	if o.IsNotFound == nil {
		o.IsNotFound = func(err error) bool { return errors.Is(err, ErrNotFound) }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Get returns the value for k: from the cache, or from the one fill running
// for k (starting it if none is). An unknown collection is an error wrapping
// ErrNotFound. A caller whose ctx ends gets ctx.Err(); the fill continues.
func (s *Schemas[T]) Get(ctx context.Context, k SchemaKey) (T, error) {
	h := s.hash(k)
	if e, ok := s.c.Get(h); ok && s.fresh(e, k) {
		return s.hit(e)
	}
	return s.miss(ctx, k, h)
}

func (s *Schemas[T]) hit(e *entry[T]) (T, error) {
	if e.failed {
		s.fhits.Add(1)
	} else {
		s.hits.Add(1)
	}
	return e.val, e.err
}

func (s *Schemas[T]) miss(ctx context.Context, k SchemaKey, h uint64) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return zero, ErrClosed
	}
	f := s.flights[k]
	if f == nil {
		// A fill may have stored k and left between the lock-free lookup
		// and here: fills store before they leave flights, so look again.
		if e, ok := s.c.Get(h); ok && s.fresh(e, k) {
			s.mu.Unlock()
			return s.hit(e)
		}
		f = s.startLocked(ctx, k, h)
	}
	s.mu.Unlock()
	s.misses.Add(1)
	var budget <-chan time.Time
	if s.o.MaxWait > 0 {
		t := time.NewTimer(s.o.MaxWait)
		defer t.Stop()
		budget = t.C
	}
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-budget:
		return zero, fmt.Errorf("%s: %w (%s)", k, ErrWaitBudget, s.o.MaxWait)
	}
}

// startLocked registers and starts a fill for k. The fill keeps the values of
// the caller's ctx (trace ids) but not its cancellation.
func (s *Schemas[T]) startLocked(ctx context.Context, k SchemaKey, h uint64) *flight[T] {
	f := &flight[T]{key: k, hash: h, start: s.o.Now(), epoch: s.epoch.Load(), dbGen: s.dbGen(k), done: make(chan struct{})}
	s.flights[k] = f
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.FillTimeout)
	stopOnClose := context.AfterFunc(s.closing, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		v, err := s.call(fctx, k)
		stopOnClose()
		cancel()
		s.finish(f, v, err)
	}()
	return f
}

// call runs the loader; a panic becomes an error so waiters are released.
func (s *Schemas[T]) call(ctx context.Context, k SchemaKey) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("schema loader panicked: %v", r)
		}
	}()
	return s.load(ctx, k)
}

// finish publishes a fill: store (unless stale), make the store visible,
// leave flights, then release the waiters, so that a Get after any waiter
// returned either hits or joins a newer fill.
func (s *Schemas[T]) finish(f *flight[T], v T, err error) {
	s.fills.Add(1)
	e := &entry[T]{key: f.key, epoch: f.epoch, dbGen: f.dbGen}
	ttl, cost := s.o.TTL, int64(1)
	switch {
	case err == nil:
		e.val, f.val = v, v
		cost = s.o.Cost(v)
		if s.o.TTLOf != nil {
			if d := s.o.TTLOf(v); d > 0 {
				ttl = d
			}
		}
	case s.o.IsNotFound(err):
		if !errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		e.err, f.err = err, err
		ttl = s.o.NegativeTTL
	default:
		s.errs.Add(1)
		f.err = fmt.Errorf("schema of %s: %w", f.key, err)
		e.err, e.failed = f.err, true
		ttl = s.o.FailTTL // 0: not stored
	}
	s.mu.Lock()
	stored := false
	if e != nil && ttl > 0 && !f.stale && !s.closed {
		e.expires = f.start.Add(ttl)
		// No ristretto TTL: the injected clock decides freshness, MaxCost
		// bounds memory, and a ristretto TTL would cost a second clock read
		// on every hit (half the hit time on this VM's clock).
		stored = s.c.Set(f.hash, e, cost)
	}
	s.mu.Unlock()
	if stored {
		s.c.Wait() // Close waits for this goroutine before closing c
	}
	s.mu.Lock()
	if s.flights[f.key] == f {
		delete(s.flights, f.key)
	}
	s.mu.Unlock()
	close(f.done)
}

// Invalidate drops k. A fill for k that is running now is not stored; Gets
// from now on start a new fill.
func (s *Schemas[T]) Invalidate(k SchemaKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.invals.Add(1)
	s.detachLocked(func(fk SchemaKey) bool { return fk == k })
	// Del removes at once and queues behind any Set still in ristretto's buffer.
	s.c.Del(s.hash(k))
}

// InvalidateDB drops every entry of one database (DropDatabase).
func (s *Schemas[T]) InvalidateDB(cluster, db string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.invals.Add(1)
	d := dbKey{cluster, db}
	next := map[dbKey]uint64{}
	if old := s.dbGens.Load(); old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[d]++
	s.dbGens.Store(&next)
	s.detachLocked(func(fk SchemaKey) bool { return fk.Cluster == cluster && fk.DB == db })
}

// InvalidateAll drops every entry.
func (s *Schemas[T]) InvalidateAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.invals.Add(1)
	s.epoch.Add(1)
	s.detachLocked(func(SchemaKey) bool { return true })
}

// detachLocked marks matching running fills stale and forgets them, so their
// results are not stored and new Gets do not join them.
func (s *Schemas[T]) detachLocked(match func(SchemaKey) bool) {
	for k, f := range s.flights {
		if match(k) {
			f.stale = true
			delete(s.flights, k)
		}
	}
}

// Stats returns the counters.
func (s *Schemas[T]) Stats() SchemaStats {
	return SchemaStats{
		Hits: s.hits.Load(), FailHits: s.fhits.Load(), Misses: s.misses.Load(), Fills: s.fills.Load(),
		FillErrors: s.errs.Load(), Evictions: s.evicts.Load(), Invalidations: s.invals.Load(),
	}
}

// Close cancels running fills (their waiters get the error), waits for them
// and stops ristretto. Call it once the cache's users are done.
func (s *Schemas[T]) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.c.Close()
}

// fresh says a stored entry answers k now.
func (s *Schemas[T]) fresh(e *entry[T], k SchemaKey) bool {
	return e.key == k && s.o.Now().Before(e.expires) &&
		e.epoch == s.epoch.Load() && e.dbGen == s.dbGen(k)
}

func (s *Schemas[T]) dbGen(k SchemaKey) uint64 {
	m := s.dbGens.Load()
	if m == nil {
		return 0
	}
	return (*m)[dbKey{k.Cluster, k.DB}]
}

// hash is the ristretto key. Collisions are harmless: entries carry their key.
func (s *Schemas[T]) hash(k SchemaKey) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(k.Cluster)
	h.WriteByte(0)
	h.WriteString(k.DB)
	h.WriteByte(0)
	h.WriteString(k.Collection)
	return h.Sum64()
}
