package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestExampleRBACCopiesInSync: every example bundle carries the default RBAC
// rules as package milvus.rbac behind a three-line header; they must stay
// byte-equal to policy/bundle, so a fix to the default reaches the examples.
func TestExampleRBACCopiesInSync(t *testing.T) {
	copies, _ := filepath.Glob("../examples/policies/*/milvus/rbac/*.rego")
	if len(copies) == 0 {
		t.Fatal("no example RBAC copies found")
	}
	for _, c := range copies {
		want, err := os.ReadFile(filepath.Join("bundle/milvus/authz", filepath.Base(c)))
		if err != nil {
			t.Fatalf("%s has no original: %v", c, err)
		}
		want = bytes.Replace(want, []byte("package milvus.authz\n"), []byte("package milvus.rbac\n"), 1)
		got, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitN(got, []byte("\n"), 4)
		if len(lines) < 4 || !bytes.Equal(lines[3], want) {
			t.Errorf("%s differs from policy/bundle/milvus/authz/%s (copy it again, renaming the package to milvus.rbac)", c, filepath.Base(c))
		}
	}
}
