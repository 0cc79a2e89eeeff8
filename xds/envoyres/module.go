package envoyres

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	dmcorev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	dmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/inproc"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// InProcessName is the in-process filter's name in the chain.
const InProcessName = "envoy.filters.http.dynamic_modules"

// buildInProcess loads the edge's Go module (edge.filters: in_process) in
// ext_authz's place. The module is never unloaded (a Go runtime cannot be),
// and its config only says how to reach the edge: reloads reach the module
// over the filter server's sync stream, so a reload does not replace the
// listener.
func buildInProcess(m *ir.InProcess) *dmv3.DynamicModuleFilter {
	return dynamicModuleFilter(m.Module, "", inproc.FilterName, m.Settings)
}

// dynamicModuleFilter loads the module file as HTTP filter name with its
// config string. Modules are never unloaded (do_not_close: a Go runtime
// cannot be, and the calls module's table lives as long as Envoy).
func dynamicModuleFilter(file, metricsNamespace, name, config string) *dmv3.DynamicModuleFilter {
	return &dmv3.DynamicModuleFilter{
		DynamicModuleConfig: &dmcorev3.DynamicModuleConfig{
			Module: &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Local{
				Local: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: file}},
			}},
			DoNotClose:       true,
			MetricsNamespace: metricsNamespace,
		},
		FilterName:   name,
		FilterConfig: mustAny(wrapperspb.String(config)),
	}
}
