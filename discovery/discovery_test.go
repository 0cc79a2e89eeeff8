package discovery

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// realSession is what Milvus 2.3.5's proxy wrote in the standalone's etcd.
const realSession = `{"ServerID":1,"ServerName":"proxy","Address":"192.0.2.2:31857","TriggerKill":true,"Version":"2.3.5","IndexEngineVersion":{},"LeaseID":8552232549398972806,"HostName":"vm"}`

func TestParseSessionAndClientAddress(t *testing.T) {
	s, err := parseSession([]byte(realSession))
	if err != nil {
		t.Fatal(err)
	}
	if s.ServerID != 1 || s.ServerName != "proxy" || s.Address != "192.0.2.2:31857" || s.Stopping || s.Version != "2.3.5" {
		t.Fatalf("parsed %+v", s)
	}
	for _, c := range []struct {
		name, addr string
		port       int
		want       string
		bad        bool
	}{
		{"client port replaces the internal one", "192.0.2.2:19529", 19530, "192.0.2.2:19530", false},
		{"port 0 keeps the session's", "192.0.2.2:19529", 0, "192.0.2.2:19529", false},
		{"a host name", "proxy-0.milvus:19529", 19530, "proxy-0.milvus:19530", false},
		{"ipv6", "[fd00::1]:19529", 19530, "[fd00::1]:19530", false},
		{"no port", "192.0.2.2", 19530, "", true},
		{"bad port", "192.0.2.2:x", 0, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := clientAddress(Session{Address: c.addr}, c.port)
			if (err != nil) != c.bad || got != c.want {
				t.Fatalf("clientAddress(%q, %d) = %q, %v; want %q (error %v)", c.addr, c.port, got, err, c.want, c.bad)
			}
		})
	}
	for _, bad := range []string{`not json`, `{"ServerID":3}`} {
		if _, err := parseSession([]byte(bad)); err == nil {
			t.Errorf("parseSession(%s) accepted", bad)
		}
	}
}

func TestEndpointsOfSkipsStoppingAndDuplicates(t *testing.T) {
	got := endpointsOf(map[string]Session{
		"proxy-3": {Address: "10.0.0.3:19529"},
		"proxy-1": {Address: "10.0.0.1:19529"},
		"proxy-2": {Address: "10.0.0.2:19529", Stopping: true},
		"proxy-4": {Address: "10.0.0.1:19529"}, // a restart before the old lease lapsed
	}, 19530)
	if want := []string{"10.0.0.1:19530", "10.0.0.3:19530"}; !slices.Equal(got, want) {
		t.Fatalf("endpoints %v, want %v", got, want)
	}
}

// testWatcher is a watcher with a fake clock and a change counter, not running.
func testWatcher(static []string, keep, handover time.Duration) (*watcher, *time.Time, *int) {
	now := time.Unix(1000, 0)
	changes := 0
	src := config.EtcdDiscovery{Endpoints: []string{"127.0.0.1:2379"}, RootPath: "by-dev", MetaSubPath: "meta", KeepLastFor: config.Duration(keep)}
	w := newWatcher(slog.New(slog.NewTextHandler(io.Discard, nil)), "c", src, static, handover, func() { changes++ })
	w.now = func() time.Time { return now }
	return w, &now, &changes
}

func kv(key, value string) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value)}
}

