package translate

import (
	"fmt"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// envoyServiceSuffix names Envoy's spans apart from the edge's filter
// server's, which use tracing.service_name itself: two processes, two
// services in a trace view.
const envoyServiceSuffix = "-envoy"

// tracing is Envoy's part of the tracing section; nil when it is off
// (no otlp_endpoint).
func tracing(t config.Tracing) (*ir.Tracing, error) {
	if t.OTLPEndpoint == "" {
		return nil, nil
	}
	a, err := addr(t.OTLPEndpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing.otlp_endpoint: %w", err)
	}
	out := &ir.Tracing{Collector: a, ServiceName: t.ServiceName + envoyServiceSuffix}
	if t.Sampling != nil {
		out.SamplingPercent = *t.Sampling * 100
	}
	return out, nil
}
