package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const discoveryRoutes = `
routes:
  - cluster: c
`

func TestDiscoveryDefaultsAndOptionalEndpoints(t *testing.T) {
	c, err := Parse([]byte(`
clusters:
  - name: c
    discovery:
      etcd: {endpoints: ["etcd-0.milvus:2379"]}
` + discoveryRoutes))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Clusters[0].Discovery.Etcd
	if e.RootPath != "by-dev" || e.MetaSubPath != "meta" || e.Port() != 19530 || e.KeepLastFor.D() != 30*time.Second {
		t.Fatalf("defaults: %+v port %d", e, e.Port())
	}
	if got := e.SessionPrefix(); got != "by-dev/meta/session/proxy-" {
		t.Fatalf("prefix %q", got)
	}
	c, err = Parse([]byte(`
clusters:
  - name: c
    endpoints: [{address: "127.0.0.1:19530"}]
    discovery:
      etcd: {endpoints: ["127.0.0.1:2379"], root_path: /milvus/, meta_sub_path: m, client_port: 0}
` + discoveryRoutes))
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Clusters[0].Discovery.Etcd; e.Port() != 0 || e.SessionPrefix() != "/milvus/m/session/proxy-" {
		t.Fatalf("port %d prefix %q", e.Port(), e.SessionPrefix())
	}
}

func TestDiscoveryValidation(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, cluster, want string }{
		{"no source", `discovery: {}`, "clusters[0].discovery.etcd: is required"},
		{"no etcd endpoints", `discovery: {etcd: {root_path: x}}`, "clusters[0].discovery.etcd.endpoints: at least one etcd address is required"},
		{"bad etcd endpoint", `discovery: {etcd: {endpoints: ["nohost"]}}`, "clusters[0].discovery.etcd.endpoints[0]: must be host:port"},
		{"bad port", `discovery: {etcd: {endpoints: ["e:2379"], client_port: 70000}}`, "clusters[0].discovery.etcd.client_port: must be 1..65535, or 0"},
		{"bad root", `discovery: {etcd: {endpoints: ["e:2379"], root_path: "a b"}}`, "clusters[0].discovery.etcd.root_path: must be a non-empty etcd path"},
		{"token", `discovery: {etcd: {endpoints: ["e:2379"], credential: {token_env: X}}}`, "clusters[0].discovery.etcd.credential: etcd takes a user and password"},
		{"missing ca", `discovery: {etcd: {endpoints: ["e:2379"], tls: {ca_file: /nonexistent/ca.pem}}}`, "clusters[0].discovery.etcd.tls.ca_file"},
		{"cert without key", `discovery: {etcd: {endpoints: ["e:2379"], tls: {ca_file: ` + pw + `, cert_file: ` + pw + `}}}`, "clusters[0].discovery.etcd.tls: cert_file and key_file go together"},
		{"no endpoints, no discovery", ``, "clusters[0].endpoints: at least one endpoint is required (or discovery)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := "clusters:\n  - name: c\n"
			if tc.cluster != "" {
				y += "    " + tc.cluster + "\n"
			}
			_, err := Parse([]byte(y + discoveryRoutes))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	c, err := Parse([]byte(`
clusters:
  - name: c
    discovery:
      etcd: {endpoints: ["e:2379"], credential: {user: milvus, password_file: ` + pw + `}}
` + discoveryRoutes))
	if err != nil {
		t.Fatal(err)
	}
	if u, p := c.Clusters[0].Discovery.Etcd.Auth(); u != "milvus" || p.Reveal() != "secret" || p.String() != Redacted {
		t.Fatalf("auth %q %q", u, p.Reveal())
	}
}
