package envoyres

import (
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// buildRouteConfig maps the ordered route rules onto Envoy routes. ext_proc
// sets the route key header "<db>/<collection>" and clears the route cache;
// each rule matches that header with a regex made from its globs. The last
// rule matches every request, including those without a key (Connect,
// GetVersion, database calls).
//
// ext_authz does ext_proc's request work itself for calls whose whole body it
// receives (edge.single_pass) and marks them with edgehdr.Checked: each rule
// has a twin, first, that matches such calls and skips ext_proc.
func buildRouteConfig(g *ir.Gateway) *routev3.RouteConfiguration {
	vh := &routev3.VirtualHost{Name: "milvus", Domains: []string{"*"}}
	skipProc := map[string]*anypb.Any{
		ExtProcName: mustAny(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Disabled{Disabled: true}}),
	}
	// Requests ext_authz or ext_proc refused go to the edge's responder (on
	// the filter server), which answers with the method's typed Milvus error.
	// Only the edge sets the header, so a request on this route is done with:
	// ext_proc is off here (a refusal by ext_proc comes after its start).
	vh.Routes = append(vh.Routes, &routev3.Route{
		Name: "milvus-edge-reject",
		Match: &routev3.RouteMatch{
			PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
			Headers: []*routev3.HeaderMatcher{{
				Name:                 edgehdr.Reject,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true},
			}},
		},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: FilterCluster},
		}},
		TypedPerFilterConfig: skipProc,
	})
	// Calls that carry no names skip ext_proc and take the default route.
	def := g.Routes[len(g.Routes)-1]
	for _, p := range g.SkipProcessing {
		vh.Routes = append(vh.Routes, &routev3.Route{
			Name:                 "skip-processing" + p,
			Match:                &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: p}},
			Action:               &routev3.Route_Route{Route: buildRouteAction(def)},
			TypedPerFilterConfig: skipProc,
		})
	}
	checked := &routev3.HeaderMatcher{
		Name:                 edgehdr.Checked,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true},
	}
	for _, r := range g.Routes {
		match := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
		if !r.MatchesAll() {
			match.Headers = []*routev3.HeaderMatcher{{
				Name: edgehdr.Route,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
					MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{
						Regex: RouteKeyRegex(r.Database, r.Collection),
					}},
				}},
			}}
		}
		action := buildRouteAction(r)
		vh.Routes = append(vh.Routes, &routev3.Route{
			Name: r.Name + "/checked",
			Match: &routev3.RouteMatch{
				PathSpecifier: match.PathSpecifier,
				Headers:       append([]*routev3.HeaderMatcher{checked}, match.Headers...),
			},
			Action:               &routev3.Route_Route{Route: action},
			TypedPerFilterConfig: skipProc,
		}, &routev3.Route{
			Name:   r.Name,
			Match:  match,
			Action: &routev3.Route_Route{Route: action},
		})
	}
	return &routev3.RouteConfiguration{Name: RouteConfigName, VirtualHosts: []*routev3.VirtualHost{vh}}
}

func buildRouteAction(r ir.Route) *routev3.RouteAction {
	a := &routev3.RouteAction{
		// Milvus calls (load, index builds, big searches) may run long: no route
		// timeout; the client's grpc-timeout header is honoured instead.
		Timeout:           durationpb.New(0),
		MaxStreamDuration: &routev3.RouteAction_MaxStreamDuration{GrpcTimeoutHeaderMax: durationpb.New(0)},
		// Only retry what the backend surely never saw, so writes are not duplicated.
		RetryPolicy: &routev3.RetryPolicy{
			RetryOn:    "connect-failure,refused-stream,reset-before-request",
			NumRetries: wrapperspb.UInt32(2),
		},
	}
	if len(r.Targets) == 1 {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: r.Targets[0].Cluster}
		return a
	}
	wc := &routev3.WeightedCluster{}
	for _, t := range r.Targets {
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
			Name: t.Cluster, Weight: wrapperspb.UInt32(t.Weight),
		})
	}
	a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	return a
}

// RouteKey is the header value ext_proc sets for a request.
func RouteKey(db, collection string) string { return db + "/" + collection }

// RouteKeyRegex turns the database and collection globs into an RE2 regex over
// the route key. Names never contain '/', so '*' and '?' stop at it.
func RouteKeyRegex(dbGlob, collGlob string) string {
	return globRegex(dbGlob) + "/" + globRegex(collGlob)
}

func globRegex(glob string) string {
	var b strings.Builder
	for _, c := range glob {
		switch c {
		case '*':
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}
