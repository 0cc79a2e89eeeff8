package translate

import (
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// health is a cluster's health block in the model: the active check (with
// the cluster's credential, whatever the forwarding mode: a Milvus with
// authentication on refuses CheckHealth without one), outlier ejection and
// the panic threshold.
func health(cl config.Cluster) ir.Health {
	h := cl.Health.Defaulted()
	out := ir.Health{PanicPercent: *h.PanicThreshold}
	if h.Checks() {
		out.Check = &ir.HealthCheck{
			Kind:               ir.CheckHealthRPC,
			Interval:           h.Interval.D(),
			Timeout:            h.Timeout.D(),
			NoTrafficInterval:  h.NoTrafficInterval.D(),
			UnhealthyThreshold: h.UnhealthyThreshold,
			HealthyThreshold:   h.HealthyThreshold,
			Authorization:      ir.Secret(cl.Credential.GRPCAuthorization().Reveal()),
		}
		if h.Kind == config.HealthGRPC {
			out.Check.Kind = ir.GRPCHealth
		}
	}
	if n := *h.ConsecutiveGatewayErrors; n > 0 {
		out.Outlier = &ir.Outlier{
			ConsecutiveGatewayErrors: n,
			EjectionTime:             h.EjectionTime.D(),
			MaxEjectionPercent:       h.MaxEjectionPercent,
		}
	}
	return out
}
