package server

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// TLSStatus describes the listener certificate Envoy is being served, and
// the outcome of the last attempt to load new files. It holds no secret.
type TLSStatus struct {
	CertFile string `json:"cert_file"`
	// Serial is the serving leaf certificate's serial number (hex).
	Serial   string    `json:"serial"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
	// ClientCAs counts the certificates in client_ca_file (0: no mutual TLS).
	ClientCAs int `json:"client_cas"`
	// LoadedAt is when these files were read and pushed.
	LoadedAt time.Time `json:"loaded_at"`
	// LastError is why the latest contents of the files were refused; ""
	// when the files as they are now are the ones being served.
	LastError string `json:"last_error,omitempty"`
}

// certFiles are listener.tls's files as read at one moment.
type certFiles struct {
	tls           *config.ListenerTLS
	cert, key, ca []byte
	err           error // a file that could not be read
	sum           [32]byte
}

// readCertFiles reads listener.tls's files and hashes their paths and
// contents (read errors included), so that any change, even a file that
// disappears for a moment, is seen as one.
func readCertFiles(t *config.ListenerTLS) certFiles {
	f := certFiles{tls: t}
	if t == nil {
		return f
	}
	h := sha256.New()
	read := func(field, path string) []byte {
		fmt.Fprintf(h, "%s\x00%s\x00", field, path)
		if path == "" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			err = fmt.Errorf("listener.tls.%s: %w", field, err)
			f.err = errors.Join(f.err, err)
			fmt.Fprintf(h, "error %s\x00", err)
			return nil
		}
		fmt.Fprintf(h, "%d\x00", len(b))
		h.Write(b)
		return b
	}
	f.cert = read("cert_file", t.CertFile)
	f.key = read("key_file", t.KeyFile)
	f.ca = read("client_ca_file", t.ClientCAFile)
	h.Sum(f.sum[:0])
	return f
}

// check verifies what was read: the key is the certificate's, every
// certificate parses, and the client CA file holds at least one
// certificate. Envoy would refuse a bad pair too, but as a NACK after the
// push; refused here, the old secret keeps serving and the error names the
// file.
func (f certFiles) check() (*translate.ListenerCerts, TLSStatus, error) {
	st := TLSStatus{CertFile: f.tls.CertFile}
	if f.err != nil {
		return nil, st, f.err
	}
	pair, err := tls.X509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, st, fmt.Errorf("listener.tls.cert_file and key_file (%s, %s): %w", f.tls.CertFile, f.tls.KeyFile, err)
	}
	leaf := pair.Leaf
	if leaf == nil { // X509KeyPair fills Leaf since Go 1.23; parse when it does not
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, st, fmt.Errorf("listener.tls.cert_file (%s): %w", f.tls.CertFile, err)
		}
	}
	st.Serial, st.Subject, st.NotAfter = leaf.SerialNumber.Text(16), leaf.Subject.String(), leaf.NotAfter
	out := &translate.ListenerCerts{Cert: f.cert, Key: config.Secret(f.key)}
	if f.tls.ClientCAFile != "" {
		n, err := countCAs(f.ca)
		if err != nil {
			return nil, st, fmt.Errorf("listener.tls.client_ca_file (%s): %w", f.tls.ClientCAFile, err)
		}
		st.ClientCAs, out.ClientCA = n, f.ca
	}
	return out, st, nil
}

// countCAs parses a PEM bundle of trusted certificates.
func countCAs(b []byte) (int, error) {
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("no PEM certificate in the file")
	}
	return n, nil
}

// ReadListenerCerts reads and checks listener.tls's files: the one place
// the edge reads them (translation gets their contents). nil for nil.
func ReadListenerCerts(t *config.ListenerTLS) (*translate.ListenerCerts, error) {
	if t == nil {
		return nil, nil
	}
	c, _, err := readCertFiles(t).check()
	return c, err
}
