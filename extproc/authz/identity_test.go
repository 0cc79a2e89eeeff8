package authz

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"golang.org/x/crypto/bcrypt"

	"github.com/milvus-edge/milvus-edge/cache"
)

// Secrets of the test store. Failure messages must never contain them.
const (
	rootPassword   = "Milvus"
	readerPassword = "r3ader-pass"
	ciKey          = "mk_ci_7d1f0c2e9b"
)

func enc64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func bcryptHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func newTestStore(t testing.TB) *IdentityStore {
	t.Helper()
	s := NewIdentityStore(map[string]UserRecord{
		"root":   {PasswordHash: bcryptHash(t, rootPassword)},
		"reader": {PasswordHash: bcryptHash(t, readerPassword), Roles: []string{"reader"}},
	}, []APIKeyRecord{{SHA256: sha256Hex(ciKey), User: "ci-bot", Roles: []string{"reader", "writer"}}})
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestCreds(t testing.TB) *cache.Credentials {
	t.Helper()
	creds, err := cache.NewCredentials(100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(creds.Close)
	return creds
}

func asAuthError(err error, target **AuthError) bool { return errors.As(err, target) }

func TestAuthenticate(t *testing.T) {
	p := newTestIdP(t)
	store := newTestStore(t)
	withJWT := NewAuthenticator(newTestCreds(t), p.verifier(t, nil))
	noJWT := NewAuthenticator(newTestCreds(t), nil)
	token := signJWT(t, jwa.RS256(), p.rsa, rsaKID, jwtClaims())
	expired := signJWT(t, jwa.ES256(), p.ec, ecKID, jwtClaims("exp", jwtNow.Add(-time.Hour).Unix()))
	forged := signJWT(t, jwa.RS256(), p.other, rsaKID, jwtClaims())
	secrets := []string{rootPassword, readerPassword, ciKey, "wrong-pass", token, forged}

	for _, tc := range []struct {
		name      string
		a         *Authenticator // nil = withJWT
		header    string
		grpc      bool
		wantUser  string
		wantRoles []string
		method    string
		msg       string // "" = accepted
	}{
		// Header format.
		{name: "grpc empty", header: "", grpc: true, msg: MsgMissing},
		{name: "rest empty", header: "", msg: MsgMissing},
		{name: "grpc not base64", header: "root:Milvus", grpc: true, msg: MsgBadFormat},
		{name: "rest unknown scheme", header: "Token " + ciKey, msg: MsgBadFormat},
		{name: "rest no scheme", header: "root:Milvus", msg: MsgBadFormat},
		{name: "rest basic not base64", header: "Basic root:Milvus", msg: MsgBadFormat},
		{name: "rest basic without colon", header: "Basic " + enc64(ciKey), msg: MsgBadFormat},

		// Passwords.
		{name: "grpc password", header: enc64("root:" + rootPassword), grpc: true, wantUser: "root", method: MethodPassword},
		{name: "grpc password with roles", header: enc64("reader:" + readerPassword), grpc: true, wantUser: "reader", wantRoles: []string{"reader"}, method: MethodPassword},
		{name: "grpc password with a colon", header: enc64("root:" + rootPassword + ":x"), grpc: true, msg: MsgBadPassword},
		{name: "rest bearer password", header: "Bearer reader:" + readerPassword, wantUser: "reader", wantRoles: []string{"reader"}, method: MethodPassword},
		{name: "rest bearer lower case", header: "bearer root:" + rootPassword, wantUser: "root", method: MethodPassword},
		{name: "rest basic", header: "Basic " + enc64("root:"+rootPassword), wantUser: "root", method: MethodPassword},
		{name: "grpc wrong password", header: enc64("root:wrong-pass"), grpc: true, msg: MsgBadPassword},
		{name: "rest wrong password", header: "Bearer root:wrong-pass", msg: MsgBadPassword},
		{name: "unknown user", header: enc64("mallory:" + rootPassword), grpc: true, msg: MsgBadPassword},
		{name: "empty user and password", header: enc64(":"), grpc: true, msg: MsgBadPassword},
		{name: "base64 of base64 is not a password", header: enc64(enc64("root:" + rootPassword)), grpc: true, msg: MsgBadAPIKey},

		// API keys.
		{name: "grpc api key", header: enc64(ciKey), grpc: true, wantUser: "ci-bot", wantRoles: []string{"reader", "writer"}, method: MethodAPIKey},
		{name: "rest api key", header: "Bearer " + ciKey, wantUser: "ci-bot", wantRoles: []string{"reader", "writer"}, method: MethodAPIKey},
		{name: "unknown api key", header: enc64("mk_ci_unknown"), grpc: true, msg: MsgBadAPIKey},
		{name: "rest empty bearer", header: "Bearer ", msg: MsgBadAPIKey},

		// JWTs.
		{name: "grpc jwt", header: enc64(token), grpc: true, wantUser: "alice", wantRoles: []string{"reader"}, method: MethodJWT},
		{name: "rest jwt", header: "Bearer " + token, wantUser: "alice", wantRoles: []string{"reader"}, method: MethodJWT},
		{name: "rest expired jwt", header: "Bearer " + expired, msg: MsgBadToken + ": token expired"},
		{name: "grpc forged jwt", header: enc64(forged), grpc: true, msg: MsgBadToken + ": bad signature"},
		{name: "jwt off: a token is an unknown api key", a: noJWT, header: "Bearer " + token, msg: MsgBadAPIKey},
		{name: "jwt off: api key still works", a: noJWT, header: enc64(ciKey), grpc: true, wantUser: "ci-bot", wantRoles: []string{"reader", "writer"}, method: MethodAPIKey},
		{name: "two segments is an api key", header: "Bearer abc.def", msg: MsgBadAPIKey},
		{name: "four segments is an api key", header: "Bearer a.b.c.d", msg: MsgBadAPIKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			if a == nil {
				a = withJWT
			}
			id, err := a.Authenticate(store, tc.header, tc.grpc)
			if tc.msg != "" {
				var ae *AuthError
				if !asAuthError(err, &ae) || ae.Msg != tc.msg {
					t.Fatalf("err = %v, want %q", err, tc.msg)
				}
				for _, s := range secrets {
					if strings.Contains(ae.Msg, s) {
						t.Fatalf("message %q contains a secret", ae.Msg)
					}
				}
				// On failure the identity names only what was tried (for
				// the audit): no roles, no claims, and never the secret.
				if id.Roles != nil || id.Claims != nil || id.KeyDigest != "" {
					t.Fatalf("identity on failure: %+v", id)
				}
				for _, s := range secrets {
					if s != "" && s != id.User && strings.Contains(fmt.Sprintf("%+v", id), s) {
						t.Fatalf("identity on failure %+v holds a secret", id)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if id.User != tc.wantUser || id.Method != tc.method || !slices.Equal(id.Roles, tc.wantRoles) {
				t.Fatalf("identity = %+v, want %s/%s %v", id, tc.wantUser, tc.method, tc.wantRoles)
			}
			if (id.Claims != nil) != (tc.method == MethodJWT) {
				t.Fatalf("claims = %v for method %s", id.Claims, id.Method)
			}
		})
	}
}

func TestPasswordCached(t *testing.T) {
	hash := bcryptHash(t, readerPassword)
	store := NewIdentityStore(map[string]UserRecord{"reader": {PasswordHash: hash, Roles: []string{"reader"}}}, nil)
	creds := newTestCreds(t)
	a := NewAuthenticator(creds, nil)
	key := cache.Key("reader", readerPassword, hash)
	header := enc64("reader:" + readerPassword)

	if _, err := a.Authenticate(store, enc64("reader:wrong-pass"), true); err == nil {
		t.Fatal("wrong password accepted")
	}
	creds.Wait()
	if creds.Verified(cache.Key("reader", "wrong-pass", hash)) {
		t.Fatal("a failed password was cached")
	}
	if creds.Verified(key) {
		t.Fatal("cached before the first verification")
	}
	if _, err := a.Authenticate(store, header, true); err != nil {
		t.Fatal(err)
	}
	creds.Wait()
	if !creds.Verified(key) {
		t.Fatal("verified password not cached")
	}
	// A cache hit skips bcrypt, which alone makes 11 allocations: the cached
	// path makes 6 (header decode, cache key, cache lookup).
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.Authenticate(store, header, true); err != nil {
			t.Fatal(err)
		}
	}); allocs > 8 {
		t.Fatalf("cached password check: %v allocs, want ≤ 8 (bcrypt ran?)", allocs)
	}

	// A new hash for the same user (password changed in the bundle) misses.
	store2 := NewIdentityStore(map[string]UserRecord{"reader": {PasswordHash: bcryptHash(t, "new-pass")}}, nil)
	if _, err := a.Authenticate(store2, header, true); err == nil || err.Error() != MsgBadPassword {
		t.Fatalf("old password after a hash change: err = %v", err)
	}
}

func TestAPIKeyAllocs(t *testing.T) {
	store := newTestStore(t)
	a := NewAuthenticator(nil, nil)
	header := "Bearer " + ciKey
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := a.Authenticate(store, header, false); err != nil {
			t.Fatal(err)
		}
	}); allocs > 0 {
		t.Fatalf("REST API key check: %v allocs, want 0", allocs)
	}
}

