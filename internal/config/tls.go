package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
)

// ListenerTLS is TLS on the client listener (gRPC and REST on one port),
// delivered to Envoy by SDS: rotated files are picked up without a restart.
type ListenerTLS struct {
	// CertFile and KeyFile are the server certificate chain and key (PEM).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile turns on mutual TLS: client certificates are verified
	// against these CAs, and a verified certificate's identity (its SPIFFE URI
	// SAN, else its subject CN) is an identity the policy sees (method mtls).
	ClientCAFile string `yaml:"client_ca_file"`
	// RequireClientCert refuses handshakes without a client certificate;
	// false lets clients without one authenticate by password, key or JWT.
	// Default false. Needs client_ca_file.
	RequireClientCert bool `yaml:"require_client_cert"`
	// MinVersion is the lowest TLS version: "1.2" or "1.3". Default 1.2.
	MinVersion string `yaml:"min_version"`
}

// ClusterTLS is TLS from Envoy (and the edge's schema fills) to a cluster's
// endpoints: Milvus's tlsMode 1 (server TLS) or 2 (mutual).
type ClusterTLS struct {
	// CAFile verifies the backend's certificate (PEM). Required.
	CAFile string `yaml:"ca_file"`
	// ServerName is the SNI sent and the name the certificate must hold.
	// Default: the endpoint's host.
	ServerName string `yaml:"server_name"`
	// CertFile and KeyFile are the edge's client certificate, for tlsMode 2.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`

	// The files' contents, read by Validate on every load and reload: Envoy
	// (through xDS) and the edge's own backend calls use these same bytes.
	ca, cert []byte
	key      Secret
}

// CA returns ca_file's PEM contents as read by the last Validate.
func (t *ClusterTLS) CA() []byte { return t.ca }

// ClientCert returns the PEM client certificate chain and key as read by the
// last Validate; nil and "" without cert_file.
func (t *ClusterTLS) ClientCert() (chain []byte, key Secret) { return t.cert, t.key }

// String describes the settings without the key (fmt does not call Secret's
// methods on an unexported field, so the struct must not print itself).
func (t ClusterTLS) String() string {
	s := "ca " + t.CAFile
	if t.ServerName != "" {
		s += ", server name " + t.ServerName
	}
	if t.CertFile != "" {
		s += ", client certificate " + t.CertFile
	}
	return s
}

// GoString implements fmt.GoStringer (%#v) as String.
func (t ClusterTLS) GoString() string { return t.String() }

// TLSServerName is the name a TLS cluster's endpoints must prove (and the
// SNI sent): tls.server_name, else the first endpoint's host. "" without TLS.
func (c Cluster) TLSServerName() string {
	if c.TLS == nil {
		return ""
	}
	if c.TLS.ServerName != "" || len(c.Endpoints) == 0 {
		return c.TLS.ServerName
	}
	host, _, _ := net.SplitHostPort(c.Endpoints[0].Address)
	return host
}

func (t *ListenerTLS) setDefaults() {
	if t != nil {
		setStr(&t.MinVersion, "1.2")
	}
}

// readable reports a file the edge must read, by its field path.
func readable(bad badFunc, path, file string) {
	if file == "" {
		bad(path, "is required")
		return
	}
	f, err := os.Open(file)
	if err != nil {
		bad(path, "%v", err)
		return
	}
	f.Close()
}

func validateListenerTLS(bad badFunc, l Listener) {
	t := l.TLS
	if t == nil {
		if !l.Plaintext && !loopback(l.Address) {
			bad("listener.tls", "is required on a non-loopback address (%s): Milvus passwords, keys and tokens would cross the network in clear text; set listener.plaintext: true to accept that", l.Address)
		}
		return
	}
	if l.Plaintext {
		bad("listener.plaintext", "cannot be set together with listener.tls")
	}
	readable(bad, "listener.tls.cert_file", t.CertFile)
	readable(bad, "listener.tls.key_file", t.KeyFile)
	if t.ClientCAFile != "" {
		readable(bad, "listener.tls.client_ca_file", t.ClientCAFile)
	} else if t.RequireClientCert {
		bad("listener.tls.require_client_cert", "needs listener.tls.client_ca_file")
	}
	oneOf(bad, "listener.tls.min_version", t.MinVersion, "1.2", "1.3")
}

