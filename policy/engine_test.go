package policy

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// newEngine returns an engine on dir with a discarded log, closed at cleanup.
func newEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	e := NewEngine(slog.New(slog.DiscardHandler), o)
	t.Cleanup(e.Close)
	return e
}

// copyBundle copies testdata/<name> into a fresh temporary folder.
func copyBundle(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// replaceBundle empties dir and fills it with testdata/<name>.
func replaceBundle(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
}

// writeBundle writes files (path → content) under dir.
func writeBundle(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// mustLoad loads and fails the test on error.
func mustLoad(t *testing.T, e *Engine) *Bundle {
	t.Helper()
	if err := e.Load(t.Context()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return e.Current()
}

// value parses a Rego/JSON term into an input value.
func value(t *testing.T, s string) ast.Value {
	t.Helper()
	v, err := ast.ParseTerm(s)
	if err != nil {
		t.Fatal(err)
	}
	return v.Value
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bundle  string
		wantErr []string // substrings of the error; nil = success
	}{
		{name: "rbac", bundle: "rbac"},
		{name: "shapes without tests", bundle: "shapes"},
		{name: "syntax error names file and line", bundle: "syntax",
			wantErr: []string{"syntax/authz.rego:6", "rego_parse_error"}},
		{name: "failing test is named", bundle: "failing",
			wantErr: []string{"bundle tests failed", "1 of 2", "data.milvus.authz_test.test_reader_allowed", "authz_test.rego:7"}},
		{name: "no decision rule", bundle: "nodecision",
			wantErr: []string{"no rule defines data.milvus.authz.decision"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.bundle)
			e := newEngine(t, Options{Dir: dir})
			err := e.Load(t.Context())
			st := e.Status()
			if st.Source != dir {
				t.Errorf("Status.Source = %q, want %q", st.Source, dir)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if b := e.Current(); b == nil || b.Version == "" || st.Version != b.Version || st.LastError != "" {
					t.Fatalf("after Load: Current %+v, Status %+v", b, st)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if e.Current() != nil || st.LastError != err.Error() {
				t.Errorf("refused bundle: Current %v, LastError %q", e.Current(), st.LastError)
			}
		})
	}
}

func TestLoadData(t *testing.T) {
	b := mustLoad(t, newEngine(t, Options{Dir: "testdata/rbac"}))
	if !b.RootBypass {
		t.Error("RootBypass = false")
	}
	if u := b.Users["reader"]; !strings.HasPrefix(u.PasswordHash, "$2a$10$") || len(u.Roles) != 1 || u.Roles[0] != "reader" {
		t.Errorf("Users[reader] = %+v", u)
	}
	if len(b.APIKeys) != 1 || b.APIKeys[0].User != "ci-bot" || b.APIKeys[0].Roles[0] != "reader" {
		t.Errorf("APIKeys = %+v", b.APIKeys)
	}
}

// TestRefusedBundleKeepsOld swaps bad bundles in under a running engine: each
// is refused, the old version keeps deciding, and Status says why.
func TestRefusedBundleKeepsOld(t *testing.T) {
	dir := copyBundle(t, "rbac")
	e := newEngine(t, Options{Dir: dir})
	old := mustLoad(t, e)
	search := value(t, `{"identity": {"user": "reader", "roles": ["reader", "public"]},
		"milvus": {"privilege": "Search", "object_type": "Collection", "object_name": "docs", "db": "default"}}`)
	for _, tc := range []struct {
		name, bundle, wantErr string
	}{
		{"syntax error", "syntax", "authz.rego:6"},
		{"failing test", "failing", "test_reader_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replaceBundle(t, dir, tc.bundle)
			err := e.Load(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Load = %v, want an error naming %q", err, tc.wantErr)
			}
			if e.Current() != old {
				t.Fatal("a refused bundle replaced the running one")
			}
			st := e.Status()
			if st.Version != old.Version || !strings.Contains(st.LastError, tc.wantErr) {
				t.Errorf("Status = %+v", st)
			}
			d, err := e.Eval(t.Context(), e.Current(), search, "")
			if err != nil || !d.Allow {
				t.Errorf("old bundle Eval = %+v, %v; want allow", d, err)
			}
		})
	}
	replaceBundle(t, dir, "rbac")
	if err := e.Load(t.Context()); err != nil || e.Status().LastError != "" {
		t.Fatalf("restored bundle: Load %v, Status %+v", err, e.Status())
	}
	if n := e.Status().LoadErrors; n != 2 {
		t.Errorf("LoadErrors = %d, want 2", n)
	}
}

func TestEvalRBAC(t *testing.T) {
	e := newEngine(t, Options{Dir: "testdata/rbac"})
	b := mustLoad(t, e)
	for _, tc := range []struct {
		name  string
		input string
		want  Decision
	}{
		{"reader searches docs", `{"identity": {"user": "reader", "roles": ["reader", "public"]},
			"milvus": {"privilege": "Search", "object_type": "Collection", "object_name": "docs", "db": "default"}}`,
			Decision{Allow: true}},
		{"reader inserts into docs", `{"identity": {"user": "reader", "roles": ["reader", "public"]},
			"milvus": {"privilege": "Insert", "object_type": "Collection", "object_name": "docs", "db": "default"}}`,
			Decision{Reason: "PrivilegeInsert: permission deny to reader in the `default` database", Status: 403}},
		{"root bypasses", `{"identity": {"user": "root", "roles": ["public"]},
			"milvus": {"privilege": "DropDatabase", "object_type": "Global", "object_name": "*", "db": "default"}}`,
			Decision{Allow: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Eval(t.Context(), b, value(t, tc.input), "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Allow != tc.want.Allow || got.Reason != tc.want.Reason || got.Status != tc.want.Status {
				t.Errorf("Eval = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEvalShapes(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e := newEngine(t, Options{Dir: "testdata/shapes", Now: func() time.Time { return now }})
	b := mustLoad(t, e)
	for _, tc := range []struct {
		name    string
		want    Decision
		wantErr string // substring; the error must wrap ErrMalformedDecision
	}{
		{name: "bool_true", want: Decision{Allow: true}},
		{name: "bool_false", want: Decision{Status: 403}},
		{name: "object_allow", want: Decision{Allow: true, Headers: map[string]string{"x-tenant": "a"}}},
		{name: "object_deny", want: Decision{Reason: "no", Status: 401}},
		{name: "object_deny_default_status", want: Decision{Status: 403}},
		{name: "undefined", want: Decision{Reason: "policy returned no decision", Status: 403}},
		{name: "allow_string", wantErr: "allow must be a boolean, got string"},
		{name: "allow_missing", wantErr: "allow is missing"},
		{name: "status_string", wantErr: "status must be an HTTP error status"},
		{name: "status_ok", wantErr: "status must be an HTTP error status (400-599), got 200"},
		{name: "header_number", wantErr: `headers["x-n"] must be a string, got number`},
		{name: "string", wantErr: "want an object or a boolean, got string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ast.NewObject(ast.Item(ast.StringTerm("case"), ast.StringTerm(tc.name)))
			got, err := e.Eval(t.Context(), b, in, "")
			if tc.wantErr != "" {
				if !errors.Is(err, ErrMalformedDecision) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Eval error = %v, want ErrMalformedDecision with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Allow != tc.want.Allow || got.Reason != tc.want.Reason || got.Status != tc.want.Status ||
				len(got.Headers) != len(tc.want.Headers) || got.Headers["x-tenant"] != tc.want.Headers["x-tenant"] {
				t.Errorf("Eval = %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("no bundle", func(t *testing.T) {
		if _, err := e.Eval(t.Context(), nil, ast.NewObject(), ""); !errors.Is(err, ErrNoBundle) {
			t.Errorf("Eval(nil bundle) = %v, want ErrNoBundle", err)
		}
	})
}

func TestDataValidation(t *testing.T) {
	const rego = "package milvus.authz\n\ndecision := false\n"
	const hash = "$2a$10$tGTq.N8NTLMSwrQQ1AYgj.4BrJ//ickBHa2uj6xDQ4RryC.UIsbnG"
	for _, tc := range []struct {
		name, data string
		wantErr    []string // nil = valid
	}{
		{name: "no data.milvus", data: "other: {}"},
		{name: "root_bypass defaults to true", data: "milvus: {users: {}}"},
		{name: "bad bcrypt", data: `milvus: {users: {reader: {password_hash: "secret", roles: [reader]}}}`,
			wantErr: []string{"data.milvus.users.reader.password_hash: must be a bcrypt hash"}},
		{name: "md5 crypt is not bcrypt", data: `milvus: {users: {reader: {password_hash: "$1$abc$` + strings.Repeat("x", 53) + `"}}}`,
			wantErr: []string{"data.milvus.users.reader.password_hash: must be a bcrypt hash"}},
		{name: "missing hash", data: `milvus: {users: {reader: {roles: []}}}`,
			wantErr: []string{"data.milvus.users.reader.password_hash: must be set"}},
		{name: "empty user name", data: `milvus: {users: {"": {password_hash: "` + hash + `"}}}`,
			wantErr: []string{`data.milvus.users[""]: user name must not be empty`}},
		{name: "roles not a list", data: `milvus: {users: {reader: {password_hash: "` + hash + `", roles: reader}}}`,
			wantErr: []string{"data.milvus.users.reader.roles: must be a list of role names, got string"}},
		{name: "upper-case sha256", data: `milvus: {api_keys: [{sha256: "` + strings.Repeat("A", 64) + `", user: bot}]}`,
			wantErr: []string{"data.milvus.api_keys[0].sha256: must be 64 lower-case hex digits"}},
		{name: "short sha256 and no user", data: `milvus: {api_keys: [{sha256: "abc"}]}`,
			wantErr: []string{"data.milvus.api_keys[0].sha256: must be 64", "data.milvus.api_keys[0].user: must be set"}},
		{name: "duplicate key", data: `milvus: {api_keys: [{sha256: "` + strings.Repeat("a", 64) + `", user: a}, {sha256: "` + strings.Repeat("a", 64) + `", user: b}]}`,
			wantErr: []string{"data.milvus.api_keys[1].sha256: same key as data.milvus.api_keys[0]"}},
		{name: "root_bypass not bool", data: `milvus: {settings: {root_bypass: "yes"}}`,
			wantErr: []string{"data.milvus.settings.root_bypass: must be a boolean, got string"}},
		{name: "users not an object", data: `milvus: {users: [root]}`,
			wantErr: []string{"data.milvus.users: must be an object, got list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeBundle(t, dir, map[string]string{"authz.rego": rego, "data.yaml": tc.data})
			e := newEngine(t, Options{Dir: dir})
			err := e.Load(t.Context())
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if !e.Current().RootBypass {
					t.Error("RootBypass = false, want the default true")
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want a data error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// TestDataMounting checks data files are mounted at their folder's path.
func TestDataMounting(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, dir, map[string]string{
		"authz.rego": `package milvus.authz

decision := {"allow": data.a.b.on, "reason": data.c.why}
`,
		"a/b/data.json": `{"on": true}`,
		"c/data.yml":    `why: yaml`,
		"c/input.json":  `{"ignored": "not a data file"}`,
		".hidden.rego":  `this is not rego`,
		".git/x.rego":   `nor this`,
	})
	e := newEngine(t, Options{Dir: dir})
	d, err := e.Eval(t.Context(), mustLoad(t, e), ast.NewObject(), "")
	if err != nil || !d.Allow || d.Reason != "yaml" {
		t.Fatalf("Eval = %+v, %v", d, err)
	}
}

func TestDecisionCache(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := copyBundle(t, "shapes")
	e := newEngine(t, Options{Dir: dir, DecisionCacheTTL: time.Minute, Now: func() time.Time { return now }})
	mustLoad(t, e)
	allowIn := ast.NewObject(ast.Item(ast.StringTerm("case"), ast.StringTerm("bool_true")))
	denyIn := ast.NewObject(ast.Item(ast.StringTerm("case"), ast.StringTerm("bool_false")))
	// The cache is keyed by the caller's key only (and the version): asking
	// with the deny input under a key first used with the allow input shows
	// whether the answer came from the cache.
	eval := func(t *testing.T, in ast.Value, key string) bool {
		t.Helper()
		d, err := e.Eval(t.Context(), e.Current(), in, key)
		if err != nil {
			t.Fatal(err)
		}
		e.cache.wait()
		return d.Allow
	}
	for _, tc := range []struct {
		name string
		step func(t *testing.T) // before Eval
		in   ast.Value
		key  string
		want bool // Allow; a hit answers what was stored under key
	}{
		{name: "miss stores", in: allowIn, key: "k", want: true},
		{name: "hit", in: denyIn, key: "k", want: true},
		{name: "no key bypasses", in: denyIn, key: "", want: false},
		{name: "other key misses", in: denyIn, key: "k2", want: false},
		{name: "fresh until the TTL", step: func(*testing.T) { now = now.Add(59 * time.Second) }, in: denyIn, key: "k", want: true},
		{name: "expired at the TTL", step: func(*testing.T) { now = now.Add(time.Second) }, in: denyIn, key: "k", want: false},
		{name: "hit after re-store", in: allowIn, key: "k", want: false},
		{name: "new version misses", step: func(t *testing.T) {
			writeBundle(t, dir, map[string]string{"extra.rego": "package milvus.extra\n\nx := 1\n"})
			mustLoad(t, e)
		}, in: allowIn, key: "k", want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.step != nil {
				tc.step(t)
			}
			if got := eval(t, tc.in, tc.key); got != tc.want {
				t.Errorf("Allow = %v, want %v", got, tc.want)
			}
		})
	}
	// Hits: "hit", "fresh until the TTL", "hit after re-store"; the keyless
	// call is no lookup.
	if got, want := e.CacheStats(), (CacheStats{On: true, Hits: 3, Misses: 4}); got != want {
		t.Errorf("CacheStats = %+v, want %+v", got, want)
	}
}

func TestCacheHitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	e := newEngine(t, Options{Dir: "testdata/rbac", DecisionCacheTTL: time.Hour})
	b := mustLoad(t, e)
	in := benchInput(true)
	if _, err := e.Eval(t.Context(), b, in, "reader/Search/default/docs"); err != nil {
		t.Fatal(err)
	}
	e.cache.wait()
	ctx := t.Context()
	// One allocation: the key joined with the version.
	if n := testing.AllocsPerRun(100, func() { _, _ = e.Eval(ctx, b, in, "reader/Search/default/docs") }); n > 1 {
		t.Errorf("cache hit allocs = %v, want ≤ 1", n)
	}
}

func TestWatch(t *testing.T) {
	dir := copyBundle(t, "rbac")
	e := newEngine(t, Options{Dir: dir})
	old := mustLoad(t, e)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { e.Watch(ctx, 5*time.Millisecond) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	// waitFor polls cond every millisecond for at most 2s.
	waitFor := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		timeout := time.After(2 * time.Second)
		for !cond() {
			select {
			case <-tick.C:
			case <-timeout:
				t.Fatalf("timed out waiting for %s; status %+v", what, e.Status())
			}
		}
	}
	t.Run("good change is loaded", func(t *testing.T) {
		writeBundle(t, dir, map[string]string{"users/data.yaml": "x: 1\n"})
		waitFor(t, "a new version", func() bool { return e.Current().Version != old.Version })
	})
	t.Run("bad change is refused", func(t *testing.T) {
		running := e.Current()
		writeBundle(t, dir, map[string]string{"broken.rego": "package milvus.authz\n\nallow if {\n"})
		waitFor(t, "a load error", func() bool { return e.Status().LastError != "" })
		if e.Current() != running || !strings.Contains(e.Status().LastError, "broken.rego:") {
			t.Errorf("Current changed or error unnamed: %+v", e.Status())
		}
	})
	t.Run("dotfiles are ignored", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, "broken.rego")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "recovery", func() bool { return e.Status().LastError == "" })
		v := e.Current().Version
		writeBundle(t, dir, map[string]string{".broken.rego.swp": "junk", ".#authz.rego": "junk"})
		s, err := readSnapshot(os.DirFS(dir), dir)
		if err != nil || s.version != v {
			t.Errorf("dotfiles changed the version: %v, %v", s, err)
		}
	})
}

func TestEmbeddedBundle(t *testing.T) {
	if _, err := fs.Stat(embedded, "bundle"); err != nil {
		t.Skip("no embedded bundle")
	}
	e := newEngine(t, Options{})
	e.Watch(t.Context(), time.Millisecond) // returns at once for the embedded bundle
	if err := e.Load(t.Context()); err != nil {
		t.Fatalf("embedded bundle: %v", err)
	}
	if st := e.Status(); st.Source != "embedded" || st.Version == "" {
		t.Errorf("Status = %+v", st)
	}
}

func TestTestBundle(t *testing.T) {
	// A failing test and bad data: both are reported.
	both := copyBundle(t, "failing")
	writeBundle(t, both, map[string]string{"data.yaml": "milvus: {users: {bob: {password_hash: plain}}}"})
	for _, tc := range []struct {
		name, dir string
		wantErr   bool
		wantOut   []string
	}{
		{"passing", "testdata/rbac", false, []string{
			"data.milvus.authz_test.test_reader_searches_docs: PASS", "3/3 tests passed", "OK"}},
		{"failing", "testdata/failing", true, []string{
			"data.milvus.authz_test.test_root_allowed: PASS", "data.milvus.authz_test.test_reader_allowed: FAIL", "1/2 tests passed"}},
		{"syntax", "testdata/syntax", true, []string{"FAIL: parsing:", "authz.rego:6"}},
		{"failing test and bad data", both, true, []string{
			"1/2 tests passed", "bundle tests failed", "data.milvus.users.bob.password_hash: must be a bcrypt hash"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := TestBundle(t.Context(), tc.dir, &out)
			if (err != nil) != tc.wantErr {
				t.Errorf("TestBundle error = %v, want error %v", err, tc.wantErr)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestEvalAllocs pins the allocation budget of an uncached evaluation of the
// testdata RBAC bundle (OPA's evaluator is most of it; the engine adds none
// beyond reading the decision term).
func TestEvalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	e := newEngine(t, Options{Dir: "testdata/rbac"})
	b := mustLoad(t, e)
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		search bool
		budget float64
	}{{"allow search", true, 180}, {"deny insert", false, 220}} {
		t.Run(tc.name, func(t *testing.T) {
			in := benchInput(tc.search)
			n := testing.AllocsPerRun(50, func() {
				if d, err := e.Eval(ctx, b, in, ""); err != nil || d.Allow != tc.search {
					t.Fatal(d, err)
				}
			})
			if n > tc.budget {
				t.Errorf("Eval allocs = %v, budget %v", n, tc.budget)
			}
		})
	}
}
