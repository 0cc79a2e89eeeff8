package main

import (
	"bytes"
	"fmt"
	"net"
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

// staticBootstrap renders the config: backends maps a backend name
// ("fake", "milvus-lite", "milvus") to its address and a listener address.
func staticBootstrap(step, adminAddr string, backends map[string][2]string, filtersAddr string) ([]byte, error) {
	data := struct {
		Step, AdminPort string
		Authz, LocalRL  bool
		Bucket          string
		Listeners       []staticListener
		Clusters        []staticCluster
	}{Step: step, AdminPort: port(adminAddr), Authz: filtersAddr != "", LocalRL: step == stepLocalRL,
		Bucket: fmt.Sprintf("{max_tokens: %d, tokens_per_fill: %d, fill_interval: 1s}", localRLTokens, localRLTokens)}
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
	}
	if filtersAddr != "" {
		h, p, _ := net.SplitHostPort(filtersAddr)
		data.Clusters = append(data.Clusters, staticCluster{Name: "milvus_edge_filters", Host: h, Port: p, Keepalive: true})
	}
	var out bytes.Buffer
	err := staticTmpl.Execute(&out, data)
	return out.Bytes(), err
}
