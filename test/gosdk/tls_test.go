package gosdk

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/entity"
	"github.com/milvus-io/milvus/client/v2/index"
	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// writeTestPKI writes a CA (ca.pem) and a server certificate for 127.0.0.1
// and localhost signed by it (server.pem, server-key.pem) into dir.
func writeTestPKI(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gosdk test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":         {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem":     {Type: "CERTIFICATE", Bytes: der},
		"server-key.pem": {Type: "PRIVATE KEY", Bytes: kb},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// TestTLSThroughEdge: the Go SDK over TLS (an https:// address, the test
// CA in a dial option) creates, inserts, indexes, searches and queries
// through an edge whose listener serves TLS (the SDK's own EnableTLSAuth
// trusts only the system roots: a private CA needs the dial option); a
// plaintext SDK client gets the edge's reason (after the SDK's retries of
// UNAVAILABLE, ~20 s).
func TestTLSThroughEdge(t *testing.T) {
	var pki string
	s, err := startStackListener(nil, func(dir string) (string, error) {
		pki = dir
		if err := writeTestPKI(dir); err != nil {
			return "", err
		}
		return fmt.Sprintf(", tls: {cert_file: %s, key_file: %s}", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")), nil
	})
	if err != nil {
		t.Fatalf("starting milvus-edge with TLS: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stopping milvus-edge: %v", err)
		}
	})
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{
		Address: "https://" + s.EdgeAddr, Username: "root", Password: "Milvus",
		// The SDK's EnableTLSAuth (set by https://) dials with the system
		// roots; a later transport credential with the CA replaces it.
		DialOptions: append(slices.Clone(milvusclient.DefaultGrpcOpts),
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots}))),
	})
	if err != nil {
		t.Fatalf("connecting over TLS: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })

	const coll = "gosdk_tls"
	schema := entity.NewSchema().WithName(coll).
		WithField(entity.NewField().WithName("id").WithDataType(entity.FieldTypeInt64).WithIsPrimaryKey(true)).
		WithField(entity.NewField().WithName("vec").WithDataType(entity.FieldTypeFloatVector).WithDim(dim))
	if err := c.CreateCollection(ctx, milvusclient.NewCreateCollectionOption(coll, schema)); err != nil {
		t.Fatalf("CreateCollection over TLS: %v", err)
	}
	const rows = 100
	ids := make([]int64, rows)
	vecs := make([][]float32, rows)
	for i := range rows {
		ids[i] = int64(i)
		vecs[i] = make([]float32, dim)
		for j := range dim {
			vecs[i][j] = float32((i*7+j*13)%17) / 17
		}
		vecs[i][i%dim] += float32(i) // distinct vectors
	}
	ins, err := c.Insert(ctx, milvusclient.NewColumnBasedInsertOption(coll).WithInt64Column("id", ids).WithFloatVectorColumn("vec", dim, vecs))
	if err != nil || ins.InsertCount != rows {
		t.Fatalf("Insert over TLS: %v (count %v)", err, ins)
	}
	idx, err := c.CreateIndex(ctx, milvusclient.NewCreateIndexOption(coll, "vec", index.NewFlatIndex(entity.L2)))
	if err == nil {
		err = idx.Await(ctx)
	}
	if err != nil {
		t.Fatalf("CreateIndex over TLS: %v", err)
	}
	load, err := c.LoadCollection(ctx, milvusclient.NewLoadCollectionOption(coll))
	if err == nil {
		err = load.Await(ctx)
	}
	if err != nil {
		t.Fatalf("LoadCollection over TLS: %v", err)
	}
	rs, err := c.Search(ctx, milvusclient.NewSearchOption(coll, 3, []entity.Vector{entity.FloatVector(vecs[42])}).
		WithANNSField("vec").WithConsistencyLevel(entity.ClStrong))
	if err != nil || len(rs) != 1 || rs[0].ResultCount == 0 {
		t.Fatalf("Search over TLS: %v (%d result sets)", err, len(rs))
	}
	if got := int64s(t, rs[0].IDs); got[0] != 42 {
		t.Fatalf("Search over TLS: top hit %d, want 42 (its own vector)", got[0])
	}
	q, err := c.Query(ctx, milvusclient.NewQueryOption(coll).WithFilter("id < 5").WithOutputFields("id").WithConsistencyLevel(entity.ClStrong))
	if err != nil {
		t.Fatalf("Query over TLS: %v", err)
	}
	if got := int64s(t, q.GetColumn("id")); len(got) != 5 {
		t.Fatalf("Query over TLS: ids %v, want 0..4", got)
	}
	if err := c.DropCollection(ctx, milvusclient.NewDropCollectionOption(coll)); err != nil {
		t.Fatalf("DropCollection over TLS: %v", err)
	}

	t.Run("plaintext", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := milvusclient.New(cctx, &milvusclient.ClientConfig{Address: s.EdgeAddr, Username: "root", Password: "Milvus"})
		t.Logf("plaintext SDK client: %v", err)
		if err == nil || !strings.Contains(err.Error(), "this port requires TLS") {
			t.Fatalf("want the edge's reason, got %v", err)
		}
	})
}
