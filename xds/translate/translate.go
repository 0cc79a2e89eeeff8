// Package translate turns the declarative config into the xds/ir model. It is
// pure: no I/O, no clock, no globals.
package translate

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/ir"
)

// Options carry what the data plane knows and the config does not.
type Options struct {
	// SkipProcessing are :paths that skip ext_proc (see ir.Gateway).
	SkipProcessing []string
	// ReadPaths are the SkipProcessing paths of reads (see ir.Gateway).
	ReadPaths []string
	// AuthzHeaders are the request headers the filter server and the
	// embedded policy bundle read (nil: all). They restrict what Envoy
	// sends to ext_authz only when auth.policy_dir is empty: a custom
	// bundle is reloaded without a listener push and may start reading any
	// header, so it gets them all.
	AuthzHeaders []string
	// ListenerCerts are the contents of listener.tls's files, read and
	// checked by the caller (translation does no I/O). Required when the
	// config has listener.tls.
	ListenerCerts *ListenerCerts
	// ModulePath is the in-process module's absolute path, resolved by the
	// caller from edge.module (used with edge.filters: in_process).
	ModulePath string
	// CallsModulePath is the calls filter's module (callsmodule/), resolved
	// by the caller from edge.calls_module; "" renders no calls filter.
	CallsModulePath string
	// KnownPaths are the request paths the calls filter keeps as label
	// values (every MilvusService :path and REST v2 path; others count
	// under none).
	KnownPaths []string
}

// ListenerCerts are the PEM contents of listener.tls's files.
type ListenerCerts struct {
	// Cert is cert_file: the server certificate chain, leaf first.
	Cert []byte
	// Key is key_file: the leaf's private key.
	Key config.Secret
	// ClientCA is client_ca_file; nil when none is configured.
	ClientCA []byte
}

// Translate builds the gateway model from a validated config.
func Translate(c *config.Config, o Options) (*ir.Gateway, error) {
	lis, err := addr(c.Listener.Address)
	if err != nil {
		return nil, fmt.Errorf("listener.address: %w", err)
	}
	fs, err := addr(c.Edge.FiltersAdvertiseAddress)
	if err != nil {
		return nil, fmt.Errorf("edge.filters_advertise_address: %w", err)
	}
	ltls, err := listenerTLS(c.Listener.TLS, o.ListenerCerts)
	if err != nil {
		return nil, err
	}
	g := &ir.Gateway{
		Listener:       ir.Listener{Address: lis, MaxRequestBytes: c.Listener.MaxRequestBytes, AccessLog: c.Listener.AccessLog, CallStream: callStream(c), Calls: calls(c, o), TLS: ltls},
		Filters:        ir.FilterServer{Address: fs, Timeout: c.Edge.FilterTimeout.D(), AuthzBodyBytes: c.Auth.MaxBodyBytes, AuthzHeaders: authzHeaders(c, o)},
		SkipProcessing: o.SkipProcessing,
		ReadPaths:      o.ReadPaths,
		Retries:        ir.Retries{Reads: c.Retries.ReadRetries(), PerTryTimeout: c.Retries.PerTryTimeout()},
	}
	if g.Filters.InProcess, err = inProcess(c, o); err != nil {
		return nil, err
	}
	for i, cl := range c.Clusters {
		out := ir.Cluster{Name: cl.Name, LB: lbPolicy(cl.LBPolicy), ConnectTimeout: cl.ConnectTimeout.D(), REST: cl.ServesREST(), TLS: clusterTLS(cl)}
		out.Health = health(cl)
		out.Discovered = cl.Discovery != nil
		if cl.Forward == config.ForwardService {
			out.Forward = ir.Service
			out.Credential = &ir.Credential{
				GRPC: ir.Secret(cl.Credential.GRPCAuthorization().Reveal()),
				REST: ir.Secret(cl.Credential.RESTAuthorization().Reveal()),
			}
		}
		for j, ep := range cl.Endpoints {
			a, err := addr(ep.Address)
			if err != nil {
				return nil, fmt.Errorf("clusters[%d].endpoints[%d].address: %w", i, j, err)
			}
			out.Endpoints = append(out.Endpoints, ir.Endpoint{Address: a, Weight: ep.Weight})
		}
		g.Clusters = append(g.Clusters, out)
	}
	for _, r := range c.Routes {
		out := ir.Route{Name: r.Name, Database: r.Database, Collection: r.Collection,
			Failover: ir.Failover{Fallback: r.Fallback, Writes: r.FallbackWrites}}
		if r.Cluster != "" {
			out.Targets = []ir.Target{{Cluster: r.Cluster, Weight: 1}}
		}
		for _, w := range r.Weighted {
			out.Targets = append(out.Targets, ir.Target{Cluster: w.Cluster, Weight: w.Weight})
		}
		g.Routes = append(g.Routes, out)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// listenerTLS combines listener.tls with its files' contents.
func listenerTLS(t *config.ListenerTLS, certs *ListenerCerts) (*ir.ListenerTLS, error) {
	if t == nil {
		return nil, nil
	}
	if certs == nil {
		return nil, errors.New("listener.tls: the certificate files were not read")
	}
	if t.ClientCAFile != "" && len(certs.ClientCA) == 0 {
		return nil, errors.New("listener.tls.client_ca_file: the file was not read")
	}
	out := &ir.ListenerTLS{
		CertChain:         certs.Cert,
		Key:               ir.Secret(certs.Key.Reveal()),
		RequireClientCert: t.RequireClientCert,
		MinVersion:        ir.TLS12,
	}
	if t.ClientCAFile != "" {
		out.ClientCA = certs.ClientCA
	}
	if t.MinVersion == "1.3" {
		out.MinVersion = ir.TLS13
	}
	return out, nil
}

func addr(s string) (ir.Address, error) {
	if p, ok := strings.CutPrefix(s, config.UnixPrefix); ok {
		return ir.Address{Pipe: p}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return ir.Address{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return ir.Address{}, fmt.Errorf("bad port %q", port)
	}
	_, ipErr := netip.ParseAddr(host)
	return ir.Address{Host: host, Port: uint32(p), IsIP: ipErr == nil}, nil
}

func lbPolicy(s string) ir.LBPolicy {
	switch s {
	case "least_request":
		return ir.LeastRequest
	case "random":
		return ir.Random
	default:
		return ir.RoundRobin
	}
}

// callStream is which calls Envoy streams to the edge: the traced ones
// when tracing is on (their entries make Envoy's spans), else none. The
// metrics need no stream: the calls filter counts in Envoy.
func callStream(c *config.Config) ir.CallStream {
	if c.Tracing.OTLPEndpoint != "" {
		return ir.StreamTraced
	}
	return ir.StreamNone
}

// calls is the calls filter of c: wherever a log prints, a metric counts or a
// span carries the Milvus status of responses (the access log, the metrics,
// tracing), or nil. Without the module's path (translation tests of other
// parts) there is none; the edge always resolves it (app.CallsModulePath).
func calls(c *config.Config, o Options) *ir.Calls {
	if o.CallsModulePath == "" || (c.Listener.AccessLog == "" && !c.Metrics.On() && c.Tracing.OTLPEndpoint == "") {
		return nil
	}
	return &ir.Calls{Module: o.CallsModulePath, Count: c.Metrics.On(), MaxCollections: c.Metrics.MaxCollectionLabels,
		Paths: o.KnownPaths}
}
