package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/milvus-edge/milvus-edge/extproc/validate"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/ratelimit"
)

// limitProps gives the limiter Milvus's properties from the schema cache of
// the cluster each call is routed to.
type limitProps struct {
	s *SchemaStore
	r *Router
}

// errBadName skips a lookup for a name Milvus refuses: the call gets
// Milvus's own name error, and the backend is not asked about it.
var errBadName = errors.New("not a valid Milvus name")

func (p limitProps) CollectionProperties(ctx context.Context, db, coll string) (map[string]string, error) {
	if !validate.ValidNames(db, coll) {
		return nil, errBadName
	}
	return p.s.CollectionProperties(ctx, p.r.Cluster(db, coll), db, coll)
}

func (p limitProps) DatabaseProperties(ctx context.Context, db string) (map[string]string, error) {
	if !validate.ValidDatabase(db) {
		return nil, errBadName
	}
	return p.s.DatabaseProperties(ctx, p.r.Cluster(db, ""), db)
}

// Limits is the rate limiter and its shared service, rebuilt on reload.
type Limits struct {
	log     *slog.Logger
	Limiter *ratelimit.Limiter
	shared  *ratelimit.Shared
	sharedC *config.SharedLimits
}

func newLimits(log *slog.Logger, cfg *config.Config, s *SchemaStore, r *Router) (*Limits, error) {
	l := &Limits{log: log, Limiter: ratelimit.New(log, limitProps{s: s, r: r}, nil)}
	return l, l.Update(cfg)
}

// Update applies the rate_limit section of cfg: one swap of the rules, and
// a new connection only when the shared service changed.
func (l *Limits) Update(cfg *config.Config) error {
	if cur, next := l.sharedC, cfg.RateLimit.Shared; !cfg.RateLimit.Enabled || next == nil || cur == nil || *cur != *next {
		var s *ratelimit.Shared
		if cfg.RateLimit.Enabled && next != nil {
			var err error
			s, err = ratelimit.NewShared(l.log, ratelimit.SharedConfig{
				Address: next.Address, Domain: next.Domain, Timeout: next.Timeout.D(), Replicas: next.Replicas,
			})
			if err != nil {
				return err
			}
		}
		l.Limiter.SetShared(s)
		if l.shared != nil {
			l.shared.Close()
		}
		l.shared, l.sharedC = s, next
	}
	l.Limiter.SetRules(RulesOf(cfg.RateLimit))
	return nil
}

// Close closes the shared service's connection.
func (l *Limits) Close() {
	if l.shared != nil {
		l.shared.Close()
	}
}

// Status is the limiter's counts and the shared service's state.
func (l *Limits) Status() map[string]any {
	st := map[string]any{"counts": l.Limiter.Stats()}
	if l.shared != nil {
		st["shared"] = l.shared.Status()
	}
	return st
}

// RulesOf converts the rate_limit section; nil when limits are off.
func RulesOf(c config.RateLimit) *ratelimit.Rules {
	if !c.Enabled {
		return nil
	}
	r := &ratelimit.Rules{Edge: levelOf(c.Edge), Properties: c.PropertiesOn()}
	named := func(ls []config.NamedLimit, key func(config.NamedLimit) string) map[string]ratelimit.Level {
		if len(ls) == 0 {
			return nil
		}
		m := make(map[string]ratelimit.Level, len(ls))
		for _, l := range ls {
			m[key(l)] = levelOf(l.LimitLevel)
		}
		return m
	}
	r.Databases = named(c.Databases, func(l config.NamedLimit) string { return l.Name })
	r.Collections = named(c.Collections, func(l config.NamedLimit) string { return l.Database + "/" + l.Name })
	r.Partitions = named(c.Partitions, func(l config.NamedLimit) string { return l.Database + "/" + l.Collection + "/" + l.Name })
	for _, cl := range c.Callers {
		r.Callers = append(r.Callers, ratelimit.CallerRule{
			User: cl.User, Role: cl.Role, APIKey: cl.APIKeySHA256, JWTGroup: cl.JWTGroup, Rates: ratesOf(cl.Limits),
		})
	}
	return r
}

func levelOf(l config.LimitLevel) ratelimit.Level {
	return ratelimit.Level{Rates: ratesOf(l.Limits),
		DenyWriting: l.ForceDeny.Writing, DenyReading: l.ForceDeny.Reading, DenyDDL: l.ForceDeny.DDL}
}

func ratesOf(l config.Limits) ratelimit.Rates {
	var r ratelimit.Rates
	for _, e := range []struct {
		t ratelimit.RateType
		v *float64
	}{
		{ratelimit.DMLInsert, l.InsertMB}, {ratelimit.DMLUpsert, l.UpsertMB}, {ratelimit.DMLDelete, l.DeleteMB},
		{ratelimit.DQLSearch, l.SearchVPS}, {ratelimit.DQLQuery, l.QueryQPS},
		{ratelimit.DDLCollection, l.DDLCollectionQPS}, {ratelimit.DDLPartition, l.DDLPartitionQPS},
		{ratelimit.DDLIndex, l.DDLIndexQPS}, {ratelimit.DDLFlush, l.FlushQPS},
		{ratelimit.DDLCompaction, l.CompactionQPS}, {ratelimit.DDLDB, l.DDLDatabaseQPS},
	} {
		if e.v != nil {
			r = r.Set(e.t, *e.v)
		}
	}
	return r
}
