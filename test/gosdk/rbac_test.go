package gosdk

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	rbacIssuer   = "https://sso.test"
	rbacAudience = "milvus"
	rbacKid      = "rs-1"
	rbacRows     = 200
)

var rbacPasswords = map[string]string{"root": "Milvus", "boss": "Boss-pw1", "reader": "Reader-pw1"}

// rbacEnv is a stack with a policy bundle (the repo's .rego files + our data.yaml),
// an API key bound to role reader and a JWKS with one RS256 key.
type rbacEnv struct {
	s      *stack
	apiKey string
	signer *rsa.PrivateKey // in the JWKS
	forger *rsa.PrivateKey // same kid, not in the JWKS
}

func hashPassword(pw string) (string, error) {
	cmd := exec.Command(os.Getenv("MILVUS_EDGE_BIN"), "hash-password")
	cmd.Stdin = strings.NewReader(pw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hash-password: %v: %s", err, stderr.String())
	}
	h := strings.TrimSpace(string(out))
	if !strings.HasPrefix(h, "$2") {
		return "", fmt.Errorf("hash-password printed %q", h)
	}
	return h, nil
}

// copyRego copies every .rego file under src to dst, keeping the folder layout.
func copyRego(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if filepath.Ext(p) != ".rego" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signRS256 makes a compact JWT signed with key under kid.
func signRS256(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64url(hdr) + "." + b64url(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64url(sig), nil
}

func (e *rbacEnv) token(t *testing.T, key *rsa.PrivateKey, sub string, roles []string, expIn time.Duration) string {
	t.Helper()
	now := time.Now()
	tok, err := signRS256(key, rbacKid, map[string]any{
		"iss": rbacIssuer, "aud": rbacAudience, "sub": sub, "roles": roles,
		"iat": now.Unix(), "exp": now.Add(expIn).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func startRBACStack(t *testing.T) *rbacEnv {
	t.Helper()
	bundleSrc, err := filepath.Abs(filepath.Join("..", "..", "policy", "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	e := &rbacEnv{apiKey: "mek_" + strconv.FormatUint(mrand.Uint64(), 16) + strconv.FormatUint(mrand.Uint64(), 16)}
	if e.signer, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if e.forger, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	setup := func(dir string) (string, error) {
		hashes := map[string]string{}
		for u, pw := range rbacPasswords {
			h, err := hashPassword(pw)
			if err != nil {
				return "", err
			}
			hashes[u] = h
		}
		bundle := filepath.Join(dir, "bundle")
		if err := copyRego(bundleSrc, bundle); err != nil {
			return "", err
		}
		sum := sha256.Sum256([]byte(e.apiKey))
		data := fmt.Sprintf(`milvus:
  settings: {root_bypass: true}
  users:
    root:   {password_hash: %q, roles: []}
    boss:   {password_hash: %q, roles: [admin]}
    reader: {password_hash: %q, roles: [reader]}
  api_keys:
    - {sha256: %s, user: bot, roles: [reader]}
  roles:
    reader:
      grants:
        - {object_type: Collection, db: default, object_name: docs, privilege: CollectionReadOnly}
`, hashes["root"], hashes["boss"], hashes["reader"], hex.EncodeToString(sum[:]))
		if err := os.WriteFile(filepath.Join(bundle, "data.yaml"), []byte(data), 0o644); err != nil {
			return "", err
		}
		pub := e.signer.PublicKey
		jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": rbacKid, "alg": "RS256", "use": "sig",
			"n": b64url(pub.N.Bytes()), "e": b64url(big.NewInt(int64(pub.E)).Bytes()),
		}}})
		jwksFile := filepath.Join(dir, "jwks.json")
		if err := os.WriteFile(jwksFile, jwks, 0o644); err != nil {
			return "", err
		}
		return fmt.Sprintf(`auth:
  policy_dir: %s
  decision_log: %s
  jwt: {jwks_file: %s, issuer: %q, audience: %s, roles_claim: roles}
`, bundle, filepath.Join(dir, "decisions.jsonl"), jwksFile, rbacIssuer, rbacAudience), nil
	}
	s, err := startStackWith(setup)
	if err != nil {
		t.Fatalf("starting milvus-edge with a policy bundle: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stopping milvus-edge: %v", err)
		}
	})
	e.s = s
	return e
}

// upstreamTotal reads cluster.default.upstream_rq_total from Envoy's admin /stats.
func (e *rbacEnv) upstreamTotal(t *testing.T) int {
	t.Helper()
	const name = "cluster.default.upstream_rq_total"
	u := "http://" + e.s.EnvoyAdmin + "/stats?filter=" + url.QueryEscape("^"+regexp.QuoteMeta(name)+"$")
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == name {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return n
		}
	}
	return 0 // never touched
}

