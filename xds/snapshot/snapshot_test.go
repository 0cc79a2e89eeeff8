package snapshot_test

import (
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/envoyres"
	"github.com/milvus-edge/milvus-edge/xds/snapshot"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// TestVersionIsContentHash: the same config always gets the same version —
// also with an access log, whose JSON format is a protobuf Struct (a map)
// inside a typed Any — and a different config another one.
func TestVersionIsContentHash(t *testing.T) {
	build := func(accessLog string, weight uint32) string {
		cfg := &config.Config{
			Listener: config.Listener{AccessLog: accessLog},
			Clusters: []config.Cluster{{Name: "a", Endpoints: []config.Endpoint{{Address: "10.0.0.1:19530", Weight: weight}}}},
			Routes:   []config.Route{{Name: "default", Cluster: "a"}},
		}
		cfg.Default()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		g, err := translate.Translate(cfg, translate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := snapshot.New(envoyres.Build(g))
		if err != nil {
			t.Fatal(err)
		}
		return snap.GetVersion("type.googleapis.com/envoy.config.listener.v3.Listener")
	}
	for _, accessLog := range []string{"", "/tmp/access.log"} {
		first := build(accessLog, 1)
		for range 20 {
			if v := build(accessLog, 1); v != first {
				t.Fatalf("access_log %q: versions %s and %s for the same config", accessLog, first, v)
			}
		}
		if build(accessLog, 2) == first {
			t.Fatalf("access_log %q: a weight change kept the version", accessLog)
		}
	}
}
