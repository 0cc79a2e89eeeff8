package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/milvus-edge/milvus-edge/discovery"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// discoveryConfig is one cluster "default" discovered from etcd (root path
// root, client port port) with static as its fallback endpoint; extra is
// more of the cluster's fields (indented by 4).
func discoveryConfig(p testenv.Ports, etcd, root string, port int, static, extra string) string {
	return p.ConfigHead() + fmt.Sprintf(`clusters:
  - name: default
    rest: false
    endpoints: [{address: %s}]
    discovery:
      etcd: {endpoints: [%s], root_path: %s, client_port: %d}
%sroutes:
  - name: default
    cluster: default
`, static, etcd, root, port, extra)
}

// discoveryStatus reads GET /v1/status's discovery section for cluster.
func discoveryStatus(t *testing.T, admin, cluster string) discovery.ClusterStatus {
	t.Helper()
	var body struct {
		Discovery discovery.Status `json:"discovery"`
	}
	if err := json.Unmarshal([]byte(testenv.AdminGet(t, admin, "/v1/status")), &body); err != nil {
		t.Fatalf("/v1/status: %v", err)
	}
	for _, c := range body.Discovery.Clusters {
		if c.Cluster == cluster {
			return c
		}
	}
	t.Fatalf("/v1/status has no discovery for cluster %q: %+v", cluster, body.Discovery)
	return discovery.ClusterStatus{}
}

func etcdClient(t *testing.T, addr string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// proxySession returns the one proxy session the Milvus standalone wrote
// under its etcd root path by-dev.
func proxySession(t *testing.T, ctx context.Context, cli *clientv3.Client) *mvccpb.KeyValue {
	t.Helper()
	resp, err := cli.Get(ctx, "by-dev/meta/session/proxy-", clientv3.WithPrefix())
	must(t, err)
	if len(resp.Kvs) != 1 {
		t.Fatalf("the standalone has %d proxy sessions, want 1", len(resp.Kvs))
	}
	return resp.Kvs[0]
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, ps, err := net.SplitHostPort(addr)
	must(t, err)
	port, err := strconv.Atoi(ps)
	must(t, err)
	return port
}

// milvusSession registers a proxy session the way Milvus 2.3.5's
// sessionutil does: a ServerID taken from <root>/meta/session/id (compare
// and swap), a lease of the session TTL kept alive, and the JSON written
// under <root>/meta/session/proxy-<id> only if the key does not exist yet.
// like is a real session's JSON whose fields are kept; Address, ServerID and
// LeaseID are replaced. It returns the key and the lease.
func milvusSession(t *testing.T, ctx context.Context, cli *clientv3.Client, root string, like []byte, address string, ttl int64) (string, clientv3.LeaseID) {
	t.Helper()
	idKey := root + "/meta/session/id"
	_, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(idKey), "=", 0)).Then(clientv3.OpPut(idKey, "1")).Commit()
	must(t, err)
	var id int64
	for {
		resp, err := cli.Get(ctx, idKey)
		must(t, err)
		v := string(resp.Kvs[0].Value)
		id, err = strconv.ParseInt(v, 10, 64)
		must(t, err)
		txn, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(idKey), "=", v)).
			Then(clientv3.OpPut(idKey, strconv.FormatInt(id+1, 10))).Commit()
		must(t, err)
		if txn.Succeeded {
			break
		}
	}
	lease, err := cli.Grant(ctx, ttl)
	must(t, err)
	var s map[string]any
	must(t, json.Unmarshal(like, &s))
	s["ServerID"], s["Address"], s["LeaseID"] = id, address, int64(lease.ID)
	value, err := json.Marshal(s)
	must(t, err)
	key := fmt.Sprintf("%s/meta/session/proxy-%d", root, id)
	txn, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Version(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), clientv3.WithLease(lease.ID))).Commit()
	must(t, err)
	if !txn.Succeeded {
		t.Fatalf("session key %s exists", key)
	}
	kctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ka, err := cli.KeepAlive(kctx, lease.ID)
	must(t, err)
	go func() {
		for range ka {
		}
	}()
	t.Logf("registered %s = %s (lease %x, ttl %ds)", key, value, lease.ID, ttl)
	return key, lease.ID
}

