// Package app wires milvus-edge together: the xDS server, the ext_authz and
// ext_proc servers, the admin API, config hot reload, and (for `run`) the
// Envoy and Milvus backend children it supervises. It is the only package that
// imports every other one.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/balance"
	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/discovery"
	"github.com/milvus-edge/milvus-edge/envoy"
	"github.com/milvus-edge/milvus-edge/extproc"
	"github.com/milvus-edge/milvus-edge/extproc/authz"
	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/edgetrace"
	"github.com/milvus-edge/milvus-edge/internal/procs"
	"github.com/milvus-edge/milvus-edge/metrics"
	"github.com/milvus-edge/milvus-edge/policy"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// Filters is the ext_authz + ext_proc gRPC server with its policy engine.
type Filters struct {
	GRPC    *grpc.Server
	Authz   *authz.Server
	Policy  *policy.Engine
	Schemas *SchemaStore
	Router  *Router
	Limits  *Limits
	Calls   *metrics.Calls   // every call, from the stats the calls module keeps in Envoy (GET /metrics)
	Timing  *metrics.Filters // the filters' durations and decisions (GET /metrics)
	// Balance holds look-aside weights, drains and overrides (set by Run).
	Balance *balance.Balancer
	authn   *authz.Authenticator
	creds   *cache.Credentials
	dlog    *authz.DecisionLog
	closer  io.Closer // the decision log file, if any
	tr      *edgetrace.Tracer
	watch   bool
	// stop bounds the graceful part of the filter server's stop (stop.go);
	// busy says handlers were still running after it, so nothing they use
	// may close.
	log  *slog.Logger
	stop time.Duration
	busy atomic.Bool
	// closed makes close run once (Serve, then Run's deferred close).
	closed atomic.Bool

	// Discovery watches the clusters' registries (set by Run).
	Discovery *discovery.Manager
	// hub keeps the in-process module in step (SyncModule); nil in the
	// external mode and inside the module.
	hub *SyncHub
}

