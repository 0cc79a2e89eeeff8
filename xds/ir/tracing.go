package ir

// Tracing makes Envoy trace calls with its OpenTelemetry tracer and send the
// spans to an OTLP/gRPC collector.
type Tracing struct {
	// Collector is the OTLP/gRPC endpoint (tracing.otlp_endpoint).
	Collector Address
	// SamplingPercent is the share of calls, 0..100, Envoy starts a sampled
	// trace for when the client's traceparent does not decide.
	SamplingPercent float64
	// ServiceName is the service.name of Envoy's spans.
	ServiceName string
}
