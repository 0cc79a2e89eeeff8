package envoyres

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	dmcorev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Names of the calls filter (callsmodule/).
const (
	// CallsName is the calls filter's name in the chain.
	CallsName = "milvus_edge.calls"
	// CallsFilterName is the filter the module registers.
	CallsFilterName = "milvus_edge_calls"
	// CallsMetricsNamespace is where Envoy keeps the module's stats
	// (milvus_edge.calls, …; metrics/envoystats.go reads them).
	CallsMetricsNamespace = "milvus_edge"
)

// buildCalls returns the calls filter, the first HTTP filter so that it
// also sees the answers of ext_authz and ext_proc (local replies) and the
// responder's typed refusals: a C dynamic module (no runtime of its own)
// that reads the Milvus status of every response into Envoy's dynamic
// metadata (edgemeta.ResponseNamespace) for the access log and the edge's
// spans, and with c.Count counts every finished call in Envoy's stats, from
// which the edge builds its milvus_proxy_* metrics at each scrape.
//
// It replaced a Lua filter and a per-call gRPC access-log stream, which
// cost Envoy ~20 µs per call (docs/metrics.md, "Cost"). Envoy's
// proto_message_extraction filter was tried for the status before and is
// not usable: its per-method extractor is shared by all streams (concurrent
// calls read each other's status), it refuses compressed requests, cannot
// extract an enum, and buffers whole messages.
func buildCalls(c *ir.Calls) *dmv3.DynamicModuleFilter {
	return &dmv3.DynamicModuleFilter{
		DynamicModuleConfig: &dmcorev3.DynamicModuleConfig{
			Module: &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Local{
				Local: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: c.Module}},
			}},
			DoNotClose:       true,
			MetricsNamespace: CallsMetricsNamespace,
		},
		FilterName:   CallsFilterName,
		FilterConfig: mustAny(wrapperspb.String(callsConfig(c))),
	}
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
	for _, p := range milvusgrpc.Paths() {
		fmt.Fprintf(&b, "path %s\n", p)
	}
	return b.String()
}
