package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckCallsModule: the module `make build` makes passes; a file that
// is not it, or is missing, fails with what to do.
func TestCheckCallsModule(t *testing.T) {
	mod := os.Getenv(CallsModuleEnvVar)
	if mod == "" {
		mod = filepath.Join("..", "..", "bin", CallsModuleFile)
	}
	if err := CheckCallsModule(mod); err != nil {
		t.Fatalf("the built module: %v (make build)", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{self, filepath.Join(t.TempDir(), "missing.so")} {
		if err := CheckCallsModule(p); err == nil || !strings.Contains(err.Error(), "make build") {
			t.Errorf("%s: %v, want a refusal that says to run make build", p, err)
		}
	}
}