func TestWatcherSetInUse(t *testing.T) {
	w, now, changes := testWatcher([]string{"127.0.0.1:19530"}, 30*time.Second, 0)
	check := func(what string, want []string, wantDisc bool) {
		t.Helper()
		got, disc := w.inUse()
		if !slices.Equal(got, want) || disc != wantDisc {
			t.Fatalf("%s: in use %v (discovered %v), want %v (%v)", what, got, disc, want, wantDisc)
		}
	}
	check("before the first read", []string{"127.0.0.1:19530"}, false)

	w.list([]*mvccpb.KeyValue{kv("by-dev/meta/session/proxy-1", realSession)}, 24)
	check("one session", []string{"192.0.2.2:19530"}, true)
	if *changes != 1 {
		t.Fatalf("%d changes reported, want 1", *changes)
	}

	w.apply([]*clientv3.Event{{Type: mvccpb.PUT, Kv: kv("by-dev/meta/session/proxy-2", `{"ServerID":2,"ServerName":"proxy","Address":"192.0.2.3:19529"}`)}}, 25)
	check("a second session", []string{"192.0.2.2:19530", "192.0.2.3:19530"}, true)

	w.apply([]*clientv3.Event{{Type: mvccpb.PUT, Kv: kv("by-dev/meta/session/proxy-2", `{"ServerID":2,"ServerName":"proxy","Address":"192.0.2.3:19529","Stopping":true}`)}}, 26)
	check("the second stopping", []string{"192.0.2.2:19530"}, true)

	w.apply([]*clientv3.Event{{Type: mvccpb.PUT, Kv: kv("by-dev/meta/session/proxy-9", `garbage`)}}, 27)
	check("an unreadable session is left out", []string{"192.0.2.2:19530"}, true)
	if st := w.status(); st.LastError == "" || len(st.Sessions) != 2 {
		t.Fatalf("status after an unreadable session: %+v", st)
	}

	// etcd lost: the last set stays for keep_last_for, then the static one.
	w.fail(errTest)
	check("etcd lost", []string{"192.0.2.2:19530"}, true)
	*now = now.Add(29 * time.Second)
	check("etcd lost 29s ago", []string{"192.0.2.2:19530"}, true)
	*now = now.Add(2 * time.Second)
	check("etcd lost 31s ago", []string{"127.0.0.1:19530"}, false)
	w.fail(errTest) // still down: nothing changes
	check("still down", []string{"127.0.0.1:19530"}, false)

	// Back: the list replaces everything.
	w.list(nil, 40)
	check("back with no session", []string{"127.0.0.1:19530"}, false)
	w.apply([]*clientv3.Event{{Type: mvccpb.PUT, Kv: kv("by-dev/meta/session/proxy-3", `{"ServerID":3,"Address":"192.0.2.4:19529"}`)}}, 41)
	w.apply([]*clientv3.Event{{Type: mvccpb.DELETE, Kv: kv("by-dev/meta/session/proxy-3", "")}}, 42)
	check("added and deleted", []string{"127.0.0.1:19530"}, false)
	if st := w.status(); !st.Connected || !st.UsingFallback || st.Revision != 42 {
		t.Fatalf("status: %+v", st)
	}
	w.stop()
}

var errTest = testError("connection refused")

type testError string

func (e testError) Error() string { return string(e) }

func TestWatcherWithoutStaticKeepsLastSet(t *testing.T) {
	w, now, _ := testWatcher(nil, time.Second, 0)
	defer w.stop()
	w.list([]*mvccpb.KeyValue{kv("r/meta/session/proxy-1", realSession)}, 1)
	w.fail(errTest)
	*now = now.Add(time.Hour)
	if got, disc := w.inUse(); !disc || len(got) != 1 {
		t.Fatalf("without static endpoints the last set must stay: %v %v", got, disc)
	}
}

