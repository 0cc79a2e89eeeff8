// Package gosdk holds end-to-end tests that drive the real milvus-edge binary
// (Envoy + milvus-lite) with the official Milvus Go SDK
// (github.com/milvus-io/milvus/client/v2). It deliberately does not import the
// main module: the gateway is exercised only as a black box.
package gosdk
