package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/freeport"
)

// The admin API as `milvus-edge serve` runs it (Run without Launch: the xDS,
// filter and admin servers, no Envoy), through real HTTP requests.

const (
	adminToken  = "admin-token-0123456789abcdef"
	otherToken  = "other-token-0123456789abcdef"
	foreignHost = "evil.example"
)

// adminStack is a running `serve` with its config file and admin port.
type adminStack struct {
	cfgPath, tokenPath string
	port               string
	baseCfg            string
	stderr             *syncBuffer
}

// syncBuffer is the process's stderr, written by its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// adminConfig is a serve config on free loopback ports; adminHost is the
// admin listener's host, token the admin token ("" = none).
func adminConfig(t *testing.T, adminHost, token string) (cfg, tokenPath, adminPort string) {
	t.Helper()
	ports, err := freeport.LoopbackPorts(5)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenPath = filepath.Join(dir, "admin-token")
	tokenLine := ""
	if token != "" {
		if err := os.WriteFile(tokenPath, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tokenLine = "\n  admin_token_file: " + tokenPath
	}
	cfg = fmt.Sprintf(`log: {level: info, format: json}
listener: {address: "127.0.0.1:%s"}
envoy: {admin_address: "127.0.0.1:%s"}
edge:
  xds_address: 127.0.0.1:%s
  filters_address: 127.0.0.1:%s
  admin_address: "%s"%s
clusters: [{name: default, rest: false, endpoints: [{address: "127.0.0.1:1"}]}]
routes: [{name: default, cluster: default}]
`, ports[0], ports[1], ports[2], ports[3], net.JoinHostPort(adminHost, ports[4]), tokenLine)
	return cfg, tokenPath, ports[4]
}

// startAdmin runs `serve` on cfg until the test ends and waits for /healthz.
func startAdmin(t *testing.T, adminHost, token string) *adminStack {
	t.Helper()
	cfg, tokenPath, port := adminConfig(t, adminHost, token)
	return startServe(t, cfg, tokenPath, port)
}

// startServe runs `serve` on cfg (admin API on port) until the test ends
// and waits for /healthz.
func startServe(t *testing.T, cfg, tokenPath, port string) *adminStack {
	t.Helper()
	s := &adminStack{cfgPath: filepath.Join(t.TempDir(), "milvus-edge.yaml"), tokenPath: tokenPath,
		port: port, baseCfg: cfg, stderr: &syncBuffer{}}
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: s.cfgPath, Stdout: io.Discard, Stderr: s.stderr,
			ReloadInterval: 20 * time.Millisecond})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("serve still running 10 s after cancel")
		}
		if t.Failed() {
			t.Logf("stderr:\n%s", s.stderr.String())
		}
	})
	s.eventually(t, "/healthz answers", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, s.stderr.String())
		default:
		}
		code, _, _ := s.do(t, req{path: "/healthz"})
		return code == http.StatusOK
	})
	return s
}

func (s *adminStack) eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond) // a real process: poll
	}
}

// req is one admin request; token "" sends no Authorization header.
type req struct {
	method, path, token, auth, host, ctype, body string
	header                                       map[string]string
}

