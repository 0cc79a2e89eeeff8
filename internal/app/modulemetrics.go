package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/milvus-edge/milvus-edge/metrics"
)

// The in-process module's counters — its checks (milvus_edge_authz_*), login
// guard, policy decision cache, rate limiter and schema cache — live in
// Envoy's process. At each scrape of the edge's GET /metrics the edge asks
// the module for them over the sync stream (SyncEvent.ReportNow) and waits
// up to moduleReportWait for the answer (the Report method); the edge then
// adds them into its own series (metricsmerge.go), so dashboards and
// queries see one set of counters in either mode. Without an answer in
// time the last report serves if it is younger than moduleReportStale.
const (
	syncReport        = "/" + syncService + "/Report"
	moduleReportWait  = 500 * time.Millisecond
	moduleReportStale = 10 * time.Second
)

// moduleLabel marks the module's Go runtime series apart from the edge's
// own (they cannot be added).
var moduleLabel = prometheus.Labels{"process": "envoy"}

// sendReport answers the edge's ReportNow seq with the module's counters.
func (m *moduleSync) sendReport(seq uint64) {
	f := module.cur.Load()
	m.regMu.Lock()
	if m.regOf != f {
		// New filters (a rebuild) count from zero: a counter reset.
		m.reg, m.regOf = moduleRegistry(m.node, f), f
	}
	reg := m.reg
	m.regMu.Unlock()
	mfs, err := reg.Gather()
	if err == nil {
		b := protowire.AppendVarint(nil, seq)
		buf := bytes.NewBuffer(b)
		enc := expfmt.NewEncoder(buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
		for _, mf := range mfs {
			if err = enc.Encode(mf); err != nil {
				break
			}
		}
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), moduleReportWait)
			err = m.conn.Invoke(ctx, syncReport, wrapperspb.Bytes(buf.Bytes()), &emptypb.Empty{})
			cancel()
		}
	}
	if err != nil {
		m.log.Warn("metrics report to the edge failed", "error", err)
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
	reg.MustRegister(f.Timing, metrics.NewStats(node, filterSources(f)))
	prometheus.WrapRegistererWith(moduleLabel, reg).MustRegister(goCPU)
	return reg
}

// report stores a module's answer (the Report method): the ReportNow
// sequence number it answers, then its families.
func (h *SyncHub) report(b []byte) error {
	seq, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return errors.New("module metrics: no sequence number")
	}
	var mfs []*dto.MetricFamily
	dec := expfmt.NewDecoder(bytes.NewReader(b[n:]), expfmt.NewFormat(expfmt.TypeProtoDelim))
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
	defer h.mu.Unlock()
	if seq >= h.metricsSeq {
		h.metrics, h.metricsSeq, h.metricsAt = mfs, seq, time.Now()
	}
	close(h.reported)
	h.reported = make(chan struct{})
	return nil
}

// Gather implements prometheus.Gatherer: the module's counters, asked for
// now. Without a module connected: none.
func (h *SyncHub) Gather() ([]*dto.MetricFamily, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return nil, nil
	}
	h.reportSeq++
	seq := h.reportSeq
	h.publishLocked(SyncEvent{ReportNow: seq})
	timeout := time.NewTimer(moduleReportWait)
	defer timeout.Stop()
	for h.metricsSeq < seq {
		ch := h.reported
		h.mu.Unlock()
		select {
		case <-ch:
			h.mu.Lock()
		case <-timeout.C:
			h.mu.Lock()
			if time.Since(h.metricsAt) > moduleReportStale {
				return nil, nil
			}
			return h.metrics, nil
		}
	}
	return h.metrics, nil
}
