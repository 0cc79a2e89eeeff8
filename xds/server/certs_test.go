package server_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testcerts"
	"github.com/milvus-edge/milvus-edge/xds/envoyres"
	"github.com/milvus-edge/milvus-edge/xds/server"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// certDir holds the listener's cert.pem and key.pem, replaced by the test.
type certDir struct {
	t    *testing.T
	ca   *testcerts.CA
	dir  string
	n    int
	cert string // the served paths
	key  string
}

func newCertDir(t *testing.T) *certDir {
	d := &certDir{t: t, ca: testcerts.New(t, "edge test CA"), dir: t.TempDir()}
	d.cert, d.key = filepath.Join(d.dir, "cert.pem"), filepath.Join(d.dir, "key.pem")
	return d
}

// issue makes a new server certificate and returns its PEM files' contents.
func (d *certDir) issue() (cert, key []byte) {
	d.t.Helper()
	d.n++
	cf, kf := d.ca.Issue(d.t, fmt.Sprintf("server-%d", d.n), testcerts.ServerLeaf())
	return mustRead(d.t, cf), mustRead(d.t, kf)
}

// rename replaces a served file atomically (write, then rename over it).
func (d *certDir) rename(path string, b []byte) {
	d.t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		d.t.Fatal(err)
	}
}

// overwrite rewrites a served file in place, as `cp` does.
func (d *certDir) overwrite(path string, b []byte) {
	d.t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		d.t.Fatal(err)
	}
}

