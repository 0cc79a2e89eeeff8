package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// helloRecorder is a TLS server that records each ClientHello's SNI and
// ALPN and presents a certificate from a CA nobody trusts, so every
// handshake fails after the hello.
type helloRecorder struct {
	addr string
	mu   sync.Mutex
	sni  []string
	alpn [][]string
}

func startHelloRecorder(t *testing.T) *helloRecorder {
	t.Helper()
	ca := testenv.NewCA(t, "impostor CA")
	cert, key := ca.Issue(t, "impostor", testenv.ServerLeaf())
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	r := &helloRecorder{}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			r.mu.Lock()
			r.sni, r.alpn = append(r.sni, h.ServerName), append(r.alpn, slices.Clone(h.SupportedProtos))
			r.mu.Unlock()
			return nil, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	r.addr = l.Addr().String()
	return r
}

func (r *helloRecorder) hellos() (sni []string, alpn [][]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sni), slices.Clone(r.alpn)
}

// TestBackendTLS runs the edge in front of two real Milvus 2.3.5
// standalones it launches with Milvus's own TLS — tlsMode 1 (server TLS)
// and tlsMode 2 (mutual TLS, client certificate required, TLS 1.3 only) —
// and checks that Envoy and the edge's schema fills reach both over TLS,
// that the ports really speak only TLS, and that trust failures are clear.
func TestBackendTLS(t *testing.T) {
	start := time.Now()
	testenv.Setup(t)
	ca, other := testenv.NewCA(t, "milvus CA"), testenv.NewCA(t, "another CA")
	srvCert, srvKey := ca.Issue(t, "milvus", testenv.ServerLeaf()) // localhost, 127.0.0.1
	edgeCert, edgeKey := ca.Issue(t, "edge", testenv.Leaf{CN: "milvus-edge", Client: true})
	dir := t.TempDir()
	pw := filepath.Join(dir, "root-password")
	if err := os.WriteFile(pw, []byte("Milvus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := startHelloRecorder(t)
	m1, m2 := testenv.FreeAddr(t), testenv.FreeAddr(t)
	p := testenv.NewPorts(t)
	cred := fmt.Sprintf("credential: {user: root, password_file: %s}", pw)
	cfg := p.ConfigHead() + fmt.Sprintf(`launch:
  milvus_standalone:
    - {address: %[1]s, data_dir: %[3]s/m1, authorization: true,
       tls: {mode: 1, cert_file: %[4]s, key_file: %[5]s, ca_file: %[6]s}}
    - {address: %[2]s, data_dir: %[3]s/m2, authorization: true,
       tls: {mode: 2, cert_file: %[4]s, key_file: %[5]s, ca_file: %[6]s, client_cert_file: %[7]s, client_key_file: %[8]s}}
clusters:
  - name: mode1           # SNI and DNS SAN localhost
    endpoints: [{address: %[1]s}]
    tls: {ca_file: %[6]s, server_name: localhost}
    %[9]s
  - name: mode2           # the endpoint's IP as IP SAN; the edge's client certificate
    endpoints: [{address: %[2]s}]
    tls: {ca_file: %[6]s, cert_file: %[7]s, key_file: %[8]s}
    %[9]s
  - name: wrongca         # the mode 1 standalone, trusted through the wrong CA
    endpoints: [{address: %[1]s}]
    tls: {ca_file: %[10]s, server_name: localhost}
    %[9]s
  - name: nocert          # the mode 2 standalone without a client certificate
    endpoints: [{address: %[2]s}]
    tls: {ca_file: %[6]s}
  - name: hello           # records what Envoy offers in its ClientHello
    rest: true
    endpoints: [{address: %[11]s}]
    tls: {ca_file: %[6]s, server_name: milvus.internal}
    # Its checks never pass (every handshake fails): panic mode at 100 %%
    # still sends the calls, so both the checks' and the calls' hellos come.
    health: {panic_threshold: 100}
routes:
  - {collection: "m2_*", cluster: mode2}
  - {collection: "bad_*", cluster: wrongca}
  - {collection: "nocert_*", cluster: nocert}
  - {collection: "hello_*", cluster: hello}
  - {cluster: mode1}
`, m1, m2, dir, srvCert, srvKey, ca.CertFile, edgeCert, edgeKey, cred, other.CertFile, rec.addr)
	e := testenv.Run(t, cfg, p)
	t.Logf("two TLS standalones and the edge ready in %s", time.Since(start).Round(time.Millisecond))

	c := testenv.Client(t, e.Ports.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 60*time.Second)
	defer cancel()

	t.Run("plaintext to the standalones fails", func(t *testing.T) {
		for _, addr := range []string{m1, m2} {
			pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := testenv.Client(t, addr).GetVersion(pctx, &milvuspb.GetVersionRequest{})
			pcancel()
			if status.Code(err) != codes.Unavailable {
				t.Errorf("plaintext GetVersion at %s: %v, want UNAVAILABLE", addr, err)
			}
			t.Logf("plaintext to %s: %v", addr, err)
		}
	})
	for _, tc := range []struct{ cluster, coll string }{{"mode1", "m1_books"}, {"mode2", "m2_books"}} {
		t.Run("CRUD through the edge, "+tc.cluster, func(t *testing.T) {
			backendTLSCRUD(ctx, t, e, c, tc.cluster, tc.coll)
		})
	}
	t.Run("wrong CA: UNAVAILABLE, counted as a verify failure", func(t *testing.T) {
		before := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.wrongca.ssl.fail_verify_error")
		_, err := c.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: "bad_books"})
		// Both messages mean the upstream cannot be reached: "no healthy
		// upstream" once the cluster's health checks (which fail the same
		// handshake) have marked the endpoint, "remote connection failure"
		// when the call tried the handshake itself (after the route's
		// connect-failure retry Envoy's message names the reset, not the TLS
		// reason; its stats do).
		if status.Code(err) != codes.Unavailable ||
			!strings.Contains(err.Error(), "remote connection failure") && !strings.Contains(err.Error(), "no healthy upstream") {
			t.Fatalf("through a cluster with the wrong CA: %v, want UNAVAILABLE, remote connection failure or no healthy upstream", err)
		}
		// The checks (every second) or the call count the verify failure.
		var n int
		testenv.Eventually(t, 5*time.Second, "a verify failure counted", func() bool {
			n = testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.wrongca.ssl.fail_verify_error")
			return n > before
		})
		t.Logf("wrong CA: %v; cluster.wrongca.ssl.fail_verify_error %d → %d", err, before, n)
	})
	t.Run("a rotated CA file is used after a config reload", func(t *testing.T) {
		// The operator fixes wrongca's CA file in place, then the config
		// changes: Envoy and the schema fills both use the new contents.
		b, err := os.ReadFile(ca.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(other.CertFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		e.WriteConfig(t, cfg+"# CA rotated\n")
		took := testenv.Eventually(t, 10*time.Second, "wrongca reaches Milvus", func() bool {
			r, err := c.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: "bad_books"})
			return err == nil && r.GetStatus().GetCode() == 100 // Milvus's own collection not found
		})
		t.Logf("Envoy reaches Milvus through wrongca %s after the config changed", took)
		// The edge's own fill over the new CA finds no such collection, so
		// the edge answers an insert itself, with nothing sent upstream
		// (a fill that failed would let the call through to Milvus).
		const want = "collection not found[database=default][collection=bad_books]"
		var last *commonpb.Status
		took = testenv.Eventually(t, 5*time.Second, "the edge's fill over the rotated CA", func() bool {
			upstream := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.wrongca.upstream_rq_total")
			ins, err := c.Insert(ctx, insertRequest("bad_books", 1, 8))
			last = ins.GetStatus()
			return err == nil && last.GetCode() == 100 && strings.HasPrefix(last.GetReason(), want) &&
				testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.wrongca.upstream_rq_total") == upstream
		})
		t.Logf("the edge's schema fill uses the rotated CA %s after the config changed: %v", took, last)
	})
	t.Run("mode 2 without a client certificate: UNAVAILABLE", func(t *testing.T) {
		_, err := c.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: "nocert_books"})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("mode 2 without a client certificate: %v, want UNAVAILABLE", err)
		}
		t.Logf("no client certificate: %v", err)
	})
	t.Run("ClientHello: SNI, ALPN h2 for gRPC and health checks, http/1.1 for REST", func(t *testing.T) {
		// The health checks' hellos came before any call to hello.
		testenv.Eventually(t, 5*time.Second, "hello's health checks ran", func() bool {
			return testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.hello.health_check.failure") >= 1
		})
		_, err := c.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: "hello_books"})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("through the impostor: %v, want UNAVAILABLE", err)
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+e.Ports.Listener+"/v2/vectordb/collections/describe", strings.NewReader(`{"collectionName":"hello_books"}`))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("authorization", "Bearer root:Milvus")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sni, alpn := rec.hellos()
		t.Logf("ClientHellos: SNI %q, ALPN %q; REST answer %d", sni, alpn, resp.StatusCode)
		var sawH2, sawH1 bool
		for i := range sni {
			if sni[i] != "milvus.internal" {
				t.Errorf("SNI %q, want milvus.internal", sni[i])
			}
			sawH2 = sawH2 || slices.Equal(alpn[i], []string{"h2"})
			sawH1 = sawH1 || slices.Equal(alpn[i], []string{"http/1.1"})
			// Health checks (HTTP/2) offer h2 too: a gRPC server built with
			// recent grpc-go refuses a TLS client that does not negotiate it.
			if len(alpn[i]) == 0 {
				t.Errorf("hello %d offers no ALPN (a health check without h2?)", i)
			}
		}
		if !sawH2 || !sawH1 {
			t.Errorf("ALPN offers %q: want [h2] (gRPC) and [http/1.1] (REST)", alpn)
		}
	})
	t.Logf("whole test %s", time.Since(start).Round(time.Millisecond))
}

