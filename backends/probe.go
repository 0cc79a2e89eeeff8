package backends

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Prober calls one endpoint at a time — not a cluster, as Pool does — for
// the look-aside weights: one client connection per (cluster, endpoint),
// dialled with the cluster's TLS as Pool dials it, kept between probes.
type Prober struct {
	// mu guards the fields below.
	mu     sync.Mutex
	conns  map[[2]string]*probeConn
	closed bool
}

type probeConn struct {
	tls    *TLS
	conn   *grpc.ClientConn
	client milvuspb.MilvusServiceClient
	err    error
}

// NewProber returns a prober with no connections yet.
func NewProber() *Prober { return &Prober{conns: map[[2]string]*probeConn{}} }

// Probe sends CheckHealth to one endpoint of a cluster, with the
// authorization value auth when it is not "", and returns how long the
// answer took. An error, or an answer that says the backend is not healthy,
// is an error.
func (p *Prober) Probe(ctx context.Context, cluster, endpoint string, t *TLS, auth string) (time.Duration, error) {
	c, err := p.conn(cluster, endpoint, t)
	if err != nil {
		return 0, err
	}
	if auth != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", auth)
	}
	start := time.Now()
	resp, err := c.CheckHealth(ctx, &milvuspb.CheckHealthRequest{})
	d := time.Since(start)
	if err != nil {
		if refusedAnswer(err) {
			return d, nil
		}
		return d, err
	}
	if st := resp.GetStatus(); st.GetCode() != 0 || st.GetErrorCode() != 0 {
		return d, fmt.Errorf("CheckHealth: code %d: %s", max(st.GetCode(), int32(st.GetErrorCode())), st.GetReason())
	}
	if !resp.GetIsHealthy() {
		return d, fmt.Errorf("CheckHealth: not healthy: %v", resp.GetReasons())
	}
	return d, nil
}

func (p *Prober) conn(cluster, endpoint string, t *TLS) (milvuspb.MilvusServiceClient, error) {
	k := [2]string{cluster, endpoint}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	c := p.conns[k]
	if c != nil && !c.tls.equal(t) {
		c.close()
		c = nil
	}
	if c == nil {
		c = dialEndpoint(endpoint, t)
		p.conns[k] = c
	}
	return c.client, c.err
}

// dialEndpoint makes a lazy connection to one endpoint.
func dialEndpoint(endpoint string, t *TLS) *probeConn {
	conn, err := newClient("probe", "passthrough:///"+endpoint, t)
	if err != nil {
		return &probeConn{tls: t, err: err}
	}
	return &probeConn{tls: t, conn: conn, client: milvuspb.NewMilvusServiceClient(conn)}
}

func (c *probeConn) close() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// Retain closes the connections of endpoints not in keep (cluster → endpoints).
func (p *Prober) Retain(keep map[string][]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, c := range p.conns {
		if !slices.Contains(keep[k[0]], k[1]) {
			c.close()
			delete(p.conns, k)
		}
	}
}

// Close closes every connection; later probes fail with ErrClosed.
func (p *Prober) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.close()
	}
	p.conns, p.closed = nil, true
}

// refusedAnswer says the endpoint answered the probe with a refusal — no
// credential (an auth-on Milvus behind a passthrough cluster without one),
// no right, or no CheckHealth (an old or partial backend): the server is up
// and its answer time is its latency, as for the health checks' liveness
// rule (docs/health.md). Counting these as errors would hold back every
// endpoint of such a cluster alike and flatten its configured weights.
func refusedAnswer(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented:
		return true
	}
	return false
}