func (s *adminStack) do(t *testing.T, r req) (int, http.Header, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequest(r.method, "http://127.0.0.1:"+s.port+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	switch {
	case r.auth != "":
		hr.Header.Set("Authorization", r.auth)
	case r.token != "":
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// endpoints are the admin endpoints every check runs against.
var adminEndpoints = []req{
	{path: "/v1/status"},
	{path: "/v1/policy"},
	{path: "/metrics"},
	{method: http.MethodPost, path: "/v1/cache/invalidate", ctype: "application/json", body: `{"db": "default"}`},
	{path: "/debug/pprof/"},
	{path: "/debug/pprof/symbol"},
	{path: "/debug/pprof/heap?debug=1"},
}

// wantRefusal checks a refusal: the status, a JSON {"error": …} body, and
// for 401 the WWW-Authenticate challenge.
func wantRefusal(t *testing.T, name string, code int, h http.Header, body string, want int, challenge string) {
	t.Helper()
	if code != want {
		t.Errorf("%s: HTTP %d, want %d (%s)", name, code, want, body)
		return
	}
	var e struct{ Error string }
	if h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
		t.Errorf("%s: want a JSON error, got %q (%s)", name, body, h.Get("Content-Type"))
	}
	if got := h.Get("WWW-Authenticate"); got != challenge {
		t.Errorf("%s: WWW-Authenticate %q, want %q", name, got, challenge)
	}
}

func TestAdminTokenOnNonLoopbackAddress(t *testing.T) {
	s := startAdmin(t, "0.0.0.0", adminToken)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminToken))
	for _, ep := range adminEndpoints {
		t.Run(ep.method+ep.path, func(t *testing.T) {
			for _, tc := range []struct {
				name, token, auth string
				want              int
				challenge         string
			}{
				{name: "no token", want: 401, challenge: adminRealm},
				{name: "wrong token", token: otherToken, want: 401, challenge: adminRealm + `, error="invalid_token"`},
				{name: "token prefix", token: adminToken[:16], want: 401, challenge: adminRealm + `, error="invalid_token"`},
				{name: "token as Basic", auth: basic, want: 401, challenge: adminRealm + `, error="invalid_token"`},
				{name: "token", token: adminToken, want: 200},
				{name: "bearer in lower case", auth: "bearer " + adminToken, want: 200},
			} {
				r := ep
				r.token, r.auth = tc.token, tc.auth
				code, h, body := s.do(t, r)
				if tc.want == 200 {
					if code != 200 {
						t.Errorf("%s: HTTP %d, want 200 (%s)", tc.name, code, body)
					}
					continue
				}
				wantRefusal(t, tc.name, code, h, body, tc.want, tc.challenge)
			}
		})
	}
	t.Run("healthz needs no token and says only ok", func(t *testing.T) {
		for _, tok := range []string{"", otherToken, adminToken} {
			if code, _, body := s.do(t, req{path: "/healthz", token: tok}); code != 200 || body != "ok\n" {
				t.Errorf("/healthz with token %q: HTTP %d %q, want 200 \"ok\\n\"", tok, code, body)
			}
		}
	})
	t.Run("unknown path needs the token too", func(t *testing.T) {
		code, h, body := s.do(t, req{path: "/v1/nothing"})
		wantRefusal(t, "no token", code, h, body, 401, adminRealm)
		if code, _, _ := s.do(t, req{path: "/v1/nothing", token: adminToken}); code != 404 {
			t.Errorf("with the token: HTTP %d, want 404", code)
		}
	})
	t.Run("browser requests", func(t *testing.T) {
		browserRefusals(t, s, adminToken)
		// On 0.0.0.0 the listener owns every address of the host: IP
		// literals pass (never a rebinding vector), names other than its own do not.
		for _, host := range []string{"10.1.2.3:" + s.port, "[fd00::1]:" + s.port} {
			if code, _, body := s.do(t, req{path: "/v1/status", token: adminToken, host: host}); code != 200 {
				t.Errorf("Host %s: HTTP %d, want 200 (%s)", host, code, body)
			}
		}
	})
	if !strings.Contains(s.stderr.String(), `"msg":"admin request refused"`) {
		t.Errorf("refusals are not logged")
	}
	if strings.Contains(s.stderr.String(), adminToken) || strings.Contains(s.stderr.String(), otherToken) {
		t.Errorf("a token is in the log:\n%s", s.stderr.String())
	}
}

// browserRefusals checks the refusals that hold with or without a token:
// Origin, Sec-Fetch-Site, a foreign Host, a form post.
func browserRefusals(t *testing.T, s *adminStack, token string) {
	t.Helper()
	eps := append([]req{{path: "/healthz"}}, adminEndpoints...)
	for _, ep := range eps {
		for _, tc := range []struct {
			name string
			r    func(req) req
			want int
		}{
			{"foreign Origin", func(r req) req { r.header = map[string]string{"Origin": "http://" + foreignHost}; return r }, 403},
			{"own Origin", func(r req) req { r.header = map[string]string{"Origin": "http://127.0.0.1:" + s.port}; return r }, 403},
			{"null Origin", func(r req) req { r.header = map[string]string{"Origin": "null"}; return r }, 403},
			{"cross-site fetch", func(r req) req { r.header = map[string]string{"Sec-Fetch-Site": "cross-site"}; return r }, 403},
			{"foreign Host", func(r req) req { r.host = foreignHost + ":" + s.port; return r }, 403},
			{"foreign Host without port", func(r req) req { r.host = foreignHost; return r }, 403},
			{"localhost.evil Host", func(r req) req { r.host = "localhost." + foreignHost + ":" + s.port; return r }, 403},
			{"localhost Host", func(r req) req { r.host = "localhost:" + s.port; return r }, 200},
			{"[::1] Host", func(r req) req { r.host = "[::1]:" + s.port; return r }, 200},
			{"typed URL", func(r req) req { r.header = map[string]string{"Sec-Fetch-Site": "none"}; return r }, 200},
		} {
			r := tc.r(ep)
			r.token = token
			code, h, body := s.do(t, r)
			name := fmt.Sprintf("%s %s: %s", ep.method, ep.path, tc.name)
			if tc.want == 200 {
				if code != 200 {
					t.Errorf("%s: HTTP %d, want 200 (%s)", name, code, body)
				}
				continue
			}
			wantRefusal(t, name, code, h, body, tc.want, "")
		}
	}
	// A form post is a "simple request": sent without a CORS preflight, by
	// an old browser without Origin.
	inv := "/v1/cache/invalidate"
	for _, ctype := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""} {
		code, h, body := s.do(t, req{method: http.MethodPost, path: inv, token: token, ctype: ctype, body: `{"db": "x"}`})
		wantRefusal(t, "POST "+inv+" as "+ctype, code, h, body, 415, "")
	}
	for _, ctype := range []string{"application/json", "application/json; charset=utf-8"} {
		for _, body := range []string{"", "{}", `{"cluster": "default", "db": "default", "collection": "c"}`} {
			if code, _, resp := s.do(t, req{method: http.MethodPost, path: inv, token: token, ctype: ctype, body: body}); code != 200 {
				t.Errorf("POST %s as %s with %q: HTTP %d, want 200 (%s)", inv, ctype, body, code, resp)
			}
		}
	}
}

