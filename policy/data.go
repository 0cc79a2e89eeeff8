package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// parseData reads data.milvus.{users,api_keys,settings} into b and checks
// them, collecting every problem. Each error names its data path. The
// absence of data.milvus (a bundle that only trusts JWTs, say) is fine.
func parseData(data map[string]any, b *Bundle) error {
	b.Users = map[string]User{}
	b.RootBypass = true
	var errs []error
	add := func(p, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{p}, args...)...))
	}
	m, ok := objectAt(data["milvus"], "data.milvus", add)
	if !ok {
		return errors.Join(errs...)
	}
	if s, ok := objectAt(m["settings"], "data.milvus.settings", add); ok {
		if v, present := s["root_bypass"]; present {
			if rb, isBool := v.(bool); isBool {
				b.RootBypass = rb
			} else {
				add("data.milvus.settings.root_bypass", "must be a boolean, got %s", typeName(v))
			}
		}
	}
	if users, ok := objectAt(m["users"], "data.milvus.users", add); ok {
		// Sorted, so that the joined error reads the same every time.
		for _, name := range slices.Sorted(maps.Keys(users)) {
			v := users[name]
			p := "data.milvus.users." + name
			if strings.TrimSpace(name) == "" {
				add(fmt.Sprintf("data.milvus.users[%q]", name), "user name must not be empty")
				continue
			}
			u, ok := objectAt(v, p, add)
			if !ok {
				continue
			}
			hash, _ := stringAt(u["password_hash"], p+".password_hash", add)
			if hash != "" && !isBcrypt(hash) {
				add(p+".password_hash", "must be a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)")
			}
			b.Users[name] = User{PasswordHash: hash, Roles: rolesAt(u["roles"], p+".roles", add)}
		}
	}
	b.APIKeys = parseAPIKeys(m["api_keys"], add)
	return errors.Join(errs...)
}

// parseAPIKeys reads data.milvus.api_keys, a list of {sha256, user, roles}.
func parseAPIKeys(v any, add func(p, format string, args ...any)) []APIKey {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		add("data.milvus.api_keys", "must be a list, got %s", typeName(v))
		return nil
	}
	keys := make([]APIKey, 0, len(list))
	seen := make(map[string]int, len(list))
	for i, v := range list {
		p := fmt.Sprintf("data.milvus.api_keys[%d]", i)
		k, ok := objectAt(v, p, add)
		if !ok {
			continue
		}
		sum, _ := stringAt(k["sha256"], p+".sha256", add)
		switch j, dup := seen[sum]; {
		case sum != "" && !isSHA256Hex(sum):
			add(p+".sha256", "must be 64 lower-case hex digits (the SHA-256 of the key)")
		case dup:
			add(p+".sha256", "same key as data.milvus.api_keys[%d]", j)
		default:
			seen[sum] = i
		}
		user, _ := stringAt(k["user"], p+".user", add)
		keys = append(keys, APIKey{SHA256: sum, User: user, Roles: rolesAt(k["roles"], p+".roles", add)})
	}
	return keys
}

// objectAt asserts an optional object. Absent (nil) is not an error.
func objectAt(v any, p string, add func(p, format string, args ...any)) (map[string]any, bool) {
	if v == nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		add(p, "must be an object, got %s", typeName(v))
	}
	return m, ok
}

// stringAt asserts a required, non-empty string.
func stringAt(v any, p string, add func(p, format string, args ...any)) (string, bool) {
	s, ok := v.(string)
	switch {
	case v == nil:
		add(p, "must be set")
	case !ok:
		add(p, "must be a string, got %s", typeName(v))
	case strings.TrimSpace(s) == "":
		add(p, "must not be empty")
	default:
		return s, true
	}
	return "", false
}

// rolesAt reads an optional list of non-empty role names.
func rolesAt(v any, p string, add func(p, format string, args ...any)) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		add(p, "must be a list of role names, got %s", typeName(v))
		return nil
	}
	roles := make([]string, 0, len(list))
	for i, r := range list {
		if s, ok := stringAt(r, fmt.Sprintf("%s[%d]", p, i), add); ok {
			roles = append(roles, s)
		}
	}
	return roles
}

// isBcrypt reports whether s looks like a bcrypt hash: $2a$/$2b$/$2y$, a
// two-digit cost, and 53 characters of salt and hash. It does not decode it.
func isBcrypt(s string) bool {
	if len(s) != 60 || s[6] != '$' || s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return false
	}
	switch s[:4] {
	case "$2a$", "$2b$", "$2y$":
		return true
	}
	return false
}

// isSHA256Hex reports whether s is 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// typeName names a decoded JSON value's type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64, int, int64:
		return "number"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
