package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"

	"github.com/milvus-edge/milvus-edge/internal/procs"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// The done-when of issue 11's health item, with its bounds: three
// milvus-lite endpoints (one process each) under a 4-client read loop
// (Query on a small loaded collection, through Envoy and the edge's
// filters to a backend); one killed → ≤ 0.1 % of calls failed and none
// after 5 s; one stalled with SIGSTOP → ejected within 5 s with ≤ 1 %
// failed; resumed → back in rotation within 15 s.

const (
	hcColl    = "hc"
	hcDim     = 8
	hcWorkers = 4
	// hcCallTimeout is each read's deadline: a call stuck on a stalled
	// backend fails after it.
	hcCallTimeout = 2 * time.Second
)

// hcStack is an edge in front of three milvus-lite processes, each holding
// the same small loaded collection.
type hcStack struct {
	e        *testenv.Edge
	backends []string
	procs    []*procs.Proc
}

func startHealthStack(t *testing.T) *hcStack {
	t.Helper()
	testenv.Setup(t)
	s := &hcStack{}
	for i := 0; i < 3; i++ {
		addr, p := testenv.MilvusLiteProc(t)
		s.backends, s.procs = append(s.backends, addr), append(s.procs, p)
		loadHealthCollection(t, addr)
	}
	p := testenv.NewPorts(t)
	var eps []string
	for _, b := range s.backends {
		eps = append(eps, "{address: "+b+"}")
	}
	s.e = testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`clusters:
  - name: default
    rest: false
    endpoints: [%s]
routes:
  - cluster: default
`, strings.Join(eps, ", ")), p)
	// Every endpoint has passed its first checks before the load starts.
	testenv.Eventually(t, 15*time.Second, "all three endpoints healthy", func() bool {
		for _, b := range s.backends {
			if f, ok := hostHealth(t, s.e.Ports.EnvoyAdmin, "default", b); !ok || len(f) > 0 {
				return false
			}
		}
		return true
	})
	return s
}

// loadHealthCollection creates, fills, indexes and loads the collection
// directly on one backend (each backend is its own store).
func loadHealthCollection(t *testing.T, addr string) {
	t.Helper()
	c := testenv.Client(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createVectorCollection(ctx, t, c, hcColl, hcDim)
	ok := func(what string, st *commonpb.Status, err error) {
		t.Helper()
		if err != nil || st.GetCode() != 0 {
			t.Fatalf("%s on %s: %v %v", what, addr, st, err)
		}
	}
	ins, err := c.Insert(ctx, insertRequest(hcColl, 10, hcDim))
	ok("Insert", ins.GetStatus(), err)
	st, err := c.CreateIndex(ctx, &milvuspb.CreateIndexRequest{CollectionName: hcColl, FieldName: "vec", ExtraParams: []*commonpb.KeyValuePair{
		{Key: "index_type", Value: "FLAT"}, {Key: "metric_type", Value: "L2"}, {Key: "params", Value: "{}"},
	}})
	ok("CreateIndex", st, err)
	st, err = c.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{CollectionName: hcColl})
	ok("LoadCollection", st, err)
	testenv.Eventually(t, 30*time.Second, hcColl+" loaded on "+addr, func() bool {
		r, err := c.GetLoadState(ctx, &milvuspb.GetLoadStateRequest{CollectionName: hcColl})
		return err == nil && r.GetState() == commonpb.LoadState_LoadStateLoaded
	})
}

// readLoad runs Query calls from hcWorkers clients (testenv.StartLoadOf, a
// connection per client, no pause) and keeps every call's outcome and end.
type readLoad struct{ *testenv.Load }

func startReadLoad(t *testing.T, addr string) *readLoad {
	return &readLoad{testenv.StartLoadOf(t, addr, testenv.LoadSpec{
		Workers:         hcWorkers,
		Timeout:         hcCallTimeout,
		ClientPerWorker: true,
		Call: func(ctx context.Context, c milvuspb.MilvusServiceClient) (any, error) {
			r, err := c.Query(ctx, &milvuspb.QueryRequest{CollectionName: hcColl, Expr: "id <= 4", OutputFields: []string{"id"}})
			if err == nil && r.GetStatus().GetCode() != 0 {
				err = fmt.Errorf("status %v", r.GetStatus())
			}
			return nil, err
		},
	})}
}

func (l *readLoad) end() { l.Stop() }

// counts returns the calls, the failures, the failures after t0 + after,
// and the first failure.
func (l *readLoad) counts(t0 time.Time, after time.Duration) (calls, failed, late int, first error) {
	all := l.Calls()
	for _, c := range all {
		if c.Err == nil {
			continue
		}
		failed++
		if first == nil {
			first = c.Err
		}
		if c.End.After(t0.Add(after)) {
			late++
		}
	}
	return len(all), failed, late, first
}

func (l *readLoad) calls() int { return l.Count() }

