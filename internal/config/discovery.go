package config

import (
	"fmt"
	"path"
	"strings"
)

// Discovery takes a cluster's endpoints from a registry at run time instead
// of (or besides) its static endpoints, which then serve as the fallback.
type Discovery struct {
	// Etcd watches the proxy sessions a Milvus deployment keeps in its etcd
	// (<root_path>/<meta_sub_path>/session/proxy-<id>). Required.
	Etcd *EtcdDiscovery `yaml:"etcd"`
}

// EtcdDiscovery reads a Milvus deployment's proxy sessions from its etcd.
// Every live proxy session (one that is not stopping) is one endpoint: the
// session's host with ClientPort. The static endpoints of the cluster serve
// while etcd has no proxy session, before the first read, and once etcd has
// been unreachable for longer than KeepLastFor (see docs/discovery.md).
type EtcdDiscovery struct {
	// Endpoints are the etcd client addresses, host:port. Required.
	Endpoints []string `yaml:"endpoints"`
	// RootPath is Milvus's etcd.rootPath. Default by-dev.
	RootPath string `yaml:"root_path"`
	// MetaSubPath is Milvus's etcd.metaSubPath. Default meta.
	MetaSubPath string `yaml:"meta_sub_path"`
	// ClientPort is the port clients call on each discovered proxy. A proxy's
	// session holds its internal address (proxy.internalPort, 19529 by
	// default), which does not serve Milvus's client API, so the edge calls
	// the session's host at this port. 0 uses the session's address as it is
	// (for registries that hold client addresses). Default 19530 (Milvus's
	// proxy.port).
	ClientPort *int `yaml:"client_port"`
	// KeepLastFor is how long the last discovered endpoints keep serving
	// while etcd is unreachable, before the static endpoints take over (with
	// no static endpoints they keep serving). Default 30s, Milvus's session
	// TTL: a proxy whose session lapses stops itself.
	KeepLastFor Duration `yaml:"keep_last_for"`
	// Credential is etcd's user and password (etcd auth), from a file or an
	// environment variable. Default none.
	Credential *Credential `yaml:"credential"`
	// TLS connects to etcd over TLS. Default none (plaintext).
	TLS *EtcdTLS `yaml:"tls"`
}

// EtcdTLS is TLS to etcd (Milvus's etcd.ssl settings).
type EtcdTLS struct {
	// CAFile verifies etcd's certificate (PEM). Required.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and key (PEM), for
	// etcd with client-cert-auth. Default none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// DefaultClientPort is Milvus's proxy.port.
const DefaultClientPort = 19530

// SessionPrefix is the etcd key prefix of the deployment's proxy sessions:
// <root_path>/<meta_sub_path>/session/proxy- (Milvus's sessionutil writes
// each proxy at proxy-<ServerID>).
func (e *EtcdDiscovery) SessionPrefix() string {
	return path.Join(e.RootPath, e.MetaSubPath, "session") + "/proxy-"
}

// Port is ClientPort with its default: 0 means the session's own port.
func (e *EtcdDiscovery) Port() int {
	if e.ClientPort == nil {
		return DefaultClientPort
	}
	return *e.ClientPort
}

// Auth returns etcd's user and password; empty without a credential.
func (e *EtcdDiscovery) Auth() (user string, password Secret) {
	if e.Credential == nil {
		return "", ""
	}
	return e.Credential.User, e.Credential.secret
}

func (d *Discovery) setDefaults() {
	if d == nil || d.Etcd == nil {
		return
	}
	e := d.Etcd
	setStr(&e.RootPath, "by-dev")
	setStr(&e.MetaSubPath, "meta")
	setDur(&e.KeepLastFor, Duration(30e9))
}

// validateDiscovery checks clusters[i].discovery (p is "clusters[i]").
func validateDiscovery(bad badFunc, p string, cl *Cluster) {
	d := cl.Discovery
	if d == nil {
		return
	}
	p += ".discovery"
	if d.Etcd == nil {
		bad(p+".etcd", "is required (the only discovery source)")
		return
	}
	e, q := d.Etcd, p+".etcd"
	if len(e.Endpoints) == 0 {
		bad(q+".endpoints", "at least one etcd address is required")
	}
	for i, a := range e.Endpoints {
		hostPort(bad, fmt.Sprintf("%s.endpoints[%d]", q, i), a)
	}
	for _, f := range []struct{ name, v string }{{"root_path", e.RootPath}, {"meta_sub_path", e.MetaSubPath}} {
		if strings.Trim(f.v, "/") == "" || strings.ContainsAny(f.v, " \t\n") {
			bad(q+"."+f.name, "must be a non-empty etcd path without spaces, got %q", f.v)
		}
	}
	if port := e.Port(); port < 0 || port > 65535 {
		bad(q+".client_port", "must be 1..65535, or 0 for the session's own port, got %d", port)
	}
	if e.KeepLastFor.D() < 0 {
		bad(q+".keep_last_for", "must not be negative, got %s", e.KeepLastFor.D())
	}
	if c := e.Credential; c != nil {
		if c.TokenFile != "" || c.TokenEnv != "" {
			bad(q+".credential", "etcd takes a user and password, not a token")
		} else {
			loadCredential(bad, q+".credential", c)
		}
	}
	if t := e.TLS; t != nil {
		readable(bad, q+".tls.ca_file", t.CAFile)
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad(q+".tls", "cert_file and key_file go together")
		} else if t.CertFile != "" {
			readable(bad, q+".tls.cert_file", t.CertFile)
			readable(bad, q+".tls.key_file", t.KeyFile)
		}
	}
	// Discovered proxies have many hosts: one name must be checked against
	// every certificate.
	if cl.TLS != nil && cl.TLS.ServerName == "" {
		bad(p, "a TLS cluster with discovery needs %s.tls.server_name (discovered endpoints have different hosts)", strings.TrimSuffix(p, ".discovery"))
	}
}
