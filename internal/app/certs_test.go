package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testcerts"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

func tlsConfig(t *testing.T, listen, cert, key, clientCA string, require bool) *config.Config {
	t.Helper()
	extra := ""
	if clientCA != "" {
		extra = fmt.Sprintf(", client_ca_file: %s, require_client_cert: %v", clientCA, require)
	}
	c, err := config.Parse(fmt.Appendf(nil, `
listener: {address: %s, tls: {cert_file: %s, key_file: %s%s}}
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:19530}]}]
routes: [{cluster: qn}]
`, listen, cert, key, extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

// The watcher pushes rotated files on its own tick, and stops with ctx.
func TestWatchListenerCerts(t *testing.T) {
	ca := testcerts.New(t, "watch CA")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1 := ca.Issue(t, "one", testcerts.ServerLeaf())
	copyFile(t, c1, cert)
	copyFile(t, k1, key)
	xds := xdsserver.New("n", slog.New(slog.NewTextHandler(io.Discard, nil)), translate.Options{})
	if _, _, err := xds.Update(context.Background(), tlsConfig(t, "127.0.0.1:19530", cert, key, "", false)); err != nil {
		t.Fatal(err)
	}
	serial1 := xds.Status().ListenerTLS.Serial
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchListenerCerts(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), xds, 10*time.Millisecond)
	}()

	c2, k2 := ca.Issue(t, "two", testcerts.ServerLeaf())
	copyFile(t, k2, key)
	copyFile(t, c2, cert)
	deadline := time.Now().Add(5 * time.Second)
	for xds.Status().ListenerTLS.Serial == serial1 {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not push the rotated certificate")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watcher ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not stop with its context")
	}
}

// probeListener accepts a listener that presents exactly the configured
// leaf, also when it then refuses the probe for want of a client
// certificate, and refuses one that presents another certificate.
func TestProbeListenerTLS(t *testing.T) {
	ca := testcerts.New(t, "probe CA")
	clients := testcerts.New(t, "clients CA")
	served, servedKey := ca.Issue(t, "served", testcerts.ServerLeaf())
	other, otherKey := ca.Issue(t, "other", testcerts.ServerLeaf())

	// A TLS server standing in for Envoy's listener: it presents pair and,
	// with requireClient, refuses clients without a certificate.
	serve := func(t *testing.T, certFile, keyFile string, requireClient bool) string {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2"}}
		if requireClient {
			tc.ClientAuth = tls.RequireAnyClientCert
		}
		lis, err := tls.Listen("tcp", "127.0.0.1:0", tc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lis.Close() })
		go func() {
			for {
				conn, err := lis.Accept()
				if err != nil {
					return
				}
				go func() {
					defer conn.Close()
					_ = conn.(*tls.Conn).Handshake()
					_, _ = conn.Read(make([]byte, 1))
				}()
			}
		}()
		return lis.Addr().String()
	}

	for _, tc := range []struct {
		name                string
		serverCert, serverK string
		requireClient       bool
		wantErr             string
	}{
		{"mutual TLS required, configured leaf", served, servedKey, true, ""},
		{"mutual TLS required, another leaf", other, otherKey, true, "does not present listener.tls.cert_file's certificate"},
		{"server TLS, another leaf", other, otherKey, false, "does not present listener.tls.cert_file's certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, tc.serverCert, tc.serverK, tc.requireClient)
			cfg := tlsConfig(t, addr, served, servedKey, clients.CertFile, tc.requireClient)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := probeListener(ctx, cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("probe: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("probe: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}
