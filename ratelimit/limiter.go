package ratelimit

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Level is one node's limits: rates and force-deny switches.
type Level struct {
	Rates Rates
	// DenyWriting, DenyReading and DenyDDL refuse every call of the class with
	// QuotaExceeded (Milvus: limitWriting.forceDeny, database.force.deny.*).
	DenyWriting, DenyReading, DenyDDL bool
}

func (l *Level) denies(c class) bool {
	switch c {
	case writing:
		return l.DenyWriting
	case reading:
		return l.DenyReading
	}
	return l.DenyDDL
}

// Rules are the configured limits. A "*" name in Databases, Collections
// ("db/coll", either part "*") or Partitions ("db/coll/part") gives every
// matching object its own limit; an exact name wins over "*".
type Rules struct {
	Edge        Level
	Databases   map[string]Level
	Collections map[string]Level
	Partitions  map[string]Level
	Callers     []CallerRule
	// Properties reads Milvus's collection properties (collection.*Rate.max.*)
	// and database properties (database.force.deny.*) with the schema; they
	// win over Collections and add to Databases.
	Properties bool
}

// CallerRule limits the calls of the callers it matches; exactly one of
// User, Role, APIKey and JWTGroup is set. User "*" gives every user a bucket
// of their own; otherwise every call the rule matches shares one bucket.
type CallerRule struct {
	User, Role, APIKey, JWTGroup string
	Rates                        Rates
}

// key is the bucket the rule charges for caller c, "" when it does not match.
func (r *CallerRule) key(c *Caller) string {
	switch {
	case r.User == "*" && c.User != "":
		// Not "user:": a rule for this user by name has a bucket of its own.
		return "user*:" + c.User
	case r.User != "":
		if c.User == r.User {
			return "user:" + c.User
		}
	case r.Role != "":
		if slices.Contains(c.Roles, r.Role) {
			return "role:" + r.Role
		}
	case r.APIKey != "":
		if c.APIKey == r.APIKey {
			return "key:" + r.APIKey
		}
	case r.JWTGroup != "":
		if slices.Contains(c.Groups, r.JWTGroup) {
			return "group:" + r.JWTGroup
		}
	}
	return ""
}

// Properties gives Milvus's properties of a collection or database, as the
// backend that serves it reports them (cached with the schema). An error
// leaves the call to the configured limits.
type Properties interface {
	CollectionProperties(ctx context.Context, db, collection string) (map[string]string, error)
	DatabaseProperties(ctx context.Context, db string) (map[string]string, error)
}

// Limiter checks calls against the rules; safe for concurrent use.
type Limiter struct {
	log    *slog.Logger
	props  Properties
	rules  atomic.Pointer[Rules]
	shared atomic.Pointer[Shared]
	now    func() time.Time

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
	pruned  time.Time

	stats stats
}

type bucketKey struct {
	scope Scope
	typ   RateType
	name  string
	// share marks a shared limit's local fallback bucket.
	share bool
}

// New returns a limiter; props may be nil (no properties).
func New(log *slog.Logger, props Properties, r *Rules) *Limiter {
	l := &Limiter{log: log, props: props, now: time.Now, buckets: map[bucketKey]*bucket{}}
	l.SetRules(r)
	return l
}

// SetRules replaces the rules (config reload). Buckets keep their tokens; a
// changed rate applies from the next call.
func (l *Limiter) SetRules(r *Rules) { l.rules.Store(r) }

// SetShared makes the limits shared through the rate limit service s (nil:
// local only).
func (l *Limiter) SetShared(s *Shared) { l.shared.Store(s) }

// Active reports whether any rule can limit a call.
func (l *Limiter) Active() bool {
	r := l.rules.Load()
	return r != nil && (r.Properties || r.Edge.Rates.Any() || r.Edge.DenyWriting || r.Edge.DenyReading || r.Edge.DenyDDL ||
		len(r.Databases) > 0 || len(r.Collections) > 0 || len(r.Partitions) > 0 || len(r.Callers) > 0)
}

