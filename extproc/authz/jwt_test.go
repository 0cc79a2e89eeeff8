package authz

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Test identity provider.
const (
	testIssuer   = "https://idp.example.com/realms/milvus"
	testAudience = "milvus-edge"
	rsaKID       = "rsa-1"
	ecKID        = "ec-1"
)

// jwtNow is the injected clock's time: tests never read the wall clock.
var jwtNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testIdP holds real keys: the ones in the JWKS and one the JWKS does not know.
type testIdP struct {
	rsa, other *rsa.PrivateKey
	ec         *ecdsa.PrivateKey
	jwksFile   string
}

func newTestIdP(t testing.TB) *testIdP {
	t.Helper()
	p := &testIdP{rsa: genRSA(t, 2048), other: genRSA(t, 2048), ec: genEC(t)}
	p.jwksFile = writeJWKS(t, map[string]any{rsaKID: &p.rsa.PublicKey, ecKID: &p.ec.PublicKey})
	return p
}

func genRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func genEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeJWKS writes raw keys, by kid ("" = no kid), as a JWKS file in t.TempDir().
func writeJWKS(t testing.TB, keys map[string]any) string {
	t.Helper()
	set := jwk.NewSet()
	for kid, raw := range keys {
		k, err := jwk.Import(raw)
		if err != nil {
			t.Fatal(err)
		}
		if kid != "" {
			if err := k.Set(jwk.KeyIDKey, kid); err != nil {
				t.Fatal(err)
			}
		}
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *testIdP) verifier(t testing.TB, mod func(*JWTConfig)) *JWTVerifier {
	t.Helper()
	cfg := JWTConfig{JWKSFile: p.jwksFile, Issuer: testIssuer, Audience: testAudience, Leeway: 30 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewJWTVerifier(cfg, func() time.Time { return jwtNow })
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// jwtClaims returns valid claims for user alice, changed by kv pairs (a nil value deletes).
func jwtClaims(kv ...any) map[string]any {
	c := map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "alice",
		"exp": jwtNow.Add(time.Hour).Unix(), "iat": jwtNow.Unix(), "roles": []string{"reader"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// signJWT signs claims with jwx, putting kid in the protected header.
func signJWT(t testing.TB, alg jwa.SignatureAlgorithm, key any, kid string, c map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// rawToken builds a compact token by hand (for headers jwx refuses to sign).
func rawToken(t testing.TB, header map[string]any, c map[string]any, sig func(signingInput string) []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	var s []byte
	if sig != nil {
		s = sig(in)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(s)
}

func TestJWTVerify(t *testing.T) {
	p := newTestIdP(t)
	v := p.verifier(t, nil)
	rs, es := jwa.RS256(), jwa.ES256()
	// The attack: HMAC keyed with the RSA public key, which is public.
	pubDER, _ := x509.MarshalPKIXPublicKey(&p.rsa.PublicKey)
	hmacWithPub := func(in string) []byte {
		m := hmac.New(sha256.New, pubDER)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
	for _, tc := range []struct {
		name      string
		token     string
		wantUser  string
		wantRoles []string
		reason    string // "" = accepted
	}{
		{name: "RS256", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims()), wantUser: "alice", wantRoles: []string{"reader"}},
		{name: "ES256", token: signJWT(t, es, p.ec, ecKID, jwtClaims()), wantUser: "alice", wantRoles: []string{"reader"}},
		{name: "aud array", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("aud", []string{"other", testAudience})), wantUser: "alice", wantRoles: []string{"reader"}},
		{name: "no roles claim", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("roles", nil)), wantUser: "alice"},
		{name: "expired within leeway", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("exp", jwtNow.Add(-29*time.Second).Unix())), wantUser: "alice", wantRoles: []string{"reader"}},
		{name: "nbf within leeway", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("nbf", jwtNow.Add(29*time.Second).Unix())), wantUser: "alice", wantRoles: []string{"reader"}},
		{name: "expired", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("exp", jwtNow.Add(-time.Minute).Unix())), reason: "token expired"},
		{name: "exp now minus leeway", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("exp", jwtNow.Add(-30*time.Second).Unix())), reason: "token expired"},
		{name: "not yet valid", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("nbf", jwtNow.Add(time.Minute).Unix())), reason: "token not yet valid"},
		{name: "nbf not a number", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("nbf", "soon")), reason: "invalid nbf claim"},
		{name: "missing exp", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("exp", nil)), reason: "missing exp claim"},
		{name: "signed by another key", token: signJWT(t, rs, p.other, rsaKID, jwtClaims()), reason: "bad signature"},
		{name: "tampered payload", token: tamper(signJWT(t, rs, p.rsa, rsaKID, jwtClaims()), jwtClaims("sub", "root")), reason: "bad signature"},
		{name: "unknown kid", token: signJWT(t, rs, p.rsa, "rsa-2", jwtClaims()), reason: "unknown key id"},
		{name: "no kid", token: rawToken(t, map[string]any{"alg": "RS256"}, jwtClaims(), nil), reason: "unknown key id"},
		{name: "ES256 header on RSA key", token: rawToken(t, map[string]any{"alg": "ES256", "kid": rsaKID}, jwtClaims(), nil), reason: "algorithm does not match key"},
		{name: "alg none", token: rawToken(t, map[string]any{"alg": "none", "kid": rsaKID}, jwtClaims(), nil), reason: "unsupported algorithm"},
		{name: "HS256 keyed with public key", token: rawToken(t, map[string]any{"alg": "HS256", "kid": rsaKID}, jwtClaims(), hmacWithPub), reason: "unsupported algorithm"},
		{name: "HS256 by jwx", token: signJWT(t, jwa.HS256(), pubDER, rsaKID, jwtClaims()), reason: "unsupported algorithm"},
		{name: "RS512", token: signJWT(t, jwa.RS512(), p.rsa, rsaKID, jwtClaims()), reason: "unsupported algorithm"},
		{name: "crit header", token: rawToken(t, map[string]any{"alg": "RS256", "kid": rsaKID, "crit": []string{"x"}}, jwtClaims(), nil), reason: "unsupported header"},
		{name: "wrong issuer", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("iss", "https://evil.example.com")), reason: "wrong issuer"},
		{name: "missing issuer", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("iss", nil)), reason: "wrong issuer"},
		{name: "wrong audience", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("aud", "other")), reason: "wrong audience"},
		{name: "aud array without ours", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("aud", []string{"a", "b"})), reason: "wrong audience"},
		{name: "missing sub", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("sub", nil)), reason: "missing sub claim"},
		{name: "roles not an array", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("roles", "admin")), reason: "invalid roles claim"},
		{name: "roles with a number", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("roles", []any{"a", 1})), reason: "invalid roles claim"},
		{name: "header not base64", token: "e$J.eyJ.sig", reason: "malformed header"},
		{name: "claims not an object", token: signPayload(t, p.rsa, `[1,2]`), reason: "malformed claims"},
		{name: "too large", token: signJWT(t, rs, p.rsa, rsaKID, jwtClaims("pad", strings.Repeat("x", maxTokenBytes))), reason: "token too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(tc.token)
			if tc.reason != "" {
				want := MsgBadToken + ": " + tc.reason
				var ae *AuthError
				if !asAuthError(err, &ae) || ae.Msg != want {
					t.Fatalf("err = %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if id.User != tc.wantUser || id.Method != MethodJWT || !slices.Equal(id.Roles, tc.wantRoles) {
				t.Fatalf("identity = %+v, want user %q roles %v", id, tc.wantUser, tc.wantRoles)
			}
			if id.Claims["iss"] != testIssuer || id.Claims["sub"] != tc.wantUser {
				t.Fatalf("claims = %v", id.Claims)
			}
		})
	}
}

