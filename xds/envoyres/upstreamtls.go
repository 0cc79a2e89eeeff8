package envoyres

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	envoymatcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// ClusterClientCertSecretName names the SDS secret holding a cluster's TLS
// client certificate and key (Milvus tlsMode 2).
func ClusterClientCertSecretName(cluster string) string {
	return "milvus_edge_cluster_tls/" + cluster + "/client"
}

// buildUpstreamTLS is a TLS cluster's transport socket; nil for plaintext.
//
//   - The CA is inline: it is no secret, and the golden shows what is
//     trusted. A rotated CA (read again on every config reload) changes the
//     cluster, which Envoy replaces, draining the old connections.
//   - The endpoint's certificate must hold ServerName as a DNS or IP SAN
//     (Envoy checks only the chain unless told a name); a DNS name is also
//     the SNI.
//   - The client certificate comes by SDS like the credentials, so that the
//     key is in no cluster and a rotated one changes only the secret.
//   - TLS 1.3 is allowed: Envoy's clients stop at 1.2 by default, and
//     Milvus in tlsMode 2 accepts 1.3 only.
//   - No ALPN list: Envoy's connection pool then offers the protocol it
//     speaks on that connection (h2 for gRPC, http/1.1 for REST, as
//     use_downstream_protocol_config picks), where a fixed list would offer
//     h2 to HTTP/1.1 connections too.
func buildUpstreamTLS(c ir.Cluster) *corev3.TransportSocket {
	return upstreamTLSSocket(c, nil)
}

// upstreamTLSSocket is buildUpstreamTLS's socket offering the ALPN
// protocols alpn (none: the connection pool's own, see above); nil for a
// plaintext cluster.
func upstreamTLSSocket(c ir.Cluster, alpn []string) *corev3.TransportSocket {
	t := c.TLS
	if t == nil {
		return nil
	}
	sanType, sni := tlsv3.SubjectAltNameMatcher_DNS, t.ServerName
	if _, err := netip.ParseAddr(t.ServerName); err == nil {
		sanType, sni = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, "" // SNI carries host names only (RFC 6066)
	}
	common := &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: t.CA}},
			MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
				SanType: sanType,
				Matcher: &envoymatcherv3.StringMatcher{MatchPattern: &envoymatcherv3.StringMatcher_Exact{Exact: t.ServerName}},
			}},
		}},
		AlpnProtocols: alpn,
	}
	if len(t.ClientCert) > 0 {
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{
			Name: ClusterClientCertSecretName(c.Name), SdsConfig: adsSource(),
		}}
	}
	return &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
			CommonTlsContext: common,
			Sni:              sni,
		})},
	}
}

// buildClusterTLSSecrets returns a TLS cluster's client certificate and key
// as an SDS secret (none without a client certificate). Like the
// credentials it travels only over the ADS stream; Envoy's /config_dump
// shows the key as "[redacted]".
func buildClusterTLSSecrets(c ir.Cluster) []*tlsv3.Secret {
	if c.TLS == nil || len(c.TLS.ClientCert) == 0 {
		return nil
	}
	return []*tlsv3.Secret{{
		Name: ClusterClientCertSecretName(c.Name),
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.TLS.ClientCert}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(c.TLS.ClientKey.Reveal())}},
		}},
	}}
}
