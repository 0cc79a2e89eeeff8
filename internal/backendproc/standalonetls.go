package backendproc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

// Milvus 2.3.5's TLS, as tried with its PyPI standalone:
//   - milvus-server has flags for the keys (--tls-mode, --server-pem-path,
//     --server-key-path, --ca-pem-path: common.security.tlsMode and
//     tls.serverPemPath/serverKeyPath/caPemPath of its YAML); --extra-config
//     key=value sets them too, but the flags are typed.
//   - Only the proxy's client port changes: gRPC over TLS (ALPN h2), nothing
//     in clear; HTTP/1.1 (REST) there gets the connection closed, over TLS
//     or not. The metrics port (/metrics, /healthz) stays plain HTTP.
//   - Mode 1: TLS 1.2 and 1.3, no client certificate asked for.
//   - Mode 2: TLS 1.3 only (a 1.2 client gets a protocol_version alert) and
//     a client certificate issued by caPemPath is required (none: alert
//     certificate_required; another CA's: bad_certificate).

// standaloneTLSArgs are milvus-server's flags for t (none for nil). Milvus
// runs in another directory, so the paths are made absolute.
func standaloneTLSArgs(t *config.StandaloneTLS) ([]string, error) {
	if t == nil {
		return nil, nil
	}
	args := []string{"--tls-mode", strconv.Itoa(t.Mode)}
	for _, f := range []struct{ flag, path string }{
		{"--server-pem-path", t.CertFile}, {"--server-key-path", t.KeyFile}, {"--ca-pem-path", t.CAFile},
	} {
		abs, err := filepath.Abs(f.path)
		if err != nil {
			return nil, err
		}
		args = append(args, f.flag, abs)
	}
	return args, nil
}

// standaloneCreds are the readiness check's transport credentials: for a
// TLS standalone, its certificate verified against t.CAFile, and in mode 2
// the client certificate. The chain is checked but not the name: the
// standalone is this process's child at a known address, and its
// certificate holds whatever name clusters[].tls.server_name asks for.
func standaloneCreds(t *config.StandaloneTLS) (credentials.TransportCredentials, error) {
	if t == nil {
		return insecure.NewCredentials(), nil
	}
	ca, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("milvus standalone tls.ca_file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("milvus standalone tls.ca_file %s: no PEM certificate", t.CAFile)
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection: the chain, not the name
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the standalone presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		},
	}
	if t.Mode == 2 {
		pair, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile)
		if err != nil {
			return nil, fmt.Errorf("milvus standalone tls.client_cert_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}
