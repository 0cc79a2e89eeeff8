// Command milvus-edge-module is the edge's in-process filter: a Go dynamic
// module that Envoy loads when edge.filters is in_process (docs/in-process.md).
// Build it with the edge (`make build`):
//
//	go build -buildmode=c-shared -o bin/libmilvus_edge.so ./cmd/milvus-edge-module
//
// It registers one HTTP filter, inproc.FilterName, whose checker is the
// edge's own ext_authz code (internal/app ModuleChecker).
package main

import (
	sdk "github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go"
	_ "github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/abi"
	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"

	"github.com/milvus-edge/milvus-edge/inproc"
	"github.com/milvus-edge/milvus-edge/internal/app"
)

func init() {
	sdk.RegisterHttpFilterConfigFactories(map[string]shared.HttpFilterConfigFactory{
		inproc.FilterName: &inproc.ConfigFactory{Connect: app.ModuleChecker},
	})
}

func main() {}
