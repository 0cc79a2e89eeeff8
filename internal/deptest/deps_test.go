// Package deptest enforces the import direction of DESIGN.md:
// cmd → internal/app → xds, extproc → policy, cache → backends.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/milvus-edge/milvus-edge/"

// rules: a package (prefix) may not import these project packages (prefixes), and why.
var rules = []struct {
	pkg, forbidden, why string
}{
	{"xds/ir", "", "the model is pure: stdlib only, no project or Envoy imports"},
	{"policy", "", "the policy engine imports no other project package"},
	{"cache", "", "caches import no other project package"},
	{"internal/edgetrace", "", "the tracer imports no other project package but the contracts (edgehdr, edgemeta): the data path and app use it"},
	{"internal/otlpreceiver", "", "the test receiver imports no other project package"},
	{"extproc", "xds", "the data path never depends on the control plane"},
	{"extproc", "backends", "the data path reaches backends only through cache interfaces"},
	{"xds", "extproc", "the control plane does not depend on the data path"},
	{"discovery", "extproc", "discovery feeds the control plane; it never depends on the data path"},
	{"internal/config", "", "the config package imports only the stdlib and yaml"},
	{"internal/procs", "", "the child-process runner imports no other project package"},
	{"internal/backendproc", "extproc", "backend starters know processes and config, not the data path"},
	{"internal/backendproc", "xds", "backend starters know processes and config, not the control plane"},
	{"internal/backendproc", "internal/testenv", "tests use backend starters, not the other way round"},
	{"internal/sharedlimit", "extproc", "the shared-limit starters know processes, not the data path"},
	{"internal/sharedlimit", "xds", "the shared-limit starters know processes, not the control plane"},
	{"internal/sharedlimit", "ratelimit", "the starters run the service; the edge's client of it lives in ratelimit"},
	{"internal/sharedlimit", "internal/testenv", "tests use the shared-limit starters, not the other way round"},
	{"internal/promproc", "extproc", "the Prometheus starter knows processes, not the data path"},
	{"internal/promproc", "xds", "the Prometheus starter knows processes, not the control plane"},
	{"internal/promproc", "internal/testenv", "tests use the Prometheus starter, not the other way round"},
	{"balance", "backends", "the weights are pure logic: internal/app probes the backends and feeds them"},
	{"balance", "xds/server", "the balancer is an overlay the xDS server runs, not its client"},
	{"metrics", "xds", "the metrics read the control plane's counts as plain values (metrics.Sources), wired by internal/app"},
	{"metrics", "backends", "the metrics count what Envoy and the filters report, not backend clients"},
	{"bench", "internal/testenv", "the bench starts its processes through internal/procs and internal/backendproc, not the test harness"},
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, mod+"cmd") {
				t.Errorf("%s imports %s: nothing imports cmd", pkg, imp)
			}
			if strings.HasPrefix(imp, mod+"internal/app") && !allowedApp(pkg) {
				t.Errorf("%s imports internal/app: only cmd, tests and the harness wire the whole process", pkg)
			}
			if !strings.HasPrefix(imp, mod) {
				if pkg == "xds/ir" && strings.Contains(imp, ".") {
					t.Errorf("xds/ir imports %s: the model imports the stdlib only", imp)
				}
				continue
			}
			target := strings.TrimPrefix(imp, mod)
			for _, r := range rules {
				if !under(pkg, r.pkg) {
					continue
				}
				if r.forbidden == "" && !under(target, r.pkg) && !contract(target) {
					t.Errorf("%s imports %s: %s", pkg, target, r.why)
				}
				if r.forbidden != "" && under(target, r.forbidden) {
					t.Errorf("%s imports %s: %s", pkg, target, r.why)
				}
			}
		}
	}
}

func under(pkg, prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }

func allowedApp(pkg string) bool {
	return under(pkg, "cmd") || pkg == "internal/testenv" || under(pkg, "test")
}

// contract says a package is one of the leaf contracts every layer may
// share: the edge's header names (edgehdr) and the metadata keys ext_authz,
// the calls filter and the access-log readers agree on (edgemeta).
func contract(pkg string) bool { return pkg == "internal/edgehdr" || pkg == "internal/edgemeta" }