func rbacVectors(seed uint64) [][]float32 {
	rng := mrand.New(mrand.NewPCG(seed, 8))
	vecs := make([][]float32, rbacRows)
	for i := range vecs {
		v := make([]float32, dim)
		for j := range v {
			v[j] = rng.Float32()*2 - 1
		}
		vecs[i] = v
	}
	return vecs
}

// createLoaded creates name (id int64 pk, vec float[dim]), inserts rbacRows rows,
// builds an HNSW index and loads it.
func createLoaded(ctx context.Context, t *testing.T, c *milvusclient.Client, name string, vecs [][]float32) {
	t.Helper()
	schema := entity.NewSchema().WithName(name).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(name, schema)); err != nil {
		t.Fatalf("CreateCollection %s: %v", name, err)
	}
	ids := make([]int64, len(vecs))
	for i := range ids {
		ids[i] = int64(i)
	}
	res, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(name).
		WithInt64Column("id", ids).WithFloatVectorColumn("vec", dim, vecs))
	if err != nil || res.InsertCount != int64(len(vecs)) {
		t.Fatalf("Insert %s: %v (count %d)", name, err, res.InsertCount)
	}
	it, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(name, "vec", index.NewHNSWIndex(entity.L2, 8, 32)))
	if err != nil {
		t.Fatalf("CreateIndex %s: %v", name, err)
	}
	if err := it.Await(ctx); err != nil {
		t.Fatalf("index %s: %v", name, err)
	}
	lt, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(name))
	if err != nil {
		t.Fatalf("LoadCollection %s: %v", name, err)
	}
	if err := lt.Await(ctx); err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
}

