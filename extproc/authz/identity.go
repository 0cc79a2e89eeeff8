package authz

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/milvus-edge/milvus-edge/cache"
)

// MsgBadToken starts the message for a rejected JWT; the full message is
// MsgBadToken + ": " + a short reason ("token expired", "bad signature", ...).
// Milvus has no JWT support, so the wording follows its API-key message.
const MsgBadToken = "auth check failure, please check the token is valid"

// Identity is who is calling.
type Identity struct {
	// User is the user name: the password user, the API key's user, or the JWT's user claim.
	User string
	// Roles come from the identity store or the token; "public" is not added here
	// (the input builder adds it). The slice may be shared with the store: do not
	// modify it in place (append is safe, it has no spare capacity).
	Roles []string
	// Method is "password", "api_key" or "jwt".
	Method string
	// Claims are the JWT's claims as decoded JSON (numbers are float64); nil otherwise.
	Claims map[string]any
	// KeyDigest is the API key's SHA-256 in hex, as data.milvus.api_keys
	// lists it ("" for other methods): rate limits name keys by it.
	KeyDigest string
	// Peer is the verified client certificate's identity (its SPIFFE URI
	// SAN, else its subject CN), "" without one. Alone it is the identity
	// (method mtls); with a password, key or JWT it is also there.
	Peer string
}

// Identity methods.
const (
	MethodPassword = "password"
	MethodAPIKey   = "api_key"
	MethodJWT      = "jwt"
	MethodMTLS     = "mtls"
)

// UserRecord is a password identity from the policy data (data.milvus.users).
type UserRecord struct {
	PasswordHash string // bcrypt
	Roles        []string
}

// APIKeyRecord is an API key identity from the policy data (data.milvus.api_keys).
type APIKeyRecord struct {
	SHA256 string // lower-case hex of sha256(key); the key itself is never stored
	User   string
	Roles  []string
}

// AuthError is a failed authentication. Msg is exactly what the client gets
// (gRPC UNAUTHENTICATED); it never contains a secret.
type AuthError struct {
	Msg string
	// Throttled marks a login refused by the guard's back-off without a
	// check (the client gets the same message; the audit says so).
	Throttled bool
}

// Error returns the client message.
func (e *AuthError) Error() string { return e.Msg }

// Shared errors: the hot path does not allocate on failure.
var (
	errMissing     = &AuthError{Msg: MsgMissing}
	errBadFormat   = &AuthError{Msg: MsgBadFormat}
	errBadPassword = &AuthError{Msg: MsgBadPassword}
	errBadAPIKey   = &AuthError{Msg: MsgBadAPIKey}
	errThrottled   = &AuthError{Msg: MsgBadPassword, Throttled: true}
)

type userEntry struct {
	hash  []byte
	roles []string
}

type apiKeyEntry struct {
	digest [sha256.Size]byte
	hex    string
	user   string
	roles  []string
}

// IdentityStore holds the identities of one policy version. It is immutable:
// build a new one on every policy reload and publish it atomically.
type IdentityStore struct {
	users map[string]userEntry
	keys  map[[sha256.Size]byte]apiKeyEntry
	// dummy is compared against for unknown users, at the cost of the real
	// hashes, so that unknown users take as long as known ones.
	dummy []byte
	err   error
}