func TestOverlay(t *testing.T) {
	m := New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	w, now, _ := testWatcher([]string{"127.0.0.1:19530", "192.0.2.2:19530"}, 30*time.Second, 3*time.Second)
	m.watchers["c"] = w
	defer w.stop()
	static := []ir.Endpoint{
		{Address: ir.Address{Host: "127.0.0.1", Port: 19530, IsIP: true}, Weight: 5},
		{Address: ir.Address{Host: "192.0.2.2", Port: 19530, IsIP: true}, Weight: 7},
	}
	gw := func() *ir.Gateway {
		return &ir.Gateway{Clusters: []ir.Cluster{
			{Name: "c", Discovered: true, Endpoints: slices.Clone(static)},
			{Name: "other", Endpoints: slices.Clone(static)},
		}}
	}
	g := gw()
	m.Overlay(g)
	if !slices.Equal(g.Clusters[0].Endpoints, static) {
		t.Fatalf("before discovery: %+v", g.Clusters[0].Endpoints)
	}
	w.list([]*mvccpb.KeyValue{
		kv("r/meta/session/proxy-1", realSession),
		kv("r/meta/session/proxy-2", `{"ServerID":2,"Address":"proxy-2.milvus:19529"}`),
	}, 1)
	check := func(what string, want []ir.Endpoint) {
		t.Helper()
		g := gw()
		m.Overlay(g)
		if !slices.Equal(g.Clusters[0].Endpoints, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", what, g.Clusters[0].Endpoints, want)
		}
		if !slices.Equal(g.Clusters[1].Endpoints, static) {
			t.Fatalf("%s: a cluster without discovery changed: %+v", what, g.Clusters[1].Endpoints)
		}
	}
	discovered := []ir.Endpoint{
		{Address: ir.Address{Host: "192.0.2.2", Port: 19530, IsIP: true}, Weight: 7}, // a static one: its weight
		{Address: ir.Address{Host: "proxy-2.milvus", Port: 19530}, Weight: 1},        // a name: DNS
	}
	check("during the handover the other static endpoint takes calls", append(slices.Clone(discovered), static[0]))
	*now = now.Add(3 * time.Second)
	standby := static[0]
	standby.Draining = true
	check("after the handover it is a draining standby", append(slices.Clone(discovered), standby))
	g = gw()
	m.Overlay(g)
	if a := g.Clusters[0].Endpoints[1].Address; a.IsIP || a.Host != "proxy-2.milvus" {
		t.Fatalf("a discovered host name must stay a name for the xDS server to resolve: %+v", a)
	}
	if eps, ok := m.Endpoints("c"); !ok || !slices.Equal(eps, []string{"192.0.2.2:19530", "proxy-2.milvus:19530"}) {
		t.Fatalf("Endpoints = %v, %v", eps, ok)
	}
	if _, ok := m.Endpoints("other"); ok {
		t.Fatal("a cluster without discovery has discovered endpoints")
	}
}

func TestManagerUpdate(t *testing.T) {
	changes := 0
	// onChange rebuilds as the edge does: the rebuild runs the overlay,
	// which takes the manager's lock — Update must not hold it then.
	var m *Manager
	m = New(slog.New(slog.NewTextHandler(io.Discard, nil)), func() {
		changes++
		m.Overlay(&ir.Gateway{Clusters: []ir.Cluster{{Name: "c", Discovered: true}}})
	})
	parse := func(y string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const head = "clusters:\n  - name: c\n    endpoints: [{address: \"127.0.0.1:1\"}]\n"
	const routes = "routes:\n  - cluster: c\n"
	m.Update(parse(head + "    discovery: {etcd: {endpoints: [\"127.0.0.1:2\"]}}\n" + routes))
	w := m.watchers["c"]
	if w == nil || w.prefix != "by-dev/meta/session/proxy-" || w.port != 19530 {
		t.Fatalf("watcher %+v", w)
	}
	// Static endpoints change: same watcher, new fallback (in use, so the
	// change rebuilds: no deadlock with the overlay).
	done := make(chan struct{})
	before := changes
	go func() {
		m.Update(parse("clusters:\n  - name: c\n    endpoints: [{address: \"127.0.0.1:3\"}]\n    discovery: {etcd: {endpoints: [\"127.0.0.1:2\"]}}\n" + routes))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Update of the static endpoints in use deadlocked with the rebuild's overlay")
	}
	if changes == before {
		t.Fatal("a change of the static endpoints in use did not rebuild")
	}
	if m.watchers["c"] != w {
		t.Fatal("a static endpoint change replaced the watcher")
	}
	if eps, disc := w.inUse(); disc || !slices.Equal(eps, []string{"127.0.0.1:3"}) {
		t.Fatalf("in use %v %v", eps, disc)
	}
	// The source changes: a new watcher, and a rebuild.
	before = changes
	m.Update(parse(head + "    discovery: {etcd: {endpoints: [\"127.0.0.1:2\"], root_path: other}}\n" + routes))
	if m.watchers["c"] == w || m.watchers["c"].prefix != "other/meta/session/proxy-" || changes == before {
		t.Fatalf("the source change: watcher %p (old %p), %d changes", m.watchers["c"], w, changes-before)
	}
	// Discovery removed: no watcher, Status empty.
	m.Update(parse(head + routes))
	if len(m.watchers) != 0 || len(m.Status().Clusters) != 0 {
		t.Fatalf("watchers left: %v", m.watchers)
	}
	var nilM *Manager
	nilM.Update(parse(head + routes))
	if nilM.Status().Clusters == nil {
		t.Fatal("a nil manager's status must be an empty list")
	}
}
