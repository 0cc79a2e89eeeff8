package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/procs"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

func balanceConfig(p testenv.Ports, policy string, eps ...string) string {
	var b strings.Builder
	for _, e := range eps {
		fmt.Fprintf(&b, "      - {address: %s}\n", e)
	}
	return p.ConfigHead() + fmt.Sprintf(`clusters:
  - name: default
    lb_policy: %s
    endpoints:
%sroutes:
  - name: default
    cluster: default
`, policy, b.String())
}

// rqTotals reads every host's rq_total of a cluster from one /clusters answer.
func rqTotals(t *testing.T, envoyAdmin, cluster string, hosts []string) []int {
	t.Helper()
	body := testenv.AdminGet(t, envoyAdmin, "/clusters")
	out := make([]int, len(hosts))
	for i, h := range hosts {
		prefix := cluster + "::" + h + "::rq_total::"
		out[i] = -1
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				out[i], _ = strconv.Atoi(v)
			}
		}
	}
	return out
}

// window counts each host's new calls over d.
func window(t *testing.T, envoyAdmin string, hosts []string, d time.Duration) []int {
	t.Helper()
	a := rqTotals(t, envoyAdmin, "default", hosts)
	time.Sleep(d)
	b := rqTotals(t, envoyAdmin, "default", hosts)
	for i := range b {
		b[i] -= a[i]
	}
	return b
}

// shareSettles counts calls over 2 s windows, logging each (label, and
// whose share: who), until the last host's share is within lo..hi %, and
// returns how long that took; past limit it calls fail with the share.
func shareSettles(t *testing.T, envoyAdmin string, hosts []string, lo, hi float64, limit time.Duration, label, who string, fail func(share float64)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := window(t, envoyAdmin, hosts, 2*time.Second)
		s := shareOf(got, len(hosts)-1)
		t.Logf("%s, %s in: calls over the last 2 s %v, %s share %.1f%%", label, time.Since(start).Round(100*time.Millisecond), got, who, s)
		if s >= lo && s <= hi {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			fail(s)
			return time.Since(start)
		}
	}
}

func shareOf(counts []int, i int) float64 {
	sum := 0
	for _, c := range counts {
		sum += c
	}
	if sum == 0 {
		return -1
	}
	return 100 * float64(counts[i]) / float64(sum)
}

// TestLookAsideWeights: three real milvus-lite endpoints, the third behind
// the LatencyProxy fixture. Round robin, so that the shares come from the
// pushed weights alone (least_request would also favour the fast ones).
func TestLookAsideWeights(t *testing.T) {
	testenv.Setup(t)
	a, b, c := testenv.MilvusLite(t), testenv.MilvusLite(t), testenv.MilvusLite(t)
	slow := testenv.NewLatencyProxy(t, c)
	hosts := []string{a, b, slow.Addr}
	p := testenv.NewPorts(t)
	testenv.Run(t, balanceConfig(p, "round_robin", hosts...), p)
	load := testenv.StartLoad(t, p.Listener, 4)

	base := window(t, p.EnvoyAdmin, hosts, 2*time.Second)
	t.Logf("no latency: calls per endpoint over 2 s %v, the proxied one's share %.1f%%", base, shareOf(base, 2))

	slow.SetDelay(50 * time.Millisecond)
	took := shareSettles(t, p.EnvoyAdmin, hosts, 0, 10, 20*time.Second, "50 ms per chunk", "the slow one's", func(s float64) {
		t.Fatalf("the slow endpoint still had %.1f%% of calls 20 s after the latency came: %s", s, testenv.AdminGet(t, p.Admin, "/v1/clusters"))
	})
	t.Logf("slow endpoint at ≤ 10 %% after %s", took.Round(100*time.Millisecond))
	got := window(t, p.EnvoyAdmin, hosts, 3*time.Second)
	t.Logf("the next 3 s: calls %v, the slow one's share %.1f%%", got, shareOf(got, 2))
	if s := shareOf(got, 2); s < 0 || s > 10 {
		t.Fatalf("the slow endpoint's share went back to %.1f%%", s)
	}
	view := testenv.AdminGet(t, p.Admin, "/v1/clusters")
	if !strings.Contains(view, `"why": "latency `) {
		t.Fatalf("/v1/clusters does not say why: %s", view)
	}
	t.Logf("/v1/clusters: %s", view)

	slow.SetDelay(0)
	took = shareSettles(t, p.EnvoyAdmin, hosts, 25, 42, 40*time.Second, "latency removed", "its", func(s float64) {
		t.Fatalf("the endpoint had %.1f%% of calls 40 s after its latency went, want ≈ 33 %%", s)
	})
	t.Logf("back to its share after %s", took.Round(100*time.Millisecond))
	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load: %d ok, %d failed", ok, fail)
	if fail != 0 {
		t.Fatalf("%d calls failed (first: %v)", fail, firstErr)
	}
}

