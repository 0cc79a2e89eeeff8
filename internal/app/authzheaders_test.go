package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/milvus-edge/milvus-edge/extproc/authz"
	"github.com/milvus-edge/milvus-edge/policy"
)

// TestAuthzHeaders: ext_authz gets the edge's headers plus those the
// bundle reads by a constant key, and every header when it reads the
// headers object some other way.
func TestAuthzHeaders(t *testing.T) {
	const head = "package milvus.authz\n\n"
	for _, tc := range []struct {
		name, rego string // "" rego: the embedded bundle
		want       []string
	}{
		{"embedded", "", authz.RequestHeaders},
		{"a constant key", head + `decision := {"allow": input.attributes.request.http.headers["x-team"] == "search"}`,
			append(slices.Clone(authz.RequestHeaders), "x-team")},
		{"a variable key", head + `decision := {"allow": allow}
allow if { some k; startswith(k, "x-"); input.attributes.request.http.headers[k] }`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := ""
			if tc.rego != "" {
				dir = t.TempDir()
				for name, content := range map[string]string{"data.yaml": "milvus: {users: {}}\n", "p.rego": tc.rego} {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			e := policy.NewEngine(slog.New(slog.DiscardHandler), policy.Options{Dir: dir})
			defer e.Close()
			if err := e.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := AuthzHeaders(e.Current()); !slices.Equal(got, tc.want) {
				t.Fatalf("AuthzHeaders = %q, want %q", got, tc.want)
			}
		})
	}
}
