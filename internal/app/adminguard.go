package app

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

// adminGuard stands in front of every admin endpoint. It refuses what a web
// page could send (the admin API is never meant for pages), and, when
// edge.admin_token_file is set, every request without the token:
//
//  1. An Origin header (any: fetch, XHR, form posts) or a Sec-Fetch-Site
//     other than "none" (a page's <img>, <script> or link) → 403.
//  2. A Host that is not the listener's own (DNS rebinding: a page of
//     evil.example whose name now resolves to 127.0.0.1 sends Host
//     evil.example) → 403. Allowed: localhost, loopback IPs, the host of
//     edge.admin_address and the bound IP; on an unspecified address
//     (0.0.0.0, ::) also any IP literal (a page cannot be same-origin with an
//     IP it was not served from, so IPs are never a rebinding vector, and the
//     listener's own IPs include NATed ones it cannot know) and the machine's
//     host name.
//  3. With a token: Authorization: Bearer <token> (compared in constant
//     time), else 401 with WWW-Authenticate. /healthz is the exception, so a
//     liveness probe needs no secret: it answers "ok" and nothing else.
//  4. Any method but GET and HEAD needs Content-Type: application/json, else
//     415: a form post is a "simple request" that a browser sends without a
//     CORS preflight.
//
// The token is read again whenever a reloaded config starts serving
// (restartOnly keeps edge.admin_token_file itself fixed).
type adminGuard struct {
	st    *reloadState
	log   *slog.Logger
	next  http.Handler
	hosts map[string]bool // lower-case host names and IPs, without port
	anyIP bool            // the listener is on an unspecified address

	// mu guards the fields below.
	mu     sync.Mutex
	cfg    *config.Config // the config the token was read from
	on     bool           // a token is configured
	digest [sha256.Size]byte
}

// Realm names the admin API in WWW-Authenticate.
const adminRealm = `Bearer realm="milvus-edge admin"`

func newAdminGuard(log *slog.Logger, st *reloadState, lis net.Listener, next http.Handler) (*adminGuard, error) {
	g := &adminGuard{st: st, log: log, next: next, hosts: map[string]bool{"localhost": true}}
	st.mu.Lock()
	cfg := st.cfg
	st.mu.Unlock()
	if host, _, err := net.SplitHostPort(cfg.Edge.AdminAddress); err == nil {
		g.allow(host)
	}
	if a, ok := lis.Addr().(*net.TCPAddr); ok {
		g.allow(a.IP.String())
		g.anyIP = a.IP.IsUnspecified()
	}
	if g.anyIP {
		if name, err := os.Hostname(); err == nil {
			g.allow(name)
		}
	}
	tok, err := cfg.Edge.AdminToken()
	if err != nil {
		return nil, err
	}
	g.cfg, g.on, g.digest = cfg, tok != "", sha256.Sum256([]byte(tok.Reveal()))
	return g, nil
}

func (g *adminGuard) allow(host string) {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return
	}
	g.hosts[strings.ToLower(host)] = true
}

func (g *adminGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	switch {
	case r.Header.Get("Origin") != "" || !fetchSiteOK(r.Header.Get("Sec-Fetch-Site")):
		g.refuse(w, r, http.StatusForbidden, "requests from web pages are refused (Origin or Sec-Fetch-Site header)")
	case !g.hostOK(r.Host):
		g.refuse(w, r, http.StatusForbidden, "Host "+quoteHost(r.Host)+" is not this admin listener's address")
	case r.URL.Path != "/healthz" && !g.authorized(r.Header.Get("Authorization")):
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", adminRealm)
			g.refuse(w, r, http.StatusUnauthorized, "missing Authorization: Bearer <admin token>")
		} else {
			w.Header().Set("WWW-Authenticate", adminRealm+`, error="invalid_token"`)
			g.refuse(w, r, http.StatusUnauthorized, "invalid admin token")
		}
	case r.Method != http.MethodGet && r.Method != http.MethodHead && !isJSON(r.Header.Get("Content-Type")):
		g.refuse(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	default:
		g.next.ServeHTTP(w, r)
	}
}

// fetchSiteOK accepts no Sec-Fetch-Site (tools) and "none" (a URL typed into
// a browser); same-origin, same-site and cross-site all come from a page.
func fetchSiteOK(v string) bool { return v == "" || v == "none" }

func (g *adminGuard) hostOK(hostPort string) bool {
	if hostPort == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	host := hostPort
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if g.hosts[host] {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || g.anyIP)
}

// authorized reports whether the request may pass: no token is configured,
// or it carries the current one.
func (g *adminGuard) authorized(header string) bool {
	on, want := g.token()
	if !on {
		return true
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Hashes of equal length: the comparison time says nothing about the
	// token's length or content.
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// token returns the token of the config serving now, reading the file again
// after a reload. A file that cannot be read then keeps the previous token.
func (g *adminGuard) token() (bool, [sha256.Size]byte) {
	g.st.mu.Lock()
	cfg := g.st.cfg
	g.st.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if cfg != g.cfg {
		g.cfg = cfg
		switch tok, err := cfg.Edge.AdminToken(); {
		case err != nil:
			g.log.Error("admin token not re-read after the config reload; the previous one stays", "error", err)
		case tok == "" && g.on:
			g.log.Error("admin token file is empty after the config reload; the previous token stays")
		default:
			g.on, g.digest = tok != "", sha256.Sum256([]byte(tok.Reveal()))
		}
	}
	return g.on, g.digest
}

func (g *adminGuard) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	g.log.Warn("admin request refused", "status", code, "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr, "reason", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// quoteHost quotes a Host header for a message, cut to a sane length.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "…"
	}
	b, _ := json.Marshal(h)
	return string(b)
}
