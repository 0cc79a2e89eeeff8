package envoyres

import (
	"fmt"
	"strings"

	dmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Names of the calls filter (callsmodule/).
const (
	// CallsName is the calls filter's name in the chain.
	CallsName = "milvus_edge.calls"
	// CallsFilterName is the filter the module registers.
	CallsFilterName = "milvus_edge_calls"
)

// buildCalls returns the calls filter, the first HTTP filter so that it
// also sees the answers of ext_authz and ext_proc (local replies) and the
// responder's typed refusals: a C dynamic module (no runtime of its own)
// that reads the Milvus status of every response into Envoy's dynamic
// metadata (edgemeta.ResponseNamespace) for the access log and the edge's
// spans, and with c.Count counts every finished call in a table of its own,
// which its bootstrap extension serves on Envoy's admin and the edge reads
// at each scrape (metrics/envoystats.go).
//
// It replaced a Lua filter and a per-call gRPC access-log stream, which
// cost Envoy ~20 µs per call (docs/metrics.md, "Cost"). Envoy's
// proto_message_extraction filter was tried for the status before and is
// not usable: its per-method extractor is shared by all streams (concurrent
// calls read each other's status), it refuses compressed requests, cannot
// extract an enum, and buffers whole messages.
func buildCalls(c *ir.Calls) *dmv3.DynamicModuleFilter {
	return dynamicModuleFilter(c.Module, "", CallsFilterName, callsConfig(c))
}

// callsConfig is the module's config: one setting per line
// (callsmodule/envoy/filter.c).
func callsConfig(c *ir.Calls) string {
	var b strings.Builder
	count := 0
	if c.Count {
		count = 1
	}
	fmt.Fprintf(&b, "count %d\nmax_collections %d\n", count, c.MaxCollections)
	for _, e := range statusExceptions() {
		fmt.Fprintf(&b, "status_field %s %d\n", e.name, e.field)
	}
	for _, p := range c.Paths {
		fmt.Fprintf(&b, "path %s\n", p)
	}
	return b.String()
}
