package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
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

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
	"github.com/milvus-edge/milvus-edge/xds/envoyres"
)

// tlsHead is ConfigHead with listener.tls (a YAML flow mapping).
func tlsHead(t *testing.T, p testenv.Ports, tlsFlow string) string {
	t.Helper()
	head := p.ConfigHead()
	if strings.Contains(tlsFlow, "client_ca_file") {
		// Mutual TLS needs the external filters: the in-process module gets
		// no client certificate to give the policy (docs/in-process.md).
		head = p.ConfigHeadFor(config.FiltersExternal)
	}
	old := "listener: {address: " + p.Listener + "}"
	if !strings.Contains(head, old) {
		t.Fatalf("ConfigHead changed shape: %q", head)
	}
	return strings.Replace(head, old, "listener: {address: "+p.Listener+", tls: "+tlsFlow+"}", 1)
}

// servedCert is the listener's certificate and key at fixed paths, which
// the tests replace as an operator (or cert-manager) would.
type servedCert struct {
	t         *testing.T
	ca        *testenv.CA
	cert, key string
	n         int
}

func newServedCert(t *testing.T, ca *testenv.CA) *servedCert {
	dir := t.TempDir()
	s := &servedCert{t: t, ca: ca, cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key")}
	cert, key := s.issue()
	s.rename(s.cert, cert)
	s.rename(s.key, key)
	return s
}

// issue returns the PEM of a new server certificate (a new serial) and its key.
func (s *servedCert) issue() (cert, key []byte) {
	s.t.Helper()
	s.n++
	cf, kf := s.ca.Issue(s.t, fmt.Sprintf("server-%d", s.n), testenv.ServerLeaf())
	return readFile(s.t, cf), readFile(s.t, kf)
}

// rename replaces a served file atomically (write a sibling, rename over).
func (s *servedCert) rename(path string, b []byte) {
	s.t.Helper()
	if err := os.WriteFile(path+".new", b, 0o600); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		s.t.Fatal(err)
	}
}

// overwrite rewrites a served file in place (truncate and write, as cp does).
func (s *servedCert) overwrite(path string, b []byte) {
	s.t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clientTLS trusts caFile, offers the ALPN protocols, and presents the
// client certificate when one is given (certFile, keyFile).
func clientTLS(t *testing.T, caFile string, alpn []string, clientCert ...string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(readFile(t, caFile)) {
		t.Fatalf("no certificate in %s", caFile)
	}
	tc := &tls.Config{RootCAs: pool, NextProtos: alpn}
	if len(clientCert) == 2 {
		pair, err := tls.LoadX509KeyPair(clientCert[0], clientCert[1])
		if err != nil {
			t.Fatal(err)
		}
		// Sent whatever CAs the server names as acceptable (Go would send
		// none for a certificate of another CA), so that the server's own
		// verification is what is tested.
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return tc
}

// handshake dials addr with tc and returns the negotiated state; the client
// then speaks first (the HTTP/2 preface, or an HTTP/1.1 request) and reads:
// bytes back mean the connection was accepted.
func handshake(t *testing.T, addr string, tc *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	return handshakeWait(t, addr, tc, 0)
}

// handshakeWait is handshake for mutual TLS. A TLS 1.3 server checks the
// client's certificate after the client's side of the handshake is done and
// refuses it with an alert right away; the client waits that long for it
// before speaking (after the alert a write would only see a broken pipe).
func handshakeWait(t *testing.T, addr string, tc *tls.Config, wait time.Duration) (tls.ConnectionState, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: tc}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	tconn := conn.(*tls.Conn)
	st := tconn.ConnectionState()
	hello := "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"
	if st.NegotiatedProtocol == "h2" {
		hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00" // preface + empty SETTINGS
	}
	if wait > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		var ne net.Error
		if _, err := conn.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			return st, fmt.Errorf("after the handshake: %w", err)
		}
	}
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, hello); err != nil {
		return st, err
	}
	if _, err := conn.Read(make([]byte, 9)); err != nil {
		return st, err
	}
	return st, nil
}

func serialOf(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return ""
	}
	return st.PeerCertificates[0].SerialNumber.Text(16)
}

