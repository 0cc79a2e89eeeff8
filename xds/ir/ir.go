// Package ir is the validated, Envoy-free model of what the gateway serves:
// one client listener, the filter server, QueryNode clusters and ordered route
// rules. xds/translate builds it from the config; xds/envoyres turns it into
// Envoy resources. It imports only the standard library.
package ir

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Gateway is everything one Envoy node is told over xDS.
type Gateway struct {
	Listener Listener
	Filters  FilterServer
	Clusters []Cluster
	// Routes are ordered; the last one matches everything.
	Routes []Route
	// SkipProcessing are :paths of calls that carry no database or collection:
	// they take the default route without ext_proc.
	SkipProcessing []string
	// Retries is how reads are retried (failover.go); ReadPaths are the
	// SkipProcessing paths that are reads.
	Retries   Retries
	ReadPaths []string
}

// Listener is the client-facing listener (gRPC and REST on one port).
type Listener struct {
	Address         Address
	MaxRequestBytes uint32
	// AccessLog is a file path for Envoy's JSON access log; "" = none.
	AccessLog string
	// CallStream is which calls' access-log entries Envoy streams to the
	// edge (Envoy's spans).
	CallStream CallStream
	// Calls, when set, is the calls filter: the Milvus status of every
	// response into Envoy's dynamic metadata and, with Count, every call
	// counted in Envoy's stats.
	Calls *Calls
	// TLS terminates TLS (ALPN h2 and http/1.1); nil serves plaintext
	// (gRPC over h2c, REST over HTTP/1.1).
	TLS *ListenerTLS
}

// CallStream says which calls' access-log entries Envoy streams to the edge.
type CallStream int

// Call streams.
const (
	// StreamNone streams nothing (tracing off).
	StreamNone CallStream = iota
	// StreamTraced streams the calls ext_authz chose to trace: Envoy's
	// spans are made from their entries.
	StreamTraced
)

// Calls is the edge's calls filter in Envoy (callsmodule/, a C dynamic
// module).
type Calls struct {
	// Module is the module file's absolute path.
	Module string
	// Count counts every finished call in Envoy's stats (metrics on).
	Count bool
	// MaxCollections caps the (db, collection) label pairs.
	MaxCollections int
	// Paths are the known request paths, kept as label values.
	Paths []string
}

// ListenerTLS is the listener's server certificate and, for mutual TLS, the
// CAs client certificates are verified against. The contents travel to
// Envoy as SDS secrets, so new contents reach new handshakes without a
// listener change.
type ListenerTLS struct {
	// CertChain is the PEM certificate chain, leaf first.
	CertChain []byte
	// Key is the leaf's PEM private key.
	Key Secret
	// ClientCA is the PEM bundle client certificates are verified against;
	// nil asks for no client certificate.
	ClientCA []byte
	// RequireClientCert refuses handshakes without a verified client
	// certificate (needs ClientCA).
	RequireClientCert bool
	// MinVersion is the lowest TLS version accepted.
	MinVersion TLSVersion
}

// TLSVersion is a TLS protocol version.
type TLSVersion int

// TLS versions a listener may require at least.
const (
	TLS12 TLSVersion = iota
	TLS13
)

// FilterServer is where Envoy reaches ext_authz and ext_proc.
type FilterServer struct {
	Address Address
	Timeout time.Duration
	// AuthzBodyBytes is the body prefix ext_authz receives.
	AuthzBodyBytes uint32
	// AuthzHeaders are the only request headers ext_authz receives, sorted;
	// empty sends them all.
	AuthzHeaders []string
	// InProcess, when set, runs ext_authz's work in Envoy (module.go).
	InProcess *InProcess
}

// Address is a host (IP or DNS name) and port, or a Unix socket path.
type Address struct {
	Host string
	Port uint32
	// Pipe is a Unix socket path; Host and Port are unused when it is set.
	Pipe string
	// IsIP says Host is a literal IP address (EDS needs IPs; the xDS
	// server resolves names).
	IsIP bool
}

// NeedsDNS says the address must be resolved (a host name, not an IP or a socket path).
func (a Address) NeedsDNS() bool { return a.Pipe == "" && !a.IsIP }

// LBPolicy is how Envoy picks an endpoint inside a cluster; every policy honours weights.
type LBPolicy int

// LB policies.
const (
	RoundRobin LBPolicy = iota
	LeastRequest
	Random
)

// Cluster is a QueryNode cluster: interchangeable endpoints that serve the same data.
type Cluster struct {
	Name           string
	LB             LBPolicy
	ConnectTimeout time.Duration
	Endpoints      []Endpoint
	// Forward is which authorization goes to the cluster with a client's call.
	Forward Forward
	// Credential is what Service sends; nil in Passthrough.
	Credential *Credential
	// REST says the endpoints serve Milvus's REST v2 API too (Milvus ≥ 2.4);
	// false for gRPC-only backends (milvus-lite).
	REST bool
	// TLS connects to the endpoints over TLS; nil for plaintext.
	TLS *ClusterTLS
	// Discovered says the endpoints come from a registry at run time (an
	// overlay replaces the static ones, which may be none).
	Discovered bool
	// Health is the active checks, outlier ejection and panic threshold.
	Health Health
}

// Forward says which authorization a cluster receives with a client's call.
type Forward int

