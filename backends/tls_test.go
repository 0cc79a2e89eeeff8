package backends_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/internal/fakemilvus"
	"github.com/milvus-edge/milvus-edge/internal/testcerts"
)

// tlsFake serves a fake Milvus as Milvus's tlsMode 2 does: TLS 1.3 only, a
// client certificate from ca required. It records each ClientHello's SNI
// and ALPN.
type tlsFake struct {
	addr string
	mu   sync.Mutex
	sni  []string
	alpn [][]string
}

func startTLSFake(t *testing.T, ca *testcerts.CA) *tlsFake {
	t.Helper()
	certFile, keyFile := ca.Issue(t, "milvus", testcerts.ServerLeaf())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(read(t, ca.CertFile))
	tf := &tlsFake{}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{pair}, ClientCAs: clientCAs,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			tf.mu.Lock()
			tf.sni, tf.alpn = append(tf.sni, h.ServerName), append(tf.alpn, h.SupportedProtos)
			tf.mu.Unlock()
			return nil, nil
		},
	}
	f := fakemilvus.New()
	f.Add(fakemilvus.Collection{Schema: testSchema("books")})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	milvuspb.RegisterMilvusServiceServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	tf.addr = l.Addr().String()
	return tf
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPoolTLS: schema fills dial a TLS cluster with its CA, server name and
// client certificate; a wrong CA or plaintext fails the call, not the pool;
// a reload with the right CA reconnects.
func TestPoolTLS(t *testing.T) {
	ca, other := testcerts.New(t, "backend CA"), testcerts.New(t, "another CA")
	fake := startTLSFake(t, ca)
	certFile, keyFile := ca.Issue(t, "edge", testcerts.Leaf{CN: "edge", Client: true})
	good := &backends.TLS{ServerName: "localhost", CA: read(t, ca.CertFile), Cert: read(t, certFile), Key: read(t, keyFile)}
	wrongCA := &backends.TLS{ServerName: "localhost", CA: read(t, other.CertFile), Cert: good.Cert, Key: good.Key}
	wrongName := &backends.TLS{ServerName: "milvus.example", CA: good.CA, Cert: good.Cert, Key: good.Key}
	noClientCert := &backends.TLS{ServerName: "127.0.0.1", CA: good.CA}
	eps := []string{fake.addr}
	p := backends.NewPool(map[string]backends.Target{
		"tls": {Endpoints: eps, TLS: good}, "wrong-ca": {Endpoints: eps, TLS: wrongCA}, "wrong-name": {Endpoints: eps, TLS: wrongName},
		"no-client-cert": {Endpoints: eps, TLS: noClientCert}, "plain": {Endpoints: eps},
	}, nil)
	t.Cleanup(p.Close)
	describe := func(cluster string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := p.Describe(ctx, cluster, "", "books")
		return err
	}

	if err := describe("tls"); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	fake.mu.Lock()
	if !slices.Contains(fake.sni, "localhost") || !slices.Contains(fake.alpn[0], "h2") {
		t.Errorf("ClientHello SNI %q ALPN %q, want localhost and h2", fake.sni, fake.alpn)
	}
	fake.mu.Unlock()
	for cluster, want := range map[string]string{
		"wrong-ca":   "certificate signed by unknown authority",
		"wrong-name": "certificate is valid for localhost, not milvus.example",
		// Any error: the server's "certificate required" alert races the
		// client's first write (sometimes a broken pipe).
		"no-client-cert": "",
		"plain":          "", // any error: the server speaks TLS only
	} {
		err := describe(cluster)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", cluster, err, want)
		}
		t.Logf("%s: %v", cluster, err)
	}

	// A reload with the right CA (a rotated file) makes a new connection.
	p.Update(map[string]backends.Target{"wrong-ca": {Endpoints: eps, TLS: good}})
	if err := describe("wrong-ca"); err != nil {
		t.Fatalf("after the CA was fixed: %v", err)
	}
}