// NewIdentityStore copies users and keys into a new store. Records that can
// never match (a password hash that is not bcrypt, a digest that is not 64 hex
// digits, a duplicate digest) are left out and reported by Err.
func NewIdentityStore(users map[string]UserRecord, keys []APIKeyRecord) *IdentityStore {
	s := &IdentityStore{
		users: make(map[string]userEntry, len(users)),
		keys:  make(map[[sha256.Size]byte]apiKeyEntry, len(keys)),
	}
	var errs []error
	cost := 0
	for _, name := range sortedKeys(users) {
		u := users[name]
		c, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			errs = append(errs, fmt.Errorf("users.%s.password_hash: not a bcrypt hash", name))
			continue
		}
		cost = max(cost, c)
		s.users[name] = userEntry{hash: []byte(u.PasswordHash), roles: cloneRoles(u.Roles)}
	}
	for i, k := range keys {
		var d [sha256.Size]byte
		if n, err := hex.Decode(d[:], []byte(k.SHA256)); err != nil || n != sha256.Size || len(k.SHA256) != 2*sha256.Size {
			errs = append(errs, fmt.Errorf("api_keys[%d].sha256: must be %d hex digits", i, 2*sha256.Size))
			continue
		}
		if k.User == "" {
			errs = append(errs, fmt.Errorf("api_keys[%d].user: is required", i))
			continue
		}
		if _, dup := s.keys[d]; dup {
			errs = append(errs, fmt.Errorf("api_keys[%d].sha256: duplicate key", i))
			continue
		}
		s.keys[d] = apiKeyEntry{digest: d, hex: hex.EncodeToString(d[:]), user: k.User, roles: cloneRoles(k.Roles)}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	s.dummy = dummyHashFor(cost)
	s.err = errors.Join(errs...)
	return s
}

// Err reports the records NewIdentityStore left out, nil if none. A policy
// loader may refuse a bundle whose store has an error.
func (s *IdentityStore) Err() error { return s.err }

func sortedKeys(m map[string]UserRecord) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// cloneRoles copies roles without spare capacity, so that a caller appending
// "public" to an Identity's roles never writes into the store.
func cloneRoles(r []string) []string {
	if len(r) == 0 {
		return nil
	}
	return slices.Clip(slices.Clone(r))
}

// dummyHashes holds one dummy bcrypt hash per cost (int → []byte), made once.
var dummyHashes sync.Map

func dummyHashFor(cost int) []byte {
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("milvus-edge-no-such-user"), cost)
	if err != nil { // only for an invalid cost, which bcrypt.Cost never returns
		h, _ = bcrypt.GenerateFromPassword([]byte("milvus-edge-no-such-user"), bcrypt.DefaultCost)
	}
	actual, _ := dummyHashes.LoadOrStore(cost, h)
	return actual.([]byte)
}

// Authenticator verifies the Milvus authorization header against an
// IdentityStore. It is safe for concurrent use.
type Authenticator struct {
	creds *cache.Credentials
	jwt   *JWTVerifier
	guard *Guard
}

// UseGuard bounds password guessing (see Guard); call before serving.
func (a *Authenticator) UseGuard(g *Guard) { a.guard = g }

// Guard returns the guard in use (nil: none).
func (a *Authenticator) Guard() *Guard { return a.guard }

// From is where a call comes from: the client's address and its verified
// certificate's identity.
type From struct {
	Addr string
	Peer string
}

// NewAuthenticator returns an Authenticator. creds caches verified passwords
// (nil: no cache); jwt verifies bearer JWTs (nil: JWTs are off and a
// JWT-shaped secret is taken for an API key).
func NewAuthenticator(creds *cache.Credentials, jwt *JWTVerifier) *Authenticator {
	return &Authenticator{creds: creds, jwt: jwt}
}

// Authenticate verifies the authorization header. gRPC carries base64 of
// "user:password", of an API key or of a JWT, with no scheme, as Milvus reads
// it. REST carries "Bearer user:password" (not base64), "Bearer <jwt>",
// "Bearer <api key>" or "Basic base64(user:password)". The error is an
// *AuthError with Milvus's message.
func (a *Authenticator) Authenticate(store *IdentityStore, header string, grpcCall bool) (Identity, error) {
	return a.AuthenticateFrom(context.Background(), store, header, grpcCall, From{})
}

// AuthenticateFrom is Authenticate for a call from f: a verified client
// certificate alone is an identity (method mtls) and is kept beside any
// other; password checks go through the guard, by user name and by f.Addr.
// On failure the Identity still names what was tried (user, method), for
// the audit — never the secret.
func (a *Authenticator) AuthenticateFrom(ctx context.Context, store *IdentityStore, header string, grpcCall bool, f From) (Identity, error) {
	if header == "" {
		if f.Peer != "" {
			return Identity{User: f.Peer, Method: MethodMTLS, Peer: f.Peer}, nil
		}
		return Identity{}, errMissing
	}
	id, err := a.authenticate(ctx, store, header, grpcCall, f.Addr)
	id.Peer = f.Peer
	return id, err
}

