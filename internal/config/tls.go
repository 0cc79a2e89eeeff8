package config

import (
	"fmt"
	"net"
	"os"
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

func validateClusterTLS(bad badFunc, p string, t *ClusterTLS) {
	readable(bad, p+".ca_file", t.CAFile)
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad(p, "cert_file and key_file go together (the edge's client certificate, for tlsMode 2)")
	}
	if t.CertFile != "" {
		readable(bad, p+".cert_file", t.CertFile)
		readable(bad, p+".key_file", t.KeyFile)
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
