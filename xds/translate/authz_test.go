package translate

import (
	"os"
	"slices"
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

// TestAuthzHeaders: the headers restrict ext_authz with the embedded
// bundle (sorted, once each); a custom auth.policy_dir gets every header,
// since it reloads without a listener push.
func TestAuthzHeaders(t *testing.T) {
	data, err := os.ReadFile("../testdata/in/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{AuthzHeaders: []string{"dbname", "authorization", "dbname"}}
	for _, tc := range []struct {
		name, dir string
		want      []string
	}{
		{"embedded bundle", "", []string{"authorization", "dbname"}},
		{"custom bundle", t.TempDir(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg.Auth.PolicyDir = tc.dir
			g, err := Translate(cfg, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Filters.AuthzHeaders; !slices.Equal(got, tc.want) {
				t.Fatalf("AuthzHeaders = %q, want %q", got, tc.want)
			}
		})
	}
}
