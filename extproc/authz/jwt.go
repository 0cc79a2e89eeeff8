package authz

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// JWTConfig configures JWT verification (auth.jwt in the edge config).
type JWTConfig struct {
	// JWKSFile holds the issuer's public keys (JWKS JSON). RS256 (RSA ≥ 2048
	// bits) and ES256 (P-256) keys with a kid are used; other keys are skipped.
	JWKSFile string
	// Issuer must equal the token's iss. Required.
	Issuer string
	// Audience must be the token's aud or one of its entries. Required.
	Audience string
	// UserClaim names the user. Default "sub".
	UserClaim string
	// RolesClaim holds the roles, an array of strings. A dotted path such as
	// "realm_access.roles" walks nested objects; a claim whose name contains
	// dots (Auth0's "https://example.com/roles") matches first. Default "roles".
	RolesClaim string
	// Leeway tolerates clock skew on exp and nbf. Default 0 (the config
	// package defaults it to 30s).
	Leeway time.Duration
}

// JWTVerifier verifies bearer JWTs against a fixed JWKS. It is immutable and
// safe for concurrent use; build a new one when the config changes.
type JWTVerifier struct {
	keys       map[string]jwtKey // by kid
	issuer     string
	audience   string
	userClaim  string
	rolesClaim string
	leeway     time.Duration
	now        func() time.Time
}

type jwtKey struct {
	alg jwa.SignatureAlgorithm
	pub any // *rsa.PublicKey or *ecdsa.PublicKey
}

// maxTokenBytes bounds the work done on a token before its signature is checked.
const maxTokenBytes = 16 << 10

const minRSABits = 2048

