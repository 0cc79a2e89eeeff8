package app

import (
	"cmp"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

// The calls filter's module (callsmodule/, built by `make build`): Envoy
// loads it to read the Milvus status of responses and count calls
// (docs/metrics.md).
const (
	// CallsModuleFile is its default file name, beside the milvus-edge
	// binary.
	CallsModuleFile = "libmilvus_edge_calls.so"
	// CallsModuleEnvVar names it when edge.calls_module is not set (tests,
	// which run the edge inside the test binary).
	CallsModuleEnvVar = "MILVUS_EDGE_CALLS_MODULE"
	// callsModuleMark is a symbol only that module exports.
	callsModuleMark = "milvus_edge_calls_module"
)

// CallsModulePath resolves edge.calls_module: as configured, else
// $MILVUS_EDGE_CALLS_MODULE, else CallsModuleFile beside the running binary.
func CallsModulePath(cfg *config.Config) (string, error) {
	p := cmp.Or(cfg.Edge.CallsModule, os.Getenv(CallsModuleEnvVar))
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("edge.calls_module: %w", err)
		}
		p = filepath.Join(filepath.Dir(exe), CallsModuleFile)
	}
	return filepath.Abs(p)
}

// prepareCallsModule resolves the module and, when the edge starts Envoy
// itself (run: the path is on this machine), checks it, so that a missing
// or foreign file fails the start with what to do instead of Envoy refusing
// the listener at the first push. In serve the path is Envoy's (another
// machine or container may hold it); Envoy's refusal then shows as a NACK.
func prepareCallsModule(cfg *config.Config, launch bool) (string, error) {
	path, err := CallsModulePath(cfg)
	if err != nil || !launch {
		return path, err
	}
	return path, CheckCallsModule(path)
}

// CheckCallsModule says whether path is the calls filter's module.
func CheckCallsModule(path string) error {
	fix := "build it with `make build` (scripts/build-calls-module.sh), or name it with edge.calls_module or $" + CallsModuleEnvVar
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("edge.calls_module: %s: %w; %s", path, err, fix)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		return fmt.Errorf("edge.calls_module: %s: %w; %s", path, err, fix)
	}
	for _, s := range syms {
		if s.Name == callsModuleMark {
			return nil
		}
	}
	return fmt.Errorf("edge.calls_module: %s is not the edge's calls module (no %s symbol); %s", path, callsModuleMark, fix)
}