// limit is one level that applies to a call.
type limit struct {
	scope Scope
	name  string
	typ   RateType // the type whose limit applies (Upsert falls back to Insert)
	rate  float64  // per second, in cost units; 0 denies
	deny  bool     // force deny (rate ignored)
}

// Check admits c, taking its cost from every level that limits it, or
// refuses it with Milvus's answer (nil: admitted). Levels are checked in
// Milvus's order — edge, database, collection, partition — then callers;
// tokens taken are given back when a later level refuses.
func (l *Limiter) Check(ctx context.Context, c *Call) *Refusal {
	r := l.rules.Load()
	if r == nil {
		return nil
	}
	var buf [8]limit
	lims := l.applicable(ctx, r, c, buf[:0])
	if len(lims) == 0 {
		return nil
	}
	for _, lim := range lims {
		if lim.deny {
			l.stats.count(lim.scope, c.Type, false)
			l.stats.call(c.Type, false)
			return denyRefusal(lim.scope, c.Type)
		}
		if lim.rate == 0 {
			l.stats.count(lim.scope, c.Type, false)
			l.stats.call(c.Type, false)
			return zeroRefusal(lim.scope, lim.typ)
		}
	}
	var ref *Refusal
	if s := l.shared.Load(); s != nil {
		ref = s.check(ctx, l, lims, c)
	} else {
		ref = l.checkLocal(lims, c.Cost, 1)
	}
	if ref != nil {
		l.stats.count(ref.Scope, c.Type, false)
		l.stats.call(c.Type, false)
		return ref
	}
	l.stats.call(c.Type, true)
	for i, lim := range lims {
		// Once per level: a call naming several partitions, or matched by
		// several caller rules, is one admitted call at that level.
		if i == 0 || lims[i-1].scope != lim.scope {
			l.stats.count(lim.scope, c.Type, true)
		}
	}
	return nil
}

// checkLocal charges the local buckets; share divides every rate (a shared
// limit's fallback: each of n replicas holds 1/n).
func (l *Limiter) checkLocal(lims []limit, cost float64, share int) *Refusal {
	now := l.now()
	// Every bucket charged must be given back on a refusal, however many
	// levels apply (a call may name many partitions or match many caller rules).
	var buf [8]*bucket
	taken := buf[:0]
	for _, lim := range lims {
		rate := lim.rate / float64(share)
		b := l.bucket(bucketKey{scope: lim.scope, typ: lim.typ, name: lim.name, share: share > 1}, rate, now)
		if !b.allow(now, cost) {
			for _, t := range taken {
				t.cancel(cost)
			}
			return rateRefusal(lim.scope, lim.typ, rate)
		}
		taken = append(taken, b)
	}
	return nil
}

func (l *Limiter) bucket(k bucketKey, rate float64, now time.Time) *bucket {
	l.mu.Lock()
	b := l.buckets[k]
	if b == nil {
		b = newBucket(rate, now)
		l.buckets[k] = b
		if len(l.buckets) > maxBuckets && now.Sub(l.pruned) > time.Minute {
			l.pruneLocked(now)
		}
	}
	l.mu.Unlock()
	b.setRate(now, rate)
	return b
}

// maxBuckets bounds the bucket map: past it, buckets idle for a minute (full
// again at any rate ≥ 1/60 per second) are dropped once a minute.
const maxBuckets = 10_000

func (l *Limiter) pruneLocked(now time.Time) {
	l.pruned = now
	for k, b := range l.buckets {
		if now.Sub(b.idleSince()) > time.Minute {
			delete(l.buckets, k)
		}
	}
}

