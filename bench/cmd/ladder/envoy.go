package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"text/template"
)

// staticBootstrap is the hand-written Envoy config of the two partial steps.
// "passthrough": per backend one listener whose HCM (codec AUTO, HTTP/2 with
// the edge's max_concurrent_streams and the edge listener's
// per-connection buffer limit, connections spread evenly over the workers
// (exact balance)) has only the router, one route "/" → the
// backend cluster, HTTP/2 upstream. "ext_authz": the same plus, before the
// router, the edge's ext_authz filter exactly as the edge's xDS renders it
// (xds/testdata/out/default.listeners.yaml: envoy_grpc to the edge's filter
// server, 2 s timeout, 503 on error, the first 64 KiB of the body packed as
// bytes) and the edge's filter-server cluster (HTTP/2, keepalive 30 s/5 s).
// Neither has the edge's route table (reject route, exact-path skip routes,
// route-key header regexes), retry policy or early header mutation: those
// come with the full chain.
//
// "local_ratelimit" (the envoy+authz+localrl step) is the ext_authz config
// plus Envoy's own rate limiting as the edge would have to configure it for
// Milvus's levels: after ext_authz, a set_metadata filter puts a per-call
// cost into dynamic metadata — a constant 1, standing in for the cost
// ext_authz would have to set (the edge's ext_authz sets none today) — and
// the route's local_ratelimit config makes three descriptors per call (edge;
// collection, from that metadata; user, from the x-milvus-edge-user header
// ext_authz sets), each charged hits_addend = that metadata, each bucket far
// above the load (localRLTokens per second). Denials answer gRPC code 8.
//
// Amplification levers (-amplify-calls-filters, -amplify-traced-loggers; the
// envoy step only): N copies of the calls filter as the edge renders it with
// the metrics on (callsmodule/, counting every call) before the router,
// after a set_metadata filter that puts a Search call's facts where
// ext_authz puts them (so each copy reads its labels as in the full chain),
// and N copies of the traced-call access log as the edge renders it with
// tracing on (http_grpc behind a metadata filter on ext_authz's trace_id;
// no call here has one, so no entry is ever made). Their per-call cost is
// the step's cost with N copies minus without, over N: a cost too small to
// see against the noise of a whole-chain run, multiplied until it is not.
var staticTmpl = template.Must(template.New("bootstrap").Parse(`# milvus-edge bench: {{.Step}} (hand-written static config)
node: {id: bench-{{.Step}}, cluster: bench}
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: {{.AdminPort}}}}
static_resources:
  listeners:
{{- range .Listeners}}
    - name: {{.Name}}
      address: {socket_address: {address: 127.0.0.1, port_value: {{.Port}}}}
      per_connection_buffer_limit_bytes: 67108864
      connection_balance_config: {exact_balance: {}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: {{.Name}}
{{- if $.TracedLoggers}}
                access_log:
{{- range $.TracedLoggers}}
                  - name: envoy.access_loggers.http_grpc
                    filter:
                      metadata_filter:
                        matcher: {filter: envoy.filters.http.ext_authz, path: [{key: trace_id}], value: {present_match: true}}
                        match_if_key_not_found: false
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig
                      common_config:
                        log_name: milvus_edge_metrics
                        grpc_service: {envoy_grpc: {cluster_name: {{$.FirstCluster}}}}
                        transport_api_version: V3
                        buffer_flush_interval: 1s
                        buffer_size_bytes: 16384
                      additional_response_headers_to_log: [grpc-status]
                      additional_response_trailers_to_log: [grpc-status]
{{- end}}
{{- end}}
                codec_type: AUTO
                http2_protocol_options: {max_concurrent_streams: 1024}
                route_config:
                  name: {{.Name}}
                  virtual_hosts:
                    - name: {{.Name}}
                      domains: ["*"]
                      routes:
                        - match: {prefix: /}
                          route: {cluster: {{.Cluster}}, timeout: 0s}
{{- if $.LocalRL}}
                          typed_per_filter_config:
                            envoy.filters.http.local_ratelimit:
                              "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
                              stat_prefix: local_rate_limit
                              token_bucket: {{$.Bucket}}
                              filter_enabled: {runtime_key: local_rate_limit_enabled, default_value: {numerator: 100, denominator: HUNDRED}}
                              filter_enforced: {runtime_key: local_rate_limit_enforced, default_value: {numerator: 100, denominator: HUNDRED}}
                              rate_limited_as_resource_exhausted: true
                              descriptors:
                                - {entries: [{key: level, value: edge}], token_bucket: {{$.Bucket}}}
                                - {entries: [{key: collection, value: default/bench}], token_bucket: {{$.Bucket}}}
                                - {entries: [{key: user, value: root}], token_bucket: {{$.Bucket}}}
                              rate_limits:
                                - actions: [{generic_key: {descriptor_key: level, descriptor_value: edge}}]
                                  hits_addend: {format: "%DYNAMIC_METADATA(milvus_edge.bench:cost)%"}
                                - actions: [{metadata: {descriptor_key: collection, metadata_key: {key: milvus_edge.bench, path: [{key: collection}]}, source: DYNAMIC}}]
                                  hits_addend: {format: "%DYNAMIC_METADATA(milvus_edge.bench:cost)%"}
                                - actions: [{request_headers: {header_name: x-milvus-edge-user, descriptor_key: user}}]
                                  hits_addend: {format: "%DYNAMIC_METADATA(milvus_edge.bench:cost)%"}
{{- end}}
                http_filters:
{{- if $.CallsFilters}}
                  - name: envoy.filters.http.set_metadata
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config
                      metadata:
                        - {metadata_namespace: envoy.filters.http.ext_authz, value: {api: Search, surface: grpc, db: default, collection: bench, user: root, nq: 1}}
{{- end}}
{{- range $i, $_ := $.CallsFilters}}
                  - name: milvus_edge.calls_{{$i}}
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter
                      dynamic_module_config: {do_not_close: true, module: {local: {filename: {{$.CallsModule}}}}}
                      filter_name: milvus_edge_calls
                      filter_config:
                        "@type": type.googleapis.com/google.protobuf.StringValue
                        value: "count 1\nmax_collections 200\npath /milvus.proto.milvus.MilvusService/Search\n"
{{- end}}
{{- if $.Authz}}
                  - name: envoy.filters.http.ext_authz
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
                      grpc_service:
                        envoy_grpc: {cluster_name: milvus_edge_filters}
                        timeout: 2s
                      status_on_error: {code: ServiceUnavailable}
                      transport_api_version: V3
                      with_request_body: {max_request_bytes: 65536, allow_partial_message: true, pack_as_bytes: true}
{{- end}}
{{- if $.LocalRL}}
                  - name: envoy.filters.http.set_metadata
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config
                      metadata:
                        - {metadata_namespace: milvus_edge.bench, value: {cost: 1, collection: default/bench}}
                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
                      stat_prefix: local_rate_limit
{{- end}}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
{{- end}}
  clusters:
{{- range .Clusters}}
    - name: {{.Name}}
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options: {{if .Keepalive}}{connection_keepalive: {interval: 30s, timeout: 5s}}{{else}}{}{{end}}
      load_assignment:
        cluster_name: {{.Name}}
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address: {socket_address: {address: {{.Host}}, port_value: {{.Port}}}}
{{- end}}
`))