// keepOn keeps the load running (up to 60 s) until d has passed since t0
// and n more calls have ended; what names the wait.
func (l *readLoad) keepOn(t *testing.T, t0 time.Time, d time.Duration, n int, what string) {
	t.Helper()
	n0 := l.calls()
	testenv.Eventually(t, 60*time.Second, what, func() bool {
		return time.Since(t0) > d && l.calls()-n0 >= n
	})
}

// waitUnhealthy waits up to 5 s for Envoy to flag victim in cluster
// "default" (what names the wait) and returns how long that took and the
// flags.
func (s *hcStack) waitUnhealthy(t *testing.T, victim, what string) (time.Duration, []string) {
	t.Helper()
	took := testenv.Eventually(t, 5*time.Second, what, func() bool {
		f, ok := hostHealth(t, s.e.Ports.EnvoyAdmin, "default", victim)
		return ok && len(f) > 0
	})
	f, _ := hostHealth(t, s.e.Ports.EnvoyAdmin, "default", victim)
	return took, f
}

// hostHealth returns the health flags Envoy's admin /clusters?format=json
// shows for one host of a cluster (none: healthy); ok is false when the
// host is not there.
func hostHealth(t *testing.T, envoyAdmin, cluster, addr string) (flags []string, ok bool) {
	t.Helper()
	var doc struct {
		ClusterStatuses []struct {
			Name         string `json:"name"`
			HostStatuses []struct {
				Address struct {
					SocketAddress struct {
						Address   string `json:"address"`
						PortValue int    `json:"port_value"`
					} `json:"socket_address"`
				} `json:"address"`
				HealthStatus map[string]any `json:"health_status"`
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := json.Unmarshal([]byte(testenv.AdminGet(t, envoyAdmin, "/clusters?format=json")), &doc); err != nil {
		t.Fatalf("envoy /clusters?format=json: %v", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	for _, c := range doc.ClusterStatuses {
		if c.Name != cluster {
			continue
		}
		for _, h := range c.HostStatuses {
			if h.Address.SocketAddress.Address != host || strconv.Itoa(h.Address.SocketAddress.PortValue) != port {
				continue
			}
			for k, v := range h.HealthStatus {
				if b, isBool := v.(bool); isBool && b {
					flags = append(flags, k)
				}
				if k == "eds_health_status" && v != "HEALTHY" {
					flags = append(flags, fmt.Sprint(v))
				}
			}
			return flags, true
		}
	}
	return nil, false
}

// TestHealthKilledEndpoint: SIGKILL one of three endpoints under the read
// loop → at most 0.1 % of the calls fail, none later than 5 s after the kill.
func TestHealthKilledEndpoint(t *testing.T) {
	s := startHealthStack(t)
	l := startReadLoad(t, s.e.Ports.Listener)
	warm := time.Now()
	testenv.Eventually(t, 30*time.Second, "1,500 calls before the kill", func() bool { return l.calls() >= 1500 })
	t.Logf("before the kill: %d calls in %v", l.calls(), time.Since(warm).Round(time.Millisecond))
	victim := s.backends[1]
	kill := time.Now()
	must(t, syscall.Kill(s.procs[1].Pid(), syscall.SIGKILL))
	ejected, f := s.waitUnhealthy(t, victim, "killed endpoint marked unhealthy")
	t.Logf("killed endpoint out after %v (flags %v)", ejected.Round(time.Millisecond), f)
	// Keep the load on well past the 5 s mark.
	l.keepOn(t, kill, 12*time.Second, 3000, "12 s and 3,000 calls after the kill")
	l.end()
	calls, failed, late, first := l.counts(kill, 5*time.Second)
	pct := 100 * float64(failed) / float64(calls)
	t.Logf("kill: %d calls, %d failed (%.3f %%), %d later than 5 s after the kill; first failure: %v", calls, failed, pct, late, first)
	if pct > 0.1 {
		t.Errorf("%.3f %% of calls failed (%d of %d), want ≤ 0.1 %%", pct, failed, calls)
	}
	if late > 0 {
		t.Errorf("%d calls failed later than 5 s after the kill, want none", late)
	}
	for _, b := range []string{s.backends[0], s.backends[2]} {
		if n := testenv.HostStat(t, s.e.Ports.EnvoyAdmin, "default", b, "rq_total"); n < 100 {
			t.Errorf("endpoint %s served %d calls: the read loop did not reach every backend", b, n)
		}
	}
}

// TestHealthStalledEndpoint: SIGSTOP one of three endpoints under the read
// loop → Envoy marks it unhealthy within 5 s, at most 1 % of the calls
// fail; SIGCONT → it is healthy and receives calls again within 15 s.
func TestHealthStalledEndpoint(t *testing.T) {
	s := startHealthStack(t)
	l := startReadLoad(t, s.e.Ports.Listener)
	testenv.Eventually(t, 30*time.Second, "1,500 calls before the stall", func() bool { return l.calls() >= 1500 })
	victim, pid := s.backends[2], s.procs[2].Pid()
	stop := time.Now()
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	ejected, f := s.waitUnhealthy(t, victim, "stalled endpoint ejected")
	t.Logf("stalled endpoint ejected after %v (flags %v)", ejected.Round(time.Millisecond), f)
	l.keepOn(t, stop, 10*time.Second, 2000, "10 s and 2,000 calls after the stall")
	calls, failed, late, first := l.counts(stop, 5*time.Second)
	pct := 100 * float64(failed) / float64(calls)
	t.Logf("stall: %d calls, %d failed (%.3f %%), %d later than 5 s after the stop; first failure: %v", calls, failed, pct, late, first)
	if pct > 1 {
		t.Errorf("%.3f %% of calls failed (%d of %d), want ≤ 1 %%", pct, failed, calls)
	}

	rq := testenv.HostStat(t, s.e.Ports.EnvoyAdmin, "default", victim, "rq_total")
	must(t, syscall.Kill(pid, syscall.SIGCONT))
	resumed = true
	back := testenv.Eventually(t, 15*time.Second, "resumed endpoint healthy and receiving calls", func() bool {
		f, ok := hostHealth(t, s.e.Ports.EnvoyAdmin, "default", victim)
		return ok && len(f) == 0 && testenv.HostStat(t, s.e.Ports.EnvoyAdmin, "default", victim, "rq_total") > rq
	})
	t.Logf("resumed endpoint back in rotation after %v", back.Round(time.Millisecond))
	l.end()
	calls, failed, _, _ = l.counts(stop, 0)
	t.Logf("whole run: %d calls, %d failed", calls, failed)
}

// TestHealthChecksMilvusStandalone: the real Milvus 2.3.5 (authorization
// on) behind six clusters, none of whose checks carries a credential —
// the default (get_version) and check_health, each without a cluster
// credential and with one (passthrough), check_health_is_healthy and grpc
// (grpc.health.v1). The liveness checks pass without any credential
// (Milvus answers with a gRPC status: the server is up), the strict kinds
// fail (they need a backend that answers without a credential, as
// docs/health.md says), and Envoy's config_dump holds no credential.
func TestHealthChecksMilvusStandalone(t *testing.T) {
	testenv.Setup(t)
	st := testenv.MilvusStandalone(t)
	t.Setenv("HC_MILVUS_PASSWORD", st.Password)
	p := testenv.NewPorts(t)
	cluster := func(name, kind string, cred bool) string {
		s := fmt.Sprintf("  - name: %s\n    rest: false\n    endpoints: [{address: %s}]\n", name, st.Addr)
		if kind != "" { // "": the default kind (get_version)
			s += fmt.Sprintf("    health: {kind: %s}\n", kind)
		}
		if cred {
			s += fmt.Sprintf("    credential: {user: %s, password_env: HC_MILVUS_PASSWORD}\n", st.User)
		}
		return s
	}
	e := testenv.Run(t, p.ConfigHead()+"clusters:\n"+
		cluster("default_without_credential", "", false)+
		cluster("default_with_credential", "", true)+
		cluster("without_credential", "check_health", false)+
		cluster("with_credential", "check_health", true)+
		cluster("is_healthy", "check_health_is_healthy", true)+
		cluster("grpc_health", "grpc", true)+
		"routes:\n  - cluster: with_credential\n", p)
	for _, c := range []string{"default_without_credential", "default_with_credential", "without_credential", "with_credential"} {
		d := testenv.Eventually(t, 15*time.Second, c+" healthy", func() bool {
			f, ok := hostHealth(t, e.Ports.EnvoyAdmin, c, st.Addr)
			return ok && len(f) == 0
		})
		t.Logf("%s (liveness, no credential sent): healthy after %v", c, d.Round(time.Millisecond))
	}
	// The default checks GetVersion, which the proxy answers itself.
	if n := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.default_without_credential.health_check.success"); n < 1 {
		t.Errorf("default cluster: %d passed checks", n)
	}
	if !strings.Contains(testenv.AdminGet(t, e.Ports.EnvoyAdmin, "/config_dump"), "/milvus.proto.milvus.MilvusService/GetVersion") {
		t.Errorf("config_dump has no GetVersion health check: the default kind is not get_version")
	}
	// A new endpoint stays unhealthy until a check passes: wait for two
	// answered checks (failures, not just attempts) first.
	for _, c := range []string{"is_healthy", "grpc_health"} {
		testenv.Eventually(t, 10*time.Second, c+" checked twice", func() bool {
			return testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster."+c+".health_check.failure") >= 2
		})
		f, _ := hostHealth(t, e.Ports.EnvoyAdmin, c, st.Addr)
		t.Logf("%s: flags %v", c, f)
		if len(f) == 0 {
			t.Errorf("%s passed on Milvus with authorization on without a credential: docs/health.md says it cannot", c)
		}
	}
	dump := testenv.AdminGet(t, e.Ports.EnvoyAdmin, "/config_dump?include_eds")
	// The password alone ("Milvus") is a word of the dump; the credential's
	// forms are not.
	b64 := base64.StdEncoding.EncodeToString([]byte(st.User + ":" + st.Password))
	for _, leak := range []string{b64, st.User + ":" + st.Password} {
		if strings.Contains(dump, leak) {
			t.Errorf("config_dump shows the cluster's credential (%q)", leak)
		}
	}
}
