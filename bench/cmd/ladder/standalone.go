package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/milvus-edge/milvus-edge/internal/backendproc"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// The real-Milvus row set (-milvus): a Milvus 2.3.5 standalone with
// authentication on (root / Milvus), collection standaloneCollection with the
// fixture's schema, standaloneRows rows flushed, a FLAT L2 index, loaded —
// the setup of levers.md §7, where pymilvus through the edge paid ~2 ms per
// call more than through bare Envoy.
const (
	backendMilvus        = "milvus"
	standaloneCollection = "bench_milvus"
	standaloneRows       = 5000
)

// milvusSteps are the steps the real-Milvus rows run in: the ends of the
// ladder, plus the two static ext_authz steps that split the edge's gap into
// the price of any callout (envoy+noop-authz) and the edge's own Check
// (envoy+authz). The rate limit steps say nothing new here.
var milvusSteps = map[string]bool{stepDirect: true, stepPass: true, stepNoop: true, stepAuthz: true, stepFull: true}

// startStandalone starts the standalone through the edge's own harness
// (internal/backendproc, as `milvus-edge run` and the tests do; output in
// <dir>/milvus-standalone.log) and loads the row set.
func startStandalone(dir, bin string, avoid []string) (*backendproc.Standalone, error) {
	f, err := os.Create(filepath.Join(dir, "milvus-standalone.log"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), backendproc.StandaloneTimeout+10*time.Second)
	defer cancel()
	st, err := backendproc.StartStandalone(ctx, quiet, config.MilvusStandalone{
		Address: freeAddr(), DataDir: filepath.Join(dir, "standalone-data"), Command: bin, Authorization: true,
	}, avoid, procs.Output(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("milvus standalone (log %s): %w", f.Name(), err)
	}
	go func() {
		<-st.Done()
		f.Close()
	}()
	conn, err := grpc.NewClient(st.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stop(st.Proc)
		return nil, err
	}
	defer conn.Close()
	if err := prepareCollection(milvuspb.NewMilvusServiceClient(conn), "milvus standalone", standaloneCollection, standaloneRows, true); err != nil {
		stop(st.Proc)
		return nil, err
	}
	return st, nil
}

// standaloneCluster is the edge config's cluster and route for the
// standalone, as the tests configure it (test/e2e conftest standalone_edge):
// the edge's own credential for its schema fills from a file, callers' calls
// pass their own (forward passthrough), no REST (Milvus 2.3).
func standaloneCluster(dir, addr string) (cluster, route string, err error) {
	pw := filepath.Join(dir, "milvus-root-password")
	if err := os.WriteFile(pw, []byte(backendproc.RootPassword+"\n"), 0o600); err != nil {
		return "", "", err
	}
	cluster = fmt.Sprintf("  - name: milvus\n    rest: false\n    credential: {user: %s, password_file: %s}\n    endpoints: [{address: %s}]\n",
		backendproc.RootUser, pw, addr)
	route = "  - name: milvus\n    collection: " + standaloneCollection + "\n    cluster: milvus\n"
	return cluster, route, nil
}

// treeCPU is the CPU of a process and of its children (the standalone's
// Python wrapper and the milvus binary it runs), from /proc.
func treeCPU(pid int) time.Duration {
	total := cpuTime(pid)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return total
	}
	want := strconv.Itoa(pid)
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Field 4 (ppid) follows "(comm) state".
		i := strings.LastIndexByte(string(b), ')')
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == want {
			total += treeCPU(child)
		}
	}
	return total
}