// searchTop searches name for vecs[probe] and returns the hit ids.
func searchTop(ctx context.Context, c *milvusclient.Client, name string, vec []float32) ([]int64, error) {
	rs, err := c.Search(ctx, milvusclient.NewSearchOption(name, 5, []entity.Vector{entity.FloatVector(vec)}).
		WithANNSField("vec").WithAnnParam(index.NewHNSWAnnParam(64)).WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 || rs[0].Err != nil {
		return nil, fmt.Errorf("%d result sets, err %v", len(rs), rs[0].Err)
	}
	out := make([]int64, rs[0].IDs.Len())
	for i := range out {
		if out[i], err = rs[0].IDs.GetAsInt64(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func TestRBAC(t *testing.T) {
	e := startRBACStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := e.s.EdgeAddr

	root := newClient(ctx, t, addr, "root", rbacPasswords["root"])
	docs, other := rbacVectors(1), rbacVectors(2)
	createLoaded(ctx, t, root, "docs", docs)
	createLoaded(ctx, t, root, "other", other)

	withKey := func(t *testing.T, key string) *milvusclient.Client {
		t.Helper()
		c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: addr, APIKey: key})
		if err != nil {
			t.Fatalf("connecting with APIKey: %v", err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	const probe = 17
	mustSearchDocs := func(t *testing.T, c *milvusclient.Client) {
		t.Helper()
		before := e.upstreamTotal(t)
		ids, err := searchTop(ctx, c, "docs", docs[probe])
		if err != nil {
			t.Fatalf("Search docs: %v (code %v)", err, status.Code(err))
		}
		if len(ids) != 5 || ids[0] != probe {
			t.Fatalf("Search docs: ids %v, want 5 hits led by %d", ids, probe)
		}
		rs, err := c.Query(ctx, milvusclient.NewQueryOption("docs").WithFilter("id < 10").
			WithOutputFields("id").WithConsistencyLevel(entity.ClStrong))
		if err != nil || rs.ResultCount != 10 {
			t.Fatalf("Query docs id < 10: %v, %d rows; want 10", err, rs.ResultCount)
		}
		if after := e.upstreamTotal(t); after <= before {
			t.Fatalf("allowed calls not counted on cluster default: %d -> %d", before, after)
		}
	}
	// denied runs call and requires gRPC PERMISSION_DENIED with Milvus's text, as the
	// SDK returns it (merr.CheckRPCCall passes the gRPC error through), and that the
	// backend cluster's request counter did not move.
	denied := func(t *testing.T, what, want string, call func() error) {
		t.Helper()
		before := e.upstreamTotal(t)
		err := call()
		after := e.upstreamTotal(t)
		if err == nil {
			t.Fatalf("%s succeeded, want PermissionDenied", what)
		}
		st, ok := status.FromError(err)
		if !ok || st.Code() != codes.PermissionDenied || st.Message() != want {
			t.Fatalf("%s: %v (%T, code %v), want PermissionDenied %q", what, err, err, status.Code(err), want)
		}
		if after != before {
			t.Fatalf("%s: denied call reached the backend (%d -> %d)", what, before, after)
		}
	}

	t.Run("reader password", func(t *testing.T) {
		reader := newClient(ctx, t, addr, "reader", rbacPasswords["reader"])
		mustSearchDocs(t, reader) // also caches docs' schema in the client: Insert sends only Insert
		denied(t, "reader Insert docs", "PrivilegeInsert: permission deny to reader in the `default` database", func() error {
			_, err := reader.Insert(ctx, milvusclient.NewColumnBasedInsertOption("docs").
				WithInt64Column("id", []int64{10000}).WithFloatVectorColumn("vec", dim, [][]float32{docs[0]}))
			return err
		})
		denied(t, "reader DropCollection docs", "PrivilegeDropCollection: permission deny to reader in the `default` database", func() error {
			return reader.DropCollection(ctx, milvusclient.NewDropCollectionOption("docs"))
		})
	})

	t.Run("API key", func(t *testing.T) {
		bot := withKey(t, e.apiKey)
		mustSearchDocs(t, bot)
		denied(t, "bot Insert docs", "PrivilegeInsert: permission deny to bot in the `default` database", func() error {
			_, err := bot.Insert(ctx, milvusclient.NewColumnBasedInsertOption("docs").
				WithInt64Column("id", []int64{10001}).WithFloatVectorColumn("vec", dim, [][]float32{docs[0]}))
			return err
		})
	})

	t.Run("reader JWT", func(t *testing.T) {
		sso := withKey(t, e.token(t, e.signer, "sso-reader", []string{"reader"}, 10*time.Minute))
		mustSearchDocs(t, sso)
		denied(t, "JWT DropCollection docs", "PrivilegeDropCollection: permission deny to sso-reader in the `default` database", func() error {
			return sso.DropCollection(ctx, milvusclient.NewDropCollectionOption("docs"))
		})
	})

	t.Run("admin", func(t *testing.T) {
		boss := newClient(ctx, t, addr, "boss", rbacPasswords["boss"])
		res, err := boss.Insert(ctx, milvusclient.NewColumnBasedInsertOption("docs").
			WithInt64Column("id", []int64{5000}).WithFloatVectorColumn("vec", dim, [][]float32{docs[3]}))
		if err != nil || res.InsertCount != 1 {
			t.Fatalf("boss Insert docs: %v (count %d)", err, res.InsertCount)
		}
		ids, err := searchTop(ctx, boss, "other", other[probe])
		if err != nil || len(ids) != 5 || ids[0] != probe {
			t.Fatalf("boss Search other: %v %v", ids, err)
		}
		if err := boss.DropCollection(ctx, milvusclient.NewDropCollectionOption("other")); err != nil {
			t.Fatalf("boss DropCollection other: %v", err)
		}
		if has, err := boss.HasCollection(ctx, milvusclient.NewHasCollectionOption("other")); err != nil || has {
			t.Fatalf("HasCollection other after drop: %v %v", has, err)
		}
		createLoaded(ctx, t, boss, "other", rbacVectors(3))
		if ids, err := searchTop(ctx, boss, "other", rbacVectors(3)[probe]); err != nil || len(ids) != 5 || ids[0] != probe {
			t.Fatalf("boss Search recreated other: %v %v", ids, err)
		}
	})

	t.Run("unauthenticated", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cfg  milvusclient.ClientConfig
			want string
		}{
			{"wrong password", milvusclient.ClientConfig{Username: "reader", Password: "not-the-password"},
				"auth check failure, please check username and password are correct"},
			{"expired JWT", milvusclient.ClientConfig{APIKey: e.token(t, e.signer, "sso-reader", []string{"reader"}, -time.Hour)},
				"auth check failure, please check the token is valid: token expired"},
			{"JWT of another key", milvusclient.ClientConfig{APIKey: e.token(t, e.forger, "sso-reader", []string{"reader"}, 10*time.Minute)},
				"auth check failure, please check the token is valid: bad signature"},
		} {
			cfg := tc.cfg
			cfg.Address = addr
			before := e.upstreamTotal(t)
			c, err := milvusclient.New(ctx, &cfg)
			after := e.upstreamTotal(t)
			if err == nil {
				c.Close(context.Background())
				t.Fatalf("%s: milvusclient.New succeeded, want Unauthenticated", tc.name)
			}
			st, ok := status.FromError(err)
			if !ok || st.Code() != codes.Unauthenticated || st.Message() != tc.want {
				t.Fatalf("%s: %v (%T, code %v), want Unauthenticated %q", tc.name, err, err, status.Code(err), tc.want)
			}
			if after != before {
				t.Fatalf("%s: refused call reached the backend (%d -> %d)", tc.name, before, after)
			}
		}
	})
}
