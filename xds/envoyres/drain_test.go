package envoyres

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

func TestDrainingEndpointIsDrainingInEDS(t *testing.T) {
	c := ir.Cluster{Name: "a", Endpoints: []ir.Endpoint{
		{Address: ir.Address{Host: "10.0.0.1", Port: 19530, IsIP: true}, Weight: 3},
		{Address: ir.Address{Host: "10.0.0.2", Port: 19530, IsIP: true}, Weight: 1, Draining: true},
	}}
	lbs := buildLoadAssignment(c).GetEndpoints()[0].GetLbEndpoints()
	if got := lbs[0].GetHealthStatus(); got != corev3.HealthStatus_UNKNOWN {
		t.Errorf("endpoint 0: %v, want UNKNOWN (Envoy's default: healthy)", got)
	}
	if got := lbs[1].GetHealthStatus(); got != corev3.HealthStatus_DRAINING {
		t.Errorf("endpoint 1: %v, want DRAINING", got)
	}
	if lbs[1].GetLoadBalancingWeight().GetValue() != 1 {
		t.Errorf("draining endpoint lost its weight: %v", lbs[1])
	}
}
