package config

import (
	"strings"
	"testing"
)

func TestRetriesDefaults(t *testing.T) {
	c := mustParse(t, minimalYAML)
	if c.Retries.ReadRetries() != 1 || c.Retries.PerTryTimeout() != 0 {
		t.Errorf("retries defaults: reads %d, per-try timeout %s; want 1, 0s (off)", c.Retries.ReadRetries(), c.Retries.PerTryTimeout())
	}
	if r := c.Routes[0]; r.Fallback != "" || r.FallbackWrites {
		t.Errorf("route failover defaults %+v, want none", r.Failover)
	}
	c = mustParse(t, `
retries: {reads: 0, read_per_try_timeout: 0s}
clusters:
  - {name: a, endpoints: [{address: 10.0.0.1:19530}]}
  - {name: b, endpoints: [{address: 10.0.0.2:19530}]}
routes: [{cluster: a, fallback: b, fallback_writes: true}]
`)
	if c.Retries.ReadRetries() != 0 || c.Retries.PerTryTimeout() != 0 || c.Routes[0].Fallback != "b" || !c.Routes[0].FallbackWrites {
		t.Errorf("explicit values lost: %+v %+v", c.Retries, c.Routes[0])
	}
}

func TestFailoverValidation(t *testing.T) {
	const clusters = `
clusters:
  - {name: a, endpoints: [{address: 10.0.0.1:19530}]}
  - {name: b, endpoints: [{address: 10.0.0.2:19530}]}
  - {name: lite, rest: false, endpoints: [{address: 10.0.0.3:19530}]}
  - {name: svc, forward: service, credential: {token_env: FAILOVER_TEST_TOKEN}, endpoints: [{address: 10.0.0.4:19530}]}
`
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown fallback", `routes: [{cluster: a, fallback: nope}]`, `routes[0].fallback: no cluster named "nope"`},
		{"fallback is the cluster", `routes: [{cluster: a, fallback: a}]`, `routes[0].fallback: must differ from cluster "a"`},
		{"with weighted", `routes: [{weighted: [{cluster: a, weight: 1}, {cluster: b, weight: 1}], fallback: lite}]`, "routes[0].fallback: not with weighted"},
		{"REST mismatch", `routes: [{cluster: a, fallback: lite}]`, `routes[0].fallback: cluster "a" and fallback "lite" must both serve REST or both not`},
		{"service mode", "routes: [{cluster: a, fallback: svc}]", `routes[0].fallback: not with forward: service on "a" or "svc"`},
		{"writes without fallback", `routes: [{cluster: a, fallback_writes: true}]`, "routes[0].fallback_writes: needs fallback"},
		{"two retries", "retries: {reads: 2}\nroutes: [{cluster: a}]", "retries.reads: must be 0 or 1, got 2"},
		{"tiny per-try timeout", "retries: {read_per_try_timeout: 1ms}\nroutes: [{cluster: a}]", "retries.read_per_try_timeout: must be 0 (off) or at least 10ms, got 1ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FAILOVER_TEST_TOKEN", "secret")
			_, err := Parse([]byte(clusters + tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
