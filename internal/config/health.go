package config

import (
	"fmt"
	"time"
)

// Health check kinds (Health.Kind).
const (
	// HealthGetVersion calls MilvusService/GetVersion without a credential
	// and wants any gRPC answer (HTTP 200): a liveness check. The version,
	// UNAUTHENTICATED (Milvus with authorization on) and UNIMPLEMENTED all
	// mean the server process is up and answering. The Milvus proxy
	// answers GetVersion locally, so a slow coordinator or etcd does not
	// fail it while calls still work. The default.
	HealthGetVersion = "get_version"
	// HealthCheckRPC is the same liveness check on MilvusService/CheckHealth,
	// which the Milvus proxy answers only after asking its coordinators
	// (rootcoord, querycoord, datacoord): with authorization off a
	// coordinator or etcd slowdown can time it out while Search works.
	HealthCheckRPC = "check_health"
	// HealthCheckRPCIsHealthy calls MilvusService/CheckHealth and wants
	// isHealthy true in the answer: only for backends that answer it
	// without a credential (milvus-lite, Milvus with authorization off).
	HealthCheckRPCIsHealthy = "check_health_is_healthy"
	// HealthGRPC is the standard grpc.health.v1 check, wanting SERVING:
	// Milvus with authorization off (with it on, Milvus answers
	// UNAUTHENTICATED); milvus-lite does not serve it.
	HealthGRPC = "grpc"
	// HealthNone turns active checks off (outlier ejection stays, unless
	// consecutive_gateway_errors is 0).
	HealthNone = "none"
)

// Health is how Envoy finds a cluster's sick endpoints: active checks of
// every endpoint, ejection of an endpoint after consecutive gateway errors
// on real calls (outlier detection), and what happens when most endpoints
// are down (the panic threshold). docs/health.md explains each field.
// The defaults take a killed endpoint out at once (its calls fail with
// connect errors: outlier ejection) and a stalled one within about 3 s
// (two timed-out checks), and put a recovered one back within about 2 s.
type Health struct {
	// Kind is get_version (the MilvusService/GetVersion call; any gRPC
	// answer passes: the server is up and answering — works with every
	// backend, authorization on or off; the Milvus proxy answers it
	// without asking its coordinators), check_health (the same liveness
	// check on MilvusService/CheckHealth, which asks Milvus's
	// coordinators: a slow coordinator can fail it while calls work),
	// check_health_is_healthy (CheckHealth wanting isHealthy true: only
	// for backends that answer it without a credential — milvus-lite,
	// Milvus with authorization off), grpc (grpc.health.v1 SERVING: Milvus
	// with authorization off) or none (no active checks). Checks never
	// carry a credential (it would be readable in Envoy's config_dump).
	// Default get_version.
	Kind string `yaml:"kind"`
	// Interval is the time between two checks of an endpoint. Default 1s.
	Interval Duration `yaml:"interval"`
	// Timeout fails a check that has no answer by then (a stalled
	// endpoint); at most interval. Default 500ms.
	Timeout Duration `yaml:"timeout"`
	// UnhealthyThreshold is the failed checks in a row that take an
	// endpoint out. Default 2.
	UnhealthyThreshold uint32 `yaml:"unhealthy_threshold"`
	// HealthyThreshold is the passed checks in a row that put it back. Default 2.
	HealthyThreshold uint32 `yaml:"healthy_threshold"`
	// NoTrafficInterval is the check interval of a cluster that has not
	// connected to its endpoints yet. Envoy's default, 60s, would leave a
	// dead endpoint of an idle cluster unseen for a minute — and the check
	// already scheduled when traffic starts still waits for it (with 5s, a
	// stall in the first seconds of traffic took 4.6–4.9 s to be seen).
	// Default: interval.
	NoTrafficInterval Duration `yaml:"no_traffic_interval"`
	// ConsecutiveGatewayErrors ejects an endpoint after this many calls in
	// a row ended in a gateway error: connect failure, reset, timeout, or
	// an HTTP 502/503/504 (a gRPC UNAVAILABLE answer counts as 503, a
	// DEADLINE_EXCEEDED as 504). Milvus's own errors travel inside gRPC-OK
	// answers and never count. 0 turns outlier ejection off. Default 3.
	ConsecutiveGatewayErrors *uint32 `yaml:"consecutive_gateway_errors"`
	// EjectionTime is how long an ejected endpoint stays out (Envoy
	// multiplies it by the times it was ejected, up to 10×); a passed
	// active check puts it back earlier. Default 10s.
	EjectionTime Duration `yaml:"ejection_time"`
	// MaxEjectionPercent caps the share of endpoints outlier detection may
	// eject at once (at least one always may); active checks are not
	// capped. Default 50.
	MaxEjectionPercent uint32 `yaml:"max_ejection_percent"`
	// PanicThreshold is Envoy's healthy panic threshold in percent: when
	// fewer endpoints than this are healthy, Envoy ignores health and
	// spreads calls over all endpoints. 0 turns panic mode off: calls go
	// only to healthy endpoints, and with none healthy they fail at once
	// with UNAVAILABLE (no healthy upstream) — where a route's fallback
	// cluster can take over. Default 0.
	PanicThreshold *uint32 `yaml:"panic_threshold"`
}