func serialOfPEM(t *testing.T, b []byte) string {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// tlsClient dials addr over TLS with tc (its ALPN set to h2 by gRPC).
func tlsClient(t *testing.T, addr string, tc *tls.Config) milvuspb.MilvusServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return milvuspb.NewMilvusServiceClient(conn)
}

// getVersion calls GetVersion as root and returns the connection's TLS state.
func getVersion(ctx context.Context, c milvuspb.MilvusServiceClient) (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(testenv.Root(ctx), 5*time.Second)
	defer cancel()
	var p peer.Peer
	_, err := c.GetVersion(ctx, &milvuspb.GetVersionRequest{}, grpc.Peer(&p))
	info, _ := p.AuthInfo.(credentials.TLSInfo)
	return info.State, err
}

// listenerStatus is /v1/status's xds.listener_tls.
func listenerStatus(t *testing.T, admin string) map[string]any {
	t.Helper()
	var body struct {
		XDS struct {
			ListenerTLS map[string]any `json:"listener_tls"`
		} `json:"xds"`
	}
	raw := testenv.AdminGet(t, admin, "/v1/status")
	if err := json.Unmarshal([]byte(raw), &body); err != nil {
		t.Fatalf("/v1/status: %v: %s", err, raw)
	}
	return body.XDS.ListenerTLS
}

