package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/inproc"
	"github.com/milvus-edge/milvus-edge/metrics"
)

// The in-process module's counters — its checks (milvus_edge_authz_*), login
// guard, policy decision cache, rate limiter and schema cache — live in
// Envoy's process. The module reports them to the edge every
// moduleReportEvery over the sync service; the edge's GET /metrics serves
// the last report beside its own series, labelled process="envoy". A report
// older than moduleReportStale (a module gone) is left out.
const (
	syncReport        = "/" + syncService + "/Report"
	moduleReportEvery = time.Second
	moduleReportStale = 10 * time.Second
)

// moduleLabel marks the module's series apart from the edge's own.
var moduleLabel = prometheus.Labels{"process": "envoy"}

// timedChecker records each check of the module as the filter server's
// interceptor records ext_authz's.
type timedChecker struct {
	c inproc.Checker
	m *metrics.Filters
}

func (t timedChecker) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := time.Now()
	resp, err := t.c.Check(ctx, req)
	t.m.ObserveCheck(time.Since(start), resp, err)
	return resp, err
}

// reportMetrics sends the module's counters to the edge until the process
// ends; a failed report is retried at the next tick.
func reportMetrics(conn *grpc.ClientConn, log *slog.Logger, node string) {
	var reg *prometheus.Registry
	var last *Filters
	failing := false
	for range time.Tick(moduleReportEvery) {
		if f := module.cur.Load(); f != last {
			// New filters (a rebuild) count from zero: a counter reset.
			reg, last = moduleRegistry(node, f), f
		}
		mfs, err := reg.Gather()
		if err == nil {
			var b bytes.Buffer
			enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeProtoDelim))
			for _, mf := range mfs {
				if err = enc.Encode(mf); err != nil {
					break
				}
			}
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), moduleReportEvery)
				err = conn.Invoke(ctx, syncReport, wrapperspb.Bytes(b.Bytes()), &emptypb.Empty{})
				cancel()
			}
		}
		if err != nil && !failing {
			log.Warn("metrics report to the edge failed; retrying every second", "error", err)
		}
		failing = err != nil
	}
}

// moduleRegistry gathers the counters of the module's filters f.
func moduleRegistry(node string, f *Filters) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// The Go runtime's CPU classes say what the module costs inside Envoy
	// (go_cpu_classes_{user,gc_total}_cpu_seconds_total{process="envoy"},
	// read by make bench).
	goCPU := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/(user|gc/total):`)}))
	prometheus.WrapRegistererWith(moduleLabel, reg).MustRegister(f.Timing, metrics.NewStats(node, filterSources(f)), goCPU)
	return reg
}

// report stores a module's metrics (the Report method).
func (h *SyncHub) report(b []byte) error {
	var mfs []*dto.MetricFamily
	dec := expfmt.NewDecoder(bytes.NewReader(b), expfmt.NewFormat(expfmt.TypeProtoDelim))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("module metrics: %w", err)
		}
		mfs = append(mfs, mf)
	}
	h.mu.Lock()
	h.metrics, h.metricsAt = mfs, time.Now()
	h.mu.Unlock()
	return nil
}

// Gather implements prometheus.Gatherer with the module's last report.
func (h *SyncHub) Gather() ([]*dto.MetricFamily, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.metricsAt) > moduleReportStale {
		return nil, nil
	}
	return h.metrics, nil
}