// NewFilters builds the filter server for cfg; it loads the policy bundle and
// fails when the bundle does not compile or its own tests fail.
func NewFilters(ctx context.Context, log *slog.Logger, cfg *config.Config) (*Filters, error) {
	engine := policy.NewEngine(log.With("component", "policy"), policy.Options{
		Dir: cfg.Auth.PolicyDir, DecisionCacheTTL: cfg.Auth.DecisionCacheTTL.D(),
	})
	if err := engine.Load(ctx); err != nil {
		engine.Close()
		return nil, fmt.Errorf("auth.policy_dir: %w", err)
	}
	var jwt *authz.JWTVerifier
	if j := cfg.Auth.JWT; j != nil {
		var err error
		jwt, err = authz.NewJWTVerifier(authz.JWTConfig{
			JWKSFile: j.JWKSFile, Issuer: j.Issuer, Audience: j.Audience,
			UserClaim: j.UserClaim, RolesClaim: j.RolesClaim, Leeway: j.Leeway.D(),
		}, time.Now)
		if err != nil {
			engine.Close()
			return nil, err
		}
	}
	creds, err := cache.NewCredentials(10_000, cfg.Auth.CredentialCacheTTL.D())
	if err != nil {
		engine.Close()
		return nil, err
	}
	schemas, err := NewSchemaStore(cfg)
	if err != nil {
		engine.Close()
		creds.Close()
		return nil, err
	}
	f := &Filters{Policy: engine, creds: creds, watch: cfg.Auth.PolicyDir != "", Schemas: schemas, Router: NewRouter(cfg)}
	f.log, f.stop = log, cfg.Edge.FilterTimeout.D()
	if f.tr, err = newTracer(ctx, log.With("component", "tracing"), cfg); err != nil {
		f.close()
		return nil, err
	}
	f.Schemas.UseTracer(f.tr)
	switch cfg.Auth.DecisionLog {
	case "":
	case "stderr":
		f.dlog = authz.NewDecisionLog(os.Stderr)
	default:
		file, err := os.OpenFile(cfg.Auth.DecisionLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("auth.decision_log: %w", err)
		}
		f.dlog, f.closer = authz.NewDecisionLog(file), file
	}
	authn := authz.NewAuthenticator(creds, jwt)
	g := cfg.Auth.LoginGuard
	authn.UseGuard(authz.NewGuard(authz.GuardConfig{Concurrency: g.BcryptConcurrency, Failures: g.Failures,
		Backoff: g.Backoff.D(), MaxBackoff: g.MaxBackoff.D()}))
	f.authn = authn
	f.Authz = authz.New(log.With("component", "authz"), authn, engine, f.dlog, AuthzOptions(cfg))
	if f.Limits, err = newLimits(log.With("component", "ratelimit"), cfg, f.Schemas, f.Router); err != nil {
		f.close()
		return nil, fmt.Errorf("rate_limit: %w", err)
	}
	f.Authz.UseLimiter(f.Limits.Limiter)
	f.Authz.UseTracer(f.tr)
	f.Calls = metrics.NewCalls(log.With("component", "metrics"), cfg.Envoy.NodeID, cfg.Metrics.MaxCollectionLabels,
		metrics.NewEnvoyStats(cfg.Envoy.AdminAdvertiseAddress, envoyStatsTimeout))
	f.Timing = metrics.NewFilters()
	f.Calls.SetEnabled(cfg.Metrics.On())
	f.GRPC = grpc.NewServer(
		grpc.ChainUnaryInterceptor(f.Timing.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(f.Timing.StreamInterceptor()),
		// Protobuf, but the access-log stream (traced calls) is read by hand (metrics.Codec).
		grpc.ForceServerCodecV2(metrics.Codec{}),
		// Envoy keeps HTTP/2 connections to the filter cluster open and pings them.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(int(cfg.Listener.MaxRequestBytes)+1<<20),
		grpc.MaxConcurrentStreams(100_000),
		grpc.NumStreamWorkers(64),
		// Requests ext_proc refused arrive here through Envoy's reject route and
		// get the method's typed Milvus error.
		grpc.UnknownServiceHandler(extproc.Responder),
		// A stop returns once every handler has (stopGRPC): nothing they
		// use is closed under them.
		grpc.WaitForHandlers(true),
	)
	authv3.RegisterAuthorizationServer(f.GRPC, f.Authz)
	accesslogv3.RegisterAccessLogServiceServer(f.GRPC, &metrics.AccessLogService{Traced: envoySpans(f.tr)})
	epc := extproc.Config{
		Log:     log.With("component", "extproc"),
		MaxLen:  int(cfg.Listener.MaxRequestBytes),
		Schemas: f.Schemas,
		Router:  f.Router.Cluster,

		WatchEvery: cfg.Validation.WatchEvery.D(),
		Tracer:     f.tr,
	}
	if cfg.Validation.Disabled {
		epc.Schemas = nil
	}
	ep := extproc.New(epc)
	extprocv3.RegisterExternalProcessorServer(f.GRPC, ep)
	f.Authz.UsePreprocessor(ep)
	return f, nil
}

// Apply adopts a reloaded config (the fields restartOnly lets change): in
// the edge on a reload, and in the in-process module when the edge sends one.
func (f *Filters) Apply(log *slog.Logger, cfg *config.Config) {
	f.Authz.SetOptions(AuthzOptions(cfg))
	f.Router.Set(cfg)
	f.Schemas.Update(cfg)
	f.Calls.SetMaxCollections(cfg.Metrics.MaxCollectionLabels)
	f.Calls.SetEnabled(cfg.Metrics.On())
	if err := f.Limits.Update(cfg); err != nil {
		log.Error("rate_limit.shared: keeping the previous service", "error", err)
	}
}

// SyncModule serves the in-process module's sync stream (sync.go) on the
// filter server, starting from the config raw; the schema store's
// invalidations and discovered endpoints go to it. Called before serving.
func (f *Filters) SyncModule(raw []byte) {
	f.hub = NewSyncHub(raw, hash(raw))
	f.hub.register(f.GRPC)
	f.Schemas.SyncTo(f.hub)
}

// AuthStatus is the login guard's counts and the decision log's drops.
func (f *Filters) AuthStatus() map[string]any {
	st := map[string]any{"decision_log_dropped": f.dlog.Dropped()}
	if g := f.authn.Guard(); g != nil {
		st["login_guard"] = g.Stats()
	}
	return st
}

// XDSOptions tells the control plane which calls skip ext_proc: those whose
// request carries no database or collection (from the milvuspb descriptors).
func XDSOptions() translate.Options {
	return translate.Options{SkipProcessing: milvusgrpc.NoNameMethods(), ReadPaths: milvusgrpc.ReadNoNameMethods(),
		KnownPaths: milvusgrpc.Paths()}
}

// AuthzOptions returns the authz switches of cfg.
func AuthzOptions(cfg *config.Config) authz.Options {
	return authz.Options{
		DryRun:          cfg.Auth.DryRun,
		RefuseUserRPCs:  cfg.Auth.UserRPCs == "refuse",
		DecisionCache:   cfg.Auth.DecisionCacheTTL.D() > 0,
		SinglePass:      cfg.Edge.SinglePassOn(),
		Metadata:        cfg.Listener.AccessLog != "",
		MaxRequestBytes: int64(cfg.Listener.MaxRequestBytes),
		TraceSampling:   traceSampling(cfg),
	}
}

// Serve runs the filter server on lis, and watches the policy folder, until
// ctx ends; then it stops the server within its bound (serve) and closes
// what the handlers used.
func (f *Filters) Serve(ctx context.Context, lis net.Listener) error {
	err := f.serve(ctx, lis)
	f.close()
	return err
}

// serve is Serve without the close, for Run, which closes the filters once
// every other user (admin API, reloads) has stopped too. When ctx ends, the
// calls in flight get edge.filter_timeout to finish (Envoy gives up on a
// filter call after it anyway), then they are cut and their handlers get
// handlerGrace to return: the filter server stops within filter_timeout +
// 2 s (4 s by default).
func (f *Filters) serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- f.GRPC.Serve(lis) }()
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if f.watch {
			f.Policy.Watch(wctx, 250*time.Millisecond)
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("filter server: %w", err)
	}
	if !stopGRPC(f.GRPC, f.stop) {
		// Serve itself returns only once the handlers have.
		f.busy.Store(true)
		f.log.Warn("filter calls still running after the stop; their caches stay open until the process exits")
	} else if err == nil {
		<-errc
	}
	stopWatch()
	<-watched
	return err
}