// TestTLSListener: gRPC and REST over TLS on the one port against a real
// milvus-lite — ALPN h2 for gRPC, http/1.1 for REST, TLS ≥ 1.2 — and a
// plaintext client refused with a clear error.
func TestTLSListener(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	ca := testenv.NewCA(t, "edge test CA")
	sc := newServedCert(t, ca)
	p := testenv.NewPorts(t)
	testenv.Run(t, tlsHead(t, p, fmt.Sprintf("{cert_file: %s, key_file: %s}", sc.cert, sc.key))+fmt.Sprintf(`clusters:
  - name: default
    rest: false
    endpoints: [{address: %s}]
routes:
  - cluster: default
`, backend), p)

	t.Run("ALPN and versions", func(t *testing.T) {
		for _, tc := range []struct {
			offer []string
			want  string
		}{
			{[]string{"h2"}, "h2"},             // gRPC clients
			{[]string{"http/1.1"}, "http/1.1"}, // REST clients
			{[]string{"h2", "http/1.1"}, "h2"}, // curl, browsers
			{[]string{"http/1.1", "h2"}, "h2"}, // the server's order decides
		} {
			st, err := handshake(t, p.Listener, clientTLS(t, ca.CertFile, tc.offer))
			if err != nil {
				t.Fatalf("offer %v: %v", tc.offer, err)
			}
			if st.NegotiatedProtocol != tc.want {
				t.Errorf("offer %v: ALPN %q, want %q", tc.offer, st.NegotiatedProtocol, tc.want)
			}
			t.Logf("offer %v: %s, ALPN %s, %s, serial %s", tc.offer, tls.VersionName(st.Version), st.NegotiatedProtocol, tls.CipherSuiteName(st.CipherSuite), serialOf(st))
		}
		// TLS 1.2 is accepted, 1.1 is not (min_version defaults to 1.2).
		tc := clientTLS(t, ca.CertFile, []string{"h2"})
		tc.MaxVersion = tls.VersionTLS12
		if st, err := handshake(t, p.Listener, tc); err != nil || st.Version != tls.VersionTLS12 {
			t.Errorf("TLS 1.2 client: %v, %s", err, tls.VersionName(st.Version))
		}
		tc.MinVersion, tc.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		_, err := handshake(t, p.Listener, tc)
		if err == nil || !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("TLS 1.1 client: %v, want a protocol version alert", err)
		}
		t.Logf("TLS 1.1 client: %v", err)
	})

	t.Run("gRPC end to end", func(t *testing.T) {
		c := tlsClient(t, p.Listener, clientTLS(t, ca.CertFile, nil))
		ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), time.Minute)
		defer cancel()
		createVectorCollection(ctx, t, c, "tls_docs", 8)
		var pr peer.Peer
		ins, err := c.Insert(ctx, insertRequest("tls_docs", 10, 8), grpc.Peer(&pr))
		if err != nil || ins.GetStatus().GetCode() != 0 || ins.GetInsertCnt() != 10 {
			t.Fatalf("Insert over TLS: %v %v", ins.GetStatus(), err)
		}
		st := pr.AuthInfo.(credentials.TLSInfo).State
		if st.NegotiatedProtocol != "h2" {
			t.Errorf("gRPC ALPN %q, want h2", st.NegotiatedProtocol)
		}
		d, err := c.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: "tls_docs"})
		if err != nil || d.GetStatus().GetCode() != 0 || len(d.GetSchema().GetFields()) != 2 {
			t.Fatalf("DescribeCollection over TLS: %v %v", d.GetStatus(), err)
		}
		if s, err := c.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: "tls_docs"}); err != nil || s.GetCode() != 0 {
			t.Fatalf("DropCollection: %v %v", s, err)
		}
		t.Logf("create/insert 10/describe/drop over %s, ALPN %s", tls.VersionName(st.Version), st.NegotiatedProtocol)
	})

	t.Run("REST over http/1.1", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: clientTLS(t, ca.CertFile, []string{"http/1.1"}),
		}}
		req, _ := http.NewRequest(http.MethodPost, "https://"+p.Listener+"/v2/vectordb/collections/list", strings.NewReader(`{}`))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("authorization", "Bearer root:Milvus")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil || resp.StatusCode != 200 || got["code"] != float64(10) {
			t.Fatalf("HTTP %d %s (%v): want the edge's Milvus JSON for a rest: false cluster", resp.StatusCode, raw, err)
		}
		if resp.Proto != "HTTP/1.1" || resp.TLS.NegotiatedProtocol != "http/1.1" {
			t.Errorf("REST went over %s, ALPN %q", resp.Proto, resp.TLS.NegotiatedProtocol)
		}
		t.Logf("REST over %s (%s): HTTP %d %s", resp.Proto, tls.VersionName(resp.TLS.Version), resp.StatusCode, raw)
	})

	t.Run("plaintext client refused", func(t *testing.T) {
		c := testenv.Client(t, p.Listener) // h2c, no TLS
		_, err := getVersion(context.Background(), c)
		t.Logf("plaintext gRPC client: %v", err)
		if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != envoyres.PlaintextGRPCMessage {
			t.Fatalf("plaintext gRPC client: %v, want UNAVAILABLE %q", err, envoyres.PlaintextGRPCMessage)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Post("http://"+p.Listener+"/v2/vectordb/collections/list", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("plain HTTP client: HTTP %d %q", resp.StatusCode, raw)
		if resp.StatusCode != http.StatusBadRequest || string(raw) != envoyres.PlaintextHTTPMessage {
			t.Fatalf("plain HTTP client: HTTP %d %q, want 400 %q", resp.StatusCode, raw, envoyres.PlaintextHTTPMessage)
		}
		// Nothing of it reached the backend or the filters: the plaintext
		// chain only answers.
		if n := testenv.Counter(t, p.EnvoyAdmin, "http.milvus_plaintext.downstream_rq_total"); n != 2 {
			t.Errorf("plaintext chain saw %d requests, want 2", n)
		}
	})

	t.Run("key not in config_dump", func(t *testing.T) {
		var dump struct {
			Configs []struct {
				Type    string `json:"@type"`
				Secrets []struct {
					Name   string `json:"name"`
					Secret struct {
						TLSCertificate struct {
							PrivateKey struct {
								InlineBytes []byte `json:"inline_bytes"`
							} `json:"private_key"`
						} `json:"tls_certificate"`
					} `json:"secret"`
				} `json:"dynamic_active_secrets"`
			} `json:"configs"`
		}
		if err := json.Unmarshal([]byte(testenv.AdminGet(t, p.EnvoyAdmin, "/config_dump")), &dump); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range dump.Configs {
			for _, sec := range c.Secrets {
				if sec.Name == envoyres.ListenerCertSecret {
					found = true
					if k := string(sec.Secret.TLSCertificate.PrivateKey.InlineBytes); k != "[redacted]" {
						t.Fatalf("Envoy's /config_dump shows the listener's private key as %q", k)
					}
				}
			}
		}
		if !found {
			t.Fatalf("no %s secret in Envoy's /config_dump", envoyres.ListenerCertSecret)
		}
	})

	t.Run("rotation", func(t *testing.T) { testRotation(t, p, ca, sc) })
}

// testRotation replaces the served certificate while a gRPC connection is
// open and calls flow on it: new handshakes see the new serial within 5 s,
// the open connection keeps working (on its old session), Envoy modified
// no listener; a key that does not match is refused and the served
// certificate stays.
func testRotation(t *testing.T, p testenv.Ports, ca *testenv.CA, sc *servedCert) {
	tc := clientTLS(t, ca.CertFile, []string{"h2"})
	st, err := handshake(t, p.Listener, tc)
	if err != nil {
		t.Fatal(err)
	}
	serial1 := serialOf(st)
	open := tlsClient(t, p.Listener, clientTLS(t, ca.CertFile, nil))
	if st, err := getVersion(context.Background(), open); err != nil || serialOf(st) != serial1 {
		t.Fatalf("open connection: %v, serial %s (want %s)", err, serialOf(st), serial1)
	}
	modified := testenv.Counter(t, p.EnvoyAdmin, "listener_manager.listener_modified")
	if added := testenv.Counter(t, p.EnvoyAdmin, "listener_manager.listener_added"); added == 0 {
		t.Fatal("no listener_manager.listener_added counter: the listener counters are not where the test reads them")
	}

	// Calls on the open connection all through the rotation.
	var mu sync.Mutex
	var calls, failed int
	var firstErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, err := getVersion(context.Background(), open)
			mu.Lock()
			calls++
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
			mu.Unlock()
		}
	})

	cert2, key2 := sc.issue()
	serial2 := serialOfPEM(t, cert2)
	sc.rename(sc.key, key2)
	sc.rename(sc.cert, cert2)
	took := testenv.Eventually(t, 5*time.Second, "a new handshake presents serial "+serial2, func() bool {
		st, err := handshake(t, p.Listener, tc)
		return err == nil && serialOf(st) == serial2
	})
	t.Logf("rotation by rename: serial %s → %s seen by a new handshake %v after the rename", serial1, serial2, took.Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond) // a few more calls on the old connection after the swap
	close(stop)
	wg.Wait()
	if failed != 0 || calls < 10 {
		t.Fatalf("open connection during rotation: %d of %d calls failed (first: %v)", failed, calls, firstErr)
	}
	st, err = getVersion(context.Background(), open)
	if err != nil || serialOf(st) != serial1 {
		t.Fatalf("open connection after rotation: %v, serial %s: want the old session (serial %s) still serving", err, serialOf(st), serial1)
	}
	t.Logf("open connection: %d calls during the rotation, 0 failed; still on serial %s", calls, serial1)
	if got := testenv.Counter(t, p.EnvoyAdmin, "listener_manager.listener_modified"); got != modified {
		t.Errorf("listener_manager.listener_modified %d → %d: the rotation changed the listener", modified, got)
	}
	if ls := listenerStatus(t, p.Admin); ls["serial"] != serial2 || ls["last_error"] != nil {
		t.Errorf("/v1/status listener_tls after rotation: %v", ls)
	}

	// A half-done in-place rotation: a new certificate with the old key.
	cert3, key3 := sc.issue()
	serial3 := serialOfPEM(t, cert3)
	sc.overwrite(sc.cert, cert3)
	testenv.Eventually(t, 5*time.Second, "the mismatched pair shown in /v1/status", func() bool {
		e, _ := listenerStatus(t, p.Admin)["last_error"].(string)
		return strings.Contains(e, "private key does not match public key")
	})
	if st, err := handshake(t, p.Listener, tc); err != nil || serialOf(st) != serial2 {
		t.Fatalf("after a refused pair: %v, serial %s, want %s still served", err, serialOf(st), serial2)
	}
	t.Logf("refused pair: %v", listenerStatus(t, p.Admin)["last_error"])
	// The key follows (in place too): the pair is served, the error clears.
	sc.overwrite(sc.key, key3)
	took = testenv.Eventually(t, 5*time.Second, "a new handshake presents serial "+serial3, func() bool {
		st, err := handshake(t, p.Listener, tc)
		return err == nil && serialOf(st) == serial3
	})
	t.Logf("rotation by in-place write: serial %s seen %v after the key was written", serial3, took.Round(time.Millisecond))
	if ls := listenerStatus(t, p.Admin); ls["serial"] != serial3 || ls["last_error"] != nil {
		t.Errorf("/v1/status listener_tls after the fix: %v", ls)
	}
}

