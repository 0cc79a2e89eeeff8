package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/testcerts"
)

// TestClusterTLS: the files are read by Parse (and again by every reload),
// the server name defaults to the first endpoint's host, and REST is off by
// default on a TLS cluster.
func TestClusterTLS(t *testing.T) {
	ca := testcerts.New(t, "backend CA")
	cert, key := ca.Issue(t, "edge", testcerts.Leaf{CN: "edge", Client: true})
	for _, tc := range []struct {
		name, cluster string
		serverName    string
		client, rest  bool
	}{
		{"server TLS, default name", fmt.Sprintf(`endpoints: [{address: "10.0.0.1:19530"}], tls: {ca_file: %s}`, ca.CertFile), "10.0.0.1", false, false},
		{"mutual TLS, explicit name", fmt.Sprintf(`endpoints: [{address: "a:1"}, {address: "b:1"}], tls: {ca_file: %s, server_name: milvus.internal, cert_file: %s, key_file: %s}`, ca.CertFile, cert, key), "milvus.internal", true, false},
		{"REST kept when asked", fmt.Sprintf(`endpoints: [{address: "milvus:19530"}], rest: true, tls: {ca_file: %s}`, ca.CertFile), "milvus", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("clusters: [{name: qn, " + tc.cluster + "}]\nroutes: [{cluster: qn}]"))
			if err != nil {
				t.Fatal(err)
			}
			cl := c.Clusters[0]
			if got := cl.TLSServerName(); got != tc.serverName {
				t.Errorf("server name %q, want %q", got, tc.serverName)
			}
			if want, _ := os.ReadFile(ca.CertFile); !bytes.Equal(cl.TLS.CA(), want) {
				t.Errorf("CA not read")
			}
			chain, k := cl.TLS.ClientCert()
			if (len(chain) > 0) != tc.client || (k != "") != tc.client {
				t.Errorf("client certificate read: %v, want %v", len(chain) > 0, tc.client)
			}
			if cl.ServesREST() != tc.rest {
				t.Errorf("ServesREST = %v, want %v", cl.ServesREST(), tc.rest)
			}
			if s := fmt.Sprintf("%v %+v %#v", cl, cl, cl.TLS); strings.Contains(s, "PRIVATE KEY") {
				t.Errorf("the key prints: %s", s)
			}
		})
	}
	if c, err := Parse([]byte(clusterYAML(""))); err != nil || !c.Clusters[0].ServesREST() || c.Clusters[0].TLSServerName() != "" {
		t.Errorf("a plaintext cluster: %v; want REST on and no server name", err)
	}
}