// applicable lists the levels that limit c, in Milvus's order.
func (l *Limiter) applicable(ctx context.Context, r *Rules, c *Call, out []limit) []limit {
	t := c.Type
	add := func(s Scope, name string, lv *Level) {
		if lv == nil {
			return
		}
		if lv.denies(t.class()) {
			out = append(out, limit{scope: s, name: name, typ: t, deny: true})
			return
		}
		if typ, v := lv.Rates.of(t); v != nil {
			out = append(out, limit{scope: s, name: name, typ: typ, rate: perSecond(typ, *v)})
		}
	}
	add(ScopeEdge, "", &r.Edge)
	db := r.database(c.DB)
	if r.Properties && l.props != nil {
		if p, err := l.props.DatabaseProperties(ctx, c.DB); err == nil {
			db = withDenyProperties(db, p)
		}
	}
	add(ScopeDatabase, c.DB, db)
	if c.Collection != "" && t != DDLDB {
		name := c.DB + "/" + c.Collection
		coll := r.collection(c.DB, c.Collection)
		if r.Properties && l.props != nil {
			if p, err := l.props.CollectionProperties(ctx, c.DB, c.Collection); err == nil {
				coll = withRateProperties(coll, p)
			}
		}
		add(ScopeCollection, name, coll)
		if len(r.Partitions) > 0 {
			parts := c.Partitions
			if len(parts) == 0 && t.class() == writing {
				parts = []string{"_default"}
			}
			for _, p := range parts {
				add(ScopePartition, name+"/"+p, r.partition(c.DB, c.Collection, p))
			}
		}
	}
	for i := range r.Callers {
		cr := &r.Callers[i]
		if k := cr.key(&c.Caller); k != "" {
			if typ, v := cr.Rates.of(t); v != nil {
				out = append(out, limit{scope: ScopeCaller, name: k, typ: typ, rate: perSecond(typ, *v)})
			}
		}
	}
	return out
}

// of returns the limit on t: Upsert without its own limit is charged as an
// insert, as Milvus charges it.
func (r *Rates) of(t RateType) (RateType, *float64) {
	if v := r[t]; v != nil {
		return t, v
	}
	if t == DMLUpsert && r[DMLInsert] != nil {
		return DMLInsert, r[DMLInsert]
	}
	return t, nil
}

func (r *Rules) database(db string) *Level {
	if lv, ok := r.Databases[db]; ok {
		return &lv
	}
	if lv, ok := r.Databases["*"]; ok {
		return &lv
	}
	return nil
}

func (r *Rules) collection(db, coll string) *Level {
	for _, k := range [...]string{db + "/" + coll, db + "/*", "*/" + coll, "*/*"} {
		if lv, ok := r.Collections[k]; ok {
			return &lv
		}
	}
	return nil
}

func (r *Rules) partition(db, coll, part string) *Level {
	for _, k := range [...]string{db + "/" + coll + "/" + part, db + "/" + coll + "/*", db + "/*/*", "*/*/*"} {
		if lv, ok := r.Partitions[k]; ok {
			return &lv
		}
	}
	return nil
}

// withRateProperties lays a collection's rate properties over its level.
func withRateProperties(lv *Level, props map[string]string) *Level {
	var out *Level
	for k, t := range collectionProperties {
		s, ok := props[k]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v >= 0) { // NaN too: a NaN rate would never limit again
			continue // Milvus refuses such values at AlterCollection
		}
		if out == nil {
			out = &Level{}
			if lv != nil {
				*out = *lv
			}
		}
		out.Rates[t] = &v
	}
	if out == nil {
		return lv
	}
	return out
}

// withDenyProperties adds a database's force-deny properties to its level.
func withDenyProperties(lv *Level, props map[string]string) *Level {
	var out *Level
	for k, c := range denyProperties {
		if v, _ := strconv.ParseBool(props[k]); !v {
			continue
		}
		if out == nil {
			out = &Level{}
			if lv != nil {
				*out = *lv
			}
		}
		switch c {
		case writing:
			out.DenyWriting = true
		case reading:
			out.DenyReading = true
		default:
			out.DenyDDL = true
		}
	}
	if out == nil {
		return lv
	}
	return out
}
