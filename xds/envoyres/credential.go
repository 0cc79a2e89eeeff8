package envoyres

import (
	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	matchingv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/matching/v3"
	skipv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/matcher/action/v3"
	credinjectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/credential_injector/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	genericcredv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/injected_credentials/generic/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	envoymatcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// MetadataNamespace is the edge's namespace in cluster metadata; the access
// log reads the forwarding mode from it (%CLUSTER_METADATA(milvus_edge:forward)%).
const MetadataNamespace = "milvus_edge"

// Service-mode credentials travel as SDS generic secrets, two per cluster
// (one per API surface), named CredentialSecretName(cluster, surface).
const (
	SurfaceGRPC = "grpc"
	SurfaceREST = "rest"
)

// CredentialSecretName names the secret holding a cluster's authorization
// header value for one surface.
func CredentialSecretName(cluster, surface string) string {
	return "milvus_edge_credential/" + cluster + "/" + surface
}

// buildClusterMetadata stamps the cluster's forwarding mode for the access log.
func buildClusterMetadata(c ir.Cluster) *corev3.Metadata {
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		MetadataNamespace: {Fields: map[string]*structpb.Value{"forward": structpb.NewStringValue(c.Forward.String())}},
	}}
}

// buildCredentialSecrets returns a service-mode cluster's two header values
// as SDS generic secrets (none for passthrough).
//
// Where the secret travels: from the edge's memory over the ADS stream
// (edge.xds_address, loopback by default) into Envoy's memory. It is in no
// listener, route or cluster: Envoy's admin /config_dump shows SDS secrets as
// "[redacted]", so the admin interface does not reveal it; whoever can read
// the ADS stream or either process's memory can.
func buildCredentialSecrets(c ir.Cluster) []*tlsv3.Secret {
	if c.Forward != ir.Service || c.Credential == nil {
		return nil
	}
	secret := func(surface string, v ir.Secret) *tlsv3.Secret {
		return &tlsv3.Secret{
			Name: CredentialSecretName(c.Name, surface),
			Type: &tlsv3.Secret_GenericSecret{GenericSecret: &tlsv3.GenericSecret{
				Secret: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: v.Reveal()}},
			}},
		}
	}
	return []*tlsv3.Secret{secret(SurfaceGRPC, c.Credential.GRPC), secret(SurfaceREST, c.Credential.REST)}
}

// buildCredentialFilters is a service-mode cluster's upstream HTTP filter
// chain: after the router picked this cluster (so weighted routes are right
// per cluster), one credential injector overwrites the authorization header
// with the gRPC value for gRPC calls (content-type application/grpc...) and
// another with the REST value for every other call; each is skipped for the
// other surface. The values come from SDS (buildCredentialSecrets). A
// missing secret fails the call (401) rather than pass the client's header.
func buildCredentialFilters(c ir.Cluster) []*hcmv3.HttpFilter {
	if c.Forward != ir.Service {
		return nil
	}
	return []*hcmv3.HttpFilter{
		httpFilter("milvus_edge.credential.grpc", buildCredentialInjector(c.Name, SurfaceGRPC, false)),
		httpFilter("milvus_edge.credential.rest", buildCredentialInjector(c.Name, SurfaceREST, true)),
		httpFilter("envoy.filters.http.upstream_codec", &upstreamcodecv3.UpstreamCodec{}),
	}
}

// buildCredentialInjector sets authorization from the cluster's secret for
// one surface, wrapped in a matcher that skips it for gRPC calls (skipGRPC)
// or for all others.
func buildCredentialInjector(cluster, surface string, skipGRPC bool) *matchingv3.ExtensionWithMatcher {
	inject := &credinjectorv3.CredentialInjector{
		Overwrite: true,
		Credential: &corev3.TypedExtensionConfig{
			Name: "envoy.http.injected_credentials.generic",
			TypedConfig: mustAny(&genericcredv3.Generic{
				Credential: &tlsv3.SdsSecretConfig{Name: CredentialSecretName(cluster, surface), SdsConfig: adsSource()},
				Header:     "authorization",
			}),
		},
	}
	isGRPC := &xdsmatcherv3.Matcher_MatcherList_Predicate{
		MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_{
			SinglePredicate: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate{
				Input: &xdscorev3.TypedExtensionConfig{
					Name:        "content-type",
					TypedConfig: mustAny(&envoymatcherv3.HttpRequestHeaderMatchInput{HeaderName: "content-type"}),
				},
				Matcher: &xdsmatcherv3.Matcher_MatcherList_Predicate_SinglePredicate_ValueMatch{
					ValueMatch: &xdsmatcherv3.StringMatcher{MatchPattern: &xdsmatcherv3.StringMatcher_Prefix{Prefix: "application/grpc"}},
				},
			},
		},
	}
	skipWhen := isGRPC
	if !skipGRPC {
		skipWhen = &xdsmatcherv3.Matcher_MatcherList_Predicate{
			MatchType: &xdsmatcherv3.Matcher_MatcherList_Predicate_NotMatcher{NotMatcher: isGRPC},
		}
	}
	return &matchingv3.ExtensionWithMatcher{
		ExtensionConfig: &corev3.TypedExtensionConfig{Name: "envoy.filters.http.credential_injector", TypedConfig: mustAny(inject)},
		XdsMatcher: &xdsmatcherv3.Matcher{MatcherType: &xdsmatcherv3.Matcher_MatcherList_{MatcherList: &xdsmatcherv3.Matcher_MatcherList{
			Matchers: []*xdsmatcherv3.Matcher_MatcherList_FieldMatcher{{
				Predicate: skipWhen,
				OnMatch: &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{Action: &xdscorev3.TypedExtensionConfig{
					Name:        "skip",
					TypedConfig: mustAny(&skipv3.SkipFilter{}),
				}}},
			}},
		}}},
	}
}