func TestClusterTLSValidation(t *testing.T) {
	ca := testcerts.New(t, "backend CA")
	cert, _ := ca.Issue(t, "edge", testcerts.Leaf{CN: "edge", Client: true})
	_, otherKey := ca.Issue(t, "other", testcerts.Leaf{CN: "other", Client: true})
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct{ name, extra, want string }{
		{"no CA", ", tls: {}", "clusters[0].tls.ca_file: is required"},
		{"missing CA", ", tls: {ca_file: " + missing + "}", "clusters[0].tls.ca_file: open " + missing},
		{"CA without a certificate", ", tls: {ca_file: " + notPEM + "}", "clusters[0].tls.ca_file: " + notPEM + ": no PEM certificate in the file"},
		{"a key that is not the certificate's", fmt.Sprintf(", tls: {ca_file: %s, cert_file: %s, key_file: %s}", ca.CertFile, cert, otherKey),
			"clusters[0].tls.cert_file: " + cert + " with key_file " + otherKey + ": tls: private key does not match public key"},
		{"cert without key", fmt.Sprintf(", tls: {ca_file: %s, cert_file: %s}", ca.CertFile, cert), "clusters[0].tls: cert_file and key_file go together"},
		{"missing key", fmt.Sprintf(", tls: {ca_file: %s, cert_file: %s, key_file: %s}", ca.CertFile, cert, missing), "clusters[0].tls.key_file: open " + missing},
		{"bad server name", fmt.Sprintf(", tls: {ca_file: %s, server_name: 'a b'}", ca.CertFile), `clusters[0].tls.server_name: must be a host name or an IP address, got "a b"`},
		{"hosts differ", fmt.Sprintf(", tls: {ca_file: %s}, endpoints: [{address: 'a:1'}, {address: 'b:1'}]", ca.CertFile),
			"clusters[0].tls.server_name: is required when the endpoints have different hosts (a, b)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps := "endpoints: [{address: 10.0.0.1:1}]"
			if strings.Contains(tc.extra, "endpoints") {
				eps = "rest: false"
			}
			_, err := Parse([]byte("clusters: [{name: qn, " + eps + tc.extra + "}]\nroutes: [{cluster: qn}]"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestClusterTLSReread: every Parse (a config reload) reads the files again,
// so a rotated CA or client certificate reaches Envoy and the schema fills.
func TestClusterTLSReread(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	yml := []byte(clusterYAML(", tls: {ca_file: " + caFile + "}"))
	for _, name := range []string{"first CA", "second CA"} {
		b, err := os.ReadFile(testcerts.New(t, name).CertFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(caFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Parse(yml)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Clusters[0].TLS.CA(), b) {
			t.Errorf("after writing the %s: the old contents", name)
		}
	}
}

func TestStandaloneTLSValidation(t *testing.T) {
	ca := testcerts.New(t, "milvus CA")
	cert, key := ca.Issue(t, "milvus", testcerts.ServerLeaf())
	ccert, ckey := ca.Issue(t, "probe", testcerts.Leaf{CN: "probe", Client: true})
	hash := filepath.Join(t.TempDir(), "a#b.pem")
	if err := os.WriteFile(hash, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	launch := func(tls string) string {
		return clusterYAML("") + "\nlaunch: {milvus_standalone: [{address: 127.0.0.1:19541, data_dir: /tmp/m, tls: " + tls + "}]}"
	}
	ok := []string{
		fmt.Sprintf("{mode: 1, cert_file: %s, key_file: %s, ca_file: %s}", cert, key, ca.CertFile),
		fmt.Sprintf("{mode: 2, cert_file: %s, key_file: %s, ca_file: %s, client_cert_file: %s, client_key_file: %s}", cert, key, ca.CertFile, ccert, ckey),
	}
	for _, tls := range ok {
		if _, err := Parse([]byte(launch(tls))); err != nil {
			t.Errorf("%s: %v", tls, err)
		}
	}
	const p = "launch.milvus_standalone[0].tls"
	for _, tc := range []struct{ name, tls, want string }{
		{"no mode", fmt.Sprintf("{cert_file: %s, key_file: %s, ca_file: %s}", cert, key, ca.CertFile), p + ".mode: must be 1 (server TLS) or 2 (mutual TLS), got 0"},
		{"no files", "{mode: 1}", p + ".cert_file: is required"},
		{"no CA", fmt.Sprintf("{mode: 1, cert_file: %s, key_file: %s}", cert, key), p + ".ca_file: is required"},
		{"mode 2 without the probe's certificate", fmt.Sprintf("{mode: 2, cert_file: %s, key_file: %s, ca_file: %s}", cert, key, ca.CertFile), p + ".client_cert_file: is required"},
		{"probe certificate in mode 1", fmt.Sprintf("{mode: 1, cert_file: %s, key_file: %s, ca_file: %s, client_cert_file: %s, client_key_file: %s}", cert, key, ca.CertFile, ccert, ckey),
			p + ": client_cert_file and client_key_file are for mode 2"},
		{"a path YAML would cut", fmt.Sprintf("{mode: 1, cert_file: '%s', key_file: %s, ca_file: %s}", hash, key, ca.CertFile), p + ".cert_file: milvus-server writes the path into its YAML unquoted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(launch(tc.tls)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant %q", err, tc.want)
			}
		})
	}
}
