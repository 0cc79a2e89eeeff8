package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/app"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// inProcessEdge starts the edge with the in-process module on milvus-lite.
func inProcessEdge(t *testing.T, extra string) (*testenv.Edge, string) {
	t.Helper()
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	e := testenv.Run(t, p.ConfigHeadFor(config.FiltersInProcess)+fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
%s`, backend, extra), p)
	return e, backend
}

// TestInProcessSoak: 60 s of mixed load through the in-process module —
// searches, queries, inserts, DDL, validation refusals and wrong passwords —
// with 0 unexpected answers, Envoy alive throughout, and Envoy's resident
// memory (its own and the module's Go runtime) stable: what it grows after
// the first 20 s stays within 25 %.
func TestInProcessSoak(t *testing.T) {
	if os.Getenv("MILVUS_EDGE_SOAK") == "short" {
		t.Log("MILVUS_EDGE_SOAK=short: 15 s instead of 60 s")
	}
	e, _ := inProcessEdge(t, "validation: {watch_every: 1s}\n")
	envoyPID := childPID(t, "envoy")
	c := testenv.Client(t, e.Ports.Listener)
	ctx := testenv.Root(context.Background())
	const dim = 16
	schema, _ := proto.Marshal(&schemapb.CollectionSchema{Name: "soak", Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(dim)}}},
	}})
	for _, n := range []string{"soak", "soak_ddl"} {
		st, err := c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: n, Schema: schema})
		if err != nil || st.GetCode() != 0 {
			t.Fatalf("create %s: %v %v", n, st, err)
		}
	}
	if r, err := c.Insert(ctx, insertRequest("soak", 200, dim)); err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("insert: %v %v", r.GetStatus(), err)
	}
	soak := 60 * time.Second
	if os.Getenv("MILVUS_EDGE_SOAK") == "short" {
		soak = 15 * time.Second
	}
	var calls, bad atomic.Int64
	var mu sync.Mutex
	var samples []string
	fail := func(what string, err error) {
		bad.Add(1)
		mu.Lock()
		if len(samples) < 5 {
			samples = append(samples, fmt.Sprintf("%s: %v", what, err))
		}
		mu.Unlock()
	}
	ops := []func(ctx context.Context) (string, error){
		func(ctx context.Context) (string, error) {
			r, err := c.Search(ctx, searchRequest("soak", dim))
			return "search", statusErr(r.GetStatus(), err, 0)
		},
		func(ctx context.Context) (string, error) {
			r, err := c.Query(ctx, &milvuspb.QueryRequest{CollectionName: "soak", Expr: "id < 5", OutputFields: []string{"id"}})
			return "query", statusErr(r.GetStatus(), err, 0)
		},
		func(ctx context.Context) (string, error) {
			r, err := c.Insert(ctx, insertRequest("soak", 50, dim))
			return "insert", statusErr(r.GetStatus(), err, 0)
		},
		func(ctx context.Context) (string, error) {
			// A 300 KB insert: past the module's 64 KiB prefix, ext_proc validates it.
			r, err := c.Insert(ctx, insertRequest("soak", 5000, dim))
			return "large insert", statusErr(r.GetStatus(), err, 0)
		},
		func(ctx context.Context) (string, error) {
			r, err := c.Search(ctx, searchRequest("soak", dim/2))
			return "search with the wrong dim (refused)", statusErr(r.GetStatus(), err, 65535)
		},
		func(ctx context.Context) (string, error) {
			_, err := c.ShowCollections(testenv.Auth(context.Background(), "root", "wrong"), &milvuspb.ShowCollectionsRequest{})
			if status.Code(err) != codes.Unauthenticated {
				return "wrong password", fmt.Errorf("got %v, want UNAUTHENTICATED", err)
			}
			return "wrong password", nil
		},
		func(ctx context.Context) (string, error) {
			st, err := c.ReleaseCollection(ctx, &milvuspb.ReleaseCollectionRequest{CollectionName: "soak_ddl"})
			return "DDL", statusErr(st, err, 0)
		},
	}
	deadline := time.Now().Add(soak)
	var rss20 int64
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; time.Now().Before(deadline); i++ {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				what, err := ops[i%len(ops)](cctx)
				cancel()
				calls.Add(1)
				if err != nil {
					fail(what, err)
				}
			}
		}(w)
	}
	start := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		if !alive(envoyPID) {
			t.Fatalf("Envoy (pid %d) died %s into the soak", envoyPID, time.Since(start).Round(time.Second))
		}
		if rss20 == 0 && time.Since(start) >= soak/3 {
			rss20 = rssKB(t, envoyPID)
		}
	}
	wg.Wait()
	rssEnd := rssKB(t, envoyPID)
	t.Logf("%d calls in %s, %d unexpected; Envoy RSS %d MiB at %s, %d MiB at the end", calls.Load(), soak, bad.Load(), rss20>>10, soak/3, rssEnd>>10)
	if bad.Load() > 0 {
		t.Errorf("%d unexpected answers, e.g. %s", bad.Load(), strings.Join(samples, "; "))
	}
	if rssEnd > rss20*5/4 {
		t.Errorf("Envoy RSS grew from %d to %d KiB after warm-up (> 25 %%)", rss20, rssEnd)
	}
	// The module's checks are on the edge's /metrics, added into its series
	// (the edge's own ext_authz saw none of these calls).
	m := testenv.AdminGet(t, e.Ports.Admin, "/metrics")
	for _, d := range []string{"allow", "deny_auth"} {
		re := regexp.MustCompile(`(?m)^milvus_edge_authz_decisions_total\{decision="` + d + `"\} (\d+)`)
		if g := re.FindStringSubmatch(m); g == nil || g[1] == "0" {
			t.Errorf("no in-process %s decisions on /metrics: %v", d, g)
		}
	}
}

// statusErr is nil when the call answered with Milvus code want.
func statusErr(st *commonpb.Status, err error, want int32) error {
	if err != nil {
		return err
	}
	if st.GetCode() != want {
		return fmt.Errorf("status %v, want code %d", st, want)
	}
	return nil
}

// childPID finds this process's child named comm (Envoy: started by the
// edge that runs inside the test).
func childPID(t *testing.T, comm string) int {
	t.Helper()
	me := strconv.Itoa(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if s[open+1:close] == comm && len(f) > 1 && f[1] == me {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			return pid
		}
	}
	t.Fatalf("no child process %q of pid %s", comm, me)
	return 0
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// rssKB is VmRSS of pid in KiB.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// TestInProcessStartChecks: a module that cannot run fails the start with
// what to do, before Envoy gets a listener that would need it.
func TestInProcessStartChecks(t *testing.T) {
	testenv.Setup(t)
	for name, tc := range map[string]struct{ module, want string }{
		"missing": {"/nonexistent/libmilvus_edge.so", "make build"},
		"not Go":  {"/bin/sh", "make build"},
	} {
		t.Run(name, func(t *testing.T) {
			p := testenv.NewPorts(t)
			cfg := strings.Replace(p.ConfigHeadFor(config.FiltersInProcess), "edge: {", "edge: {module: "+tc.module+", ", 1) +
				"clusters: [{name: default, endpoints: [{address: 127.0.0.1:1}], health: {kind: none}}]\nroutes: [{cluster: default}]\n"
			path := filepath.Join(t.TempDir(), "edge.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := app.Run(ctx, app.Options{ConfigPath: path, Launch: true, Stdout: os.Stdout, Stderr: os.Stderr})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "edge.filters in_process") {
				t.Fatalf("start: %v, want an error naming edge.filters in_process and %q", err, tc.want)
			}
		})
	}
}

// TestClientIsTheConnectionPeer: what a client writes in X-Forwarded-For
// never becomes the caller's address — the login guard backs off by it, the
// policy reads it as input.source, the logs print it — in either mode (the
// in-process filter reads the stream's address, which Envoy's default would
// take from XFF).
func TestClientIsTheConnectionPeer(t *testing.T) {
	for _, mode := range []string{config.FiltersExternal, config.FiltersInProcess} {
		t.Run(mode, func(t *testing.T) {
			testenv.Setup(t)
			backend := testenv.MilvusLite(t)
			p := testenv.NewPorts(t)
			dir := t.TempDir()
			access, decisions := filepath.Join(dir, "access.log"), filepath.Join(dir, "decisions.log")
			head := strings.Replace(p.ConfigHeadFor(mode), "listener: {address: "+p.Listener+"}", "listener: {address: "+p.Listener+", access_log: "+access+"}", 1)
			e := testenv.Run(t, head+fmt.Sprintf(`clusters: [{name: default, endpoints: [{address: %s}]}]
routes: [{cluster: default}]
auth: {decision_log: %s}
`, backend, decisions), p)
			c := testenv.Client(t, e.Ports.Listener)
			ctx := metadata.AppendToOutgoingContext(testenv.Root(context.Background()), "x-forwarded-for", "203.0.113.9")
			line := accessLine(t, access, "/milvus.proto.milvus.MilvusService/ShowCollections", func() {
				if _, err := c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{}); err != nil {
					t.Fatal(err)
				}
			})
			if !strings.HasPrefix(line["client"], "127.0.0.1:") {
				t.Errorf("access log client %q, want the connection's 127.0.0.1", line["client"])
			}
			testenv.Eventually(t, 5*time.Second, "the decision record", func() bool {
				b, _ := os.ReadFile(decisions)
				return strings.Contains(string(b), `"ShowCollections"`)
			})
			b, _ := os.ReadFile(decisions)
			if strings.Contains(string(b), "203.0.113.9") {
				t.Errorf("the decision log took the client's X-Forwarded-For: %s", b)
			}
		})
	}
}
