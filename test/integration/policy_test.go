package integration

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

const testAPIKey = "mek_0123456789abcdef"

func hash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// rbacData is a security team's data file: root, an admin, a reader with
// CollectionReadOnly on default.docs, an API key bound to the reader role,
// plus extraGrants for the reader role.
func rbacData(t *testing.T, extraGrants string) string {
	sum := sha256.Sum256([]byte(testAPIKey))
	return fmt.Sprintf(`milvus:
  settings: {root_bypass: true}
  users:
    root: {password_hash: %q, roles: []}
    boss: {password_hash: %q, roles: [admin]}
    reader: {password_hash: %q, roles: [reader]}
  api_keys:
    - {sha256: %s, user: bot, roles: [reader]}
  roles:
    reader:
      grants:
        - {object_type: Collection, db: default, object_name: docs, privilege: CollectionReadOnly}
%s`, hash(t, "Milvus"), hash(t, "Boss-pw1"), hash(t, "Reader-pw1"), hex.EncodeToString(sum[:]), extraGrants)
}

type policyStack struct {
	e                        *testenv.Edge
	c                        milvuspb.MilvusServiceClient
	bundle, decisions, acces string
}

func startPolicyStack(t *testing.T, authYAML string) *policyStack {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	dir := t.TempDir()
	s := &policyStack{
		bundle:    testenv.PolicyBundle(t, rbacData(t, "")),
		decisions: filepath.Join(dir, "decisions.jsonl"),
		acces:     filepath.Join(dir, "access.jsonl"),
	}
	head := strings.Replace(p.ConfigHead(), "listener: {address: "+p.Listener+"}", "listener: {address: "+p.Listener+", access_log: "+s.acces+"}", 1)
	s.e = testenv.Run(t, head+fmt.Sprintf(`auth:
  policy_dir: %s
  decision_log: %s
%s
clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
`, s.bundle, s.decisions, authYAML, backend), p)
	s.c = testenv.Client(t, p.Listener)
	return s
}

func (s *policyStack) upstream(t *testing.T) int {
	return testenv.Counter(t, s.e.Ports.EnvoyAdmin, "cluster.default.upstream_rq_total")
}

// call runs one RPC as user:password and returns its gRPC status.
func call(t *testing.T, ctx context.Context, f func(ctx context.Context) error) *status.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return status.Convert(f(ctx))
}

func insertDocs(c milvuspb.MilvusServiceClient) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.Insert(ctx, &milvuspb.InsertRequest{CollectionName: "docs", NumRows: 1})
		return err
	}
}