// ctl runs the built binary's ctl command and returns its output.
func ctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("MILVUS_EDGE_BIN")
	if bin == "" {
		bin = filepath.Join(testenv.RepoRoot(t), "bin/milvus-edge")
	}
	var out syncBuffer
	proc, err := procs.Start(testenv.Logger(t), "ctl", bin, append([]string{"ctl"}, args...), os.Environ(), procs.Output(&out))
	if err != nil {
		t.Fatalf("%s: %v (go build -o bin/milvus-edge ./cmd/milvus-edge)", bin, err)
	}
	select {
	case <-proc.Done():
	case <-time.After(30 * time.Second):
		_ = proc.Stop(time.Second)
		t.Fatal("ctl did not end within 30 s")
	}
	return out.String(), proc.Err()
}

// TestDrainWithCtl drains an endpoint with `milvus-edge ctl` under load: no
// new calls reach it 2 s later, no call fails, and undrain brings it back.
func TestDrainWithCtl(t *testing.T) {
	testenv.Setup(t)
	hosts := []string{testenv.MilvusLite(t), testenv.MilvusLite(t), testenv.MilvusLite(t)}
	p := testenv.NewPorts(t)
	e := testenv.Run(t, balanceConfig(p, "least_request", hosts...), p)
	load := testenv.StartLoad(t, p.Listener, 4)
	testenv.Eventually(t, 10*time.Second, "every endpoint takes calls", func() bool {
		w := window(t, p.EnvoyAdmin, hosts, 500*time.Millisecond)
		return w[0] > 0 && w[1] > 0 && w[2] > 0
	})

	out, err := ctl(t, "--config", e.ConfigPath, "drain", "default", hosts[2])
	if err != nil {
		t.Fatalf("ctl drain: %v: %s", err, out)
	}
	drained := time.Now()
	t.Logf("ctl drain: %s", strings.TrimSpace(out))
	var flags string
	took := testenv.Eventually(t, 2*time.Second, "Envoy sees the endpoint draining", func() bool {
		prefix := "default::" + hosts[2] + "::health_flags::"
		for _, line := range strings.Split(testenv.AdminGet(t, p.EnvoyAdmin, "/clusters"), "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				flags = v
			}
		}
		return strings.Contains(flags, "drain")
	})
	t.Logf("Envoy's health flags %q %s after ctl returned", flags, took)
	time.Sleep(time.Until(drained.Add(2 * time.Second)))
	w := window(t, p.EnvoyAdmin, hosts, 3*time.Second)
	t.Logf("from 2 s after the drain, 3 s of calls per endpoint: %v", w)
	if w[2] != 0 || w[0] == 0 || w[1] == 0 {
		t.Fatalf("after the drain: calls %v, want none to the drained endpoint", w)
	}
	out, err = ctl(t, "--config", e.ConfigPath, "clusters")
	if err != nil || !strings.Contains(out, "drained by operator") {
		t.Fatalf("ctl clusters: %v: %s", err, out)
	}
	t.Logf("ctl clusters:\n%s", out)

	out, err = ctl(t, "--config", e.ConfigPath, "undrain", "default", hosts[2])
	if err != nil {
		t.Fatalf("ctl undrain: %v: %s", err, out)
	}
	took = testenv.Eventually(t, 5*time.Second, "the undrained endpoint takes calls again", func() bool {
		return window(t, p.EnvoyAdmin, hosts, 300*time.Millisecond)[2] > 0
	})
	t.Logf("undrained endpoint took calls again within %s", took)
	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load: %d ok, %d failed", ok, fail)
	if fail != 0 || ok == 0 {
		t.Fatalf("load: %d ok, %d failed (first: %v)", ok, fail, firstErr)
	}

	// Mistakes are the API's clear errors, and ctl exits non-zero.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"drain", "nope", hosts[0]}, `404 Not Found: unknown cluster "nope"`},
		{[]string{"drain", "default", "127.0.0.1:1"}, `404 Not Found: unknown endpoint "127.0.0.1:1" in cluster "default"`},
	} {
		out, err := ctl(t, append([]string{"--config", e.ConfigPath}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("ctl %v: %v: %s, want an error with %q", tc.args, err, out, tc.want)
		}
	}
}