func TestAdminOnLoopbackWithoutToken(t *testing.T) {
	s := startAdmin(t, "127.0.0.1", "")
	for _, ep := range adminEndpoints {
		if code, _, body := s.do(t, ep); code != 200 {
			t.Errorf("%s %s without a token: HTTP %d, want 200 (%s)", ep.method, ep.path, code, body)
		}
	}
	// An Authorization header means nothing without a configured token.
	if code, _, _ := s.do(t, req{path: "/v1/status", token: otherToken}); code != 200 {
		t.Errorf("/v1/status with an unneeded token: HTTP %d, want 200", code)
	}
	browserRefusals(t, s, "")
	// On a loopback address only its own names pass: an IP Host is foreign.
	code, h, body := s.do(t, req{path: "/v1/status", host: "10.1.2.3:" + s.port})
	wantRefusal(t, "Host 10.1.2.3", code, h, body, 403, "")
}

// The token file is read again when a reloaded config starts serving.
func TestAdminTokenReread(t *testing.T) {
	s := startAdmin(t, "127.0.0.1", adminToken)
	if code, _, _ := s.do(t, req{path: "/v1/status", token: adminToken}); code != 200 {
		t.Fatalf("first token: HTTP %d", code)
	}
	if err := os.WriteFile(s.tokenPath, []byte(otherToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file alone changes nothing (as for password files)…
	if code, _, _ := s.do(t, req{path: "/v1/status", token: adminToken}); code != 200 {
		t.Fatalf("first token before the reload: HTTP %d", code)
	}
	// …a config change (one that applies live) does.
	if err := os.WriteFile(s.cfgPath, []byte(s.baseCfg+"auth: {dry_run: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.eventually(t, "the new token is accepted", func() bool {
		code, _, _ := s.do(t, req{path: "/v1/status", token: otherToken})
		return code == 200
	})
	if code, _, _ := s.do(t, req{path: "/v1/status", token: adminToken}); code != 401 {
		t.Errorf("old token after the reload: HTTP %d, want 401", code)
	}
	// A reload that is refused (an edge change needs a restart) keeps the token.
	if err := os.WriteFile(s.tokenPath, []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(s.baseCfg, "admin_token_file:", "filter_timeout: 3s\n  admin_token_file:", 1)
	if err := os.WriteFile(s.cfgPath, []byte(bad+"auth: {dry_run: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.eventually(t, "the edge change is refused", func() bool {
		return strings.Contains(s.stderr.String(), "edge: changing it needs a restart")
	})
	if code, _, _ := s.do(t, req{path: "/v1/status", token: otherToken}); code != 200 {
		t.Errorf("token after a refused reload: HTTP %d, want 200", code)
	}
}

// `milvus-edge run` (Run with Launch) refuses an admin API open to the
// network, before it binds or starts anything.
func TestAdminConfigRefused(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short-token")
	if err := os.WriteFile(short, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host, token, want string
	}{
		{"non-loopback without token", "0.0.0.0", "", "edge.admin_token_file: is required when edge.admin_address (0.0.0.0:%s) is not a loopback address"},
		{"short token", "0.0.0.0", short, "edge.admin_token_file: the token in " + short + " must be at least 16 characters"},
		{"missing token file", "127.0.0.1", "/nonexistent/admin-token", "edge.admin_token_file: open /nonexistent/admin-token: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, port := adminConfig(t, tc.host, "")
			if tc.token != "" {
				cfg = strings.Replace(cfg, "  admin_address:", "  admin_token_file: "+tc.token+"\n  admin_address:", 1)
			}
			path := filepath.Join(t.TempDir(), "milvus-edge.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stderr bytes.Buffer
			err := Run(ctx, Options{ConfigPath: path, Launch: true, Stdout: io.Discard, Stderr: &stderr})
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, port)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run: %v\nwant an error with %q", err, want)
			}
			l, lerr := net.Listen("tcp", "127.0.0.1:"+port)
			if lerr != nil {
				t.Fatalf("the admin port is taken after the refusal: %v", lerr)
			}
			l.Close()
		})
	}
}