func TestIdentityStoreErr(t *testing.T) {
	good := sha256Hex(ciKey)
	s := NewIdentityStore(map[string]UserRecord{
		"ok":    {PasswordHash: bcryptHash(t, "pw-ok-1")},
		"plain": {PasswordHash: "Milvus"},
	}, []APIKeyRecord{
		{SHA256: good, User: "a"},
		{SHA256: good, User: "b"},
		{SHA256: "9f86d0", User: "c"},
		{SHA256: strings.Repeat("zz", 32), User: "d"},
		{SHA256: sha256Hex("other"), User: ""},
	})
	err := s.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"users.plain.password_hash: not a bcrypt hash",
		"api_keys[1].sha256: duplicate key",
		"api_keys[2].sha256: must be 64 hex digits",
		"api_keys[3].sha256: must be 64 hex digits",
		"api_keys[4].user: is required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Good records still work; the first of duplicates wins.
	a := NewAuthenticator(nil, nil)
	if id, err := a.Authenticate(s, "Bearer "+ciKey, false); err != nil || id.User != "a" {
		t.Fatalf("api key: %+v, %v", id, err)
	}
	if _, err := a.Authenticate(s, "Bearer plain:Milvus", false); err == nil {
		t.Fatal("a user with a plain-text hash was accepted")
	}
}

