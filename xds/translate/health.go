package translate

import (
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// health is a cluster's health block in the model: the active check (never
// with a credential: it would sit in CDS, readable in Envoy's config_dump),
// outlier ejection and the panic threshold.
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
		}
		switch h.Kind {
		case config.HealthGetVersion:
			out.Check.Kind = ir.GetVersionRPC
		case config.HealthCheckRPCIsHealthy:
			out.Check.Kind = ir.CheckHealthIsHealthy
		case config.HealthGRPC:
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
