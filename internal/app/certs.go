package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/milvus-edge/milvus-edge/internal/config"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// certPollInterval is how often listener.tls's files are re-read. Content
// hashes, not modification times: an in-place rewrite within the same
// second, or a rename of an older file over the served one, is still seen.
// A rotation reaches new handshakes within about this long.
const certPollInterval = time.Second

// watchListenerCerts re-reads the listener's certificate, key and client CA
// files every interval until ctx ends, and pushes new SDS secrets when their
// contents changed (xds.RefreshCerts: one new snapshot version built from
// the current config). Files that do not check out are logged once per
// change and shown in /v1/status (xds.listener_tls.last_error); the served
// certificate stays. It returns nil when ctx ends.
func watchListenerCerts(ctx context.Context, log *slog.Logger, xds *xdsserver.Server, every time.Duration) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		version, pushed, err := xds.RefreshCerts(ctx)
		switch {
		case err != nil:
			log.Error("listener certificate files refused; the served certificate stays", "error", err)
		case pushed:
			st := xds.Status().ListenerTLS
			log.Info("listener certificate reloaded", "xds_version", version, "serial", st.Serial, "not_after", st.NotAfter)
		}
	}
}

// probeListener is ProbeThroughEnvoy over TLS when the listener has it. The
// edge holds no CA for its own certificate, so instead of a chain check the
// probe requires Envoy to present exactly the configured leaf: proof that
// the listener serves the certificate the edge pushed. With
// require_client_cert the edge has no client certificate to offer: Envoy
// presenting the leaf, then refusing the handshake for want of a client
// certificate, is the proof there.
func probeListener(ctx context.Context, cfg *config.Config) error {
	t := cfg.Listener.TLS
	if t == nil {
		return ProbeThroughEnvoy(ctx, cfg.Listener.Address)
	}
	leaf, err := leafDER(t.CertFile)
	if err != nil {
		return err
	}
	presented := false
	tc := &tls.Config{
		InsecureSkipVerify: true, // replaced by the exact-leaf check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], leaf) {
				return errors.New("the listener does not present listener.tls.cert_file's certificate yet")
			}
			presented = true
			return nil
		},
		NextProtos: []string{"h2"},
	}
	if !t.RequireClientCert {
		return probeWith(ctx, cfg.Listener.Address, credentials.NewTLS(tc))
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: tc}).DialContext(dctx, "tcp", dialable(cfg.Listener.Address))
	if err == nil {
		// TLS 1.3 refuses a missing client certificate after the client's
		// handshake is done: the refusal comes with the first read.
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if presented {
		return nil
	}
	return fmt.Errorf("TLS probe: %w", err)
}

// leafDER reads the first certificate of a PEM chain file.
func leafDER(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("listener.tls.cert_file: %w", err)
	}
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return nil, fmt.Errorf("listener.tls.cert_file (%s): no PEM certificate", path)
		}
		if block.Type == "CERTIFICATE" {
			return block.Bytes, nil
		}
	}
}

// dialable turns a wildcard listen address into one a local client can dial.
func dialable(listenAddr string) string {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return listenAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