// TestWeightOverrideExpires: an override applies, shows in `ctl clusters`,
// and reverts after its ttl.
func TestWeightOverrideExpires(t *testing.T) {
	testenv.Setup(t)
	hosts := []string{testenv.MilvusLite(t), testenv.MilvusLite(t)}
	p := testenv.NewPorts(t)
	// With an admin token: ctl takes it from the config's edge.admin_token_file.
	// Look-aside off: a held-back lite would scale the override ×100 (as
	// designed, docs/balancing.md) on a loaded machine.
	tok := filepath.Join(t.TempDir(), "admin-token")
	testenv.WriteFile(t, tok, "balance-test-token-0123456789\n")
	cfg := strings.Replace(balanceConfig(p, "round_robin", hosts...), "admin_address: "+p.Admin+"}",
		"admin_address: "+p.Admin+", admin_token_file: "+tok+"}", 1) + "balance: {enabled: false}\n"
	e := testenv.Run(t, cfg, p)
	if out, err := ctl(t, "--admin", p.Admin, "clusters"); err == nil || !strings.Contains(out, "401 Unauthorized: missing Authorization") {
		t.Fatalf("ctl without the token: %v: %s", err, out)
	}
	out, err := ctl(t, "--config", e.ConfigPath, "weight", "default", hosts[0], "7", "--for", "4s")
	if err != nil {
		t.Fatalf("ctl weight: %v: %s", err, out)
	}
	set := time.Now()
	t.Logf("ctl weight: %s", strings.TrimSpace(out))
	testenv.Eventually(t, 2*time.Second, "Envoy has the override", func() bool {
		return testenv.HostStat(t, p.EnvoyAdmin, "default", hosts[0], "weight") == 7
	})
	out, err = ctl(t, "--config", e.ConfigPath, "clusters")
	if err != nil || !strings.Contains(out, "override 7 until") {
		t.Fatalf("ctl clusters: %v: %s", err, out)
	}
	t.Logf("ctl clusters:\n%s", out)
	var view struct {
		Clusters []struct {
			Endpoints []struct {
				Address  string `json:"address"`
				Weight   int    `json:"weight"`
				Override *struct {
					Weight int       `json:"weight"`
					Until  time.Time `json:"until"`
				} `json:"override"`
			} `json:"endpoints"`
		} `json:"clusters"`
	}
	out, err = ctl(t, "--config", e.ConfigPath, "--json", "clusters")
	if err != nil || json.Unmarshal([]byte(out), &view) != nil {
		t.Fatalf("ctl --json clusters: %v: %s", err, out)
	}
	if o := view.Clusters[0].Endpoints[0].Override; o == nil || o.Weight != 7 || o.Until.Sub(set) > 5*time.Second {
		t.Fatalf("override in the JSON view: %+v", view.Clusters[0].Endpoints[0])
	}
	testenv.Eventually(t, 10*time.Second, "the override expires", func() bool {
		return testenv.HostStat(t, p.EnvoyAdmin, "default", hosts[0], "weight") == 1
	})
	t.Logf("override of 4 s reverted in Envoy %s after it was set", time.Since(set).Round(100*time.Millisecond))
	out, err = ctl(t, "--config", e.ConfigPath, "clusters")
	if err != nil || strings.Contains(out, "override") {
		t.Fatalf("ctl clusters after expiry: %v: %s", err, out)
	}
	// Bad input: 400 with the field.
	out, err = ctl(t, "--config", e.ConfigPath, "weight", "default", hosts[0], "3", "--for", "-1s")
	if err == nil || !strings.Contains(out, "must be positive") {
		t.Fatalf("ctl weight --for -1s: %v: %s", err, out)
	}
	out, err = ctl(t, "--config", e.ConfigPath, "policy", "status")
	if err != nil || !strings.Contains(out, "policy bundle ") || !strings.Contains(out, "(embedded)") {
		t.Fatalf("ctl policy status: %v: %s", err, out)
	}
	out, err = ctl(t, "--config", e.ConfigPath, "cache", "invalidate", "--db", "default", "--collection", "books")
	if err != nil || !strings.Contains(out, `"collection": "books"`) {
		t.Fatalf("ctl cache invalidate: %v: %s", err, out)
	}
}

