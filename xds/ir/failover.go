package ir

import (
	"fmt"
	"time"
)

// Failover is a route's fallback cluster: reads go to an aggregate of the
// primary (its only target) and Fallback, which Envoy fills from Fallback
// only when the primary has no healthy endpoint.
type Failover struct {
	// Fallback is the fallback cluster's name; "" for none.
	Fallback string
	// Writes sends every call, not only reads, through the aggregate.
	Writes bool
}

// Retries is what reads may do beyond the writes' "surely not sent" retries.
type Retries struct {
	// Reads is how many times a read is retried on another host (0 or 1).
	Reads uint32
	// PerTryTimeout starts a hedged second try of a read on another host
	// when the first has not answered in this time; 0 = none.
	PerTryTimeout time.Duration
}

// AggregateSeparator joins a primary and its fallback into the aggregate
// cluster's name; config cluster names cannot hold it.
const AggregateSeparator = "~"

// Aggregate is a primary cluster and its fallback, in failover order.
type Aggregate struct {
	Name     string
	Primary  string
	Fallback string
}

// Aggregate returns the route's aggregate of its primary and fallback;
// ok is false for a route without a fallback.
func (r Route) Aggregate() (a Aggregate, ok bool) {
	if r.Fallback == "" || len(r.Targets) != 1 {
		return Aggregate{}, false
	}
	p := r.Targets[0].Cluster
	return Aggregate{Name: p + AggregateSeparator + r.Fallback, Primary: p, Fallback: r.Fallback}, true
}

// Aggregates returns every distinct aggregate the routes use, in route order.
func (g *Gateway) Aggregates() []Aggregate {
	var out []Aggregate
	seen := map[string]bool{}
	for _, r := range g.Routes {
		if a, ok := r.Aggregate(); ok && !seen[a.Name] {
			seen[a.Name] = true
			out = append(out, a)
		}
	}
	return out
}

// validateFailover checks the routes' fallbacks against the clusters.
func (g *Gateway) validateFailover(names map[string]bool) []error {
	var errs []error
	for _, r := range g.Routes {
		if r.Fallback == "" {
			continue
		}
		switch {
		case len(r.Targets) != 1:
			errs = append(errs, fmt.Errorf("route %q has a fallback and %d targets (one is needed)", r.Name, len(r.Targets)))
		case r.Targets[0].Cluster == r.Fallback:
			errs = append(errs, fmt.Errorf("route %q falls back to its own cluster %q", r.Name, r.Fallback))
		case !names[r.Fallback]:
			errs = append(errs, fmt.Errorf("route %q names unknown fallback cluster %q", r.Name, r.Fallback))
		}
	}
	if g.Retries.Reads > 1 {
		errs = append(errs, fmt.Errorf("reads retried %d times (at most 1)", g.Retries.Reads))
	}
	return errs
}
