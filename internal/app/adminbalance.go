package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/milvus-edge/milvus-edge/balance"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// balanceAdmin serves the clusters view and the operators' actions:
//
//	GET  /v1/clusters           every cluster: policy, endpoints, weights and why, drains, overrides, probes, Envoy's view
//	POST /v1/endpoints/drain    {"cluster", "endpoint"}: no new calls (EDS DRAINING); calls in flight finish
//	POST /v1/endpoints/undrain  {"cluster", "endpoint"}
//	POST /v1/endpoints/weight   {"cluster", "endpoint", "weight", "ttl"}: pin a weight until ttl passes (default 1h); weight 0 clears it
//
// Actions are pushed to Envoy at once and live in memory only: a restart
// of the edge forgets them (the config file is the durable source).
type balanceAdmin struct {
	log *slog.Logger
	st  *reloadState
	xds *xdsserver.Server
	b   *balance.Balancer
	// envoy fetches Envoy's admin /clusters?format=json.
	envoy *http.Client
}

// defaultOverrideTTL is an override's life when the request names none.
const defaultOverrideTTL = time.Hour

func (a *balanceAdmin) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/clusters", a.clusters)
	mux.HandleFunc("POST /v1/endpoints/drain", func(w http.ResponseWriter, r *http.Request) { a.drain(w, r, true) })
	mux.HandleFunc("POST /v1/endpoints/undrain", func(w http.ResponseWriter, r *http.Request) { a.drain(w, r, false) })
	mux.HandleFunc("POST /v1/endpoints/weight", a.weight)
}

// endpointRequest is the body of the actions.
type endpointRequest struct {
	Cluster  string `json:"cluster"`
	Endpoint string `json:"endpoint"`
	Weight   *int64 `json:"weight,omitempty"`
	TTL      string `json:"ttl,omitempty"`
}

func (a *balanceAdmin) decode(w http.ResponseWriter, r *http.Request, weight bool) (endpointRequest, bool) {
	var req endpointRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	switch {
	case err != nil:
		err = fmt.Errorf("body: %w", err)
	case req.Cluster == "" || req.Endpoint == "":
		err = errors.New("body: cluster and endpoint are required")
	case !weight && (req.Weight != nil || req.TTL != ""):
		err = errors.New("body: weight and ttl belong to /v1/endpoints/weight")
	case weight && req.Weight == nil:
		err = errors.New("body: weight is required (0 clears an override)")
	case weight && (*req.Weight < 0 || *req.Weight > balance.MaxOverrideWeight):
		err = fmt.Errorf("body: weight must be 0..%d, got %d", balance.MaxOverrideWeight, *req.Weight)
	}
	if err != nil {
		jsonError(w, http.StatusBadRequest, err.Error())
		return req, false
	}
	return req, true
}

func (a *balanceAdmin) drain(w http.ResponseWriter, r *http.Request, on bool) {
	req, ok := a.decode(w, r, false)
	if !ok {
		return
	}
	k := balance.Key{Cluster: req.Cluster, Endpoint: req.Endpoint}
	if err := a.b.Drain(k, on); err != nil {
		actionError(w, err)
		return
	}
	what := map[bool]string{true: "drain", false: "undrain"}[on]
	a.log.Info("operator "+what, "cluster", req.Cluster, "endpoint", req.Endpoint)
	a.answer(w, r.Context(), k, what)
}

func (a *balanceAdmin) weight(w http.ResponseWriter, r *http.Request) {
	req, ok := a.decode(w, r, true)
	if !ok {
		return
	}
	ttl := defaultOverrideTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			jsonError(w, http.StatusBadRequest, fmt.Sprintf("body: ttl must be a positive duration like 10m, got %q", req.TTL))
			return
		}
		ttl = d
	}
	k := balance.Key{Cluster: req.Cluster, Endpoint: req.Endpoint}
	until, err := a.b.Override(k, uint32(*req.Weight), ttl)
	if err != nil {
		actionError(w, err)
		return
	}
	a.log.Info("operator weight override", "cluster", req.Cluster, "endpoint", req.Endpoint, "weight", *req.Weight, "until", until)
	a.answer(w, r.Context(), k, "weight")
}