// Checks says active health checks are on.
func (h Health) Checks() bool { return h.Kind != HealthNone }

// Defaulted returns h with its unset fields at their defaults (for
// callers given a config that did not go through Parse).
func (h Health) Defaulted() Health {
	h.setDefaults()
	return h
}

// setDefaults fills the unset fields.
func (h *Health) setDefaults() {
	setStr(&h.Kind, HealthGetVersion)
	setDur(&h.Interval, Duration(time.Second))
	setDur(&h.Timeout, Duration(500*time.Millisecond))
	setDur(&h.NoTrafficInterval, h.Interval)
	setDur(&h.EjectionTime, Duration(10*time.Second))
	if h.UnhealthyThreshold == 0 {
		h.UnhealthyThreshold = 2
	}
	if h.HealthyThreshold == 0 {
		h.HealthyThreshold = 2
	}
	if h.MaxEjectionPercent == 0 {
		h.MaxEjectionPercent = 50
	}
	if h.PanicThreshold == nil {
		h.PanicThreshold = new(uint32)
	}
	if h.ConsecutiveGatewayErrors == nil {
		n := uint32(3)
		h.ConsecutiveGatewayErrors = &n
	}
}

// setHealthDefaults fills every cluster's health block.
func (c *Config) setHealthDefaults() {
	for i := range c.Clusters {
		c.Clusters[i].Health.setDefaults()
	}
}

// validateHealth checks every cluster's health block.
func validateHealth(bad badFunc, cs []Cluster) {
	for i, cl := range cs {
		p := fmt.Sprintf("clusters[%d].health", i)
		h := cl.Health
		oneOf(bad, p+".kind", h.Kind, HealthGetVersion, HealthCheckRPC, HealthCheckRPCIsHealthy, HealthGRPC, HealthNone)
		if h.Interval.D() < 100*time.Millisecond {
			bad(p+".interval", "must be at least 100ms, got %s", h.Interval.D())
		}
		if h.Timeout.D() < 10*time.Millisecond || h.Timeout.D() > h.Interval.D() {
			bad(p+".timeout", "must be 10ms..interval (%s), got %s", h.Interval.D(), h.Timeout.D())
		}
		if h.NoTrafficInterval.D() < h.Interval.D() {
			bad(p+".no_traffic_interval", "must be at least interval (%s), got %s", h.Interval.D(), h.NoTrafficInterval.D())
		}
		if h.UnhealthyThreshold > 100 || h.HealthyThreshold > 100 {
			bad(p, "unhealthy_threshold and healthy_threshold must be 1..100")
		}
		if h.EjectionTime.D() < time.Second {
			bad(p+".ejection_time", "must be at least 1s, got %s", h.EjectionTime.D())
		}
		if h.MaxEjectionPercent > 100 {
			bad(p+".max_ejection_percent", "must be 1..100, got %d", h.MaxEjectionPercent)
		}
		if *h.ConsecutiveGatewayErrors > 1000 {
			bad(p+".consecutive_gateway_errors", "must be 0..1000, got %d", *h.ConsecutiveGatewayErrors)
		}
		if *h.PanicThreshold > 100 {
			bad(p+".panic_threshold", "must be 0..100, got %d", *h.PanicThreshold)
		}
	}
}