// TestTLSMutual: with require_client_cert, a client certificate from the
// trusted CA completes the handshake (and a call with a password works on
// it); one from another CA, or none, fails the handshake.
func TestTLSMutual(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	serverCA := testenv.NewCA(t, "edge server CA")
	clientCA := testenv.NewCA(t, "edge client CA")
	otherCA := testenv.NewCA(t, "someone else's CA")
	sc := newServedCert(t, serverCA)
	p := testenv.NewPorts(t)
	testenv.Run(t, tlsHead(t, p, fmt.Sprintf("{cert_file: %s, key_file: %s, client_ca_file: %s, require_client_cert: true}",
		sc.cert, sc.key, clientCA.CertFile))+oneCluster(backend), p)

	trustedCert, trustedKey := clientCA.Issue(t, "alice", testenv.Leaf{CN: "alice", Client: true})
	otherCert, otherKey := otherCA.Issue(t, "mallory", testenv.Leaf{CN: "mallory", Client: true})

	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			with := func(cert ...string) *tls.Config {
				tc := clientTLS(t, serverCA.CertFile, []string{"h2"}, cert...)
				tc.MinVersion, tc.MaxVersion = v, v
				return tc
			}
			const wait = 300 * time.Millisecond
			if _, err := handshakeWait(t, p.Listener, with(trustedCert, trustedKey), wait); err != nil {
				t.Fatalf("trusted client certificate: %v", err)
			}
			_, err := handshakeWait(t, p.Listener, with(otherCert, otherKey), wait)
			t.Logf("untrusted client certificate: %v", err)
			if err == nil || !strings.Contains(err.Error(), "remote error: tls: unknown certificate authority") {
				t.Errorf("untrusted client certificate: %v, want the unknown CA alert", err)
			}
			// TLS 1.3 has an alert of its own for this; 1.2 a generic one.
			alert := map[uint16]string{tls.VersionTLS13: "certificate required", tls.VersionTLS12: "handshake failure"}[v]
			_, err = handshakeWait(t, p.Listener, with(), wait)
			t.Logf("no client certificate: %v", err)
			if err == nil || !strings.Contains(err.Error(), "remote error: tls: "+alert) {
				t.Errorf("no client certificate: %v, want the %s alert", err, alert)
			}
		})
	}

	t.Run("gRPC", func(t *testing.T) {
		c := tlsClient(t, p.Listener, clientTLS(t, serverCA.CertFile, nil, trustedCert, trustedKey))
		if _, err := getVersion(context.Background(), c); err != nil {
			t.Fatalf("trusted certificate and root's password: %v", err)
		}
		for name, cert := range map[string][]string{"untrusted": {otherCert, otherKey}, "no certificate": nil} {
			c := tlsClient(t, p.Listener, clientTLS(t, serverCA.CertFile, nil, cert...))
			_, err := getVersion(context.Background(), c)
			t.Logf("%s: %v", name, err)
			// gRPC-Go writes its preface right after its side of the TLS 1.3
			// handshake: it reports the alert, or a broken pipe when the
			// server closed first.
			if st := status.Convert(err); st.Code() != codes.Unavailable {
				t.Errorf("%s: %v, want UNAVAILABLE", name, err)
			}
		}
	})
}

