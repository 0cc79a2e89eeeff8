package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/balance"
	"github.com/milvus-edge/milvus-edge/internal/config"
	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// balanceOptions are the balancer's options from the config's balance block.
func balanceOptions(cfg *config.Config) balance.Options {
	b := cfg.Balance
	o := balance.DefaultOptions()
	o.Enabled = b.On()
	o.EWMA = *b.EWMA
	o.Slack = b.LatencySlack.D()
	o.Hysteresis = *b.Hysteresis
	o.ErrorThreshold = b.ErrorThreshold
	o.MinPushInterval = b.MinPushInterval.D()
	return o
}

// newBalancer returns the balancer whose Overlay sets the pushed weights and drains.
func newBalancer(cfg *config.Config) *balance.Balancer {
	return balance.New(balanceOptions(cfg), time.Now)
}

// runBalancer probes every endpoint of the last build each
// balance.probe_interval (when balance.enabled), feeds the balancer, and
// pushes the weights when it says they changed (also when an operator's
// override expires). It follows config reloads at its next round.
func runBalancer(ctx context.Context, log *slog.Logger, st *reloadState, xds *xdsserver.Server, b *balance.Balancer) error {
	p := backends.NewProber()
	defer p.Close()
	interval := currentConfig(st).Balance.ProbeInterval.D()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cfg := currentConfig(st)
		b.SetOptions(balanceOptions(cfg))
		if cfg.Balance.On() {
			probeRound(ctx, p, b, cfg)
		}
		if b.Tick() {
			if _, pushed := refreshWeights(ctx, log, xds, "probes"); pushed {
				log.Info("endpoints held back or pinned", "endpoints", heldBack(b))
			}
		}
		if d := cfg.Balance.ProbeInterval.D(); d != interval {
			interval = d
			t.Reset(d)
		}
	}
}

func currentConfig(st *reloadState) *config.Config {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.cfg
}

// probeRound probes every endpoint at once, each bounded by
// balance.probe_timeout, with its cluster's credential and TLS.
func probeRound(ctx context.Context, p *backends.Prober, b *balance.Balancer, cfg *config.Config) {
	targets := b.Targets()
	p.Retain(targets)
	auth, tls := *authOf(cfg), targetsOf(cfg)
	var wg sync.WaitGroup
	for cluster, eps := range targets {
		for _, ep := range eps {
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, cfg.Balance.ProbeTimeout.D())
				defer cancel()
				d, err := p.Probe(pctx, cluster, ep, tls[cluster].TLS, auth[cluster])
				if ctx.Err() == nil {
					b.Observe(balance.Key{Cluster: cluster, Endpoint: ep}, d, err)
				}
			})
		}
	}
	wg.Wait()
}

// refreshWeights rebuilds the snapshot with the balancer's weights.
func refreshWeights(ctx context.Context, log *slog.Logger, xds *xdsserver.Server, why string) (string, bool) {
	v, pushed, err := xds.Refresh(ctx)
	if err != nil {
		log.Error("pushing weights", "why", why, "error", err)
		return "", false
	}
	if pushed {
		log.Info("weights pushed", "why", why, "xds_version", v)
	}
	return v, pushed
}

// heldBack lists the endpoints whose pushed weight is not their configured
// one, with why ("none" when every weight is as configured).
func heldBack(b *balance.Balancer) string {
	var out []string
	for _, c := range b.Clusters() {
		for _, e := range c.Endpoints {
			if e.Weight != e.Configured && !strings.HasPrefix(e.Why, "configured") || e.Override != nil {
				out = append(out, fmt.Sprintf("%s/%s weight %d: %s", c.Name, e.Address, e.Weight, e.Why))
			}
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}