func (d *certDir) config() *config.Config {
	d.t.Helper()
	c, err := config.Parse(fmt.Appendf(nil, `
listener:
  tls: {cert_file: %s, key_file: %s}
clusters:
  - name: qn
    endpoints: [{address: 10.0.0.1:19530}]
routes:
  - cluster: qn
`, d.cert, d.key))
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func serial(t *testing.T, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// TestRefreshCerts: changed certificate files (renamed over, or rewritten in
// place) become a new snapshot version; unchanged files push nothing; a key
// that is not the certificate's is refused once, shown in Status, and the
// served certificate stays.
func TestRefreshCerts(t *testing.T) {
	ctx := context.Background()
	d := newCertDir(t)
	cert1, key1 := d.issue()
	d.rename(d.cert, cert1)
	d.rename(d.key, key1)
	srv := server.New("n", slog.New(slog.NewTextHandler(io.Discard, nil)), translate.Options{})
	v1, _, err := srv.Update(ctx, d.config())
	if err != nil {
		t.Fatal(err)
	}
	tlsStatus := func() server.TLSStatus {
		t.Helper()
		st := srv.Status().ListenerTLS
		if st == nil {
			t.Fatal("no listener_tls in Status")
		}
		return *st
	}
	if st := tlsStatus(); st.Serial != serial(t, cert1) || st.LastError != "" || st.CertFile != d.cert {
		t.Fatalf("status after the first update: %+v", st)
	}
	if v, pushed, err := srv.RefreshCerts(ctx); v != "" || pushed || err != nil {
		t.Fatalf("unchanged files: version %q pushed=%v err=%v", v, pushed, err)
	}

	// Atomic rotation: both files renamed over.
	cert2, key2 := d.issue()
	d.rename(d.key, key2)
	d.rename(d.cert, cert2)
	v2, pushed, err := srv.RefreshCerts(ctx)
	if err != nil || !pushed || v2 == v1 {
		t.Fatalf("rotated files: version %q (was %q) pushed=%v err=%v", v2, v1, pushed, err)
	}
	if st := tlsStatus(); st.Serial != serial(t, cert2) || st.LastError != "" {
		t.Fatalf("status after rotation: %+v", st)
	}

	// A half-done in-place rotation: the new certificate with the old key.
	cert3, key3 := d.issue()
	d.overwrite(d.cert, cert3)
	if _, pushed, err := srv.RefreshCerts(ctx); err == nil || pushed ||
		!strings.Contains(err.Error(), "listener.tls.cert_file and key_file") {
		t.Fatalf("mismatched key: pushed=%v err=%v, want a refusal naming the files", pushed, err)
	}
	st := tlsStatus()
	if srv.Status().Version != v2 || st.Serial != serial(t, cert2) || !strings.Contains(st.LastError, "private key does not match public key") {
		t.Fatalf("after a refused pair: version %q (want %q), status %+v", srv.Status().Version, v2, st)
	}
	if _, pushed, err := srv.RefreshCerts(ctx); pushed || err != nil {
		t.Fatalf("the same refused files again: pushed=%v err=%v, want nothing (reported once)", pushed, err)
	}
	// The key arrives: the pair is served and the error clears.
	d.overwrite(d.key, key3)
	v3, pushed, err := srv.RefreshCerts(ctx)
	if err != nil || !pushed || v3 == v2 {
		t.Fatalf("completed rotation: version %q pushed=%v err=%v", v3, pushed, err)
	}
	if st := tlsStatus(); st.Serial != serial(t, cert3) || st.LastError != "" {
		t.Fatalf("status after the completed rotation: %+v", st)
	}

	// A missing file is a change too, refused; the config reload path
	// refuses it by field.
	if err := os.Remove(d.key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.RefreshCerts(ctx); err == nil || !strings.Contains(err.Error(), "listener.tls.key_file") {
		t.Fatalf("missing key: err=%v", err)
	}
	if srv.Status().Version != v3 {
		t.Fatal("a missing key changed the snapshot")
	}
}

// TestUpdateRefusesBadPair: a config whose files do not pair is refused as a
// whole, naming the files; the last good snapshot stays.
func TestUpdateRefusesBadPair(t *testing.T) {
	ctx := context.Background()
	d := newCertDir(t)
	cert1, key1 := d.issue()
	d.rename(d.cert, cert1)
	d.rename(d.key, key1)
	srv := server.New("n", slog.New(slog.NewTextHandler(io.Discard, nil)), translate.Options{})
	v1, _, err := srv.Update(ctx, d.config())
	if err != nil {
		t.Fatal(err)
	}
	_, key2 := d.issue()
	d.rename(d.key, key2)
	if _, _, err := srv.Update(ctx, d.config()); err == nil || !strings.Contains(err.Error(), "listener.tls.cert_file and key_file") {
		t.Fatalf("bad pair: err=%v", err)
	}
	if srv.Status().Version != v1 {
		t.Fatal("a refused config changed the snapshot")
	}
	// Plaintext again: no listener_tls in the status.
	if _, _, err := srv.Update(ctx, cfg(t, 1)); err != nil {
		t.Fatal(err)
	}
	if st := srv.Status().ListenerTLS; st != nil {
		t.Fatalf("listener_tls after TLS was turned off: %+v", st)
	}
}

// TestRotationOverADS: what Envoy sees of a rotation, over a real ADS
// stream: the certificate secret is pushed with the new chain, and the
// listener in the new version is byte-for-byte the old one (so Envoy keeps
// the listener and its open connections and only swaps the secret).
func TestRotationOverADS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newCertDir(t)
	cert1, key1 := d.issue()
	d.rename(d.cert, cert1)
	d.rename(d.key, key1)
	srv := server.New("node-1", slog.New(slog.NewTextHandler(io.Discard, nil)), translate.Options{})
	v1, _, err := srv.Update(ctx, d.config())
	if err != nil {
		t.Fatal(err)
	}
	a := serveADS(t, ctx, srv)

	a.send(resourcev3.ListenerType, "", "")
	lds1 := a.recv()
	a.send(resourcev3.ListenerType, v1, lds1.GetNonce())
	a.send(resourcev3.SecretType, "", "", envoyres.ListenerCertSecret)
	sds1 := a.recv()
	a.send(resourcev3.SecretType, v1, sds1.GetNonce(), envoyres.ListenerCertSecret)
	if got := chain(t, sds1); serial(t, got) != serial(t, cert1) {
		t.Fatalf("SDS v1 serves serial %s, want %s", serial(t, got), serial(t, cert1))
	}

	cert2, key2 := d.issue()
	d.rename(d.key, key2)
	d.rename(d.cert, cert2)
	v2, pushed, err := srv.RefreshCerts(ctx)
	if err != nil || !pushed {
		t.Fatalf("rotation: pushed=%v err=%v", pushed, err)
	}
	var lds2, sds2 *discoveryv3.DiscoveryResponse
	deadline := time.Now().Add(5 * time.Second)
	for (lds2 == nil || sds2 == nil) && time.Now().Before(deadline) {
		r := a.recv()
		switch r.GetTypeUrl() {
		case resourcev3.ListenerType:
			lds2 = r
		case resourcev3.SecretType:
			sds2 = r
		}
	}
	if sds2 == nil || sds2.GetVersionInfo() != v2 || serial(t, chain(t, sds2)) != serial(t, cert2) {
		t.Fatalf("SDS after rotation: %v, want version %s with serial %s", sds2, v2, serial(t, cert2))
	}
	if lds2 == nil {
		t.Fatal("no LDS response with the new version")
	}
	var l1, l2 listenerv3.Listener
	if err := lds1.GetResources()[0].UnmarshalTo(&l1); err != nil {
		t.Fatal(err)
	}
	if err := lds2.GetResources()[0].UnmarshalTo(&l2); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&l1, &l2) {
		t.Fatal("the listener changed with the certificate: Envoy would drain it")
	}
}

func chain(t *testing.T, r *discoveryv3.DiscoveryResponse) []byte {
	t.Helper()
	if len(r.GetResources()) != 1 {
		t.Fatalf("%d secrets, want 1", len(r.GetResources()))
	}
	var s tlsv3.Secret
	if err := r.GetResources()[0].UnmarshalTo(&s); err != nil {
		t.Fatal(err)
	}
	return s.GetTlsCertificate().GetCertificateChain().GetInlineBytes()
}
