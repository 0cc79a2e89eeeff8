package config

import (
	"strings"
	"testing"
	"time"
)

func TestHealthDefaults(t *testing.T) {
	c := mustParse(t, minimalYAML)
	h := c.Clusters[0].Health
	if h.Kind != HealthGetVersion || h.Interval.D() != time.Second || h.Timeout.D() != 500*time.Millisecond ||
		h.UnhealthyThreshold != 2 || h.HealthyThreshold != 2 || h.NoTrafficInterval.D() != time.Second ||
		*h.ConsecutiveGatewayErrors != 3 || h.EjectionTime.D() != 10*time.Second || h.MaxEjectionPercent != 50 ||
		*h.PanicThreshold != 0 || !h.Checks() {
		t.Errorf("health defaults %+v", h)
	}
	if c.Clusters[0].LBPolicy != "least_request" {
		t.Errorf("lb_policy default %q, want least_request", c.Clusters[0].LBPolicy)
	}
}

func TestHealthOff(t *testing.T) {
	c := mustParse(t, `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:19530}], health: {kind: none, consecutive_gateway_errors: 0, panic_threshold: 50}}]
routes: [{cluster: qn}]
`)
	h := c.Clusters[0].Health
	if h.Checks() || *h.ConsecutiveGatewayErrors != 0 || *h.PanicThreshold != 50 {
		t.Errorf("health %+v: want no checks, no ejection, panic at 50 %%", h)
	}
}

func TestHealthValidation(t *testing.T) {
	_, err := Parse([]byte(`
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:19530}], health: {kind: tcp, interval: 50ms, timeout: 2s, no_traffic_interval: 10ms, ejection_time: 100ms, max_ejection_percent: 101, panic_threshold: 120, unhealthy_threshold: 101}}]
routes: [{cluster: qn}]
`))
	if err == nil {
		t.Fatal("bad health block accepted")
	}
	for _, want := range []string{
		`clusters[0].health.kind: must be one of get_version, check_health, check_health_is_healthy, grpc, none, got "tcp"`,
		"clusters[0].health.interval: must be at least 100ms",
		"clusters[0].health.timeout: must be 10ms..interval",
		"clusters[0].health.no_traffic_interval: must be at least interval",
		"clusters[0].health.ejection_time: must be at least 1s",
		"clusters[0].health.max_ejection_percent: must be 1..100",
		"clusters[0].health.panic_threshold: must be 0..100",
		"clusters[0].health: unhealthy_threshold and healthy_threshold must be 1..100",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
}
