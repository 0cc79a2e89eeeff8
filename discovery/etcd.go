package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/milvus-edge/milvus-edge/internal/config"
)

// Timings of a watcher (variables so that tests may shorten them).
var (
	// listTimeout bounds the initial Get of the sessions.
	listTimeout = 5 * time.Second
	// probeEvery is how often a watching watcher checks that etcd still
	// answers: a watch on an unreachable etcd just waits, so an outage is
	// noticed within probeEvery + probeTimeout.
	probeEvery   = 2 * time.Second
	probeTimeout = 2 * time.Second
	// Reconnect backoff: doubling from minBackoff up to maxBackoff; reset
	// after a watch that lasted longer than maxBackoff.
	minBackoff = 200 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// watcher follows one cluster's proxy sessions in etcd.
type watcher struct {
	log      *slog.Logger
	cluster  string
	src      config.EtcdDiscovery
	prefix   string
	port     int
	onChange func()
	now      func() time.Time

	cancel context.CancelFunc
	done   chan struct{}

	// mu guards the fields below.
	mu          sync.Mutex
	static      []string
	connected   bool
	lostAt      time.Time // when etcd became unreachable after having been read; zero otherwise
	lastErr     string
	lastErrAt   time.Time
	revision    int64
	sessions    map[string]Session // by key suffix (proxy-<id>)
	discovered  []string           // client addresses of the live sessions
	used        []string           // in use, as last reported
	usedIsDisc  bool
	changedAt   time.Time
	expiryTimer *time.Timer // ends keep_last_for during an outage
	// handover is how long the static endpoints keep taking calls after
	// discovered ones replace them: new hosts take none until they pass
	// their first health check. handoverUntil ends the current one.
	handover      time.Duration
	handoverUntil time.Time
	handoverTimer *time.Timer
}

func newWatcher(log *slog.Logger, cluster string, src config.EtcdDiscovery, static []string, handover time.Duration, onChange func()) *watcher {
	w := &watcher{
		log: log, cluster: cluster, src: src, prefix: src.SessionPrefix(), port: src.Port(),
		onChange: onChange, now: time.Now, static: static, handover: handover, sessions: map[string]Session{},
	}
	w.used, w.changedAt = static, w.now()
	return w
}

func (w *watcher) start(ctx context.Context) {
	if w.done != nil {
		return
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go w.run(ctx)
}

func (w *watcher) stop() {
	if w.done != nil {
		w.cancel()
		<-w.done
	}
	w.mu.Lock()
	for _, t := range []*time.Timer{w.expiryTimer, w.handoverTimer} {
		if t != nil {
			t.Stop()
		}
	}
	w.mu.Unlock()
}

func (w *watcher) setStatic(static []string, handover time.Duration) {
	w.mu.Lock()
	w.static, w.handover = static, handover
	w.mu.Unlock()
	w.report()
}

// inHandover says the static endpoints still take calls beside newly
// discovered ones.
func (w *watcher) inHandover() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now().Before(w.handoverUntil)
}

// run lists and watches until ctx ends, reconnecting with backoff.
func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	cli, err := newClient(w.src)
	if err != nil {
		w.fail(err)
		<-ctx.Done()
		return
	}
	defer cli.Close()
	backoff := minBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := w.listAndWatch(ctx, cli)
		if ctx.Err() != nil {
			return
		}
		w.fail(err)
		if time.Since(started) > maxBackoff {
			backoff = minBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listAndWatch reads every proxy session, then applies the changes from the
// next revision on until the watch fails or etcd stops answering.
func (w *watcher) listAndWatch(ctx context.Context, cli *clientv3.Client) error {
	lctx, cancel := context.WithTimeout(ctx, listTimeout)
	resp, err := cli.Get(lctx, w.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return fmt.Errorf("listing %s: %w", w.prefix, err)
	}
	w.list(resp.Kvs, resp.Header.Revision)
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := cli.Watch(wctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	probe := time.NewTicker(probeEvery)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-wch:
			if !ok {
				return errors.New("the watch ended")
			}
			if err := wr.Err(); err != nil {
				// A compacted revision too: list again.
				return fmt.Errorf("watching %s: %w", w.prefix, err)
			}
			if wr.Canceled {
				return fmt.Errorf("watching %s: canceled by etcd", w.prefix)
			}
			w.apply(wr.Events, wr.Header.Revision)
		case <-probe.C:
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			_, err := cli.Get(pctx, w.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			cancel()
			if err != nil {
				return fmt.Errorf("etcd does not answer: %w", err)
			}
		}
	}
}

// list replaces the sessions with a full read.
func (w *watcher) list(kvs []*mvccpb.KeyValue, rev int64) {
	w.mu.Lock()
	w.sessions = map[string]Session{}
	for _, kv := range kvs {
		w.putLocked(string(kv.Key), kv.Value)
	}
	w.connected, w.lostAt, w.revision = true, time.Time{}, rev
	if w.expiryTimer != nil {
		w.expiryTimer.Stop()
	}
	w.discovered = endpointsOf(w.sessions, w.port)
	w.mu.Unlock()
	w.report()
}

// apply applies watch events.
func (w *watcher) apply(evs []*clientv3.Event, rev int64) {
	w.mu.Lock()
	for _, ev := range evs {
		switch ev.Type {
		case mvccpb.PUT:
			w.putLocked(string(ev.Kv.Key), ev.Kv.Value)
		case mvccpb.DELETE:
			delete(w.sessions, keyName(string(ev.Kv.Key)))
		}
	}
	w.revision = rev
	w.discovered = endpointsOf(w.sessions, w.port)
	w.mu.Unlock()
	w.report()
}

// putLocked records one session; one that cannot be read is left out and reported.
func (w *watcher) putLocked(key string, value []byte) {
	name := keyName(key)
	s, err := parseSession(value)
	if err == nil {
		_, err = clientAddress(s, w.port)
	}
	if err != nil {
		delete(w.sessions, name)
		w.lastErr, w.lastErrAt = fmt.Sprintf("session %s left out: %v", key, err), w.now()
		w.log.Warn("discovery: a proxy session left out", "key", key, "error", err)
		return
	}
	w.sessions[name] = s
}

// keyName is a session key's last part (proxy-<id>).
func keyName(key string) string { return key[strings.LastIndex(key, "/")+1:] }

// fail records that etcd could not be read or watched.
func (w *watcher) fail(err error) {
	w.mu.Lock()
	wasConnected := w.connected
	w.connected = false
	w.lastErr, w.lastErrAt = err.Error(), w.now()
	if wasConnected && len(w.discovered) > 0 {
		w.lostAt = w.now()
		if w.expiryTimer != nil {
			w.expiryTimer.Stop()
		}
		w.expiryTimer = time.AfterFunc(w.src.KeepLastFor.D(), w.report)
	}
	w.mu.Unlock()
	if wasConnected {
		w.log.Warn("discovery: etcd unreachable; keeping the last endpoints for keep_last_for, then the static ones",
			"error", err, "keep_last_for", w.src.KeepLastFor.D().String())
	} else {
		w.log.Debug("discovery: etcd still unreachable", "error", err)
	}
	w.report()
}

// inUse returns the endpoints the cluster uses now and whether they are
// discovered ones (false: the static ones).
func (w *watcher) inUse() ([]string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inUseLocked()
}

func (w *watcher) inUseLocked() ([]string, bool) {
	if len(w.discovered) > 0 {
		if w.connected || len(w.static) == 0 || w.now().Sub(w.lostAt) < w.src.KeepLastFor.D() {
			return w.discovered, true
		}
	}
	return w.static, false
}

// report calls onChange when the endpoints in use changed since last reported.
func (w *watcher) report() {
	w.mu.Lock()
	eps, disc := w.inUseLocked()
	changed := disc != w.usedIsDisc || !slices.Equal(eps, w.used)
	if changed {
		if disc && !w.usedIsDisc && w.handover > 0 && len(w.static) > 0 {
			// From static to discovered: both take calls until the
			// new hosts have had their first health check.
			w.handoverUntil = w.now().Add(w.handover)
			if w.handoverTimer != nil {
				w.handoverTimer.Stop()
			}
			w.handoverTimer = time.AfterFunc(w.handover, w.onChange)
		}
		if !disc {
			w.handoverUntil = time.Time{}
		}
		w.used, w.usedIsDisc, w.changedAt = eps, disc, w.now()
	}
	w.mu.Unlock()
	if changed {
		w.log.Info("discovery: endpoints in use changed", "endpoints", eps, "discovered", disc)
		w.onChange()
	}
}

func (w *watcher) status() ClusterStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	eps, disc := w.inUseLocked()
	st := ClusterStatus{
		Cluster:       w.cluster,
		Source:        "etcd " + strings.Join(w.src.Endpoints, ",") + " " + w.prefix,
		Connected:     w.connected,
		LastError:     w.lastErr,
		Revision:      w.revision,
		Sessions:      []SessionStatus{},
		Endpoints:     append([]string{}, eps...),
		UsingFallback: !disc,
		ChangedAt:     w.changedAt,
	}
	if disc {
		for _, a := range w.static {
			if !slices.Contains(eps, a) {
				st.Standby = append(st.Standby, a)
			}
		}
		st.Handover = w.now().Before(w.handoverUntil)
	}
	if w.lastErr != "" {
		t := w.lastErrAt
		st.LastErrorAt = &t
	}
	for k, s := range w.sessions {
		ss := SessionStatus{Key: k, ServerID: s.ServerID, Address: s.Address, Stopping: s.Stopping, Version: s.Version}
		if !s.Stopping {
			ss.Endpoint, _ = clientAddress(s, w.port)
		}
		st.Sessions = append(st.Sessions, ss)
	}
	slices.SortFunc(st.Sessions, func(a, b SessionStatus) int { return strings.Compare(a.Key, b.Key) })
	return st
}

// newClient makes an etcd client (lazy: no I/O until the first call).
func newClient(src config.EtcdDiscovery) (*clientv3.Client, error) {
	user, password := src.Auth()
	cfg := clientv3.Config{
		Endpoints:            src.Endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Username:             user,
		Password:             password.Reveal(),
		Logger:               zap.NewNop(),
	}
	if t := src.TLS; t != nil {
		ca, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("discovery.etcd.tls.ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("discovery.etcd.tls.ca_file: no certificate in %s", t.CAFile)
		}
		cfg.TLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if t.CertFile != "" {
			pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("discovery.etcd.tls: client certificate: %w", err)
			}
			cfg.TLS.Certificates = []tls.Certificate{pair}
		}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return cli, nil
}