// validateClusterTLS checks a cluster's TLS settings and reads its files:
// the CA must hold a certificate and the client certificate must match its
// key, so that a bad file is refused by field path here rather than by
// Envoy (a NACK) or at the first schema fill.
func validateClusterTLS(bad badFunc, p string, cl Cluster) {
	t := cl.TLS
	t.ca, t.cert, t.key = nil, nil, ""
	if t.CAFile == "" {
		bad(p+".ca_file", "is required (the CA that issued the backend's certificate)")
	} else if b, err := os.ReadFile(t.CAFile); err != nil {
		bad(p+".ca_file", "%v", err)
	} else if err := hasCertificate(b); err != nil {
		bad(p+".ca_file", "%s: %v", t.CAFile, err)
	} else {
		t.ca = b
	}
	if t.ServerName != "" && net.ParseIP(t.ServerName) == nil && !hostnameRE.MatchString(t.ServerName) {
		bad(p+".server_name", "must be a host name or an IP address, got %q", t.ServerName)
	}
	if t.ServerName == "" && len(endpointHosts(cl.Endpoints)) > 1 {
		bad(p+".server_name", "is required when the endpoints have different hosts (%s): one name is checked against every endpoint's certificate", strings.Join(endpointHosts(cl.Endpoints), ", "))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad(p, "cert_file and key_file go together (the edge's client certificate, for tlsMode 2)")
		return
	}
	if t.CertFile == "" {
		return
	}
	cert, certErr := os.ReadFile(t.CertFile)
	if certErr != nil {
		bad(p+".cert_file", "%v", certErr)
	}
	key, keyErr := os.ReadFile(t.KeyFile)
	if keyErr != nil {
		bad(p+".key_file", "%v", keyErr)
	}
	if certErr != nil || keyErr != nil {
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		bad(p+".cert_file", "%s with key_file %s: %v", t.CertFile, t.KeyFile, err)
		return
	}
	t.cert, t.key = cert, Secret(key)
}

// hostnameRE is a DNS name (letters, digits, '-', dots; a leading "*." is not a host).
var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)

// hasCertificate reports a PEM bundle without any parsable certificate.
func hasCertificate(b []byte) error {
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return errors.New("no PEM certificate in the file")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return err
		}
		return nil
	}
}

// endpointHosts returns the distinct hosts of endpoints, in order.
func endpointHosts(eps []Endpoint) []string {
	var out []string
	for _, ep := range eps {
		if h, _, err := net.SplitHostPort(ep.Address); err == nil && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// validateStandaloneTLS checks a launched standalone's TLS. milvus-server
// writes each path unquoted into Milvus's YAML, so characters YAML would read
// differently are refused.
func validateStandaloneTLS(bad badFunc, p string, t *StandaloneTLS) {
	if t.Mode != 1 && t.Mode != 2 {
		bad(p+".mode", "must be 1 (server TLS) or 2 (mutual TLS), got %d", t.Mode)
	}
	type file struct{ field, path string }
	files := []file{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}}
	switch {
	case t.Mode == 2:
		files = append(files, file{"client_cert_file", t.ClientCertFile}, file{"client_key_file", t.ClientKeyFile})
	case t.ClientCertFile != "" || t.ClientKeyFile != "":
		bad(p, "client_cert_file and client_key_file are for mode 2 (the readiness check's client certificate)")
	}
	for _, f := range files {
		readable(bad, p+"."+f.field, f.path)
		if strings.ContainsAny(f.path, "#\n\r'\"") || strings.Contains(f.path, ": ") || strings.TrimSpace(f.path) != f.path {
			bad(p+"."+f.field, "milvus-server writes the path into its YAML unquoted: it must not contain '#', ': ', quotes, line breaks or edge spaces, got %q", f.path)
		}
	}
}

func validateAdmin(bad badFunc, e Edge) {
	if e.AdminTokenFile != "" {
		b, err := os.ReadFile(e.AdminTokenFile)
		switch {
		case err != nil:
			bad("edge.admin_token_file", "%v", err)
		case len(strings.TrimSpace(string(b))) < 16:
			bad("edge.admin_token_file", "the token in %s must be at least 16 characters", e.AdminTokenFile)
		}
		return
	}
	if !loopback(e.AdminAddress) {
		bad("edge.admin_token_file", "is required when edge.admin_address (%s) is not a loopback address: the admin API (cache invalidation, pprof) must not be open to the network", e.AdminAddress)
	}
}

// loopback reports a host:port whose host is a loopback IP or "localhost".
func loopback(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// AdminToken reads the admin token (trimmed); "" when none is configured.
func (e Edge) AdminToken() (Secret, error) {
	if e.AdminTokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(e.AdminTokenFile)
	if err != nil {
		return "", fmt.Errorf("edge.admin_token_file: %w", err)
	}
	return Secret(strings.TrimSpace(string(b))), nil
}
