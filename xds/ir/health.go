package ir

import "time"

// HealthKind is what an active health check sends.
type HealthKind int

// Health check kinds.
const (
	// CheckHealthRPC calls MilvusService/CheckHealth and wants any gRPC
	// answer (HTTP 200): the server process is up and answering. Sent
	// without a credential, so an error answer (UNAUTHENTICATED) passes.
	CheckHealthRPC HealthKind = iota
	// CheckHealthIsHealthy calls MilvusService/CheckHealth and wants
	// isHealthy true in the answer: for backends that answer it without a
	// credential (milvus-lite, Milvus with authorization off).
	CheckHealthIsHealthy
	// GRPCHealth is grpc.health.v1.Health/Check (Milvus with
	// authorization off).
	GRPCHealth
	// GetVersionRPC calls MilvusService/GetVersion and wants any gRPC
	// answer (HTTP 200), as CheckHealthRPC: a liveness check the Milvus
	// proxy answers locally, without asking its coordinators.
	GetVersionRPC
)

// HealthCheck is an active check Envoy runs against every endpoint of a cluster.
type HealthCheck struct {
	Kind HealthKind
	// Interval is between two checks; NoTrafficInterval while the cluster
	// has had no call.
	Interval, Timeout, NoTrafficInterval time.Duration
	// UnhealthyThreshold failed checks in a row take an endpoint out;
	// HealthyThreshold passed ones put it back.
	UnhealthyThreshold, HealthyThreshold uint32
}

// Outlier ejects endpoints whose real calls keep failing.
type Outlier struct {
	// ConsecutiveGatewayErrors is the gateway errors in a row (connect
	// failure, reset, timeout, 502/503/504) that eject an endpoint.
	ConsecutiveGatewayErrors uint32
	// EjectionTime is the base time an endpoint stays out.
	EjectionTime time.Duration
	// MaxEjectionPercent caps the share of endpoints ejected at once.
	MaxEjectionPercent uint32
}

// Health is how Envoy treats a cluster's sick endpoints.
type Health struct {
	// Check is the active check; nil runs none.
	Check *HealthCheck
	// Outlier is outlier ejection; nil ejects none.
	Outlier *Outlier
	// PanicPercent is Envoy's healthy panic threshold; 0 turns panic mode off.
	PanicPercent uint32
}