// tamper swaps the payload of a signed token.
func tamper(token string, c map[string]any) string {
	parts := strings.Split(token, ".")
	p, _ := json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

func signPayload(t *testing.T, key *rsa.PrivateKey, payload string) string {
	t.Helper()
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, rsaKID)
	tok, err := jws.Sign([]byte(payload), jws.WithKey(jwa.RS256(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

func TestJWTClaimConfig(t *testing.T) {
	p := newTestIdP(t)
	keycloak := p.verifier(t, func(c *JWTConfig) {
		c.UserClaim = "preferred_username"
		c.RolesClaim = "realm_access.roles"
	})
	auth0 := p.verifier(t, func(c *JWTConfig) { c.RolesClaim = "https://milvus.example.com/roles" })
	rs := jwa.RS256()
	for _, tc := range []struct {
		name      string
		v         *JWTVerifier
		c         map[string]any
		wantUser  string
		wantRoles []string
		reason    string
	}{
		{name: "dotted roles path", v: keycloak, c: jwtClaims("preferred_username", "bob", "realm_access", map[string]any{"roles": []string{"writer", "reader"}}),
			wantUser: "bob", wantRoles: []string{"writer", "reader"}},
		{name: "dotted path missing", v: keycloak, c: jwtClaims("preferred_username", "bob"), wantUser: "bob"},
		{name: "dotted path through a non-object", v: keycloak, c: jwtClaims("preferred_username", "bob", "realm_access", "x"), wantUser: "bob"},
		{name: "user claim missing", v: keycloak, c: jwtClaims(), reason: "missing preferred_username claim"},
		{name: "user claim not a string", v: keycloak, c: jwtClaims("preferred_username", 7), reason: "missing preferred_username claim"},
		{name: "claim name with dots", v: auth0, c: jwtClaims("https://milvus.example.com/roles", []string{"admin"}), wantUser: "alice", wantRoles: []string{"admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.v.Verify(signJWT(t, rs, p.rsa, rsaKID, tc.c))
			if tc.reason != "" {
				if err == nil || err.Error() != MsgBadToken+": "+tc.reason {
					t.Fatalf("err = %v, want reason %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.User != tc.wantUser || !slices.Equal(id.Roles, tc.wantRoles) {
				t.Fatalf("identity = %+v", id)
			}
		})
	}
}

func TestNewJWTVerifierErrors(t *testing.T) {
	rsaKey, ecKey := genRSA(t, 2048), genEC(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  JWTConfig
		bare bool     // no issuer and audience
		want []string // substrings of the error; none = no error
	}{
		{name: "ok", cfg: JWTConfig{JWKSFile: writeJWKS(t, map[string]any{"a": &rsaKey.PublicKey, "b": &ecKey.PublicKey})}},
		{name: "private keys are used as public keys", cfg: JWTConfig{JWKSFile: writeJWKS(t, map[string]any{"a": rsaKey})}},
		{name: "unusable keys are skipped", cfg: JWTConfig{JWKSFile: writeJWKS(t, map[string]any{"a": &rsaKey.PublicKey, "p384": &p384.PublicKey, "hs": []byte("secret")})}},
		{name: "required fields", bare: true, cfg: JWTConfig{Leeway: -1},
			want: []string{"auth.jwt.jwks_file: is required", "auth.jwt.issuer: is required", "auth.jwt.audience: is required", "auth.jwt.leeway: must not be negative"}},
		{name: "missing file", cfg: JWTConfig{JWKSFile: filepath.Join(t.TempDir(), "nope.json")}, want: []string{"auth.jwt.jwks_file: reading"}},
		{name: "not json", cfg: JWTConfig{JWKSFile: "testdata/identity/not-json.json"}, want: []string{"auth.jwt.jwks_file: reading"}},
		{name: "only an HMAC key", cfg: JWTConfig{JWKSFile: "testdata/identity/oct-only.json"}, want: []string{"auth.jwt.jwks_file:", "no RS256 or ES256 signing key"}},
		{name: "only an encryption key", cfg: JWTConfig{JWKSFile: "testdata/identity/enc-only.json"}, want: []string{"no RS256 or ES256 signing key"}},
		{name: "missing kid", cfg: JWTConfig{JWKSFile: writeJWKS(t, map[string]any{"": &ecKey.PublicKey})}, want: []string{"auth.jwt.jwks_file:", "keys[0].kid: is required"}},
		{name: "short RSA key", cfg: JWTConfig{JWKSFile: writeJWKS(t, map[string]any{"a": &genRSA(t, 1024).PublicKey})}, want: []string{"keys[0]: RSA key shorter than 2048 bits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.bare {
				tc.cfg.Issuer, tc.cfg.Audience = testIssuer, testAudience
			}
			v, err := NewJWTVerifier(tc.cfg, nil)
			if len(tc.want) == 0 {
				if err != nil || v == nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestJWTDefaults(t *testing.T) {
	p := newTestIdP(t)
	v := p.verifier(t, nil)
	if v.userClaim != "sub" || v.rolesClaim != "roles" {
		t.Fatalf("defaults: user %q roles %q", v.userClaim, v.rolesClaim)
	}
}
