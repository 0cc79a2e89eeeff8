package envoyres

import (
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Read and write retries (docs/failover.md). A write is retried only when
// the backend surely never saw it, so it is never stored twice; a read may
// also be retried after a reset or an UNAVAILABLE answer, on another host.
const (
	writeRetryOn = "connect-failure,refused-stream,reset-before-request"
	readRetryOn  = "connect-failure,refused-stream,reset,unavailable"
)

// buildWriteRetryPolicy is the retry policy of every call but reads: a
// call that surely never reached a backend is retried, on another host.
func buildWriteRetryPolicy() *routev3.RetryPolicy {
	return &routev3.RetryPolicy{
		RetryOn:                       writeRetryOn,
		NumRetries:                    wrapperspb.UInt32(2),
		RetryHostPredicate:            previousHosts(),
		HostSelectionRetryMaxAttempts: hostSelectionAttempts,
	}
}

// previousHosts makes a retry pick another host than the ones tried.
func previousHosts() []*routev3.RetryPolicy_RetryHostPredicate {
	return []*routev3.RetryPolicy_RetryHostPredicate{{
		Name:       "envoy.retry_host_predicates.previous_hosts",
		ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushostsv3.PreviousHostsPredicate{})},
	}}
}

// hostSelectionAttempts is how many picks the balancer may make to find a
// host previous_hosts accepts before it takes one already tried (a cluster
// of one endpoint retries on it). Picks are cheap, and least_request needs
// many: its power-of-two choice favours a dead endpoint, which has no calls
// in flight (its connects fail at once) — measured: of two endpoints, the
// dead one was picked for ~3 of 4 retries, so 5 picks left 24 % of them
// on it. 50 picks leave ~0.75^50 ≈ 10^-6.
const hostSelectionAttempts = 50

// buildReadRetryPolicy retries a read once on another host (previous_hosts);
// with a per-try timeout, a try that has not answered by then gets a hedged
// twin on another host (buildReadHedgePolicy) instead of being cut.
func buildReadRetryPolicy(r ir.Retries) *routev3.RetryPolicy {
	if r.Reads == 0 {
		return buildWriteRetryPolicy()
	}
	p := &routev3.RetryPolicy{
		RetryOn:                       readRetryOn,
		NumRetries:                    wrapperspb.UInt32(r.Reads),
		RetryHostPredicate:            previousHosts(),
		HostSelectionRetryMaxAttempts: hostSelectionAttempts,
	}
	if r.PerTryTimeout > 0 {
		p.PerTryTimeout = durationpb.New(r.PerTryTimeout)
	}
	return p
}

// buildReadHedgePolicy makes a read's per-try timeout start a second try
// without cancelling the first: the first answer wins, so no legitimate
// long search is cut.
func buildReadHedgePolicy(r ir.Retries) *routev3.HedgePolicy {
	if r.Reads == 0 || r.PerTryTimeout == 0 {
		return nil
	}
	return &routev3.HedgePolicy{HedgeOnPerTryTimeout: true}
}

// readTwins says a rule needs read twins: its reads are routed differently
// from its writes (retries, a fallback).
func readTwins(g *ir.Gateway, r ir.Route) bool {
	_, fallback := r.Aggregate()
	return g.Retries.Reads > 0 || (fallback && !r.Writes)
}

// classRead matches calls edgehdr.Class marks as reads.
var classRead = &routev3.HeaderMatcher{
	Name:                 edgehdr.Class,
	HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "read"},
}

// withReadTwins puts before each of a rule's routes that sends calls
// upstream a twin for reads (edgehdr.Class "read"): the read retry policy,
// and the aggregate cluster when the rule has a fallback. With
// fallback_writes every call of the rule goes to the aggregate.
func withReadTwins(g *ir.Gateway, r ir.Route, rs []*routev3.Route) []*routev3.Route {
	agg, fallback := r.Aggregate()
	if fallback && r.Writes {
		for _, rt := range rs {
			retarget(rt.GetRoute(), agg)
		}
	}
	if !readTwins(g, r) {
		return rs
	}
	out := make([]*routev3.Route, 0, 2*len(rs))
	for _, rt := range rs {
		if rt.GetRoute() != nil {
			twin := proto.Clone(rt).(*routev3.Route)
			twin.Name = rt.Name + "/read"
			twin.Match.Headers = append([]*routev3.HeaderMatcher{classRead}, twin.Match.Headers...)
			twin.Action = &routev3.Route_Route{Route: readAction(g, r, rt.GetRoute())}
			out = append(out, twin)
		}
		out = append(out, rt)
	}
	return out
}

