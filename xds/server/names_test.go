package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// A fake resolver: the test sets each name's answer.
type fakeDNS struct {
	answers map[string][]netip.Addr
	err     error
	calls   int
}

func (f *fakeDNS) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return f.answers[host], nil
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, x := range s {
		out[i] = netip.MustParseAddr(x)
	}
	return out
}

func endpoints(t *testing.T, n *names) []string {
	t.Helper()
	g := &ir.Gateway{Clusters: []ir.Cluster{{Name: "qn", Endpoints: []ir.Endpoint{
		{Address: ir.Address{Host: "10.0.0.1", Port: 19530, IsIP: true}, Weight: 3},
		{Address: ir.Address{Host: "milvus", Port: 19530}, Weight: 2, Draining: true},
	}}}}
	n.expand(context.Background(), g)
	var out []string
	for _, e := range g.Clusters[0].Endpoints {
		if e.Address.IsIP != true || (e.Hostname != "" && (e.Weight != 2 || !e.Draining)) {
			t.Errorf("endpoint %+v: a resolved one keeps its name's weight and drain", e)
		}
		out = append(out, e.Address.Host+"/"+e.Hostname)
	}
	return out
}

// A name becomes one endpoint per address; refresh reports a changed
// answer only; a failed lookup keeps the last answer; a name out of use
// is forgotten.
func TestNamesResolveAndRefresh(t *testing.T) {
	dns := &fakeDNS{answers: map[string][]netip.Addr{"milvus": addrs("192.0.2.2", "192.0.2.1", "2001:db8::1")}}
	n := newNames(slog.New(slog.NewTextHandler(io.Discard, nil)), dns.lookup)
	want := []string{"10.0.0.1/", "192.0.2.1/milvus", "192.0.2.2/milvus"}
	if got := endpoints(t, n); !slices.Equal(got, want) {
		t.Fatalf("expanded %v, want %v (IPv4 only, sorted)", got, want)
	}
	endpoints(t, n)
	if dns.calls != 1 {
		t.Errorf("%d lookups for two builds, want 1 (the answer is kept)", dns.calls)
	}
	if n.refresh(context.Background()) {
		t.Error("refresh with the same answer says changed")
	}
	dns.answers["milvus"] = addrs("192.0.2.3")
	if !n.refresh(context.Background()) {
		t.Error("refresh with a new answer says unchanged")
	}
	if got := endpoints(t, n); !slices.Equal(got, []string{"10.0.0.1/", "192.0.2.3/milvus"}) {
		t.Errorf("after the new answer: %v", got)
	}
	dns.err = errors.New("SERVFAIL")
	if n.refresh(context.Background()) {
		t.Error("a failed lookup says changed")
	}
	if got := endpoints(t, n); !slices.Equal(got, []string{"10.0.0.1/", "192.0.2.3/milvus"}) {
		t.Errorf("a failed lookup must keep the last answer: %v", got)
	}
	dns.err = nil
	dns.answers["milvus"] = nil // NXDOMAIN-like: no addresses
	if n.refresh(context.Background()) {
		t.Error("an empty answer must keep the last one")
	}
	n.expand(context.Background(), &ir.Gateway{})
	n.refresh(context.Background())
	if _, ok := n.addrs["milvus"]; ok {
		t.Error("a name out of use is still kept")
	}
}

// A name never resolved has no endpoint; it gets one once it resolves.
func TestNameNeverResolved(t *testing.T) {
	dns := &fakeDNS{err: errors.New("no such host")}
	n := newNames(slog.New(slog.NewTextHandler(io.Discard, nil)), dns.lookup)
	for i := 0; i < 2; i++ {
		if got := endpoints(t, n); !slices.Equal(got, []string{"10.0.0.1/"}) {
			t.Fatalf("unresolved: %v", got)
		}
	}
	if dns.calls != 1 {
		t.Errorf("%d lookups for two builds, want 1 (later builds wait for refresh)", dns.calls)
	}
	dns.err, dns.answers = nil, map[string][]netip.Addr{"milvus": addrs("::ffff:192.0.2.9")}
	if !n.refresh(context.Background()) {
		t.Fatal("the first answer after failures says unchanged")
	}
	if got := endpoints(t, n); !slices.Equal(got, []string{"10.0.0.1/", "192.0.2.9/milvus"}) {
		t.Errorf("resolved: %v (a v4-mapped address is IPv4)", got)
	}
}

func TestPreferV4(t *testing.T) {
	for _, tc := range []struct{ in, want []netip.Addr }{
		{addrs("::1", "127.0.0.1"), addrs("127.0.0.1")},
		{addrs("2001:db8::2", "2001:db8::1", "2001:db8::2"), addrs("2001:db8::1", "2001:db8::2")},
		{addrs("192.0.2.1", "192.0.2.1"), addrs("192.0.2.1")},
		{nil, nil},
	} {
		if got := preferV4(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("preferV4(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