// drained waits until Envoy sends host no new call: the host has left the
// cluster, or its request count stays still while the load goes on.
func drained(t *testing.T, envoyAdmin, host string, load *testenv.Load, limit time.Duration) time.Duration {
	t.Helper()
	last, lastOK := -2, 0
	return testenv.Eventually(t, limit, host+" drained", func() bool {
		n := testenv.HostStat(t, envoyAdmin, "default", host, "rq_total")
		ok := load.OK()
		still := n == -1 || (n == last && ok > lastOK+20)
		if n != last {
			last, lastOK = n, ok
		}
		return still
	})
}

// takesTraffic waits until host's request count grows under the load.
func takesTraffic(t *testing.T, envoyAdmin, host string, limit time.Duration) time.Duration {
	t.Helper()
	n0 := max(0, testenv.HostStat(t, envoyAdmin, "default", host, "rq_total"))
	return testenv.Eventually(t, limit, host+" takes traffic", func() bool {
		return testenv.HostStat(t, envoyAdmin, "default", host, "rq_total") > n0+10
	})
}

// TestDiscoveryFromMilvusSessions: a cluster takes its endpoints from the
// proxy sessions of a real Milvus 2.3.5 standalone's etcd. First the
// standalone's own session (its internal address mapped to the client
// port) replaces the static endpoint; then, on another root path of the same
// etcd, a session written as Milvus writes it for a milvus-lite takes traffic
// within 5 s, its lease revoked drains it within 5 s (the static endpoint
// serves again), registered again it takes traffic, marked Stopping (Milvus's
// graceful stop) it drains; no call of the 4-client load fails.
func TestDiscoveryFromMilvusSessions(t *testing.T) {
	testenv.Setup(t)
	st := testenv.MilvusStandalone(t)
	lite := testenv.MilvusLite(t)
	_, clientPortS, _ := net.SplitHostPort(st.Addr)
	clientPort, _ := strconv.Atoi(clientPortS)
	litePort := portOf(t, lite)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// What Milvus wrote: the standalone's proxy session.
	cli := etcdClient(t, st.EtcdAddr)
	real := proxySession(t, ctx, cli)
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(real.Lease))
	must(t, err)
	t.Logf("Milvus's proxy session: %s = %s (lease %x, granted ttl %ds)", real.Key, real.Value, real.Lease, ttl.GrantedTTL)
	var sess discovery.Session
	must(t, json.Unmarshal(real.Value, &sess))
	host, internalPort, err := net.SplitHostPort(sess.Address)
	must(t, err)
	if internalPort == clientPortS {
		t.Fatalf("the session's address %s has the client port; expected the proxy's internal port", sess.Address)
	}
	t.Logf("the session holds the proxy's internal address %s; the client port is %d", sess.Address, clientPort)
	discovered := net.JoinHostPort(host, clientPortS)

	// The standalone has authentication on: the cluster's credential goes
	// with the edge's schema fills and probes (Envoy's health checks need
	// none: any answer to GetVersion is alive); milvus-lite ignores it. Clients' calls pass their own (passthrough).
	pw := t.TempDir() + "/password"
	testenv.WriteFile(t, pw, st.Password)
	cred := fmt.Sprintf("    credential: {user: %s, password_file: %s}\n", st.User, pw)
	p := testenv.NewPorts(t)
	e := testenv.Run(t, discoveryConfig(p, st.EtcdAddr, "by-dev", clientPort, st.Addr, cred), p)
	load := testenv.StartLoad(t, p.Listener, 4)

	took := testenv.Eventually(t, 5*time.Second, "the standalone's session discovered", func() bool {
		s := discoveryStatus(t, p.Admin, "default")
		return s.Connected && !s.UsingFallback && len(s.Endpoints) == 1 && s.Endpoints[0] == discovered
	})
	t.Logf("the standalone's own session in use after %s: %+v", took, discoveryStatus(t, p.Admin, "default"))
	took = takesTraffic(t, p.EnvoyAdmin, discovered, 5*time.Second)
	t.Logf("discovered endpoint %s takes traffic (%s)", discovered, took)

	// Another root path in the same etcd, as a second deployment would
	// have: no session there yet, so the static endpoint serves.
	const root = "edge-it"
	e.WriteConfig(t, discoveryConfig(p, st.EtcdAddr, root, litePort, st.Addr, cred))
	took = testenv.Eventually(t, 5*time.Second, "fallback to the static endpoint", func() bool {
		s := discoveryStatus(t, p.Admin, "default")
		return s.Connected && s.UsingFallback && len(s.Sessions) == 0 && testenv.HostStat(t, p.EnvoyAdmin, "default", discovered, "rq_total") == -1
	})
	t.Logf("root path %s without sessions: static endpoint %s in use after %s", root, st.Addr, took)
	takesTraffic(t, p.EnvoyAdmin, st.Addr, 5*time.Second)

	// A proxy session pointing at the milvus-lite (host 127.0.0.1; the
	// internal port is not called: client_port maps it to the lite's port).
	start := time.Now()
	_, lease := milvusSession(t, ctx, cli, root, real.Value, "127.0.0.1:19529", ttl.GrantedTTL)
	takesTraffic(t, p.EnvoyAdmin, lite, 5*time.Second)
	t.Logf("session added → %s takes traffic after %s", lite, time.Since(start).Round(time.Millisecond))
	if s := discoveryStatus(t, p.Admin, "default"); s.UsingFallback || len(s.Endpoints) != 1 || s.Endpoints[0] != lite {
		t.Fatalf("status after the session was added: %+v", s)
	}
	drained(t, p.EnvoyAdmin, st.Addr, load, 6*time.Second)
	t.Logf("static endpoint %s a standby (draining) %s after the session was added (handover: 2 health-check intervals + timeout)", st.Addr, time.Since(start).Round(time.Millisecond))

	// The edge's own calls follow the discovered endpoints: an insert into a
	// collection that only the milvus-lite has is validated against the
	// schema the edge fetched from it (had the fill gone to the standalone,
	// the edge would answer CollectionNotFound).
	rootCtx := testenv.Root(ctx)
	createVectorCollection(rootCtx, t, testenv.Client(t, lite), "discovered_only", 8)
	ins, err := testenv.Client(t, p.Listener).Insert(rootCtx, insertRequest("discovered_only", 3, 8))
	if err != nil || ins.GetStatus().GetCode() != 0 || ins.GetInsertCnt() != 3 {
		t.Fatalf("insert through the edge into the discovered backend's collection: %v %v", ins.GetStatus(), err)
	}
	var stats struct {
		SchemaCache struct{ Fills, FillErrors, FailHits uint64 } `json:"schema_cache"`
	}
	must(t, json.Unmarshal([]byte(testenv.AdminGet(t, p.Admin, "/v1/status")), &stats))
	if sc := stats.SchemaCache; sc.Fills == 0 || sc.FillErrors != 0 || sc.FailHits != 0 {
		t.Fatalf("schema fills: %+v, want them from the discovered milvus-lite without errors", sc)
	}
	t.Logf("schema fill from the discovered endpoint: %+v", stats.SchemaCache)

	// The lease revoked (Milvus's Session.Stop): the session is gone.
	start = time.Now()
	_, err = cli.Revoke(ctx, lease)
	must(t, err)
	d := drained(t, p.EnvoyAdmin, lite, load, 5*time.Second)
	t.Logf("lease revoked → %s drained after %s (static endpoint serves again)", lite, d)
	takesTraffic(t, p.EnvoyAdmin, st.Addr, 5*time.Second)

	// Registered again, then marked Stopping as Milvus's GoingStop does.
	start = time.Now()
	key, lease := milvusSession(t, ctx, cli, root, real.Value, "127.0.0.1:19529", ttl.GrantedTTL)
	takesTraffic(t, p.EnvoyAdmin, lite, 5*time.Second)
	t.Logf("registered again → %s takes traffic after %s", lite, time.Since(start).Round(time.Millisecond))
	cur, err := cli.Get(ctx, key)
	must(t, err)
	var s map[string]any
	must(t, json.Unmarshal(cur.Kvs[0].Value, &s))
	s["Stopping"] = true
	v, _ := json.Marshal(s)
	start = time.Now()
	_, err = cli.Put(ctx, key, string(v), clientv3.WithLease(lease))
	must(t, err)
	d = drained(t, p.EnvoyAdmin, lite, load, 5*time.Second)
	t.Logf("session marked Stopping → %s drained after %s", lite, d)
	if s := discoveryStatus(t, p.Admin, "default"); !s.UsingFallback || len(s.Sessions) != 1 || !s.Sessions[0].Stopping {
		t.Fatalf("status with a stopping session: %+v", s)
	}

	// A session whose host is a name: the edge resolves it, and its
	// address comes by EDS with the name as the host's hostname.
	start = time.Now()
	_, lease = milvusSession(t, ctx, cli, root, real.Value, "localhost:19529", ttl.GrantedTTL)
	took = takesTraffic(t, p.EnvoyAdmin, lite, 5*time.Second)
	if !strings.Contains(testenv.AdminGet(t, p.EnvoyAdmin, "/clusters"), "default::"+lite+"::hostname::localhost") {
		t.Fatalf("the discovered name is not a host with its hostname:\n%s", testenv.AdminGet(t, p.EnvoyAdmin, "/clusters"))
	}
	t.Logf("session with host name localhost → %s (resolved by the edge) takes traffic after %s", lite, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	_, err = cli.Revoke(ctx, lease)
	must(t, err)
	d = drained(t, p.EnvoyAdmin, lite, load, 5*time.Second)
	t.Logf("its lease revoked → drained after %s", d)
	takesTraffic(t, p.EnvoyAdmin, st.Addr, 5*time.Second)

	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load: %d ok, %d failed", ok, fail)
	if fail != 0 || ok == 0 {
		t.Fatalf("load: %d ok, %d failed (first: %v)", ok, fail, firstErr)
	}
}

