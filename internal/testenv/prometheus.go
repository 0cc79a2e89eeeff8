package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/promproc"
)

// Prometheus starts a real Prometheus ($PROMETHEUS_BIN, else prometheus on
// $PATH: Debian's package, from `make setup`) on a free loopback port,
// scraping targets every second, with its storage in a temporary folder;
// it stops when the test ends. A missing binary fails the test.
func Prometheus(t testing.TB, targets ...promproc.Target) *promproc.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), promproc.StartTimeout+5*time.Second)
	defer cancel()
	s, err := promproc.Start(ctx, Logger(t), promproc.Config{Targets: targets})
	if err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("prometheus: %v", err)
		}
	})
	return s
}

// PrometheusTargets are the scrape targets of a stack: the edge admin's
// /metrics (job milvus-edge) and Envoy's admin /stats/prometheus (job
// envoy). tokenFile is the edge admin's token file ("" for none).
func (p Ports) PrometheusTargets(tokenFile string) []promproc.Target {
	return []promproc.Target{
		{Job: "milvus-edge", Addr: p.Admin, Path: "/metrics", BearerTokenFile: tokenFile},
		{Job: "envoy", Addr: p.EnvoyAdmin, Path: "/stats/prometheus"},
	}
}