// backendTLSCRUD creates, fills, indexes, loads, searches, queries and drops
// a collection on a TLS cluster through the edge, and checks that the
// edge's schema fill reached the backend (over TLS) by refusing a bad-dim
// insert itself.
func backendTLSCRUD(ctx context.Context, t *testing.T, e *testenv.Edge, c milvuspb.MilvusServiceClient, cluster, coll string) {
	const dim = 8
	ok := func(what string, st *commonpb.Status, err error) {
		t.Helper()
		if err != nil || st.GetCode() != 0 || st.GetErrorCode() != commonpb.ErrorCode_Success {
			t.Fatalf("%s: %v %v", what, st, err)
		}
	}
	schema, _ := proto.Marshal(&schemapb.CollectionSchema{Name: coll, Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "8"}}},
	}})
	st, err := c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: coll, Schema: schema, ConsistencyLevel: commonpb.ConsistencyLevel_Strong})
	ok("CreateCollection", st, err)
	ins, err := c.Insert(ctx, insertRequest(coll, 10, dim))
	ok("Insert", ins.GetStatus(), err)
	if ins.GetInsertCnt() != 10 {
		t.Fatalf("inserted %d rows, want 10", ins.GetInsertCnt())
	}

	// The edge validates with the schema it filled over TLS: a bad-dim insert
	// is refused with the Milvus Proxy's code and words, and never sent.
	fills := schemaStats(t, e.Ports.Admin)
	upstream := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster."+cluster+".upstream_rq_total")
	bad, err := c.Insert(ctx, insertRequest(coll, 2, 2*dim))
	want := "the dim (16) of field data(vec) is not equal to schema dim (8)"
	if err != nil || bad.GetStatus().GetCode() != 1100 || !strings.Contains(bad.GetStatus().GetReason(), want) {
		t.Fatalf("bad-dim insert: %v %v, want code 1100 %q", bad.GetStatus(), err, want)
	}
	if n := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster."+cluster+".upstream_rq_total"); n != upstream {
		t.Errorf("the refused insert reached %s (%d requests)", cluster, n-upstream)
	}
	if fills["Fills"] < 1 || fills["FillErrors"] != 0 {
		t.Errorf("schema cache %v: want fills and no fill errors", fills)
	}

	st, err = c.CreateIndex(ctx, &milvuspb.CreateIndexRequest{CollectionName: coll, FieldName: "vec", ExtraParams: []*commonpb.KeyValuePair{
		{Key: "index_type", Value: "FLAT"}, {Key: "metric_type", Value: "L2"}, {Key: "params", Value: "{}"},
	}})
	ok("CreateIndex", st, err)
	st, err = c.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{CollectionName: coll})
	ok("LoadCollection", st, err)
	testenv.Eventually(t, 30*time.Second, coll+" loaded", func() bool {
		r, err := c.GetLoadState(ctx, &milvuspb.GetLoadStateRequest{CollectionName: coll})
		return err == nil && r.GetState() == commonpb.LoadState_LoadStateLoaded
	})
	sr, err := c.Search(ctx, searchRequest(coll, dim))
	ok("Search", sr.GetStatus(), err)
	if got := len(sr.GetResults().GetIds().GetIntId().GetData()); got != 3 {
		t.Errorf("search returned %d ids, want topk 3", got)
	}
	q, err := c.Query(ctx, &milvuspb.QueryRequest{CollectionName: coll, Expr: "id <= 4", OutputFields: []string{"id"}})
	ok("Query", q.GetStatus(), err)
	if fd := q.GetFieldsData(); len(fd) != 1 || len(fd[0].GetScalars().GetLongData().GetData()) != 4 {
		t.Errorf("query id <= 4 returned %v, want 4 ids", fd)
	}
	st, err = c.DropCollection(ctx, &milvuspb.DropCollectionRequest{CollectionName: coll})
	ok("DropCollection", st, err)
	if n := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster."+cluster+".ssl.handshake"); n < 1 {
		t.Errorf("cluster.%s.ssl.handshake = %d: no TLS handshake counted", cluster, n)
	}
}
