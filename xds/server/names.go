package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Endpoints given by name are resolved here, not by Envoy: every
// QueryNode cluster is an EDS cluster, whatever its endpoints' addresses.
// A STRICT_DNS cluster carries its endpoints inline, so a drain, an
// override or a weight was a new cluster, which Envoy warms and swaps in —
// and a call could meet the swap with no healthy host ("no healthy
// upstream", envoyproxy/envoy#13070; one call in a few thousand here). By
// EDS the same change moves a host's weight or health status in place.
//
// As Envoy's STRICT_DNS with V4_PREFERRED did: a name is re-resolved every
// NameRefresh, becomes one endpoint per address (IPv4 addresses, IPv6 only
// for a name without any), each with the endpoint's weight and drain; a
// failed lookup keeps the last answer; a name never resolved has no
// endpoint yet.

// NameRefresh is how often the names in use are resolved again (Envoy's
// default dns_refresh_rate).
const NameRefresh = 5 * time.Second

// nameLookupTimeout bounds one lookup.
const nameLookupTimeout = 2 * time.Second

// LookupFunc resolves a host name to its addresses.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// names holds the last answer for each name in use.
type names struct {
	lookup LookupFunc
	log    *slog.Logger

	mu      sync.Mutex
	addrs   map[string][]netip.Addr // name → its addresses as last resolved
	failing map[string]bool         // names whose last lookup failed
	inUse   map[string]bool         // names of the last build
}

func newNames(log *slog.Logger, lookup LookupFunc) *names {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	return &names{lookup: lookup, log: log, addrs: map[string][]netip.Addr{}, failing: map[string]bool{}, inUse: map[string]bool{}}
}

// expand resolves g's endpoint names (ir.Gateway.ResolveNames): a name
// seen for the first time is looked up now, the others use their last
// answer (refresh keeps them current).
func (n *names) expand(ctx context.Context, g *ir.Gateway) {
	inUse := map[string]bool{}
	g.ResolveNames(func(host string) []netip.Addr {
		inUse[host] = true
		return n.addresses(ctx, host)
	})
	n.mu.Lock()
	n.inUse = inUse
	n.mu.Unlock()
}

// addresses returns host's last answer, resolving it first when it was
// never looked up.
func (n *names) addresses(ctx context.Context, host string) []netip.Addr {
	n.mu.Lock()
	a, ok := n.addrs[host]
	n.mu.Unlock()
	if ok {
		return a
	}
	n.resolve(ctx, host)
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addrs[host]
}

// resolve looks host up and keeps the answer; a failure keeps the last
// one. It says whether the addresses changed.
func (n *names) resolve(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, nameLookupTimeout)
	defer cancel()
	got, err := n.lookup(ctx, host)
	if err == nil {
		got = preferV4(got)
		if len(got) == 0 {
			err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	old, known := n.addrs[host]
	if err != nil {
		if !n.failing[host] {
			n.log.Warn("endpoint name not resolved; its last addresses stay", "name", host, "addresses", old, "err", err)
		}
		n.failing[host] = true
		if !known {
			n.addrs[host] = nil // tried: builds wait for refresh, not for another lookup
		}
		return false
	}
	if n.failing[host] {
		n.log.Info("endpoint name resolved again", "name", host, "addresses", got)
		delete(n.failing, host)
	}
	if known && slices.Equal(old, got) {
		return false
	}
	n.addrs[host] = got
	return true
}

// refresh resolves the names in use again, forgets the others, and says
// whether any name's addresses changed.
func (n *names) refresh(ctx context.Context) bool {
	n.mu.Lock()
	hosts := make([]string, 0, len(n.inUse))
	for h := range n.inUse {
		hosts = append(hosts, h)
	}
	for h := range n.addrs {
		if !n.inUse[h] {
			delete(n.addrs, h)
			delete(n.failing, h)
		}
	}
	n.mu.Unlock()
	changed := false
	for _, h := range hosts {
		changed = n.resolve(ctx, h) || changed
	}
	return changed
}

// preferV4 returns a's IPv4 addresses, or its IPv6 ones when it has none,
// sorted and without duplicates: Envoy's V4_PREFERRED, which keeps
// "localhost" on 127.0.0.1 where a backend listens.
func preferV4(a []netip.Addr) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, x := range a {
		x = x.Unmap()
		if x.Is4() {
			v4 = append(v4, x)
		} else {
			v6 = append(v6, x)
		}
	}
	out := v4
	if len(out) == 0 {
		out = v6
	}
	slices.SortFunc(out, func(x, y netip.Addr) int { return x.Compare(y) })
	return slices.Compact(out)
}
