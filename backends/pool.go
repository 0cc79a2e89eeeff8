// Package backends talks to the Milvus deployments behind the edge: one gRPC
// client connection per QueryNode cluster, and the DescribeCollection family
// that fills the schema cache. It imports no other project package.
package backends

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// ErrUnknownCluster is returned for a cluster the pool has no endpoints for.
var ErrUnknownCluster = errors.New("unknown cluster")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("backend pool closed")

// resolverScheme is private to each connection (grpc.WithResolvers): the
// pool hands it the cluster's endpoints and updates them on reload.
const resolverScheme = "milvus-edge-cluster"

// dialOptions are shared by every cluster connection (dial adds the
// transport credentials: plaintext or the cluster's TLS).
var dialOptions = []grpc.DialOption{
	// Spread fills over the endpoints that are READY; a dead endpoint is
	// skipped while it reconnects in the background.
	grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
	// Ping only while calls are open, at most every 30 s: Milvus (MinTime
	// 5 s) and milvus-lite's Python gRPC (5 min without calls) answer
	// faster or idle pings with GOAWAY too_many_pings.
	grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	// A restarted backend is found again within seconds, not grpc's 120 s.
	grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
		MinConnectTimeout: 5 * time.Second,
	}),
}

// newClient makes a lazy client connection to target with dialOptions, the
// transport credentials for t (plaintext for nil) and extra; Pool and
// Prober both dial through it. A TLS error is returned as it is, grpc's
// prefixed with "<who> client: ".
func newClient(who, target string, t *TLS, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds, err := t.credentials()
	if err != nil {
		return nil, err
	}
	opts := append(slices.Clip(dialOptions), extra...)
	conn, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(creds))...)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", who, err)
	}
	return conn, nil
}

// Pool holds one client connection per cluster.
type Pool struct {
	creds func(cluster string) string

	mu       sync.RWMutex
	clusters map[string]*cluster
	closed   bool
}

type cluster struct {
	err       error    // the connection could not be made (see dial)
	endpoints []string // sorted
	tls       *TLS     // as dialled; a change makes a new connection
	res       *manual.Resolver
	conn      *grpc.ClientConn
	client    milvuspb.MilvusServiceClient
}

// Target is where one cluster's calls go.
type Target struct {
	// Endpoints are host:port addresses.
	Endpoints []string
	// TLS dials the endpoints over TLS; nil for plaintext.
	TLS *TLS
}

// TLS is how a cluster's endpoints are dialled over TLS: the CA, name and
// client certificate Envoy uses for the same cluster.
type TLS struct {
	// ServerName is the name the endpoints' certificates must hold, and the SNI.
	ServerName string
	// CA is the PEM bundle the endpoints' certificates are verified against.
	CA []byte
	// Cert and Key are the PEM client certificate chain and key (Milvus
	// tlsMode 2); nil for none.
	Cert, Key []byte
}

func (t *TLS) equal(o *TLS) bool {
	if t == nil || o == nil {
		return t == o
	}
	return t.ServerName == o.ServerName && bytes.Equal(t.CA, o.CA) && bytes.Equal(t.Cert, o.Cert) && bytes.Equal(t.Key, o.Key)
}

// credentials returns the transport credentials for t: plaintext for nil.
func (t *TLS) credentials() (credentials.TransportCredentials, error) {
	if t == nil {
		return insecure.NewCredentials(), nil
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(t.CA) {
		return nil, errors.New("backend TLS: no certificate in the CA")
	}
	// grpc adds ALPN h2; Go offers TLS 1.3, which Milvus's tlsMode 2 requires.
	cfg := &tls.Config{RootCAs: roots, ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if len(t.Cert) > 0 {
		pair, err := tls.X509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("backend TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

// NewPool returns a pool for targets (cluster → endpoints and TLS). creds
// returns the authorization header value for a cluster, or "" for none; it
// is asked on every call, so credential reloads apply at once. Connections
// are made lazily, on a cluster's first call.
func NewPool(targets map[string]Target, creds func(cluster string) string) *Pool {
	if creds == nil {
		creds = func(string) string { return "" }
	}
	p := &Pool{creds: creds, clusters: map[string]*cluster{}}
	p.Update(targets)
	return p
}

// Update applies a config reload: new clusters get a connection, changed
// endpoint lists are handed to the existing connection (calls in flight
// finish), a changed TLS (a rotated CA or client certificate) gets a new
// connection, and removed clusters (or ones left without endpoints) are
// closed.
func (p *Pool) Update(targets map[string]Target) {
	var stale []*cluster
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	for name, c := range p.clusters {
		if t := targets[name]; len(t.Endpoints) == 0 || !c.tls.equal(t.TLS) {
			stale = append(stale, c)
			delete(p.clusters, name)
		}
	}
	for name, t := range targets {
		if len(t.Endpoints) == 0 {
			continue
		}
		eps := slices.Sorted(slices.Values(t.Endpoints))
		if c := p.clusters[name]; c != nil && c.err == nil {
			if !slices.Equal(c.endpoints, eps) {
				c.endpoints = eps
				c.res.UpdateState(resolverState(eps))
			}
			continue
		}
		p.clusters[name] = dial(eps, t.TLS)
	}
	p.mu.Unlock()
	for _, c := range stale {
		c.close()
	}
}

func (c *cluster) close() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// dial makes a lazy connection (no I/O until the first call). It fails only
// on a bad target, options or TLS material (which the config has checked);
// the error is kept for the cluster's calls rather than dropped.
func dial(eps []string, t *TLS) *cluster {
	res := manual.NewBuilderWithScheme(resolverScheme)
	res.InitialState(resolverState(eps))
	conn, err := newClient("backend", resolverScheme+":///milvus", t, grpc.WithResolvers(res))
	if err != nil {
		return &cluster{err: err, tls: t}
	}
	return &cluster{endpoints: eps, tls: t, res: res, conn: conn, client: milvuspb.NewMilvusServiceClient(conn)}
}

func resolverState(eps []string) resolver.State {
	s := resolver.State{Endpoints: make([]resolver.Endpoint, len(eps))}
	for i, ep := range eps {
		s.Endpoints[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: ep}}}
	}
	return s
}

// client returns the cluster's client and the outgoing context for a call in
// db: the dbname header (Milvus reads it when db_name is empty, milvus-lite
// too) and the cluster's credential.
func (p *Pool) client(ctx context.Context, name, db string) (milvuspb.MilvusServiceClient, context.Context, error) {
	p.mu.RLock()
	closed, c := p.closed, p.clusters[name]
	p.mu.RUnlock()
	switch {
	case closed:
		return nil, nil, ErrClosed
	case c == nil:
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownCluster, name)
	case c.err != nil:
		return nil, nil, c.err
	}
	kv := make([]string, 0, 4)
	if db != "" {
		kv = append(kv, "dbname", db)
	}
	if a := p.creds(name); a != "" {
		kv = append(kv, "authorization", a)
	}
	if len(kv) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}
	return c.client, ctx, nil
}

// Close closes every connection; calls in flight fail with Canceled.
func (p *Pool) Close() {
	p.mu.Lock()
	cs := p.clusters
	p.clusters, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}