// readAction is a rule's action a for reads.
func readAction(g *ir.Gateway, r ir.Route, a *routev3.RouteAction) *routev3.RouteAction {
	a = proto.Clone(a).(*routev3.RouteAction)
	a.RetryPolicy = buildReadRetryPolicy(g.Retries)
	a.HedgePolicy = buildReadHedgePolicy(g.Retries)
	if agg, ok := r.Aggregate(); ok {
		retarget(a, agg)
	}
	return a
}

// retarget points an action at the primary to the aggregate cluster.
func retarget(a *routev3.RouteAction, agg ir.Aggregate) {
	if a != nil && a.GetCluster() == agg.Primary {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: agg.Name}
	}
}

// buildSkipProcessingAction is the default rule's action for a call that
// skips ext_proc: the read action for paths of reads.
func buildSkipProcessingAction(g *ir.Gateway, def ir.Route, path string) *routev3.RouteAction {
	a := buildRouteAction(def)
	if agg, ok := def.Aggregate(); ok && def.Writes {
		retarget(a, agg)
	}
	if readTwins(g, def) && slices.Contains(g.ReadPaths, path) {
		return readAction(g, def, a)
	}
	return a
}

// failoverOverprovisioning is the primary's overprovisioning factor inside
// an aggregate (percent; Envoy's default is 140). The aggregate spreads
// load over its clusters by priority, moving a share to the fallback as soon
// as a primary's healthy share times this factor drops below 100 %: with
// 140, one unhealthy endpoint of two would send 30 % of reads to the
// fallback. At 10,000 × the primary keeps every read while any endpoint
// of up to 100 is healthy. A cluster has one priority, so the factor
// changes nothing when the cluster is used on its own.
const failoverOverprovisioning = 1_000_000

// addFailover adds the aggregate clusters the routes use and gives their
// primaries the overprovisioning factor above.
func addFailover(r *Resources, g *ir.Gateway) {
	for _, a := range g.Aggregates() {
		r.Clusters = append(r.Clusters, buildAggregateCluster(a))
		for _, cla := range r.Endpoints {
			if cla.GetClusterName() == a.Primary {
				setOverprovisioning(cla)
			}
		}
		for _, c := range r.Clusters {
			if c.GetName() != a.Primary {
				continue
			}
			if c.GetLoadAssignment() != nil {
				setOverprovisioning(c.GetLoadAssignment())
			}
			// Outlier detection may eject every endpoint of a primary: with a
			// fallback behind it, a primary whose endpoints all fail is
			// better left at once (reads move on within a few failed calls
			// instead of waiting for the active checks; writes fail with
			// UNAVAILABLE either way). A passed active check puts an ejected
			// endpoint back, so spurious errors cost at most a check interval.
			if od := c.GetOutlierDetection(); od != nil {
				od.MaxEjectionPercent = wrapperspb.UInt32(100)
			}
		}
	}
}

func setOverprovisioning(cla *endpointv3.ClusterLoadAssignment) {
	if cla.Policy == nil {
		cla.Policy = &endpointv3.ClusterLoadAssignment_Policy{}
	}
	cla.Policy.OverprovisioningFactor = wrapperspb.UInt32(failoverOverprovisioning)
}

// buildAggregateCluster is Envoy's aggregate cluster over a primary and its
// fallback: calls go to the primary's endpoints while any is healthy, else
// to the fallback's, each cluster balancing with its own policy.
func buildAggregateCluster(a ir.Aggregate) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name: a.Name,
		ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
			Name:        "envoy.clusters.aggregate",
			TypedConfig: mustAny(&aggregatev3.ClusterConfig{Clusters: []string{a.Primary, a.Fallback}}),
		}},
		LbPolicy:        clusterv3.Cluster_CLUSTER_PROVIDED,
		CircuitBreakers: buildRetryBudget(),
	}
}

// buildRetryBudget bounds the retries in flight on a cluster (the route's
// target: a QueryNode cluster or an aggregate) to half the calls in
// flight, and at least 16. Envoy's default, 3 at a time, fails calls as
// soon as an endpoint dies with a few calls on it (measured: 48 of 738
// reads of a 4-worker loop overflowed it when one of two endpoints was
// killed). A read is retried at most once and a write only when not sent,
// so the budget caps a retry storm, not normal failover.
func buildRetryBudget() *clusterv3.CircuitBreakers {
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		RetryBudget: &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
			BudgetPercent:       &typev3.Percent{Value: 50},
			MinRetryConcurrency: wrapperspb.UInt32(16),
		},
	}}}
}
