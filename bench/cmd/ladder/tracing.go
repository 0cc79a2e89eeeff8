package main

import (
	"context"
	"fmt"
	"net"

	"github.com/milvus-edge/milvus-edge/internal/otlpreceiver"
)

// startTraceSink runs an OTLP/gRPC trace receiver in the bench process that
// only counts spans, and returns the edge config that sends the full
// chain's traces (Envoy's and the edge's) to it at the given sampling. The
// sink's CPU is the loader's (the bench column), not the edge's or Envoy's.
func startTraceSink(sampling float64) (sink *otlpreceiver.Receiver, yaml string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	sink = otlpreceiver.New(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sink.Serve(ctx, lis); close(done) }()
	yaml = fmt.Sprintf("tracing: {otlp_endpoint: %q, sampling: %g}", lis.Addr().String(), sampling)
	return sink, yaml, func() { cancel(); <-done }, nil
}

// withYAML lays extra over the -edge-yaml levers (either may be empty).
func withYAML(levers, extra string) (string, error) {
	if levers == "" {
		return extra, nil
	}
	b, err := mergeYAML(levers, extra)
	return string(b), err
}