// close closes what the handlers use, unless some were still running at
// the stop (busy). It runs once.
func (f *Filters) close() {
	if f.busy.Load() || !f.closed.CompareAndSwap(false, true) {
		return
	}
	f.dlog.Close()
	if f.closer != nil {
		f.closer.Close()
	}
	f.creds.Close()
	f.Policy.Close()
	f.Schemas.Close()
	shutdownTracer(f.tr)
	if f.Limits != nil {
		f.Limits.Close()
	}
}

// StartEnvoy writes the bootstrap for cfg into dir and starts Envoy.
func StartEnvoy(log *slog.Logger, cfg *config.Config, dir string) (*procs.Proc, error) {
	bin, err := envoy.FindBinary(cfg.Envoy.Binary, ".")
	if err != nil {
		return nil, err
	}
	bs, err := BootstrapFor(cfg).Render()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "envoy-bootstrap.yaml")
	if err := os.WriteFile(path, bs, 0o600); err != nil {
		return nil, fmt.Errorf("writing bootstrap: %w", err)
	}
	args := []string{
		"-c", path,
		"--disable-hot-restart", // several Envoys may run on one machine (tests)
		"--concurrency", fmt.Sprint(cfg.Envoy.Concurrency),
		"--log-level", "warning",
		// A stop drains (drainEnvoy): every connection is told to go away at
		// once, not over --drain-time-s as the gradual strategy would. That
		// time stays Envoy's default (600 s): it also bounds how long the
		// connections of a listener replaced by a reload may finish their
		// calls, which a short value would cut.
		"--drain-strategy", "immediate",
	}
	env := os.Environ()
	if cfg.Edge.InProcess() {
		env = append(env, envoy.ModuleEnv(cfg.Envoy.Concurrency)...)
	}
	return procs.Start(log, "envoy", bin, args, env)
}

// BootstrapFor returns the Envoy bootstrap parameters of cfg.
func BootstrapFor(cfg *config.Config) envoy.Bootstrap {
	// A path that cannot be resolved (no executable path) leaves the
	// extension out; the edge's start fails on it first (prepareCallsModule).
	calls, _ := CallsModulePath(cfg)
	return envoy.Bootstrap{NodeID: cfg.Envoy.NodeID, AdminAddress: cfg.Envoy.AdminAddress, XDSAddress: cfg.Edge.XDSAdvertiseAddress,
		CallsModule: calls}
}

// ProbeThroughEnvoy makes one real call through Envoy's listener without
// credentials and expects the edge's own UNAUTHENTICATED answer: proof that
// the listener, routes and ext_authz path are live.
func ProbeThroughEnvoy(ctx context.Context, listenAddr string) error {
	return probeWith(ctx, listenAddr, insecure.NewCredentials())
}

// probeWith is ProbeThroughEnvoy with the given transport credentials.
func probeWith(ctx context.Context, listenAddr string, creds credentials.TransportCredentials) error {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	conn, err := grpc.NewClient(net.JoinHostPort(host, port), grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = milvuspb.NewMilvusServiceClient(conn).GetVersion(cctx, &milvuspb.GetVersionRequest{})
	st, _ := status.FromError(err)
	if st.Code() == codes.Unauthenticated && st.Message() == authz.MsgMissing {
		return nil
	}
	if err == nil {
		return errors.New("probe without credentials was allowed")
	}
	return err
}