func (a *Authenticator) authenticate(ctx context.Context, store *IdentityStore, header string, grpcCall bool, addr string) (Identity, error) {
	raw, basic, err := decodeAuthorization(header, grpcCall)
	if err != nil {
		return Identity{}, err
	}
	if store == nil {
		store = &IdentityStore{}
	}
	if user, password, ok := strings.Cut(raw, ":"); ok {
		return a.password(ctx, store, user, password, addr)
	}
	if basic {
		return Identity{}, errBadFormat
	}
	if a.jwt != nil && jwtShaped(raw) {
		id, err := a.jwt.Verify(raw)
		if err != nil {
			return Identity{Method: MethodJWT}, err
		}
		return id, nil
	}
	id, err := store.apiKey(raw)
	if err != nil {
		return Identity{Method: MethodAPIKey}, err
	}
	return id, nil
}

// decodeAuthorization returns the secret text of the header; basic says it
// came from HTTP Basic, which carries only user:password.
func decodeAuthorization(header string, grpcCall bool) (raw string, basic bool, err error) {
	if grpcCall {
		b, err := base64.StdEncoding.DecodeString(header)
		if err != nil {
			return "", false, errBadFormat
		}
		return string(b), false, nil
	}
	// Schemes are case-insensitive (RFC 9110 §11.1).
	scheme, rest, _ := strings.Cut(header, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest, false, nil
	case strings.EqualFold(scheme, "Basic"):
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false, errBadFormat
		}
		return string(b), true, nil
	}
	return "", false, errBadFormat
}

// password checks a password against the user's bcrypt hash, remembering
// success in the credential cache for its TTL. A password the cache holds
// never reaches bcrypt or the guard: users already logged in are not slowed
// or locked out by someone guessing their name.
func (a *Authenticator) password(ctx context.Context, store *IdentityStore, user, password, addr string) (Identity, error) {
	tried := Identity{User: user, Method: MethodPassword}
	u, known := store.users[user]
	if !known {
		// Same cost as a real check: no user enumeration by timing.
		dummy := store.dummy
		if dummy == nil {
			dummy = dummyHashFor(bcrypt.DefaultCost)
		}
		if _, throttled := a.guard.check(ctx, user, addr, func() bool {
			_ = bcrypt.CompareHashAndPassword(dummy, []byte(password))
			return false
		}); throttled {
			return tried, errThrottled
		}
		return tried, errBadPassword
	}
	id := Identity{User: user, Roles: u.roles, Method: MethodPassword}
	var key string
	if a.creds != nil {
		key = cache.Key(user, password, string(u.hash))
		if a.creds.Verified(key) {
			return id, nil
		}
	}
	ok, throttled := a.guard.check(ctx, user, addr, func() bool {
		return bcrypt.CompareHashAndPassword(u.hash, []byte(password)) == nil
	})
	switch {
	case throttled:
		return tried, errThrottled
	case !ok:
		return tried, errBadPassword
	}
	if a.creds != nil {
		a.creds.Remember(key)
	}
	return id, nil
}

// apiKey looks the key's digest up. The map lookup works on the digest, not
// the key; the final comparison is constant-time.
func (s *IdentityStore) apiKey(key string) (Identity, error) {
	d := sha256.Sum256([]byte(key))
	k, ok := s.keys[d]
	if !ok || subtle.ConstantTimeCompare(d[:], k.digest[:]) != 1 {
		return Identity{}, errBadAPIKey
	}
	return Identity{User: k.user, Roles: k.roles, Method: MethodAPIKey, KeyDigest: k.hex}, nil
}

// jwtShaped says s is three base64url segments split by '.' (the signature
// may be empty, as with alg none, so that such a token is rejected as a token).
func jwtShaped(s string) bool {
	dots := 0
	segLen := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if segLen == 0 || dots == 2 {
				return false
			}
			dots++
			segLen = 0
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	return dots == 2
}