func adminPost(t *testing.T, admin, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+admin+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// syncBuffer is a bytes.Buffer safe for the relay goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDrainDNSCluster: endpoints given by name are resolved by the edge and
// come by EDS, so a drain and an undrain move a host's health status in
// place: no cluster is replaced (Envoy's cluster_manager.cluster_modified
// stays), and no call fails. (As a STRICT_DNS cluster each was a new
// cluster, and a call could meet the swap with "no healthy upstream",
// envoyproxy/envoy#13070: one call in a few thousand.)
func TestDrainDNSCluster(t *testing.T) {
	testenv.Setup(t)
	var hosts, names []string
	for i := 0; i < 2; i++ {
		a := testenv.MilvusLite(t)
		_, port, _ := strings.Cut(a, ":")
		hosts, names = append(hosts, a), append(names, "localhost:"+port)
	}
	p := testenv.NewPorts(t)
	testenv.Run(t, balanceConfig(p, "round_robin", names...), p)
	load := testenv.StartLoad(t, p.Listener, 4)
	testenv.Eventually(t, 10*time.Second, "both endpoints take calls", func() bool {
		w := window(t, p.EnvoyAdmin, hosts, 500*time.Millisecond)
		return w[0] > 0 && w[1] > 0
	})
	if cl := testenv.AdminGet(t, p.EnvoyAdmin, "/clusters"); !strings.Contains(cl, "default::"+hosts[1]+"::hostname::localhost") {
		t.Fatalf("the named endpoint is not %s with hostname localhost:\n%s", hosts[1], cl)
	}
	modified := testenv.Counter(t, p.EnvoyAdmin, "cluster_manager.cluster_modified")
	code, body := adminPost(t, p.Admin, "/v1/endpoints/drain", `{"cluster":"default","endpoint":"`+names[1]+`"}`)
	if code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	drained := time.Now()
	time.Sleep(2 * time.Second)
	w := window(t, p.EnvoyAdmin, hosts, 3*time.Second)
	t.Logf("named endpoints, from 2 s after the drain, 3 s of calls per endpoint: %v", w)
	if w[1] > 0 || w[0] == 0 {
		t.Fatalf("after draining %s: calls %v, want none to it", names[1], w)
	}
	code, body = adminPost(t, p.Admin, "/v1/endpoints/undrain", `{"cluster":"default","endpoint":"`+names[1]+`"}`)
	if code != 200 {
		t.Fatalf("undrain: %d %s", code, body)
	}
	took := testenv.Eventually(t, 5*time.Second, "the undrained endpoint takes calls again", func() bool {
		return window(t, p.EnvoyAdmin, hosts, 300*time.Millisecond)[1] > 0
	})
	t.Logf("undrained in %s (drained at %s)", took, drained.Format(time.TimeOnly))
	if n := testenv.Counter(t, p.EnvoyAdmin, "cluster_manager.cluster_modified"); n != modified {
		t.Errorf("the drain and undrain replaced a cluster (cluster_modified %d → %d), want endpoints moved in place", modified, n)
	}
	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load: %d ok, %d failed", ok, fail)
	if fail != 0 {
		t.Fatalf("%d calls failed (first: %v)", fail, firstErr)
	}
}

// TestProbeMilvusStandalone: the prober calls the real Milvus 2.3.5
// (authorization on) with the cluster's credential; without one Milvus
// refuses the probe, which still measures the endpoint (it answered): no
// probe error holds it back (/v1/clusters).
func TestProbeMilvusStandalone(t *testing.T) {
	testenv.Setup(t)
	st := testenv.MilvusStandalone(t)
	t.Setenv("BALANCE_MILVUS_PASSWORD", st.Password)
	p := testenv.NewPorts(t)
	cfg := p.ConfigHead() + fmt.Sprintf(`clusters:
  - name: with_credential
    rest: false
    credential: {user: %s, password_env: BALANCE_MILVUS_PASSWORD}
    endpoints: [{address: %s}]
  - name: without_credential
    rest: false
    health: {kind: none}
    endpoints: [{address: %s}]
routes:
  - cluster: with_credential
`, st.User, st.Addr, st.Addr)
	testenv.Run(t, cfg, p)
	type view struct {
		Clusters []struct {
			Name      string `json:"name"`
			Endpoints []struct {
				Why   string `json:"why"`
				Probe struct {
					LatencyMS float64 `json:"latency_ms"`
					Errors    int     `json:"consecutive_errors"`
					LastError string  `json:"last_error"`
				} `json:"probe"`
			} `json:"endpoints"`
		} `json:"clusters"`
	}
	var v view
	testenv.Eventually(t, 10*time.Second, "both clusters probed", func() bool {
		v = view{}
		if err := json.Unmarshal([]byte(testenv.AdminGet(t, p.Admin, "/v1/clusters")), &v); err != nil || len(v.Clusters) != 2 {
			return false
		}
		return v.Clusters[0].Endpoints[0].Probe.LatencyMS > 0 && v.Clusters[1].Endpoints[0].Probe.LatencyMS > 0
	})
	with, without := v.Clusters[0].Endpoints[0], v.Clusters[1].Endpoints[0]
	t.Logf("with the credential: %+v", with)
	t.Logf("without: %+v", without)
	// Without a credential Milvus refuses the probe (UNAUTHENTICATED): an
	// answer all the same, so the endpoint's latency is measured and no
	// error held it back.
	time.Sleep(3 * time.Second) // three more probe rounds
	if err := json.Unmarshal([]byte(testenv.AdminGet(t, p.Admin, "/v1/clusters")), &v); err != nil {
		t.Fatal(err)
	}
	with, without = v.Clusters[0].Endpoints[0], v.Clusters[1].Endpoints[0]
	if with.Probe.Errors != 0 || without.Probe.Errors != 0 || without.Probe.LastError != "" || strings.HasPrefix(without.Why, "probe errors") {
		t.Fatalf("with: %+v, without: %+v", with, without)
	}
}

// TestDrainLetsCallsInFlightFinish: the drained endpoint sits behind the
// LatencyProxy fixture (150 ms per chunk, under the health check's 500 ms timeout), so calls are in flight on it
// when the drain comes; they finish, and no call of the load fails.
func TestDrainLetsCallsInFlightFinish(t *testing.T) {
	testenv.Setup(t)
	a, b := testenv.MilvusLite(t), testenv.MilvusLite(t)
	slow := testenv.NewLatencyProxy(t, b)
	slow.SetDelay(150 * time.Millisecond)
	hosts := []string{a, slow.Addr}
	p := testenv.NewPorts(t)
	// Look-aside off: the slow endpoint keeps its share until the drain.
	testenv.Run(t, balanceConfig(p, "round_robin", hosts...)+"balance: {enabled: false}\n", p)
	load := testenv.StartLoad(t, p.Listener, 4)
	testenv.Eventually(t, 10*time.Second, "the load under way", func() bool { return load.OK() >= 20 })
	var active int
	testenv.Eventually(t, 10*time.Second, "calls in flight on the slow endpoint", func() bool {
		active = testenv.HostStat(t, p.EnvoyAdmin, "default", slow.Addr, "rq_active")
		return active > 0
	})
	before := load.OK()
	code, body := adminPost(t, p.Admin, "/v1/endpoints/drain", `{"cluster":"default","endpoint":"`+slow.Addr+`"}`)
	if code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	drained := time.Now()
	took := testenv.Eventually(t, 3*time.Second, "the calls in flight finish", func() bool {
		return testenv.HostStat(t, p.EnvoyAdmin, "default", slow.Addr, "rq_active") == 0
	})
	t.Logf("%d calls in flight on the slow endpoint at the drain; all ended %s after it", active, took.Round(time.Millisecond))
	time.Sleep(time.Until(drained.Add(2 * time.Second)))
	w := window(t, p.EnvoyAdmin, hosts, 2*time.Second)
	t.Logf("from 2 s after the drain, 2 s of calls per endpoint: %v", w)
	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load: %d ok (%d after the drain), %d failed", ok, ok-before, fail)
	if w[1] != 0 || w[0] == 0 || fail != 0 {
		t.Fatalf("calls %v, %d failed (first: %v): want none to the drained endpoint and none failed", w, fail, firstErr)
	}
	if e := testenv.HostStat(t, p.EnvoyAdmin, "default", slow.Addr, "rq_error"); e != 0 {
		t.Fatalf("the drained endpoint has %d failed calls in Envoy", e)
	}
}
