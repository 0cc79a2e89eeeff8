package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/freeport"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// balanceMux serves the balance handlers over a config of two endpoints,
// with Envoy's admin at envoyAdmin.
func balanceMux(t *testing.T, envoyAdmin string) *http.ServeMux {
	t.Helper()
	cfg, err := config.Parse([]byte(`envoy: {admin_address: ` + envoyAdmin + `}
clusters: [{name: default, lb_policy: round_robin, endpoints: [{address: 127.0.0.1:1001}, {address: 127.0.0.1:1002, weight: 2}]}]
routes: [{cluster: default}]
`))
	if err != nil {
		t.Fatal(err)
	}
	b := newBalancer(cfg)
	g, err := translate.Translate(cfg, XDSOptions())
	if err != nil {
		t.Fatal(err)
	}
	b.Overlay(g)
	log := slog.New(slog.DiscardHandler)
	mux := http.NewServeMux()
	(&balanceAdmin{log: log, st: &reloadState{cfg: cfg}, xds: xdsserver.New("n", log, XDSOptions()), b: b, envoy: &http.Client{}}).register(mux)
	return mux
}

func call(t *testing.T, mux http.Handler, method, path, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestBalanceAdmin(t *testing.T) {
	addr, err := freeport.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	mux := balanceMux(t, addr) // nothing listens there
	for _, tc := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"unknown cluster", "/v1/endpoints/drain", `{"cluster":"nope","endpoint":"127.0.0.1:1001"}`, 404, `unknown cluster \"nope\"`},
		{"unknown endpoint", "/v1/endpoints/drain", `{"cluster":"default","endpoint":"127.0.0.1:9"}`, 404, `unknown endpoint \"127.0.0.1:9\" in cluster \"default\"`},
		{"not JSON", "/v1/endpoints/drain", `cluster=default`, 400, "body: invalid character"},
		{"unknown field", "/v1/endpoints/undrain", `{"cluster":"default","endpoint":"127.0.0.1:1001","hard":true}`, 400, `unknown field \"hard\"`},
		{"missing endpoint", "/v1/endpoints/drain", `{"cluster":"default"}`, 400, "cluster and endpoint are required"},
		{"weight on drain", "/v1/endpoints/drain", `{"cluster":"default","endpoint":"127.0.0.1:1001","weight":3}`, 400, "belong to /v1/endpoints/weight"},
		{"no weight", "/v1/endpoints/weight", `{"cluster":"default","endpoint":"127.0.0.1:1001"}`, 400, "weight is required"},
		{"weight too big", "/v1/endpoints/weight", `{"cluster":"default","endpoint":"127.0.0.1:1001","weight":500}`, 400, "weight must be 0..128, got 500"},
		{"bad ttl", "/v1/endpoints/weight", `{"cluster":"default","endpoint":"127.0.0.1:1001","weight":3,"ttl":"soon"}`, 400, `ttl must be a positive duration like 10m, got \"soon\"`},
		{"drain", "/v1/endpoints/drain", `{"cluster":"default","endpoint":"127.0.0.1:1002"}`, 200, `"why": "drained by operator"`},
		{"override", "/v1/endpoints/weight", `{"cluster":"default","endpoint":"127.0.0.1:1001","weight":9,"ttl":"10m"}`, 200, `"why": "override 9 until `},
	} {
		code, body := call(t, mux, http.MethodPost, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	code, body := call(t, mux, http.MethodGet, "/v1/clusters", "")
	var v ClustersView
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("GET /v1/clusters: %d %s", code, body)
	}
	if !strings.Contains(v.EnvoyError, "unreachable") || len(v.Clusters) != 1 || v.Clusters[0].LBPolicy != "round_robin" {
		t.Fatalf("view without Envoy: %s", body)
	}
	eps := v.Clusters[0].Endpoints
	if len(eps) != 2 || eps[0].Override == nil || eps[0].Weight != 9 || !eps[1].Draining || eps[1].Configured != 2 || eps[1].Envoy != nil {
		t.Fatalf("endpoints: %s", body)
	}
}

func TestEnvoyHostHealth(t *testing.T) {
	envoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.String() != "/clusters?format=json" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, `{"cluster_statuses":[{"name":"default","host_statuses":[
 {"address":{"socket_address":{"address":"127.0.0.1","port_value":1001}},"stats":[{"name":"rq_total","value":"42","type":"COUNTER"},{"name":"rq_active","type":"GAUGE"}],
  "health_status":{"eds_health_status":"HEALTHY"},"weight":9},
 {"address":{"socket_address":{"address":"127.0.0.1","port_value":1002}},"stats":[{"name":"rq_total","value":"7"}],
  "health_status":{"eds_health_status":"DRAINING","failed_outlier_check":true},"weight":2}]}]}`)
	}))
	defer envoy.Close()
	_, body := call(t, balanceMux(t, strings.TrimPrefix(envoy.URL, "http://")), http.MethodGet, "/v1/clusters", "")
	var v ClustersView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	eps := v.Clusters[0].Endpoints
	if v.EnvoyError != "" || eps[0].Envoy == nil || *eps[0].Envoy != (EnvoyHost{Health: "healthy", Weight: 9, RqTotal: 42}) ||
		eps[1].Envoy == nil || eps[1].Envoy.Health != "draining, ejected (outlier detection)" || eps[1].Envoy.RqTotal != 7 {
		t.Fatalf("view: %s", body)
	}
}

// An endpoint given by name is two hosts in Envoy (its addresses, each
// with the name as hostname): its view sums them.
func TestEnvoyHostsOfAName(t *testing.T) {
	envoy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"cluster_statuses":[{"name":"qn","host_statuses":[
 {"address":{"socket_address":{"address":"192.0.2.1","port_value":19530}},"hostname":"milvus-a","stats":[{"name":"rq_total","value":"5"},{"name":"rq_error","value":"1"}],
  "health_status":{"eds_health_status":"HEALTHY"},"weight":3},
 {"address":{"socket_address":{"address":"192.0.2.2","port_value":19530}},"hostname":"milvus-a","stats":[{"name":"rq_total","value":"7"}],
  "health_status":{"eds_health_status":"HEALTHY","failed_active_health_check":true},"weight":3}]}]}`)
	}))
	defer envoy.Close()
	hosts, err := (&balanceAdmin{envoy: envoy.Client()}).envoyHosts(context.Background(), strings.TrimPrefix(envoy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	want := EnvoyHost{Health: "unhealthy (active check)", Weight: 3, RqTotal: 12, RqError: 1}
	if got := hosts["qn|milvus-a:19530"]; got != want {
		t.Errorf("by name: %+v, want %+v", got, want)
	}
	if got := hosts["qn|192.0.2.1:19530"]; got.RqTotal != 5 || got.Health != "healthy" {
		t.Errorf("by address: %+v", got)
	}
}
