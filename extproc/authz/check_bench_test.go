package authz

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/open-policy-agent/opa/v1/rego"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/policy"
)

// benchBundle copies the default bundle's Rego (not its tests) into a folder
// with data for a reader that holds CollectionReadOnly on default.docs.
func benchBundle(b *testing.B) string {
	b.Helper()
	src, dst := "../../policy/bundle", b.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		b.Fatal(err)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("Reader-pw1"), bcrypt.MinCost)
	data := `milvus:
  settings: {root_bypass: true}
  users:
    reader: {password_hash: "` + string(h) + `", roles: [reader]}
  roles:
    reader:
      grants:
        - {object_type: Collection, db: default, object_name: docs, privilege: CollectionReadOnly}
        - {object_type: Collection, db: default, object_name: logs_*, privilege: Query}
        - {object_type: Global, db: default, object_name: "*", privilege: DatabaseReadOnly}
`
	if err := os.WriteFile(filepath.Join(dst, "data.yaml"), []byte(data), 0o644); err != nil {
		b.Fatal(err)
	}
	return dst
}

// BenchmarkCheck measures the whole ext_authz Check (authenticate with a
// cached password, decode the body prefix, build the input, evaluate the
// default bundle, answer) beside raw prepared-query evaluation of the same
// input — the one Check builds, holding what the bundle reads — and of the
// whole input document.
func BenchmarkCheck(b *testing.B) {
	dir := benchBundle(b)
	ctx := context.Background()
	engine := policy.NewEngine(slog.New(slog.NewTextHandler(io.Discard, nil)), policy.Options{Dir: dir, DecisionCacheTTL: time.Minute})
	if err := engine.Load(ctx); err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	creds, _ := cache.NewCredentials(1000, time.Hour)
	defer creds.Close()
	srv := New(slog.New(slog.NewTextHandler(io.Discard, nil)), NewAuthenticator(creds, nil), engine, nil, Options{})
	raw, err := rego.New(rego.Query(policy.DecisionQuery), rego.Load([]string{dir}, nil)).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	auth := b64("reader:Reader-pw1")
	search := checkReq("application/grpc", auth, searchPath, framed(b, &milvuspb.SearchRequest{DbName: "", CollectionName: "docs", Dsl: "id > 3", OutputFields: []string{"id"}}))
	insert := checkReq("application/grpc", auth, "/milvus.proto.milvus.MilvusService/Insert", framed(b, &milvuspb.InsertRequest{CollectionName: "docs", NumRows: 10}))
	for _, tc := range []struct {
		name string
		req  *authv3.CheckRequest
		want code.Code
	}{{"allow", search, code.Code_OK}, {"deny", insert, code.Code_PERMISSION_DENIED}} {
		if resp, err := srv.Check(ctx, tc.req); err != nil || code.Code(resp.GetStatus().GetCode()) != tc.want {
			b.Fatalf("%s: %v %v", tc.name, resp.GetStatus(), err)
		}
		creds.Wait()
		id, _ := srv.authn.Authenticate(srv.identities(engine.Current()), tc.req.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"], true)
		whole, _, err := BuildInput(tc.req, id, "default", nil)
		if err != nil {
			b.Fatal(err)
		}
		input, _, _ := BuildInput(tc.req, id, "default", engine.Current().Input)
		b.Run("raw-eval/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := raw.Eval(ctx, rego.EvalParsedInput(input)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("raw-eval-whole-input/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := raw.Eval(ctx, rego.EvalParsedInput(whole)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("build-input/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				BuildInput(tc.req, id, "default", engine.Current().Input)
			}
		})
		b.Run("build-whole-input/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				BuildInput(tc.req, id, "default", nil)
			}
		})
		b.Run("check/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.Check(ctx, tc.req); err != nil {
					b.Fatal(err)
				}
			}
		})
		srv.SetOptions(Options{DecisionCache: true})
		b.Run("check-cached/"+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.Check(ctx, tc.req); err != nil {
					b.Fatal(err)
				}
			}
		})
		srv.SetOptions(Options{})
	}
}
