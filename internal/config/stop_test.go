package config

import (
	"strings"
	"testing"
	"time"
)

func TestDrainTimeout(t *testing.T) {
	const tail = minimalYAML
	c := mustParse(t, tail)
	if c.Envoy.DrainTimeout.D() != 5*time.Second {
		t.Errorf("envoy.drain_timeout default %s, want 5s", c.Envoy.DrainTimeout.D())
	}
	c, err := Parse([]byte("envoy: {drain_timeout: 30s}" + tail))
	if err != nil || c.Envoy.DrainTimeout.D() != 30*time.Second {
		t.Errorf("drain_timeout 30s: %v, %v", c, err)
	}
	for _, v := range []string{"-1s", "10m"} {
		_, err := Parse([]byte("envoy: {drain_timeout: " + v + "}" + tail))
		if err == nil || !strings.Contains(err.Error(), "envoy.drain_timeout") {
			t.Errorf("drain_timeout %s: got %v, want an error naming envoy.drain_timeout", v, err)
		}
	}
}
