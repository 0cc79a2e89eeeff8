package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// ReservedPrefix starts the names of the edge's own Envoy clusters.
const ReservedPrefix = "milvus_edge_"

// MaxEndpointWeight is the largest endpoint weight accepted (Envoy allows more; a small
// range keeps shares readable).
const MaxEndpointWeight = 128

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Default fills every unset field with its documented default.
func (c *Config) Default() {
	setStr(&c.Log.Level, "info")
	setStr(&c.Log.Format, "text")
	setStr(&c.Listener.Address, "127.0.0.1:19530")
	if c.Listener.MaxRequestBytes == 0 {
		c.Listener.MaxRequestBytes = 64 << 20
	}
	setStr(&c.Envoy.AdminAddress, "127.0.0.1:9901")
	setStr(&c.Envoy.AdminAdvertiseAddress, c.Envoy.AdminAddress)
	setStr(&c.Envoy.NodeID, "milvus-edge")
	if c.Envoy.Concurrency == 0 {
		c.Envoy.Concurrency = 2
	}
	setStr(&c.Edge.XDSAddress, "127.0.0.1:18000")
	setStr(&c.Edge.FiltersAddress, "127.0.0.1:18001")
	setStr(&c.Edge.AdminAddress, "127.0.0.1:18002")
	setStr(&c.Edge.XDSAdvertiseAddress, c.Edge.XDSAddress)
	setStr(&c.Edge.FiltersAdvertiseAddress, c.Edge.FiltersAddress)
	setDur(&c.Edge.FilterTimeout, Duration(2e9))
	if c.Edge.Filters == "" {
		c.Edge.Filters = FiltersExternal
	}
	setDur(&c.Auth.CredentialCacheTTL, Duration(5*60e9))
	if c.Auth.DecisionCacheTTL == nil {
		d := Duration(10e9)
		c.Auth.DecisionCacheTTL = &d
	}
	setDur(&c.Validation.SchemaTTL, Duration(30e9))
	setDur(&c.Validation.NegativeTTL, Duration(2e9))
	setDur(&c.Validation.FillBudget, Duration(250e6))
	setDur(&c.Validation.FailureTTL, Duration(2e9))
	if c.Validation.WatchEvery == nil {
		d := Duration(50e6)
		c.Validation.WatchEvery = &d
	}
	if c.Auth.MaxBodyBytes == 0 {
		c.Auth.MaxBodyBytes = 64 << 10
	}
	setStr(&c.Auth.UserRPCs, "refuse")
	if g := &c.Auth.LoginGuard; g.BcryptConcurrency == 0 {
		g.BcryptConcurrency = max(1, runtime.NumCPU()/2)
	}
	if c.Auth.LoginGuard.Failures == 0 {
		c.Auth.LoginGuard.Failures = 5
	}
	setDur(&c.Auth.LoginGuard.Backoff, Duration(1e9))
	setDur(&c.Auth.LoginGuard.MaxBackoff, Duration(60e9))
	if j := c.Auth.JWT; j != nil {
		setStr(&j.UserClaim, "sub")
		setStr(&j.RolesClaim, "roles")
		setDur(&j.Leeway, Duration(30e9))
	}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		setStr(&cl.LBPolicy, "least_request")
		setStr(&cl.Forward, ForwardPassthrough)
		setDur(&cl.ConnectTimeout, Duration(1e9))
		cl.Discovery.setDefaults()
		for j := range cl.Endpoints {
			if cl.Endpoints[j].Weight == 0 {
				cl.Endpoints[j].Weight = 1
			}
		}
	}
	c.RateLimit.setDefaults()
	c.Balance.setDefaults()
	c.setHealthDefaults()
	c.setStopDefaults()
	if c.Metrics.MaxCollectionLabels == 0 {
		c.Metrics.MaxCollectionLabels = 200
	}
	if c.Tracing.Sampling == nil {
		v := 0.01
		c.Tracing.Sampling = &v
	}
	setStr(&c.Tracing.ServiceName, "milvus-edge")
	c.Listener.TLS.setDefaults()
	for i := range c.Routes {
		r := &c.Routes[i]
		setStr(&r.Name, "route-"+strconv.Itoa(i))
		setStr(&r.Database, "*")
		setStr(&r.Collection, "*")
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setDur(p *Duration, v Duration) {
	if *p == 0 {
		*p = v
	}
}

var (
	nameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]{0,62}$`)
	// globRE: Milvus names are letters, digits and underscores (plus '-' for
	// databases in some versions); globs add * and ?.
	globRE = regexp.MustCompile(`^[a-zA-Z0-9_*?-]{1,255}$`)
)

// Validate checks the whole config in one pass; each error names its field path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	oneOf(bad, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(bad, "log.format", c.Log.Format, "text", "json")
	hostPort(bad, "listener.address", c.Listener.Address)
	hostPort(bad, "envoy.admin_address", c.Envoy.AdminAddress)
	hostPort(bad, "envoy.admin_advertise_address", c.Envoy.AdminAdvertiseAddress)
	hostPort(bad, "edge.xds_address", c.Edge.XDSAddress)
	hostPortOrUnix(bad, "edge.filters_address", c.Edge.FiltersAddress)
	hostPort(bad, "edge.admin_address", c.Edge.AdminAddress)
	hostPort(bad, "edge.xds_advertise_address", c.Edge.XDSAdvertiseAddress)
	hostPortOrUnix(bad, "edge.filters_advertise_address", c.Edge.FiltersAdvertiseAddress)
	if c.Listener.MaxRequestBytes < 1<<16 {
		bad("listener.max_request_bytes", "must be at least 65536, got %d", c.Listener.MaxRequestBytes)
	}
	if c.Envoy.Concurrency < 1 || c.Envoy.Concurrency > 64 {
		bad("envoy.concurrency", "must be 1..64, got %d", c.Envoy.Concurrency)
	}
	if !nameRE.MatchString(c.Envoy.NodeID) {
		bad("envoy.node_id", "must be a name of letters, digits, '_' or '-', got %q", c.Envoy.NodeID)
	}
	if c.Edge.FilterTimeout.D() < 10e6 {
		bad("edge.filter_timeout", "must be at least 10ms, got %s", c.Edge.FilterTimeout.D())
	}
	oneOf(bad, "edge.filters", c.Edge.Filters, FiltersExternal, FiltersInProcess)
	if c.Edge.InProcess() && c.Listener.TLS != nil && c.Listener.TLS.ClientCAFile != "" {
		bad("edge.filters", "in_process cannot give the policy the client certificate of a mutual-TLS listener yet (Envoy's module API has no PEM of it); use external with listener.tls.client_ca_file")
	}
	validateAuth(bad, c.Auth)
	if c.Validation.SchemaTTL.D() < 0 || c.Validation.NegativeTTL.D() < 0 || c.Validation.WatchEvery.D() < 0 {
		bad("validation", "schema_ttl, negative_ttl and watch_every must not be negative")
	}
	if b := c.Validation.FillBudget.D(); b < 0 || b >= c.Edge.FilterTimeout.D() {
		bad("validation.fill_budget", "must be below edge.filter_timeout (%s), got %s", c.Edge.FilterTimeout.D(), b)
	}
	if c.Validation.FailureTTL.D() < 0 {
		bad("validation.failure_ttl", "must not be negative, got %s", c.Validation.FailureTTL.D())
	}
	clusters := validateClusters(bad, c.Clusters)
	validateHealth(bad, c.Clusters)
	validateStop(bad, c.Envoy)
	validateRoutes(bad, c.Routes, clusters)
	validateFailover(bad, c)
	validateLaunch(bad, c.Launch)
	validateRateLimit(bad, c.RateLimit)
	validateBalance(bad, c.Balance)
	validateListenerTLS(bad, c.Listener)
	validateAdmin(bad, c.Edge)
	if c.Metrics.MaxCollectionLabels < 1 {
		bad("metrics.max_collection_labels", "must be at least 1, got %d", c.Metrics.MaxCollectionLabels)
	}
	if s := *c.Tracing.Sampling; !(s >= 0 && s <= 1) {
		bad("tracing.sampling", "must be 0..1, got %v", s)
	}
	if c.Tracing.OTLPEndpoint != "" {
		hostPort(bad, "tracing.otlp_endpoint", c.Tracing.OTLPEndpoint)
	}
	return errors.Join(errs...)
}

// validateLaunch checks the launched backends; no two may share an address
// or a data directory.
func validateLaunch(bad badFunc, l Launch) {
	addrs, dirs := map[string]string{}, map[string]string{}
	check := func(p, addr, dir string) {
		hostPort(bad, p+".address", addr)
		if other, ok := addrs[addr]; ok && addr != "" {
			bad(p+".address", "%s also listens on %q", other, addr)
		}
		addrs[addr] = p
		if dir == "" {
			bad(p+".data_dir", "is required")
		} else if other, ok := dirs[filepath.Clean(dir)]; ok {
			bad(p+".data_dir", "%s also uses %q", other, dir)
		}
		dirs[filepath.Clean(dir)] = p
	}
	for i, m := range l.MilvusLite {
		check(fmt.Sprintf("launch.milvus_lite[%d]", i), m.Address, m.DataDir)
	}
	for i, m := range l.MilvusStandalone {
		p := fmt.Sprintf("launch.milvus_standalone[%d]", i)
		check(p, m.Address, m.DataDir)
		if m.TLS != nil {
			validateStandaloneTLS(bad, p+".tls", m.TLS)
		}
	}
}

type badFunc func(path, format string, args ...any)

func validateAuth(bad badFunc, a Auth) {
	if a.CredentialCacheTTL.D() < 0 {
		bad("auth.credential_cache_ttl", "must not be negative")
	}
	if a.DecisionCacheTTL.D() < 0 {
		bad("auth.decision_cache_ttl", "must not be negative")
	}
	if a.MaxBodyBytes < 1024 || a.MaxBodyBytes > 16<<20 {
		bad("auth.max_body_bytes", "must be 1024..16777216, got %d", a.MaxBodyBytes)
	}
	oneOf(bad, "auth.user_rpcs", a.UserRPCs, "refuse", "pass")
	if g := a.LoginGuard; g.BcryptConcurrency < 1 || g.Failures < 1 || g.Backoff.D() <= 0 || g.MaxBackoff.D() < g.Backoff.D() {
		bad("auth.login_guard", "bcrypt_concurrency and failures must be ≥ 1, backoff positive and ≤ max_backoff")
	}
	if j := a.JWT; j != nil {
		if j.JWKSFile == "" {
			bad("auth.jwt.jwks_file", "is required")
		}
		if j.Issuer == "" {
			bad("auth.jwt.issuer", "is required")
		}
		if j.Audience == "" {
			bad("auth.jwt.audience", "is required")
		}
	}
}

func validateClusters(bad badFunc, cs []Cluster) map[string]bool {
	names := map[string]bool{}
	if len(cs) == 0 {
		bad("clusters", "at least one cluster is required")
	}
	for i, cl := range cs {
		p := fmt.Sprintf("clusters[%d]", i)
		switch {
		case !nameRE.MatchString(cl.Name):
			bad(p+".name", "must start with a letter and hold letters, digits, '_' or '-' (≤ 63), got %q", cl.Name)
		case strings.HasPrefix(cl.Name, ReservedPrefix):
			bad(p+".name", "the prefix %q is reserved for the edge's own clusters", ReservedPrefix)
		case names[cl.Name]:
			bad(p+".name", "duplicate cluster %q", cl.Name)
		}
		names[cl.Name] = true
		oneOf(bad, p+".lb_policy", cl.LBPolicy, "least_request", "round_robin", "random")
		oneOf(bad, p+".forward", cl.Forward, ForwardPassthrough, ForwardService)
		if cl.Forward == ForwardService && cl.Credential == nil {
			bad(p+".forward", "service sends the cluster's credential: set %s.credential", p)
		}
		if cl.Credential != nil {
			loadCredential(bad, p+".credential", cl.Credential)
		}
		if cl.TLS != nil {
			validateClusterTLS(bad, p+".tls", cl)
		}
		if cl.ConnectTimeout.D() <= 0 {
			bad(p+".connect_timeout", "must be positive")
		}
		validateDiscovery(bad, p, &cs[i])
		if len(cl.Endpoints) == 0 && cl.Discovery == nil {
			bad(p+".endpoints", "at least one endpoint is required (or discovery)")
		}
		addrs := map[string]bool{}
		for j, ep := range cl.Endpoints {
			ep := ep
			q := fmt.Sprintf("%s.endpoints[%d]", p, j)
			hostPort(bad, q+".address", ep.Address)
			if addrs[ep.Address] {
				bad(q+".address", "duplicate endpoint %q in this cluster", ep.Address)
			}
			addrs[ep.Address] = true
			if ep.Weight < 1 || ep.Weight > MaxEndpointWeight {
				bad(q+".weight", "must be 1..%d, got %d", MaxEndpointWeight, ep.Weight)
			}
		}
	}
	return names
}

// Forwarding modes (Cluster.Forward).
const (
	ForwardPassthrough = "passthrough"
	ForwardService     = "service"
)

// loadCredential checks a credential's shape and reads its secret from the
// file or environment variable it names. Errors name the field and the file
// or variable, never the secret.
func loadCredential(bad badFunc, p string, c *Credential) {
	c.secret = ""
	pw := c.PasswordFile != "" || c.PasswordEnv != ""
	tok := c.TokenFile != "" || c.TokenEnv != ""
	switch {
	case c.User != "" && tok:
		bad(p, "set user with password_file or password_env, or token_file or token_env, not both")
		return
	case c.User != "" && !pw:
		bad(p+".user", "user %q needs password_file or password_env", c.User)
		return
	case c.User == "" && pw:
		bad(p+".user", "is required with a password (or use token_file or token_env)")
		return
	case c.User == "" && !tok:
		bad(p, "set user with password_file or password_env, or token_file or token_env")
		return
	case strings.Contains(c.User, ":"):
		bad(p+".user", "must not contain ':', got %q", c.User)
		return
	}
	kind, file, env := "password", c.PasswordFile, c.PasswordEnv
	if tok {
		kind, file, env = "token", c.TokenFile, c.TokenEnv
	}
	switch {
	case file != "" && env != "":
		bad(p, "set %s_file or %s_env, not both", kind, kind)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			bad(p+"."+kind+"_file", "cannot read the %s: %v", kind, err)
			return
		}
		if c.secret = Secret(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")); c.secret == "" {
			bad(p+"."+kind+"_file", "%s is empty", file)
		}
	default:
		v, ok := os.LookupEnv(env)
		switch {
		case !ok:
			bad(p+"."+kind+"_env", "environment variable %s is not set", env)
		case v == "":
			bad(p+"."+kind+"_env", "environment variable %s is empty", env)
		}
		c.secret = Secret(v)
	}
}

func validateRoutes(bad badFunc, rs []Route, clusters map[string]bool) {
	if len(rs) == 0 {
		bad("routes", "at least one route is required; the last one is the default")
		return
	}
	for i, r := range rs {
		p := fmt.Sprintf("routes[%d]", i)
		if !nameRE.MatchString(r.Name) {
			bad(p+".name", "must start with a letter and hold letters, digits, '_' or '-', got %q", r.Name)
		}
		if !globRE.MatchString(r.Database) {
			bad(p+".database", "must be a glob of letters, digits, '_', '-', '*' or '?', got %q", r.Database)
		}
		if !globRE.MatchString(r.Collection) {
			bad(p+".collection", "must be a glob of letters, digits, '_', '-', '*' or '?', got %q", r.Collection)
		}
		switch {
		case r.Cluster != "" && len(r.Weighted) > 0:
			bad(p, "set cluster or weighted, not both")
		case r.Cluster == "" && len(r.Weighted) == 0:
			bad(p, "set cluster or weighted")
		case r.Cluster != "" && !clusters[r.Cluster]:
			bad(p+".cluster", "no cluster named %q", r.Cluster)
		}
		for j, w := range r.Weighted {
			q := fmt.Sprintf("%s.weighted[%d]", p, j)
			if !clusters[w.Cluster] {
				bad(q+".cluster", "no cluster named %q", w.Cluster)
			}
			if w.Weight < 1 {
				bad(q+".weight", "must be at least 1")
			}
		}
	}
	last := rs[len(rs)-1]
	if last.Database != "*" || last.Collection != "*" {
		bad(fmt.Sprintf("routes[%d]", len(rs)-1), "the last route is the default and must match every database and collection (leave database and collection unset)")
	}
}

func oneOf(bad badFunc, path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	bad(path, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
}

// UnixPrefix marks a Unix socket address ("unix:/run/milvus-edge/filters.sock").
const UnixPrefix = "unix:"

func hostPortOrUnix(bad badFunc, path, v string) {
	if p, ok := strings.CutPrefix(v, UnixPrefix); ok {
		if !strings.HasPrefix(p, "/") || len(p) > 100 {
			bad(path, "a unix: address needs an absolute path of at most 100 bytes, got %q", p)
		}
		return
	}
	hostPort(bad, path, v)
}

func hostPort(bad badFunc, path, v string) {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		bad(path, "must be host:port, got %q", v)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad(path, "port must be 1..65535, got %q", port)
	}
}
