package envoyres

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
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
			Action:               &routev3.Route_Route{Route: buildSkipProcessingAction(g, def, p)},
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
		rs := buildRESTRoutes(g, r, match, checked, skipProc)
		action := buildRouteAction(r)
		rs = append(rs, &routev3.Route{
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
		// Reads get twins with their own retries and fallback (failover.go).
		vh.Routes = append(vh.Routes, withReadTwins(g, r, rs)...)
	}
	return &routev3.RouteConfiguration{Name: RouteConfigName, VirtualHosts: []*routev3.VirtualHost{vh},
		// ext_authz's hand-over of a traced call's context to ext_proc is
		// not for the backend (the router removes it when it sends upstream).
		RequestHeadersToRemove: []string{edgehdr.Trace}}
}

// buildRESTRoutes returns the REST v2 twins of a rule some of whose clusters
// serve no REST (clusters[].rest: false), placed before the rule so that they
// win for /v2/vectordb/ paths. They send REST calls to the rule's REST
// clusters only, with their weights; when it has none, the edge answers
// itself with Milvus's JSON error rather than let Envoy send a REST call to a
// gRPC-only backend (a 502 protocol error in plain text). Like the rule,
// each comes as a checked twin (ext_proc skipped) and a plain one.
func buildRESTRoutes(g *ir.Gateway, r ir.Route, match *routev3.RouteMatch, checked *routev3.HeaderMatcher, skipProc map[string]*anypb.Any) []*routev3.Route {
	targets, noREST := g.RESTTargets(r)
	if len(noREST) == 0 {
		return nil
	}
	var action func() *routev3.Route
	if len(targets) > 0 {
		rr := r
		rr.Targets = targets
		a := buildRouteAction(rr)
		action = func() *routev3.Route { return &routev3.Route{Action: &routev3.Route_Route{Route: a}} }
	} else {
		body := restNoREST(noREST)
		action = func() *routev3.Route {
			return &routev3.Route{
				Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
					// Milvus REST answers errors with HTTP 200 and a code in the body.
					Status: 200,
					Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}},
				}},
				ResponseHeadersToAdd: []*corev3.HeaderValueOption{{
					Header:       &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
					AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
				}},
			}
		}
	}
	prefix := &routev3.RouteMatch_Prefix{Prefix: RESTPrefix}
	checkedRt, plainRt := action(), action()
	checkedRt.Name = r.Name + "/rest/checked"
	checkedRt.Match = &routev3.RouteMatch{
		PathSpecifier: prefix,
		Headers:       append([]*routev3.HeaderMatcher{checked}, match.Headers...),
	}
	checkedRt.TypedPerFilterConfig = skipProc
	plainRt.Name = r.Name + "/rest"
	plainRt.Match = &routev3.RouteMatch{PathSpecifier: prefix, Headers: match.Headers}
	return []*routev3.Route{checkedRt, plainRt}
}

// RESTPrefix starts the paths of Milvus's REST v2 API (extproc/milvusgrpc has
// the same constant; the control plane does not import the data path).
const RESTPrefix = "/v2/vectordb/"

// CodeServiceUnimplemented is the Milvus code of the edge's answer to a REST
// call routed to clusters that serve no REST: merr.ErrServiceUnimplemented
// ("service unimplemented", not retriable), which Milvus returns for an API
// its deployment does not provide. The request is well formed (not 1100,
// parameter invalid) and the failure is not unexpected (65535): this backend
// will never serve it, and retrying will not help.
const CodeServiceUnimplemented = 10

// restNoREST is the JSON body of that answer.
func restNoREST(clusters []string) string {
	q := make([]string, len(clusters))
	for i, c := range clusters {
		q[i] = strconv.Quote(c)
	}
	msg := "cluster " + q[0] + " serves no REST v2 API (its backend speaks gRPC only)"
	if len(q) > 1 {
		msg = "clusters " + strings.Join(q, ", ") + " serve no REST v2 API (their backends speak gRPC only)"
	}
	msg += "; use a gRPC client, or a backend that serves REST on its client port (Milvus ≥ 2.4 without TLS)"
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{CodeServiceUnimplemented, msg}) // cannot fail
	return string(b)
}

func buildRouteAction(r ir.Route) *routev3.RouteAction {
	a := &routev3.RouteAction{
		// Milvus calls (load, index builds, big searches) may run long: no route
		// timeout; the client's grpc-timeout header is honoured instead.
		Timeout:           durationpb.New(0),
		MaxStreamDuration: &routev3.RouteAction_MaxStreamDuration{GrpcTimeoutHeaderMax: durationpb.New(0)},
		// Only retry what the backend surely never saw, so writes are not
		// duplicated; reads get their own policy (withReadTwins).
		RetryPolicy: buildWriteRetryPolicy(),
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
