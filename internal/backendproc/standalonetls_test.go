package backendproc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testcerts"
)

func TestStandaloneTLSArgs(t *testing.T) {
	if args, err := standaloneTLSArgs(nil); err != nil || args != nil {
		t.Fatalf("no TLS: %q, %v", args, err)
	}
	args, err := standaloneTLSArgs(&config.StandaloneTLS{Mode: 2, CertFile: "s.pem", KeyFile: "/k/s.key", CAFile: "ca.pem"})
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := []string{"--tls-mode", "2", "--server-pem-path", filepath.Join(wd, "s.pem"), "--server-key-path", "/k/s.key", "--ca-pem-path", filepath.Join(wd, "ca.pem")}
	if !slices.Equal(args, want) {
		t.Errorf("args %q\nwant %q", args, want)
	}
}

// healthy answers CheckHealth healthy.
type healthy struct {
	milvuspb.UnimplementedMilvusServiceServer
}

func (healthy) CheckHealth(context.Context, *milvuspb.CheckHealthRequest) (*milvuspb.CheckHealthResponse, error) {
	return &milvuspb.CheckHealthResponse{IsHealthy: true}, nil
}

// The readiness check of a TLS standalone verifies its chain against
// ca_file but not its name, and presents the client certificate in mode 2
// (here a server that, like Milvus's tlsMode 2, requires one).
func TestStandaloneReadinessOverTLS(t *testing.T) {
	ca, other := testcerts.New(t, "milvus CA"), testcerts.New(t, "another CA")
	cert, key := ca.Issue(t, "milvus", testcerts.Leaf{CN: "milvus", DNS: []string{"milvus.internal"}}) // no 127.0.0.1
	ccert, ckey := ca.Issue(t, "probe", testcerts.Leaf{CN: "probe", Client: true})
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	b, _ := os.ReadFile(ca.CertFile)
	clientCAs.AppendCertsFromPEM(b)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, ClientCAs: clientCAs, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
	})))
	milvuspb.RegisterMilvusServiceServer(srv, healthy{})
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	check := func(t *config.StandaloneTLS) error {
		creds, err := standaloneCreds(t)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return checkHealth(ctx, l.Addr().String(), creds, "root", "Milvus")
	}
	mode2 := &config.StandaloneTLS{Mode: 2, CertFile: cert, KeyFile: key, CAFile: ca.CertFile, ClientCertFile: ccert, ClientKeyFile: ckey}
	if err := check(mode2); err != nil {
		t.Fatalf("mode 2 readiness: %v", err)
	}
	wrongCA := *mode2
	wrongCA.CAFile = other.CertFile
	if err := check(&wrongCA); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("another CA: %v, want unknown authority", err)
	}
	if err := CheckHealth(context.Background(), l.Addr().String(), "root", "Milvus"); err == nil {
		t.Error("a plaintext check of a TLS standalone succeeded")
	}
}
