package app

import (
	"regexp"
	"sync/atomic"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/envoyres"
)

// routeTable resolves a request's (db, collection) to the cluster whose schema
// governs it, with the same regexes Envoy's routes use. For a weighted rule it
// is the first cluster: every cluster of one rule serves the same collections.
type routeTable struct {
	rules []compiledRule
}

type compiledRule struct {
	re      *regexp.Regexp
	cluster string
}

func newRouteTable(cfg *config.Config) *routeTable {
	t := &routeTable{}
	for _, r := range cfg.Routes {
		cluster := r.Cluster
		if cluster == "" && len(r.Weighted) > 0 {
			cluster = r.Weighted[0].Cluster
		}
		// Envoy's safe_regex matches the whole value; anchor to do the same.
		re := regexp.MustCompile("^(?:" + envoyres.RouteKeyRegex(r.Database, r.Collection) + ")$")
		t.rules = append(t.rules, compiledRule{re: re, cluster: cluster})
	}
	return t
}

func (t *routeTable) cluster(db, collection string) string {
	key := envoyres.RouteKey(db, collection)
	for _, r := range t.rules {
		if r.re.MatchString(key) {
			return r.cluster
		}
	}
	return t.rules[len(t.rules)-1].cluster
}

// Router is swapped whole on config reload.
type Router struct{ t atomic.Pointer[routeTable] }

// NewRouter compiles the routes of cfg.
func NewRouter(cfg *config.Config) *Router {
	r := &Router{}
	r.Set(cfg)
	return r
}

// Set replaces the routes.
func (r *Router) Set(cfg *config.Config) { r.t.Store(newRouteTable(cfg)) }

// Cluster returns the cluster for (db, collection).
func (r *Router) Cluster(db, collection string) string { return r.t.Load().cluster(db, collection) }
