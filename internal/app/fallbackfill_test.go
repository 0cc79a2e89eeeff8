package app

import (
	"maps"
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

func TestFallbacksOf(t *testing.T) {
	cfg := &config.Config{Routes: []config.Route{
		{Cluster: "a", Failover: config.Failover{Fallback: "b"}},
		{Cluster: "a", Failover: config.Failover{Fallback: "c"}}, // the first rule decides
		{Cluster: "c"},
		{Weighted: []config.WeightedCluster{{Cluster: "d", Weight: 1}}},
	}}
	if got, want := *fallbacksOf(cfg), map[string]string{"a": "b"}; !maps.Equal(got, want) {
		t.Errorf("fallbacksOf = %v, want %v", got, want)
	}
}
