package config

import (
	"strings"
	"testing"
)

// minimalYAML is the smallest valid config: one cluster, one route to it.
const minimalYAML = `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:19530}]}]
routes: [{cluster: qn}]
`

// mustParse parses yaml, failing the test on an error.
func mustParse(t *testing.T, yaml string) *Config {
	t.Helper()
	c, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultConfig(t *testing.T) {
	c, _, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listener.Address != "127.0.0.1:19530" || c.Envoy.AdminAddress != "127.0.0.1:9901" || c.Edge.AdminAddress != "127.0.0.1:18002" {
		t.Errorf("default addresses: %+v %+v %+v", c.Listener, c.Envoy, c.Edge)
	}
	if len(c.Launch.MilvusLite) != 1 || c.Launch.MilvusLite[0].Address != "127.0.0.1:19531" {
		t.Errorf("default launches %+v, want one milvus-lite on 127.0.0.1:19531", c.Launch.MilvusLite)
	}
	if c.Auth.PolicyDir != "" || c.Auth.UserRPCs != "refuse" || c.Auth.DryRun {
		t.Errorf("default auth %+v, want the embedded bundle, user RPCs refused, no dry run", c.Auth)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimalYAML)
	if c.Clusters[0].Endpoints[0].Weight != 1 || c.Clusters[0].LBPolicy != "least_request" || c.Clusters[0].ConnectTimeout.D().String() != "1s" {
		t.Errorf("cluster defaults %+v", c.Clusters[0])
	}
	if r := c.Routes[0]; r.Name != "route-0" || r.Database != "*" || r.Collection != "*" {
		t.Errorf("route defaults %+v", r)
	}
	if c.Auth.MaxBodyBytes != 64<<10 || c.Edge.FiltersAdvertiseAddress != c.Edge.FiltersAddress {
		t.Errorf("auth/edge defaults %+v %+v", c.Auth, c.Edge)
	}
	if c.Listener.MaxRequestBytes != 64<<20 || c.Edge.FilterTimeout.D().String() != "2s" {
		t.Errorf("limits %+v %v", c.Listener, c.Edge.FilterTimeout.D())
	}
}

// TestValidationNamesTheField: every mistake is reported with its path, all at once.
func TestValidationNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"no clusters or routes", `{}`, []string{"clusters: at least one cluster is required", "routes: at least one route is required"}},
		{"bad endpoint", `
clusters: [{name: qn, endpoints: [{address: nohost, weight: 500}]}]
routes: [{cluster: qn}]`, []string{`clusters[0].endpoints[0].address: must be host:port, got "nohost"`, "clusters[0].endpoints[0].weight: must be 1..128, got 500"}},
		{"route to missing cluster", `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{cluster: nope}]`, []string{`routes[0].cluster: no cluster named "nope"`}},
		{"last route not default", `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{collection: "a_*", cluster: qn}]`, []string{"routes[0]: the last route is the default"}},
		{"weighted and cluster", `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{cluster: qn, weighted: [{cluster: qn, weight: 0}]}]`, []string{"routes[0]: set cluster or weighted, not both", "routes[0].weighted[0].weight: must be at least 1"}},
		{"reserved and duplicate names", `
clusters:
  - {name: milvus_edge_x, endpoints: [{address: 10.0.0.1:1}]}
  - {name: qn, endpoints: [{address: 10.0.0.1:1}, {address: 10.0.0.1:1}]}
  - {name: qn, endpoints: [{address: 10.0.0.1:2}]}
routes: [{cluster: qn}]`, []string{"clusters[0].name: the prefix", `clusters[1].endpoints[1].address: duplicate endpoint "10.0.0.1:1"`, `clusters[2].name: duplicate cluster "qn"`}},
		{"bad glob and lb", `
clusters: [{name: qn, lb_policy: fastest, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{collection: "a/b", cluster: qn}, {cluster: qn}]`, []string{`clusters[0].lb_policy: must be one of least_request, round_robin, random, got "fastest"`, "routes[0].collection: must be a glob"}},
		{"bad auth", `
auth: {user_rpcs: allow, max_body_bytes: 10, jwt: {issuer: x}}
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{cluster: qn}]`, []string{`auth.user_rpcs: must be one of refuse, pass, got "allow"`, "auth.max_body_bytes: must be 1024..16777216, got 10", "auth.jwt.jwks_file: is required", "auth.jwt.audience: is required"}},
		{"unknown field", `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}], weight: 3}]
routes: [{cluster: qn}]`, []string{"field weight not found"}},
		{"bad duration", `
edge: {filter_timeout: soon}
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{cluster: qn}]`, []string{`"soon" is not a duration`}},
		{"relative unix socket", `
edge: {filters_address: "unix:run/f.sock"}
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{cluster: qn}]`, []string{`edge.filters_address: a unix: address needs an absolute path`}},
		{"launch without data dir", `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{cluster: qn}]
launch: {milvus_lite: [{address: 127.0.0.1:1}]}`, []string{"launch.milvus_lite[0].data_dir: is required"}},
		{"launch standalone: bad address, shared address and data dir", `
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]}]
routes: [{cluster: qn}]
launch:
  milvus_lite: [{address: 127.0.0.1:5, data_dir: /d/lite}]
  milvus_standalone:
    - {address: 127.0.0.1, data_dir: /d/m}
    - {address: 127.0.0.1:5, data_dir: /d/lite/, authorization: true}
    - {address: 127.0.0.1:6}`, []string{
			`launch.milvus_standalone[0].address: must be host:port, got "127.0.0.1"`,
			`launch.milvus_standalone[1].address: launch.milvus_lite[0] also listens on "127.0.0.1:5"`,
			`launch.milvus_standalone[1].data_dir: launch.milvus_lite[0] also uses "/d/lite/"`,
			"launch.milvus_standalone[2].data_dir: is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}
