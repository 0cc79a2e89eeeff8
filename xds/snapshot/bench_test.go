package snapshot_test

import (
	"fmt"
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/envoyres"
	"github.com/milvus-edge/milvus-edge/xds/snapshot"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// bigConfig is 1,000 clusters of 10 endpoints each (distinct IPs, weights
// 1..10) with one route per cluster (collection glob "tenant_NNNN_*") plus a
// default route: the size issue 5 sets a 20 ms budget for.
func bigConfig(b *testing.B, clusters, endpoints int) *config.Config {
	b.Helper()
	cfg := &config.Config{}
	for i := range clusters {
		cl := config.Cluster{Name: fmt.Sprintf("c%04d", i)}
		for j := range endpoints {
			cl.Endpoints = append(cl.Endpoints, config.Endpoint{
				Address: fmt.Sprintf("10.%d.%d.%d:19530", i/256, i%256, j+1),
				Weight:  uint32(j%10 + 1),
			})
		}
		cfg.Clusters = append(cfg.Clusters, cl)
		cfg.Routes = append(cfg.Routes, config.Route{
			Name: fmt.Sprintf("r%04d", i), Collection: fmt.Sprintf("tenant_%04d_*", i), Cluster: cl.Name,
		})
	}
	cfg.Routes = append(cfg.Routes, config.Route{Name: "default", Cluster: "c0000"})
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// BenchmarkTranslateSnapshot measures config → ir → Envoy protos → validated,
// hashed, consistent snapshot (what xds/server.Update does before SetSnapshot)
// for 1,000 clusters × 10 endpoints, and each stage alone.
func BenchmarkTranslateSnapshot(b *testing.B) {
	cfg := bigConfig(b, 1000, 10)
	opts := translate.Options{}
	g, err := translate.Translate(cfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	res := envoyres.Build(g)
	b.Run("1000x10/total", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g, err := translate.Translate(cfg, opts)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := snapshot.New(envoyres.Build(g)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("1000x10/translate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := translate.Translate(cfg, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("1000x10/envoyres.Build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = envoyres.Build(g)
		}
	})
	b.Run("1000x10/snapshot.New", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := snapshot.New(res); err != nil {
				b.Fatal(err)
			}
		}
	})
}
