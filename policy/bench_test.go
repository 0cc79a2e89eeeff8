package policy

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// benchInput is what the ext_authz server builds for a reader holding
// CollectionReadOnly on default.docs: Search on docs (allowed) or Insert
// (denied). It is built straight as an ast.Value, as on the hot path.
func benchInput(search bool) ast.Value {
	api := "Insert"
	if search {
		api = "Search"
	}
	s := ast.StringTerm
	obj := func(items ...[2]*ast.Term) *ast.Term { return ast.NewTerm(ast.NewObject(items...)) }
	headers := obj(
		ast.Item(s("content-type"), s("application/grpc")),
		ast.Item(s("authorization"), s("[redacted]")),
		ast.Item(s("dbname"), s("default")),
	)
	return ast.NewObject(
		ast.Item(s("attributes"), obj(
			ast.Item(s("request"), obj(ast.Item(s("http"), obj(
				ast.Item(s("method"), s("POST")),
				ast.Item(s("path"), s("/milvus.proto.milvus.MilvusService/"+api)),
				ast.Item(s("host"), s("milvus:19530")),
				ast.Item(s("protocol"), s("HTTP/2")),
				ast.Item(s("headers"), headers),
			)))),
			ast.Item(s("contextExtensions"), obj()),
		)),
		ast.Item(s("parsed_path"), ast.ArrayTerm(s("milvus.proto.milvus.MilvusService"), s(api))),
		ast.Item(s("parsed_body"), obj(ast.Item(s("collectionName"), s("docs")))),
		ast.Item(s("milvus"), obj(
			ast.Item(s("surface"), s("grpc")),
			ast.Item(s("api"), s(api)),
			ast.Item(s("privilege"), s(api)),
			ast.Item(s("object_type"), s("Collection")),
			ast.Item(s("object_name"), s("docs")),
			ast.Item(s("db"), s("default")),
			ast.Item(s("collection"), s("docs")),
			ast.Item(s("partitions"), ast.ArrayTerm()),
			ast.Item(s("nq"), ast.IntNumberTerm(1)),
			ast.Item(s("topk"), ast.IntNumberTerm(10)),
		)),
		ast.Item(s("identity"), obj(
			ast.Item(s("user"), s("reader")),
			ast.Item(s("roles"), ast.ArrayTerm(s("reader"), s("public"))),
			ast.Item(s("method"), s("password")),
			ast.Item(s("claims"), obj()),
		)),
	)
}

// benchBundle compiles the embedded default bundle's policy with the data of
// testdata/rbac (which grants reader CollectionReadOnly on default.docs),
// leaving out the bundle's own data and tests. Without an embedded bundle
// it uses testdata/rbac whole.
func benchBundle(b *testing.B) (*Bundle, string) {
	b.Helper()
	data, err := os.ReadFile("testdata/rbac/data.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, name := &snapshot{base: "bench"}, "embedded policy + testdata/rbac data"
	if sub, err := fs.Sub(embedded, "bundle"); err == nil {
		if emb, err := readSnapshot(sub, sourceEmbedded); err == nil {
			for _, f := range emb.files {
				if strings.HasSuffix(f.path, ".rego") && !strings.HasSuffix(f.path, "_test.rego") {
					s.files = append(s.files, f)
				}
			}
		}
	}
	if len(s.files) == 0 {
		if s, err = readSnapshot(os.DirFS("testdata/rbac"), "testdata/rbac"); err != nil {
			b.Fatal(err)
		}
		name = "testdata/rbac"
	} else {
		s.files = append(s.files, bundleFile{path: "data.yaml", data: data})
		s.version = "bench"
	}
	c, err := build(b.Context(), s)
	if err != nil {
		b.Fatalf("bench bundle (%s): %v", name, err)
	}
	return c.bundle, name
}

// benchCases are the allowed and the denied request.
var benchCases = []struct {
	name  string
	allow bool
}{{"allow_search", true}, {"deny_insert", false}}

// BenchmarkEval_Raw is the floor: the prepared query of the same compiled
// bundle with rego's default result conversion, no engine around it.
func BenchmarkEval_Raw(b *testing.B) {
	bundle, name := benchBundle(b)
	b.Log("bundle:", name)
	// Prepare the same query the engine prepares, minus keepTerm.
	raw := rawQuery(b, bundle)
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			in, ctx := benchInput(bc.allow), context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rs, err := raw.Eval(ctx, rego.EvalParsedInput(in))
				if err != nil || len(rs) != 1 {
					b.Fatal(rs, err)
				}
				if allow := rs[0].Expressions[0].Value.(map[string]any)["allow"]; allow != bc.allow {
					b.Fatalf("allow = %v", allow)
				}
			}
		})
	}
}

func BenchmarkEngineEval(b *testing.B) {
	bundle, _ := benchBundle(b)
	e := NewEngine(slog.New(slog.DiscardHandler), Options{})
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			in, ctx := benchInput(bc.allow), context.Background()
			b.ReportAllocs()
			for b.Loop() {
				d, err := e.Eval(ctx, bundle, in, "")
				if err != nil || d.Allow != bc.allow {
					b.Fatal(d, err)
				}
			}
		})
	}
}

func BenchmarkEngineEval_CacheHit(b *testing.B) {
	bundle, _ := benchBundle(b)
	e := NewEngine(slog.New(slog.DiscardHandler), Options{DecisionCacheTTL: time.Hour})
	defer e.Close()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			in, ctx, key := benchInput(bc.allow), context.Background(), "reader\x00"+bc.name+"\x00default\x00docs"
			if _, err := e.Eval(ctx, bundle, in, key); err != nil {
				b.Fatal(err)
			}
			e.cache.wait()
			b.ReportAllocs()
			for b.Loop() {
				d, err := e.Eval(ctx, bundle, in, key)
				if err != nil || d.Allow != bc.allow {
					b.Fatal(d, err)
				}
			}
		})
	}
}

// rawQuery prepares DecisionQuery over the bundle's compiler and store with
// rego's defaults.
func rawQuery(b *testing.B, bundle *Bundle) rego.PreparedEvalQuery {
	b.Helper()
	q, err := rego.New(rego.Query(DecisionQuery), rego.Compiler(bundle.compiler), rego.Store(bundle.store)).PrepareForEval(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return q
}
