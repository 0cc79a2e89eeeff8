package app

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"

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
	// callsModuleMark is a symbol only that module exports, holding
	// callsModuleVersion: the version of what it exchanges with the edge
	// (callsmodule/envoy/filter.c).
	callsModuleMark    = "milvus_edge_calls_module"
	callsModuleVersion = "milvus-edge calls module 1"
)

// CallsModulePath resolves edge.calls_module: as configured, else
// $MILVUS_EDGE_CALLS_MODULE, else CallsModuleFile beside the running binary.
func CallsModulePath(cfg *config.Config) (string, error) {
	return modulePath("edge.calls_module", cfg.Edge.CallsModule, CallsModuleEnvVar, CallsModuleFile)
}

// prepareCallsModule resolves the module and checks it wherever the edge
// can read it, so that a missing, foreign or stale file fails the start with
// what to do instead of Envoy refusing the listener at the first push: when
// the edge starts Envoy itself (run), and in serve when the path is there
// (Envoy elsewhere may hold it alone: then Envoy's refusal shows as a NACK).
func prepareCallsModule(cfg *config.Config, launch bool) (string, error) {
	path, err := CallsModulePath(cfg)
	if err != nil {
		return "", err
	}
	if _, statErr := os.Stat(path); !launch && statErr != nil {
		return path, nil
	}
	return path, CheckCallsModule(path)
}

// CheckCallsModule says whether path is this edge's calls module.
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
		if s.Name != callsModuleMark {
			continue
		}
		if v := symbolString(f, s); v != callsModuleVersion {
			return fmt.Errorf("edge.calls_module: %s is %q, this milvus-edge needs %q; %s (in docker compose, `docker compose down -v` drops the old copy)", path, v, callsModuleVersion, fix)
		}
		return nil
	}
	return fmt.Errorf("edge.calls_module: %s is not the edge's calls module (no %s symbol); %s", path, callsModuleMark, fix)
}

// symbolString reads the NUL-terminated string a data symbol holds.
func symbolString(f *elf.File, s elf.Symbol) string {
	if int(s.Section) >= len(f.Sections) {
		return ""
	}
	sec := f.Sections[s.Section]
	data, err := sec.Data()
	if err != nil || s.Value < sec.Addr || s.Value-sec.Addr+s.Size > uint64(len(data)) {
		return ""
	}
	b := data[s.Value-sec.Addr : s.Value-sec.Addr+s.Size]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