// TestDiscoveryEtcdUnreachable: with etcd unreachable from the start the
// static endpoint serves, and the status says so.
func TestDiscoveryEtcdUnreachable(t *testing.T) {
	testenv.Setup(t)
	lite := testenv.MilvusLite(t)
	etcd := testenv.FreeAddr(t) // nothing listens there
	p := testenv.NewPorts(t)
	testenv.Run(t, discoveryConfig(p, etcd, "by-dev", 19530, lite, ""), p)
	load := testenv.StartLoad(t, p.Listener, 4)
	takesTraffic(t, p.EnvoyAdmin, lite, 5*time.Second)
	took := testenv.Eventually(t, 10*time.Second, "the etcd error in the status", func() bool {
		return discoveryStatus(t, p.Admin, "default").LastError != ""
	})
	s := discoveryStatus(t, p.Admin, "default")
	t.Logf("status after %s: %+v", took, s)
	if s.Connected || !s.UsingFallback || len(s.Endpoints) != 1 || s.Endpoints[0] != lite || !strings.Contains(s.Source, etcd) {
		t.Fatalf("status with etcd unreachable: %+v", s)
	}
	load.Stop()
	if ok, fail, firstErr := load.Result(); fail != 0 || ok == 0 {
		t.Fatalf("load: %d ok, %d failed (first: %v)", ok, fail, firstErr)
	}
}

