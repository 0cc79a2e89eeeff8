package envoyres

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

func checkedCluster(kind ir.HealthKind, tls bool) ir.Cluster {
	c := ir.Cluster{Name: "a", Health: ir.Health{Check: &ir.HealthCheck{Kind: kind}}}
	if tls {
		c.TLS = &ir.ClusterTLS{CA: []byte("ca"), ServerName: "milvus.internal"}
	}
	return c
}

// The default check is liveness on GetVersion (answered by the proxy
// itself): HTTP 200 passes, no payload wanted; check_health is the same on
// CheckHealth; the strict kind wants isHealthy true.
func TestCheckHealthKinds(t *testing.T) {
	version := buildHealthChecks(checkedCluster(ir.GetVersionRPC, false))[0].GetHttpHealthCheck()
	if version.GetPath() != GetVersionPath || len(version.GetReceive()) != 0 || version.GetSend().GetText() != checkHealthRequest {
		t.Errorf("get_version: path %q send %v receive %v, want GetVersion, an empty frame and no payload", version.GetPath(), version.GetSend(), version.GetReceive())
	}
	live := buildHealthChecks(checkedCluster(ir.CheckHealthRPC, false))[0].GetHttpHealthCheck()
	if live.GetPath() != CheckHealthPath || len(live.GetReceive()) != 0 {
		t.Errorf("check_health: path %q receive %v, want CheckHealth and no payload", live.GetPath(), live.GetReceive())
	}
	strict := buildHealthChecks(checkedCluster(ir.CheckHealthIsHealthy, false))[0].GetHttpHealthCheck()
	if r := strict.GetReceive(); len(r) != 1 || r[0].GetText() != checkHealthHealthy {
		t.Errorf("check_health_is_healthy: receive %v, want isHealthy true", r)
	}
	for _, hc := range []*corev3.HealthCheck_HttpHealthCheck{version, live, strict} {
		for _, h := range hc.GetRequestHeadersToAdd() {
			if h.GetHeader().GetKey() == "authorization" {
				t.Errorf("a check carries an authorization header")
			}
		}
	}
}

// TLS checks pick a socket offering ALPN h2 by their match criteria; calls
// keep the cluster's socket without an ALPN list.
func TestTLSHealthCheckOffersH2(t *testing.T) {
	for _, kind := range []ir.HealthKind{ir.GetVersionRPC, ir.CheckHealthRPC, ir.GRPCHealth} {
		c := checkedCluster(kind, true)
		crit := buildHealthChecks(c)[0].GetTransportSocketMatchCriteria()
		cl := buildQueryNodeCluster(c)
		m := cl.GetTransportSocketMatches()
		if len(m) != 1 || crit == nil || !matches(m[0].GetMatch().AsMap(), crit.AsMap()) {
			t.Fatalf("kind %v: criteria %v, matches %v: want one match picked by the criteria", kind, crit, m)
		}
		var hc, calls tlsv3.UpstreamTlsContext
		if err := m[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&hc); err != nil {
			t.Fatal(err)
		}
		if err := cl.GetTransportSocket().GetTypedConfig().UnmarshalTo(&calls); err != nil {
			t.Fatal(err)
		}
		if got := hc.GetCommonTlsContext().GetAlpnProtocols(); !slices.Equal(got, []string{"h2"}) {
			t.Errorf("health check ALPN %v, want [h2]", got)
		}
		if got := calls.GetCommonTlsContext().GetAlpnProtocols(); len(got) != 0 {
			t.Errorf("calls' ALPN %v, want none (the pool offers its protocol)", got)
		}
		if hc.GetSni() != "milvus.internal" {
			t.Errorf("health check SNI %q", hc.GetSni())
		}
	}
	if m := buildQueryNodeCluster(checkedCluster(ir.CheckHealthRPC, false)).GetTransportSocketMatches(); len(m) != 0 {
		t.Errorf("plaintext cluster has transport socket matches %v", m)
	}
}

// matches says every label of want is in have (Envoy's metadata label match).
func matches(want, have map[string]any) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