func TestIdentityRolesNotShared(t *testing.T) {
	store := newTestStore(t)
	a := NewAuthenticator(nil, nil)
	id, err := a.Authenticate(store, "Bearer "+ciKey, false)
	if err != nil {
		t.Fatal(err)
	}
	id.Roles = append(id.Roles, "public") // what the input builder does
	again, _ := a.Authenticate(store, "Bearer "+ciKey, false)
	if !slices.Equal(again.Roles, []string{"reader", "writer"}) {
		t.Fatalf("store roles changed: %v", again.Roles)
	}
}

func TestNilStore(t *testing.T) {
	a := NewAuthenticator(nil, nil)
	for _, h := range []string{"Bearer root:Milvus", "Bearer " + ciKey} {
		if _, err := a.Authenticate(nil, h, false); err == nil {
			t.Fatalf("%s accepted by a nil store", h)
		}
	}
}

func FuzzAuthenticate(f *testing.F) {
	p := newTestIdP(f)
	store := newTestStore(f)
	a := NewAuthenticator(newTestCreds(f), p.verifier(f, nil))
	token := signJWT(f, jwa.RS256(), p.rsa, rsaKID, jwtClaims())
	for _, s := range []struct {
		h    string
		grpc bool
	}{
		{"", true}, {"", false}, {"!!", true},
		{enc64("root:" + rootPassword), true}, {enc64("mallory:x"), true},
		{enc64(ciKey), true}, {enc64(token), true}, {enc64("a.b.c"), true}, {enc64(".."), true},
		{"Bearer " + token, false}, {"Bearer root:" + rootPassword, false}, {"Bearer " + ciKey, false},
		{"Basic " + enc64("root:"+rootPassword), false}, {"Basic " + enc64("nocolon"), false},
		{"Bearer eyJhbGciOiJub25lIn0.e30.", false}, {"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.e30.AA", false},
		{"bearer\x00x", false}, {"Token x", false},
	} {
		f.Add(s.h, s.grpc)
	}
	f.Fuzz(func(t *testing.T, header string, grpcCall bool) {
		id, err := a.Authenticate(store, header, grpcCall)
		if err != nil {
			var ae *AuthError
			if !asAuthError(err, &ae) || ae.Msg == "" {
				t.Fatalf("error %v is not an *AuthError with a message", err)
			}
			if id.Roles != nil || id.Claims != nil {
				t.Fatalf("identity %+v with error", id)
			}
			return
		}
		switch id.Method {
		case MethodPassword, MethodAPIKey, MethodJWT:
		default:
			t.Fatalf("method %q", id.Method)
		}
		if id.User == "" {
			t.Fatalf("accepted without a user: %+v", id)
		}
	})
}

func BenchmarkAuthenticatePasswordCached(b *testing.B) {
	store := newTestStore(b)
	creds := newTestCreds(b)
	a := NewAuthenticator(creds, nil)
	header := enc64("reader:" + readerPassword)
	if _, err := a.Authenticate(store, header, true); err != nil {
		b.Fatal(err)
	}
	creds.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(store, header, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateAPIKey(b *testing.B) {
	store := newTestStore(b)
	a := NewAuthenticator(nil, nil)
	header := enc64(ciKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(store, header, true); err != nil {
			b.Fatal(err)
		}
	}
}