// answer pushes the change and answers with the endpoint's state.
func (a *balanceAdmin) answer(w http.ResponseWriter, ctx context.Context, k balance.Key, what string) {
	version, pushed := refreshWeights(context.WithoutCancel(ctx), a.log, a.xds, "operator "+what)
	var ep *balance.Endpoint
	for _, c := range a.b.Clusters() {
		for _, e := range c.Endpoints {
			if c.Name == k.Cluster && e.Address == k.Endpoint {
				ep = &e
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cluster": k.Cluster, "endpoint": ep, "pushed": pushed, "xds_version": version})
}

// actionError answers an unknown cluster or endpoint with 404, anything else with 400.
func actionError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	if errors.Is(err, balance.ErrUnknownCluster) || errors.Is(err, balance.ErrUnknownEndpoint) {
		code = http.StatusNotFound
	}
	jsonError(w, code, err.Error())
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ClustersView is GET /v1/clusters.
type ClustersView struct {
	Clusters []ClusterView `json:"clusters"`
	// EnvoyError says why Envoy's view is missing (its admin unreachable).
	EnvoyError string `json:"envoy_error,omitempty"`
}

// ClusterView is one cluster.
type ClusterView struct {
	Name      string         `json:"name"`
	LBPolicy  string         `json:"lb_policy"`
	Endpoints []EndpointView `json:"endpoints"`
}

// EndpointView is one endpoint: the balancer's state and Envoy's.
type EndpointView struct {
	balance.Endpoint
	Envoy *EnvoyHost `json:"envoy,omitempty"`
}

// EnvoyHost is what Envoy's admin says of a host.
type EnvoyHost struct {
	// Health is healthy, or what keeps the host out: draining, unhealthy
	// (active check), ejected (outlier detection), degraded, …
	Health   string `json:"health"`
	Weight   uint32 `json:"weight"`
	RqTotal  uint64 `json:"rq_total"`
	RqActive uint64 `json:"rq_active"`
	RqError  uint64 `json:"rq_error"`
}

func (a *balanceAdmin) clusters(w http.ResponseWriter, r *http.Request) {
	cfg := currentConfig(a.st)
	policy := map[string]string{}
	for _, c := range cfg.Clusters {
		policy[c.Name] = c.LBPolicy
	}
	hosts, err := a.envoyHosts(r.Context(), cfg.Envoy.AdminAddress)
	var out ClustersView
	if err != nil {
		out.EnvoyError = fmt.Sprintf("envoy admin %s unreachable: %v", cfg.Envoy.AdminAddress, err)
	}
	for _, c := range a.b.Clusters() {
		cv := ClusterView{Name: c.Name, LBPolicy: policy[c.Name]}
		for _, e := range c.Endpoints {
			v := EndpointView{Endpoint: e}
			if h, ok := hosts[c.Name+"|"+e.Address]; ok {
				v.Envoy = &h
			}
			cv.Endpoints = append(cv.Endpoints, v)
		}
		out.Clusters = append(out.Clusters, cv)
	}
	writeJSON(w, http.StatusOK, out)
}

// envoyClusters is the part of Envoy's /clusters?format=json read here.
type envoyClusters struct {
	ClusterStatuses []struct {
		Name         string `json:"name"`
		HostStatuses []struct {
			Address struct {
				SocketAddress struct {
					Address   string `json:"address"`
					PortValue uint32 `json:"port_value"`
				} `json:"socket_address"`
			} `json:"address"`
			Stats []struct {
				Name  string          `json:"name"`
				Value json.RawMessage `json:"value"`
			} `json:"stats"`
			HealthStatus map[string]any `json:"health_status"`
			Weight       uint32         `json:"weight"`
			Hostname     string         `json:"hostname"`
		} `json:"host_statuses"`
	} `json:"cluster_statuses"`
}

// envoyHosts reads Envoy's hosts, keyed "cluster|host:port"; the hosts of
// an endpoint given by name are also summed under "cluster|name:port" (its
// weight is each host's; health is the first host's that is not healthy).
func (a *balanceAdmin) envoyHosts(ctx context.Context, admin string) (map[string]EnvoyHost, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/clusters?format=json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.envoy.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /clusters: %s", resp.Status)
	}
	var ec envoyClusters
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&ec); err != nil {
		return nil, fmt.Errorf("GET /clusters: %w", err)
	}
	out := map[string]EnvoyHost{}
	for _, c := range ec.ClusterStatuses {
		for _, h := range c.HostStatuses {
			sa := h.Address.SocketAddress
			e := EnvoyHost{Health: hostHealth(h.HealthStatus), Weight: h.Weight}
			for _, s := range h.Stats {
				v, _ := strconv.ParseUint(strings.Trim(string(s.Value), `"`), 10, 64)
				switch s.Name {
				case "rq_total":
					e.RqTotal = v
				case "rq_active":
					e.RqActive = v
				case "rq_error":
					e.RqError = v
				}
			}
			port := strconv.FormatUint(uint64(sa.PortValue), 10)
			out[c.Name+"|"+net.JoinHostPort(sa.Address, port)] = e
			if h.Hostname != "" {
				k := c.Name + "|" + net.JoinHostPort(h.Hostname, port)
				if sum, ok := out[k]; ok {
					sum.RqTotal, sum.RqActive, sum.RqError = sum.RqTotal+e.RqTotal, sum.RqActive+e.RqActive, sum.RqError+e.RqError
					if sum.Health == "healthy" {
						sum.Health = e.Health
					}
					e = sum
				}
				out[k] = e
			}
		}
	}
	return out, nil
}

// hostHealth summarizes Envoy's health_status of a host.
func hostHealth(hs map[string]any) string {
	var why []string
	for _, f := range []struct{ key, say string }{
		{"failed_active_health_check", "unhealthy (active check)"},
		{"failed_outlier_check", "ejected (outlier detection)"},
		{"failed_active_degraded_check", "degraded (active check)"},
		{"pending_dynamic_removal", "pending removal"},
		{"pending_active_hc", "pending first active check"},
		{"excluded_via_immediate_hc_fail", "excluded (immediate check failure)"},
		{"active_hc_timeout", "unhealthy (active check timeout)"},
	} {
		if b, _ := hs[f.key].(bool); b {
			why = append(why, f.say)
		}
	}
	if eds, _ := hs["eds_health_status"].(string); eds != "" && eds != "HEALTHY" {
		why = append([]string{strings.ToLower(eds)}, why...)
	}
	if len(why) == 0 {
		return "healthy"
	}
	return strings.Join(why, ", ")
}
