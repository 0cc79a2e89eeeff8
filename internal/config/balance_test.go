package config

import (
	"strings"
	"testing"
)

func TestBalanceDefaultsAndErrors(t *testing.T) {
	base := "clusters: [{name: a, endpoints: [{address: 127.0.0.1:19531}]}]\nroutes: [{cluster: a}]\n"
	c, err := Parse([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Balance
	if !b.On() || b.ProbeInterval.D().String() != "1s" || b.ProbeTimeout.D().String() != "800ms" || *b.EWMA != 0.3 ||
		b.LatencySlack.D().String() != "10ms" || *b.Hysteresis != 0.2 || b.ErrorThreshold != 3 || b.MinPushInterval.D().String() != "2s" {
		t.Fatalf("defaults: %+v", b)
	}
	_, err = Parse([]byte(base + `balance: {probe_interval: 50ms, probe_timeout: 2s, ewma: 0, latency_slack: -1ms, hysteresis: 1, error_threshold: -1, min_push_interval: -1s}`))
	for _, want := range []string{
		"balance.probe_interval: must be at least 100ms, got 50ms",
		"balance.probe_timeout: must be positive and at most probe_interval (50ms), got 2s",
		"balance.ewma: must be in (0, 1], got 0",
		"balance.latency_slack: must not be negative, got -1ms",
		"balance.hysteresis: must be in [0, 1), got 1",
		"balance.error_threshold: must be at least 1, got -1",
		"balance.min_push_interval: must not be negative, got -1s",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	c, err = Parse([]byte(base + "balance: {enabled: false}\n"))
	if err != nil || c.Balance.On() {
		t.Fatalf("enabled false: %v %+v", err, c.Balance)
	}
}