// cuttableLink is a test fixture, a fake network link (named as such): a
// TCP forwarder in front of the real etcd that can be cut (every connection
// closed, new ones closed at once) and restored on the same address, since
// the standalone's embedded etcd cannot be stopped alone.
type cuttableLink struct {
	Addr   string
	target string
	lis    net.Listener
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newCuttableLink(t *testing.T, target string) *cuttableLink {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	l := &cuttableLink{Addr: lis.Addr().String(), target: target, lis: lis, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { lis.Close(); l.setCut(true) })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go l.serve(c)
		}
	}()
	return l
}

func (l *cuttableLink) serve(c net.Conn) {
	l.mu.Lock()
	if l.cut {
		l.mu.Unlock()
		c.Close()
		return
	}
	l.mu.Unlock()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	l.mu.Lock()
	l.conns[c], l.conns[up] = true, true
	l.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// setCut cuts the link (closing every connection) or restores it.
func (l *cuttableLink) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
		clear(l.conns)
	}
}

// TestDiscoveryEtcdOutage: etcd becomes unreachable while a discovered
// endpoint serves (the link to it cut: a fake network in front of the real
// etcd). The outage shows in the status within seconds, the discovered
// endpoint keeps serving for keep_last_for, then the static endpoint takes
// over; the link restored, the session is read again and its endpoint serves
// again. No call of the load fails.
func TestDiscoveryEtcdOutage(t *testing.T) {
	testenv.Setup(t)
	st := testenv.MilvusStandalone(t)
	lite := testenv.MilvusLite(t)
	litePort := portOf(t, lite)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := etcdClient(t, st.EtcdAddr)
	const root, keep = "edge-outage", 3 * time.Second
	milvusSession(t, ctx, cli, root, proxySession(t, ctx, cli).Value, "127.0.0.1:19529", 30)

	link := newCuttableLink(t, st.EtcdAddr)
	pw := t.TempDir() + "/password"
	testenv.WriteFile(t, pw, st.Password)
	extra := fmt.Sprintf("    credential: {user: %s, password_file: %s}\n", st.User, pw)
	p := testenv.NewPorts(t)
	cfg := strings.Replace(discoveryConfig(p, link.Addr, root, litePort, st.Addr, extra),
		"client_port: ", fmt.Sprintf("keep_last_for: %s, client_port: ", keep), 1)
	testenv.Run(t, cfg, p)
	load := testenv.StartLoad(t, p.Listener, 4)
	takesTraffic(t, p.EnvoyAdmin, lite, 5*time.Second)
	drained(t, p.EnvoyAdmin, st.Addr, load, 6*time.Second) // the handover over

	start := time.Now()
	link.setCut(true)
	seen := testenv.Eventually(t, 10*time.Second, "the outage in the status", func() bool {
		return !discoveryStatus(t, p.Admin, "default").Connected
	})
	s := discoveryStatus(t, p.Admin, "default")
	t.Logf("link to etcd cut → status disconnected after %s (%q); endpoints %v, using_fallback %v", seen, s.LastError, s.Endpoints, s.UsingFallback)
	if s.UsingFallback {
		t.Fatalf("the last discovered endpoints must serve for keep_last_for (%s): %+v", keep, s)
	}
	takesTraffic(t, p.EnvoyAdmin, st.Addr, 10*time.Second)
	fellBack := time.Since(start)
	if s := discoveryStatus(t, p.Admin, "default"); !s.UsingFallback {
		t.Fatalf("the static endpoint takes traffic but the status says %+v", s)
	}
	d := drained(t, p.EnvoyAdmin, lite, load, 5*time.Second)
	t.Logf("static endpoint serves %s after the cut (the outage seen after %s + keep_last_for %s); the discovered one drained %s later", fellBack.Round(time.Millisecond), seen.Round(time.Millisecond), keep, d)

	start = time.Now()
	link.setCut(false)
	back := testenv.Eventually(t, 15*time.Second, "etcd read again", func() bool {
		s := discoveryStatus(t, p.Admin, "default")
		return s.Connected && !s.UsingFallback
	})
	took := takesTraffic(t, p.EnvoyAdmin, lite, 5*time.Second)
	t.Logf("link restored → sessions read again after %s (reconnect backoff ≤ 5 s), the discovered endpoint takes traffic %s later", back.Round(time.Millisecond), took.Round(time.Millisecond))

	load.Stop()
	ok, fail, firstErr := load.Result()
	t.Logf("load: %d ok, %d failed", ok, fail)
	if fail != 0 || ok == 0 {
		t.Fatalf("load: %d ok, %d failed (first: %v)", ok, fail, firstErr)
	}
}