// NewJWTVerifier loads cfg.JWKSFile and returns a verifier that reads time
// from now (time.Now if nil). Errors name the config field.
func NewJWTVerifier(cfg JWTConfig, now func() time.Time) (*JWTVerifier, error) {
	var errs []error
	if cfg.JWKSFile == "" {
		errs = append(errs, errors.New("auth.jwt.jwks_file: is required"))
	}
	if cfg.Issuer == "" {
		errs = append(errs, errors.New("auth.jwt.issuer: is required"))
	}
	if cfg.Audience == "" {
		errs = append(errs, errors.New("auth.jwt.audience: is required"))
	}
	if cfg.Leeway < 0 {
		errs = append(errs, errors.New("auth.jwt.leeway: must not be negative"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	keys, err := loadJWKS(cfg.JWKSFile)
	if err != nil {
		return nil, fmt.Errorf("auth.jwt.jwks_file: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	v := &JWTVerifier{
		keys:       keys,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		userClaim:  cfg.UserClaim,
		rolesClaim: cfg.RolesClaim,
		leeway:     cfg.Leeway,
		now:        now,
	}
	if v.userClaim == "" {
		v.userClaim = "sub"
	}
	if v.rolesClaim == "" {
		v.rolesClaim = "roles"
	}
	return v, nil
}

// loadJWKS reads the usable verification keys of a JWKS file, by kid.
func loadJWKS(path string) (map[string]jwtKey, error) {
	set, err := jwk.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	keys := make(map[string]jwtKey, set.Len())
	var errs []error
	for i := range set.Len() {
		k, _ := set.Key(i)
		if use, ok := k.KeyUsage(); ok && use != "sig" {
			continue // an encryption key
		}
		pub, err := jwk.PublicRawKeyOf(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("keys[%d]: %w", i, err))
			continue
		}
		var alg jwa.SignatureAlgorithm
		switch p := pub.(type) {
		case *rsa.PublicKey:
			if p.N.BitLen() < minRSABits {
				errs = append(errs, fmt.Errorf("keys[%d]: RSA key shorter than %d bits", i, minRSABits))
				continue
			}
			alg = jwa.RS256()
		case *ecdsa.PublicKey:
			if p.Curve != elliptic.P256() {
				continue // ES384/ES512: not accepted
			}
			alg = jwa.ES256()
		default:
			continue // oct (HS*), OKP: not accepted
		}
		if ka, ok := k.Algorithm(); ok && ka.String() != alg.String() {
			continue // e.g. an RSA key for RS384 or PS256 only
		}
		kid, ok := k.KeyID()
		if !ok || kid == "" {
			errs = append(errs, fmt.Errorf("keys[%d].kid: is required", i))
			continue
		}
		if _, dup := keys[kid]; dup {
			errs = append(errs, fmt.Errorf("keys[%d].kid: duplicate %q", i, kid))
			continue
		}
		keys[kid] = jwtKey{alg: alg, pub: pub}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no RS256 or ES256 signing key", path)
	}
	return keys, nil
}

// jwtHeader is the part of the JOSE header we read before verifying.
type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

// Verify checks a compact JWT: algorithm (RS256, ES256), key id, signature,
// iss, aud, exp and nbf. The error is an *AuthError whose message is
// MsgBadToken and a short reason; it never quotes the token.
func (v *JWTVerifier) Verify(token string) (Identity, error) {
	if len(token) > maxTokenBytes {
		return Identity{}, badToken("token too large")
	}
	hdrSeg, _, ok := strings.Cut(token, ".")
	if !ok {
		return Identity{}, badToken("malformed token")
	}
	hb, err := base64.RawURLEncoding.DecodeString(hdrSeg)
	if err != nil {
		return Identity{}, badToken("malformed header")
	}
	var hdr jwtHeader
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return Identity{}, badToken("malformed header")
	}
	if hdr.Alg != "RS256" && hdr.Alg != "ES256" {
		// none and HS* included: a public key must never serve as an HMAC secret.
		return Identity{}, badToken("unsupported algorithm")
	}
	if hdr.Crit != nil || hdr.B64 != nil {
		return Identity{}, badToken("unsupported header")
	}
	key, ok := v.keys[hdr.Kid]
	if !ok {
		return Identity{}, badToken("unknown key id")
	}
	if key.alg.String() != hdr.Alg {
		return Identity{}, badToken("algorithm does not match key")
	}
	payload, err := jws.VerifyCompactFast(key.pub, []byte(token), key.alg)
	if err != nil {
		return Identity{}, badToken("bad signature")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return Identity{}, badToken("malformed claims")
	}
	if reason := v.checkClaims(claims); reason != "" {
		return Identity{}, badToken(reason)
	}
	user, _ := claimAt(claims, v.userClaim)
	name, _ := user.(string)
	if name == "" {
		return Identity{}, badToken("missing " + v.userClaim + " claim")
	}
	roles, ok := stringsClaim(claims, v.rolesClaim)
	if !ok {
		return Identity{}, badToken("invalid " + v.rolesClaim + " claim")
	}
	return Identity{User: name, Roles: roles, Method: MethodJWT, Claims: claims}, nil
}

// checkClaims validates iss, aud, exp and nbf; it returns a reason or "".
func (v *JWTVerifier) checkClaims(claims map[string]any) string {
	if iss, _ := claims["iss"].(string); iss != v.issuer {
		return "wrong issuer"
	}
	if !hasAudience(claims["aud"], v.audience) {
		return "wrong audience"
	}
	now := v.now()
	exp, ok := claims["exp"].(float64)
	if !ok {
		return "missing exp claim"
	}
	// exp is the first instant the token is no longer valid (RFC 7519 §4.1.4).
	if !now.Before(numericDate(exp).Add(v.leeway)) {
		return "token expired"
	}
	if raw, present := claims["nbf"]; present {
		nbf, ok := raw.(float64)
		if !ok {
			return "invalid nbf claim"
		}
		if now.Add(v.leeway).Before(numericDate(nbf)) {
			return "token not yet valid"
		}
	}
	return ""
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional),
// clamping values beyond what time.Time can hold to the far past or future.
func numericDate(sec float64) time.Time {
	const limit = 1 << 40 // about 34,000 years
	switch {
	case sec > limit:
		sec = limit
	case sec < -limit:
		sec = -limit
	}
	whole := int64(sec)
	return time.Unix(whole, int64((sec-float64(whole))*1e9))
}

func hasAudience(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, e := range a {
			if s, _ := e.(string); s == want {
				return true
			}
		}
	}
	return false
}

// claimAt finds a claim by name or dotted path. The longest literal name wins
// at each level, so claim names that contain dots still match.
func claimAt(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	for i := len(path) - 1; i > 0; i-- {
		if path[i] != '.' {
			continue
		}
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v, ok := claimAt(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// stringsClaim reads an array of strings; a missing claim is no roles, any
// other shape is an error.
func stringsClaim(claims map[string]any, path string) ([]string, bool) {
	v, ok := claimAt(claims, path)
	if !ok || v == nil {
		return nil, true
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func badToken(reason string) *AuthError {
	return &AuthError{Msg: MsgBadToken + ": " + reason}
}