func TestPolicyHotReload(t *testing.T) {
	s := startPolicyStack(t, "")
	reader := testenv.Auth(context.Background(), "reader", "Reader-pw1")

	st := call(t, reader, insertDocs(s.c))
	want := "PrivilegeInsert: permission deny to reader in the `default` database"
	if st.Code() != codes.PermissionDenied || st.Message() != want {
		t.Fatalf("reader Insert: %v %q, want PermissionDenied %q", st.Code(), st.Message(), want)
	}

	// The security team grants CollectionReadWrite: effective within 2 s.
	testenv.WriteFile(t, filepath.Join(s.bundle, "data.yaml"), rbacData(t,
		"        - {object_type: Collection, db: default, object_name: docs, privilege: CollectionReadWrite}\n"))
	took := testenv.Eventually(t, 2*time.Second, "new grant effective", func() bool {
		return call(t, reader, insertDocs(s.c)).Code() != codes.PermissionDenied
	})
	t.Logf("grant effective %s after the data file changed", took)

	// A bundle with a syntax error, then one whose own Rego test fails: both
	// refused, and the last good policy (with the grant) keeps deciding.
	for _, bad := range []struct{ file, rego, want string }{
		{"broken.rego", "package milvus.authz\n\nbroken if {\n", "broken.rego"},
		{"failing_test.rego", "package milvus.authz_extra_test\n\ntest_always_fails if { 1 == 2 }\n", "test_always_fails"},
	} {
		testenv.WriteFile(t, filepath.Join(s.bundle, bad.file), bad.rego)
		testenv.Eventually(t, 2*time.Second, "bad bundle refused: "+bad.file, func() bool {
			return strings.Contains(testenv.AdminGet(t, s.e.Ports.Admin, "/v1/status"), bad.want)
		})
		if st := call(t, reader, insertDocs(s.c)); st.Code() == codes.PermissionDenied {
			t.Fatalf("after refusing %s the old policy stopped deciding: %v", bad.file, st.Message())
		}
		if err := os.Remove(filepath.Join(s.bundle, bad.file)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDecisionLogAndAccessLog(t *testing.T) {
	s := startPolicyStack(t, "")
	before := s.upstream(t)
	// Denied: never reaches the backend.
	st := call(t, testenv.Auth(context.Background(), "reader", "Reader-pw1"), func(ctx context.Context) error {
		_, err := s.c.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: "docs"})
		return err
	})
	if st.Code() != codes.PermissionDenied || !strings.HasPrefix(st.Message(), "PrivilegeDropCollection: permission deny to reader") {
		t.Fatalf("reader DropCollection: %v %q", st.Code(), st.Message())
	}
	if n := s.upstream(t); n != before {
		t.Fatalf("a denied call reached the backend (%d requests)", n-before)
	}
	// Allowed through an API key.
	key := metadata.AppendToOutgoingContext(context.Background(), "authorization", b64(testAPIKey))
	if st := call(t, key, func(ctx context.Context) error {
		_, err := s.c.HasCollection(ctx, &milvuspb.HasCollectionRequest{CollectionName: "docs"})
		return err
	}); st.Code() != codes.OK {
		t.Fatalf("API key call: %v %q", st.Code(), st.Message())
	}
	s.e.Stop(t) // flushes the decision log and Envoy's access log

	decisions := readJSONLines(t, s.decisions)
	if len(decisions) < 2 {
		t.Fatalf("decision log has %d lines", len(decisions))
	}
	var allowID string
	for _, d := range decisions {
		for _, f := range []string{"decision_id", "time", "user", "api", "db", "allow", "eval_us"} {
			if _, ok := d[f]; !ok {
				t.Errorf("decision %v lacks %s", d, f)
			}
		}
		raw, _ := json.Marshal(d)
		if strings.Contains(string(raw), "Reader-pw1") || strings.Contains(string(raw), testAPIKey) {
			t.Fatalf("a secret reached the decision log: %s", raw)
		}
		if d["user"] == "bot" && d["allow"] == true && d["api"] == "HasCollection" {
			allowID = d["decision_id"].(string)
		}
	}
	if allowID == "" {
		t.Fatalf("no allow decision for the API key user in %v", decisions)
	}
	found := false
	for _, a := range readJSONLines(t, s.acces) {
		if a["decision_id"] == allowID {
			found = a["user"] == "bot"
		}
	}
	if !found {
		t.Fatalf("decision %s not in Envoy's access log", allowID)
	}
}

func TestUserRPCsRefusedAtTheEdge(t *testing.T) {
	s := startPolicyStack(t, "")
	st := call(t, testenv.Root(context.Background()), func(ctx context.Context) error {
		_, err := s.c.CreateCredential(ctx, &milvuspb.CreateCredentialRequest{Username: "eve", Password: b64("Secret-pw1")})
		return err
	})
	if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "policy files") {
		t.Fatalf("CreateCredential: %v %q, want PermissionDenied naming the policy files", st.Code(), st.Message())
	}
}

func TestDryRunLetsDenialsPass(t *testing.T) {
	s := startPolicyStack(t, "  dry_run: true")
	before := s.upstream(t)
	// DropCollection is denied to the reader by policy and needs no schema, so
	// in dry run it must reach the backend (which answers for itself).
	st := call(t, testenv.Auth(context.Background(), "reader", "Reader-pw1"), func(ctx context.Context) error {
		_, err := s.c.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: "docs"})
		return err
	})
	if st.Code() == codes.PermissionDenied {
		t.Fatalf("dry run denied: %q", st.Message())
	}
	if s.upstream(t) != before+1 {
		t.Fatal("dry-run request did not reach the backend")
	}
	s.e.Stop(t)
	for _, d := range readJSONLines(t, s.decisions) {
		if d["api"] == "DropCollection" {
			if d["allow"] != false || d["dry_run"] != true {
				t.Fatalf("dry-run decision logged as %v", d)
			}
			return
		}
	}
	t.Fatal("dry-run denial not logged")
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v in %q", path, err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