// mtlsPolicy is a security team's rule on a workload's SPIFFE id: callers
// authenticated by a verified client certificate alone (method mtls; the
// user is the certificate's SPIFFE URI SAN) — here the indexer — may do
// anything in database default. Every other identity keeps the default
// bundle's Milvus RBAC.
const mtlsPolicy = `package milvus.authz

allow if {
	input.identity.method == "mtls"
	input.identity.user == "spiffe://example.org/ns/search/sa/indexer"
	input.milvus.db == "default"
}
`

// TestTLSMutualPolicy (depends on the authz side of mTLS; keep it last):
// a client certificate from the trusted CA and no password is allowed by a
// policy rule on its SPIFFE id; another trusted certificate whose id the
// policy does not name is denied with Milvus's message; a client without
// certificate nor password is unauthenticated, one with root's password
// still works (client certificates are optional here).
//
// Contract relied on (docs/policy-contract.md): with a verified client
// certificate and no authorization header, input.identity.method is "mtls"
// and input.identity.user the certificate's SPIFFE URI; the decision log
// records that user and method.
func TestTLSMutualPolicy(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	serverCA := testenv.NewCA(t, "edge server CA")
	clientCA := testenv.NewCA(t, "workload CA")
	sc := newServedCert(t, serverCA)
	bundle := testenv.PolicyBundle(t, fmt.Sprintf(`milvus:
  settings: {root_bypass: true}
  users:
    root: {password_hash: %q, roles: []}
  api_keys: []
  roles: {}
`, hash(t, "Milvus")))
	testenv.WriteFile(t, filepath.Join(bundle, "milvus/authz/mtls.rego"), mtlsPolicy)
	decisions := filepath.Join(t.TempDir(), "decisions.jsonl")
	p := testenv.NewPorts(t)
	testenv.Run(t, tlsHead(t, p, fmt.Sprintf("{cert_file: %s, key_file: %s, client_ca_file: %s}", sc.cert, sc.key, clientCA.CertFile))+
		fmt.Sprintf("auth: {policy_dir: %s, decision_log: %s}\n", bundle, decisions)+oneCluster(backend), p)

	const indexerID, strangerID = "spiffe://example.org/ns/search/sa/indexer", "spiffe://example.org/ns/batch/sa/stranger"
	indexerCert, indexerKey := clientCA.Issue(t, "indexer", testenv.Leaf{CN: "indexer", URIs: []string{indexerID}, Client: true})
	strangerCert, strangerKey := clientCA.Issue(t, "stranger", testenv.Leaf{CN: "stranger", URIs: []string{strangerID}, Client: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	indexer := tlsClient(t, p.Listener, clientTLS(t, serverCA.CertFile, nil, indexerCert, indexerKey))
	createVectorCollection(ctx, t, indexer, "by_spiffe", 8) // no authorization header
	ins, err := indexer.Insert(ctx, insertRequest("by_spiffe", 5, 8))
	if err != nil || ins.GetStatus().GetCode() != 0 || ins.GetInsertCnt() != 5 {
		t.Fatalf("Insert by the indexer's certificate alone: %v %v", ins.GetStatus(), err)
	}

	stranger := tlsClient(t, p.Listener, clientTLS(t, serverCA.CertFile, nil, strangerCert, strangerKey))
	_, err = stranger.Insert(ctx, insertRequest("by_spiffe", 1, 8))
	want := "PrivilegeInsert: permission deny to " + strangerID + " in the `default` database"
	if st := status.Convert(err); st.Code() != codes.PermissionDenied || st.Message() != want {
		t.Fatalf("stranger's certificate: %v, want PERMISSION_DENIED %q", err, want)
	}

	anonymous := tlsClient(t, p.Listener, clientTLS(t, serverCA.CertFile, nil))
	if _, err := anonymous.Insert(ctx, insertRequest("by_spiffe", 1, 8)); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no certificate, no password: %v, want UNAUTHENTICATED", err)
	}
	if _, err := getVersion(ctx, anonymous); err != nil {
		t.Fatalf("no certificate, root's password: %v", err)
	}
	if s, err := indexer.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: "by_spiffe"}); err != nil || s.GetCode() != 0 {
		t.Fatalf("DropCollection by the indexer: %v %v", s, err)
	}

	// The decision log names the workload and how it authenticated.
	testenv.Eventually(t, 5*time.Second, "the decision log records the mtls identities", func() bool {
		seen := map[string]bool{}
		for _, r := range readJSONLines(t, decisions) {
			if r["auth_method"] == "mtls" {
				seen[fmt.Sprint(r["user"], " ", r["api"], " ", r["allow"])] = true
			}
		}
		return seen[indexerID+" Insert true"] && seen[strangerID+" Insert false"]
	})
}