// Forwarding modes.
const (
	// Passthrough leaves the client's authorization header as it came.
	Passthrough Forward = iota
	// Service replaces it, after the edge's authn/authz, with the cluster's credential.
	Service
)

// String is the mode's config name, also written in the access log.
func (f Forward) String() string {
	if f == Service {
		return "service"
	}
	return "passthrough"
}

// Credential holds the authorization header values sent to a cluster in
// Service mode, one per API surface.
type Credential struct {
	// GRPC is the gRPC authorization metadata value: base64("user:password") or base64(token).
	GRPC Secret
	// REST is the REST Authorization header value: "Bearer user:password" or "Bearer token".
	REST Secret
}

// Secret is a credential value; it prints as [redacted].
type Secret string

// String implements fmt.Stringer.
func (Secret) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return "[redacted]" }

// Reveal returns the value, for the one builder that puts it in a resource.
func (s Secret) Reveal() string { return string(s) }

// Endpoint is one Milvus serving endpoint with its weight.
type Endpoint struct {
	Address Address
	// Hostname is the name Address was resolved from (xds/server names.go),
	// "" for an endpoint given by IP.
	Hostname string
	Weight   uint32
	// Draining makes the endpoint DRAINING in EDS: Envoy sends it no new
	// calls and lets calls in flight finish (an operator's drain).
	Draining bool
}

// Route sends requests whose database and collection match the globs to its targets.
type Route struct {
	Name       string
	Database   string // glob
	Collection string // glob
	Targets    []Target
	// Failover is the route's fallback cluster (failover.go).
	Failover
}

// MatchesAll says the route is a catch-all (the default).
func (r Route) MatchesAll() bool { return r.Database == "*" && r.Collection == "*" }

// RESTTargets splits the route's targets for REST v2 calls: targets are
// those whose clusters serve REST, with their weights (a weighted route sends
// REST calls to its REST clusters only); noREST names the others. With
// noREST empty REST calls go as gRPC calls do; with targets empty the edge
// answers REST calls itself.
func (g *Gateway) RESTTargets(r Route) (targets []Target, noREST []string) {
	rest := make(map[string]bool, len(g.Clusters))
	for _, c := range g.Clusters {
		rest[c.Name] = c.REST
	}
	for _, t := range r.Targets {
		if rest[t.Cluster] {
			targets = append(targets, t)
		} else {
			noREST = append(noREST, t.Cluster)
		}
	}
	return targets, noREST
}

// Target is a cluster and its relative weight within a route.
type Target struct {
	Cluster string
	Weight  uint32
}

// Validate checks the model's own invariants (the config layer has already
// named user mistakes by field; these guard the translator).
func (g *Gateway) Validate() error {
	var errs []error
	names := map[string]bool{}
	for _, c := range g.Clusters {
		if names[c.Name] {
			errs = append(errs, fmt.Errorf("cluster %q defined twice", c.Name))
		}
		names[c.Name] = true
		if len(c.Endpoints) == 0 && !c.Discovered {
			errs = append(errs, fmt.Errorf("cluster %q has no endpoints", c.Name))
		}
		if c.Forward == Service && (c.Credential == nil || c.Credential.GRPC == "" || c.Credential.REST == "") {
			errs = append(errs, fmt.Errorf("cluster %q forwards in service mode without a credential", c.Name))
		}
		if c.TLS != nil {
			if err := c.TLS.validate(); err != nil {
				errs = append(errs, fmt.Errorf("cluster %q: %w", c.Name, err))
			}
		}
	}
	if t := g.Listener.TLS; t != nil {
		if len(t.CertChain) == 0 || t.Key == "" {
			errs = append(errs, errors.New("listener TLS without a certificate or key"))
		}
		if t.RequireClientCert && len(t.ClientCA) == 0 {
			errs = append(errs, errors.New("listener TLS requires client certificates without a client CA"))
		}
	}
	if len(g.Routes) == 0 || !g.Routes[len(g.Routes)-1].MatchesAll() {
		errs = append(errs, errors.New("the last route must match everything"))
	}
	for _, r := range g.Routes {
		if len(r.Targets) == 0 {
			errs = append(errs, fmt.Errorf("route %q has no target", r.Name))
		}
		for _, t := range r.Targets {
			if !names[t.Cluster] {
				errs = append(errs, fmt.Errorf("route %q names unknown cluster %q", r.Name, t.Cluster))
			}
		}
	}
	errs = append(errs, g.validateFailover(names)...)
	return errors.Join(errs...)
}

// ResolveNames replaces every endpoint of g's clusters whose address is a
// name by one endpoint per address addrs gives for the name, each with the
// endpoint's weight and drain and the name as its Hostname; a name without
// addresses leaves no endpoint. It does no I/O (xds/server names.go
// resolves and keeps the answers).
func (g *Gateway) ResolveNames(addrs func(host string) []netip.Addr) {
	for i := range g.Clusters {
		c := &g.Clusters[i]
		out := make([]Endpoint, 0, len(c.Endpoints))
		for _, ep := range c.Endpoints {
			if !ep.Address.NeedsDNS() {
				out = append(out, ep)
				continue
			}
			for _, a := range addrs(ep.Address.Host) {
				e := ep
				e.Address = Address{Host: a.String(), Port: ep.Address.Port, IsIP: true}
				e.Hostname = ep.Address.Host
				out = append(out, e)
			}
		}
		c.Endpoints = out
	}
}