type staticListener struct{ Name, Port, Cluster string }

// localRLTokens is the size and refill per second of every local_ratelimit
// bucket: far above the load, so no call is refused and the step measures
// the filter's work alone.
const localRLTokens = 1_000_000_000

type staticCluster struct {
	Name, Host, Port string
	Keepalive        bool
}

// amplify is the envoy step's amplification levers.
type amplify struct {
	callsFilters, tracedLoggers int
	callsModule                 string // the calls module's path, for callsFilters
}

// staticBootstrap renders the config: backends maps a backend name
// ("fake", "milvus-lite", "milvus") to its address and a listener address.
func staticBootstrap(step, adminAddr string, backends map[string][2]string, filtersAddr string, amp amplify) ([]byte, error) {
	data := struct {
		Step, AdminPort string
		Authz, LocalRL  bool
		Bucket          string
		Listeners       []staticListener
		Clusters        []staticCluster
		CallsFilters    []struct{}
		TracedLoggers   []struct{}
		CallsModule     string
		FirstCluster    string
	}{Step: step, AdminPort: port(adminAddr), Authz: filtersAddr != "", LocalRL: step == stepLocalRL,
		Bucket: fmt.Sprintf("{max_tokens: %d, tokens_per_fill: %d, fill_interval: 1s}", localRLTokens, localRLTokens)}
	if step == stepPass {
		data.CallsFilters, data.TracedLoggers = make([]struct{}, amp.callsFilters), make([]struct{}, amp.tracedLoggers)
		if amp.callsFilters > 0 {
			abs, err := filepath.Abs(amp.callsModule)
			if err != nil {
				return nil, err
			}
			if _, err := os.Stat(abs); err != nil {
				return nil, fmt.Errorf("-amplify-calls-filters needs the calls module (make build): %w", err)
			}
			data.CallsModule = abs
		}
	}
	for _, name := range []string{"fake", "milvus-lite", backendMilvus} {
		b, ok := backends[name]
		if !ok {
			continue
		}
		backend, listen := b[0], b[1]
		h, p, _ := net.SplitHostPort(backend)
		cl := "backend_" + map[string]string{"fake": "fake", "milvus-lite": "lite", backendMilvus: "milvus"}[name]
		data.Listeners = append(data.Listeners, staticListener{Name: "listener_" + cl, Port: port(listen), Cluster: cl})
		data.Clusters = append(data.Clusters, staticCluster{Name: cl, Host: h, Port: p})
		if data.FirstCluster == "" {
			data.FirstCluster = cl
		}
	}
	if filtersAddr != "" {
		h, p, _ := net.SplitHostPort(filtersAddr)
		data.Clusters = append(data.Clusters, staticCluster{Name: "milvus_edge_filters", Host: h, Port: p, Keepalive: true})
	}
	var out bytes.Buffer
	err := staticTmpl.Execute(&out, data)
	return out.Bytes(), err
}
