package policy

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// shapeOf compiles one module defining data.milvus.authz.decision and
// returns what analyze finds.
func shapeOf(t *testing.T, src string) (string, bool) {
	t.Helper()
	c := ast.NewCompiler()
	if c.Compile(map[string]*ast.Module{"p.rego": ast.MustParseModule(src)}); c.Failed() {
		t.Fatal(c.Errors)
	}
	s, det := analyze(c, decisionRef)
	return s.String(), det
}

func TestInputShape(t *testing.T) {
	const head = "package milvus.authz\n"
	for _, tc := range []struct {
		name, src, want string
		deterministic   bool
	}{
		{"leaf paths", head + `decision := {"allow": allow}
allow if { input.milvus.db == "a"; input.identity.user == "u" }`, "input.identity.user, input.milvus.db", true},
		{"a dynamic key reads the subtree", head + `decision := {"allow": allow}
allow if { some k; input.milvus[k] == "a" }`, "input.milvus", true},
		{"through rules and functions", head + `decision := {"allow": f(1)}
f(x) := y if { y := g; x == 1 }
g := input.parsed_body.entity.role.name`, "input.parsed_body.entity.role.name", true},
		{"refs in a dynamic key", head + `decision := {"allow": input.milvus[input.identity.user]}`, "input.identity.user, input.milvus", true},
		{"input as a value", head + `decision := {"allow": f(input)}
f(x) := x.milvus.db == "a"`, "input", true},
		{"walk(input)", head + `decision := {"allow": count([p | walk(input, [p, _])]) > 0}`, "input", true},
		{"with input as", head + `decision := {"allow": b}
b if { a with input as {} }
a if input.milvus.db`, "input", true},
		{"time is not cacheable", head + `decision := {"allow": time.now_ns() > input.milvus.nq}`, "input.milvus.nq", false},
		{"rules the decision does not use are not read", head + `decision := {"allow": input.milvus.db == "a"}
other if input.attributes.request.http.headers.x == "y"
test_x if { decision with input as {} }`, "input.milvus.db", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, det := shapeOf(t, tc.src)
			if got != tc.want || det != tc.deterministic {
				t.Fatalf("shape %q deterministic %v, want %q %v", got, det, tc.want, tc.deterministic)
			}
		})
	}
}

// TestBundleShapes: the default bundle and the examples read what their
// rules name, so their decisions are cacheable and the input is projected.
func TestBundleShapes(t *testing.T) {
	for _, dir := range []string{"", "../examples/policies/tenant-isolation", "../examples/policies/topk-cap", "../examples/policies/pii-output-fields", "../examples/policies/readonly-api-keys", "../examples/policies/jwt-groups"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			e := newEngine(t, Options{Dir: dir})
			if err := e.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			b := e.Current()
			t.Logf("%s: cacheable %v", b.Input, b.cacheable)
			if b.Input.Whole() || !b.cacheable {
				t.Fatalf("shape %s cacheable %v", b.Input, b.cacheable)
			}
		})
	}
}

// TestCacheKey: equal values at the read paths give equal keys; a value
// the policy does not read does not change the key; absent differs from
// every value.
func TestCacheKey(t *testing.T) {
	e := newEngine(t, Options{})
	if err := e.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := e.Current()
	key := func(s string) string {
		k, ok := b.CacheKey(ast.MustParseTerm(s).Value)
		if !ok {
			t.Fatal("default bundle not cacheable")
		}
		return k
	}
	base := key(`{"milvus": {"db": "default", "privilege": "Search", "nq": 1}, "identity": {"user": "u", "roles": ["r"]}}`)
	if k := key(`{"milvus": {"db": "default", "privilege": "Search", "nq": 7}, "identity": {"user": "u", "roles": ["r"]}, "attributes": {"x": 1}}`); k != base {
		t.Fatalf("unread values changed the key:\n%q\n%q", k, base)
	}
	for _, other := range []string{
		`{"milvus": {"db": "other", "privilege": "Search", "nq": 1}, "identity": {"user": "u", "roles": ["r"]}}`,
		`{"milvus": {"db": "default", "privilege": "Search", "nq": 1}, "identity": {"user": "u", "roles": ["r", "admin"]}}`,
		`{"milvus": {"db": "default", "privilege": "Search", "nq": 1}, "identity": {"user": "u"}}`,
		`{"milvus": {"db": "default", "privilege": "Search", "nq": 1}, "identity": {"user": "u", "roles": ["r"]}, "parsed_body": {"roleName": "r"}}`,
	} {
		if key(other) == base {
			t.Fatalf("key of %s equals the base key", other)
		}
	}
}

// TestShapeHeaders: the headers a policy reads by constant keys are named;
// any other read of the headers object (a variable key, the object as a
// value, a parent or the input whole) needs them all.
func TestShapeHeaders(t *testing.T) {
	const head = "package milvus.authz\n"
	for _, tc := range []struct {
		name, src string
		want      []string
		all       bool
	}{
		{"no header", head + `decision := {"allow": input.milvus.db == "a"}`, nil, false},
		{"constant keys", head + `decision := {"allow": allow}
allow if { input.attributes.request.http.headers["x-team"] == "a" }
allow if { input.attributes.request.http.headers["user-agent"] == "b"; input.attributes.request.http.method == "POST" }`,
			[]string{"user-agent", "x-team"}, false},
		{"a variable key", head + `decision := {"allow": allow}
allow if { some k; startswith(k, "x-"); input.attributes.request.http.headers[k] }`, nil, true},
		{"the object as a value", head + `decision := {"allow": object.get(input.attributes.request.http.headers, "x-team", "") == "a"}`, nil, true},
		{"a parent whole", head + `decision := {"allow": count(input.attributes.request.http) > 0}`, nil, true},
		{"the input whole", head + `decision := {"allow": f(input)}
f(x) := x.milvus.db == "a"`, nil, true},
		{"a sibling of the headers", head + `decision := {"allow": input.attributes.request.http.path == "/"}`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ast.NewCompiler()
			if c.Compile(map[string]*ast.Module{"p.rego": ast.MustParseModule(tc.src)}); c.Failed() {
				t.Fatal(c.Errors)
			}
			s, _ := analyze(c, decisionRef)
			got, all := s.Headers()
			if !slices.Equal(got, tc.want) || all != tc.all {
				t.Fatalf("Headers() = %q, %v; want %q, %v", got, all, tc.want, tc.all)
			}
		})
	}
}
