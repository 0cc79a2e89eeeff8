package envoyres

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Names of the listener's SDS secrets. The listener refers to them by name
// only, so a rotated certificate changes a secret and nothing else: Envoy
// applies it to new handshakes without draining the listener, and open
// connections keep the session they negotiated.
const (
	ListenerCertSecret     = "milvus_edge_listener/certificate"
	ListenerClientCASecret = "milvus_edge_listener/client_ca"
)

// ALPN protocols of the TLS listener: gRPC needs h2; REST v2 clients (curl,
// requests) may offer either. The connection manager's AUTO codec follows
// what ALPN picked.
var listenerALPN = []string{"h2", "http/1.1"}

// buildDownstreamTLS is the listener's TLS transport socket: the server
// certificate from SDS, ALPN h2 and http/1.1, the configured minimum version,
// and with a client CA a validation context from SDS (client certificates
// are asked for, and required when RequireClientCert).
func buildDownstreamTLS(t *ir.ListenerTLS) *corev3.TransportSocket {
	common := &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsVersion(t.MinVersion)},
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{
			Name: ListenerCertSecret, SdsConfig: adsSource(),
		}},
		AlpnProtocols: listenerALPN,
	}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	if len(t.ClientCA) > 0 {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: ListenerClientCASecret, SdsConfig: adsSource()},
		}
		ctx.RequireClientCertificate = wrapperspb.Bool(t.RequireClientCert)
	}
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}
}

func tlsVersion(v ir.TLSVersion) tlsv3.TlsParameters_TlsProtocol {
	if v == ir.TLS13 {
		return tlsv3.TlsParameters_TLSv1_3
	}
	return tlsv3.TlsParameters_TLSv1_2
}

// buildListenerSecrets returns the listener's certificate and key, and its
// client CA bundle when there is one, as SDS secrets. Like the credential
// secrets they travel only over the ADS stream; Envoy's /config_dump shows
// the private key as "[redacted]".
func buildListenerSecrets(t *ir.ListenerTLS) []*tlsv3.Secret {
	if t == nil {
		return nil
	}
	out := []*tlsv3.Secret{{
		Name: ListenerCertSecret,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(t.CertChain),
			PrivateKey:       inlineBytes([]byte(t.Key.Reveal())),
		}},
	}}
	if len(t.ClientCA) > 0 {
		out = append(out, &tlsv3.Secret{
			Name: ListenerClientCASecret,
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: inlineBytes(t.ClientCA),
			}},
		})
	}
	return out
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// Answers to plaintext clients on a TLS listener.
const (
	PlaintextGRPCMessage = "milvus-edge: this port requires TLS; connect with TLS (an https:// URI, a secure gRPC channel)"
	PlaintextHTTPMessage = "milvus-edge: this port requires TLS; use https://\n"
)

// buildTLSInspector lets the listener tell a TLS ClientHello from plaintext
// (the first bytes of the connection), so the two get different chains.
func buildTLSInspector() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{
		Name:       "envoy.filters.listener.tls_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})},
	}
}

// buildPlaintextRefusal is a TLS listener's chain for clients that speak
// plaintext: instead of a closed connection ("error reading server
// preface: EOF") they get a reason. gRPC calls end UNAVAILABLE (Envoy maps
// the 503 of a local reply) with PlaintextGRPCMessage, other HTTP requests
// get 400 with PlaintextHTTPMessage. It only answers: no filter, no
// cluster, nothing reaches a backend.
func buildPlaintextRefusal() *listenerv3.FilterChain {
	answer := func(code uint32, msg string) *routev3.Route_DirectResponse {
		return &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: code,
			Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: msg}},
		}}
	}
	hcm := &hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: "milvus_plaintext",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: "milvus_plaintext",
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    "plaintext",
				Domains: []string{"*"},
				Routes: []*routev3.Route{
					{
						Name: "grpc",
						Match: &routev3.RouteMatch{
							PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"},
							Headers: []*routev3.HeaderMatcher{{
								Name: "content-type",
								HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
									MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "application/grpc"},
								}},
							}},
						},
						Action: answer(503, PlaintextGRPCMessage),
					},
					{
						Name:   "http",
						Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
						Action: answer(400, PlaintextHTTPMessage),
					},
				},
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{httpFilter("envoy.filters.http.router", &routerv3.Router{})},
	}
	return &listenerv3.FilterChain{
		Name: "plaintext-refusal",
		Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
		}},
	}
}
