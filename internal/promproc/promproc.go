// Package promproc starts short-lived Prometheus servers (Debian's prometheus
// package, installed by scripts/setup.sh) through internal/procs, for tests
// that scrape the edge with the real thing: a config written into a
// temporary folder, static targets named by the caller (the edge admin's
// /metrics, Envoy's /stats/prometheus), a one-second scrape interval,
// storage in the same folder, the web API on a free loopback port, and a
// readiness wait on /-/ready. [API] is a small client of its HTTP API:
// instant queries and the active targets, enough for assertions.
//
// The package's own service (port 9090, /var/lib/prometheus) is never used;
// scripts/setup.sh stops it when it installs the package.
package promproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/milvus-edge/milvus-edge/internal/freeport"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// StartTimeout bounds a start (Debian's 2.42 is ready in ~0.3 s on an empty
// storage folder).
const StartTimeout = 30 * time.Second

// DefaultScrapeInterval is how often targets are scraped unless
// Config.ScrapeInterval says otherwise.
const DefaultScrapeInterval = time.Second

// readyPoll is how often a start checks /-/ready.
const readyPoll = 50 * time.Millisecond

// stopGrace is how long Stop waits after SIGINT (Prometheus closes its
// storage) before SIGKILL.
const stopGrace = 10 * time.Second

// Target is one scrape job with one static target.
type Target struct {
	// Job is the job label; unique among a server's targets. Required.
	Job string
	// Addr is the target's host:port. Required.
	Addr string
	// Path is the metrics path. Default /metrics.
	Path string
	// BearerTokenFile names a file whose content is sent as
	// "Authorization: Bearer <content>" (the edge admin's token). Default
	// none.
	BearerTokenFile string
	// Labels are added to every series of the target. Default none.
	Labels map[string]string
}

// Config says how Start runs Prometheus.
type Config struct {
	// Binary is the prometheus binary. Default $PROMETHEUS_BIN, else
	// prometheus on $PATH.
	Binary string
	// Targets are the static targets. At least one is required.
	Targets []Target
	// ScrapeInterval is the scrape (and evaluation) interval; the scrape
	// timeout is the same. Default DefaultScrapeInterval (1 s).
	ScrapeInterval time.Duration
	// ProcOptions are passed to procs.Start (an output file, a log level).
	ProcOptions []procs.Option
}

// Server is a running Prometheus.
type Server struct {
	API
	proc     *procs.Proc
	dir      string
	interval time.Duration
}

// Proc is the process.
func (s *Server) Proc() *procs.Proc { return s.proc }

// Dir is the server's folder: prometheus.yml and the storage (data/).
func (s *Server) Dir() string { return s.dir }

// ScrapeInterval is the interval the server scrapes its targets at.
func (s *Server) ScrapeInterval() time.Duration { return s.interval }

// Stop stops Prometheus (SIGINT; SIGKILL after a grace period) and removes
// its folder.
func (s *Server) Stop() error {
	err := s.proc.Stop(stopGrace)
	os.RemoveAll(s.dir)
	return err
}

// Binary returns the prometheus binary Start would run for cfg, or an error
// naming how to get one.
func Binary(path string) (string, error) {
	if path == "" {
		path = os.Getenv("PROMETHEUS_BIN")
	}
	if path == "" {
		p, err := exec.LookPath("prometheus")
		if err != nil {
			return "", fmt.Errorf("prometheus: %w (set PROMETHEUS_BIN, or run `make setup`: Debian's prometheus package)", err)
		}
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("prometheus: %w (set PROMETHEUS_BIN, or run `make setup`: Debian's prometheus package)", err)
	}
	return path, nil
}

// Start writes a config for cfg.Targets into a new temporary folder, starts
// Prometheus on a free loopback port with its storage in that folder, and
// waits until /-/ready answers 200. A start whose picked port was taken
// before Prometheus bound it is tried again on another port (3 starts).
func Start(ctx context.Context, log *slog.Logger, cfg Config) (*Server, error) {
	bin, err := Binary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	if cfg.ScrapeInterval == 0 {
		cfg.ScrapeInterval = DefaultScrapeInterval
	}
	conf, err := configYAML(cfg)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		s, err := startOnce(ctx, log, cfg, bin, conf)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return s, err
		}
		log.Warn("prometheus: the picked port was taken; trying another", "attempt", attempt, "error", err)
	}
}

func startOnce(ctx context.Context, log *slog.Logger, cfg Config, bin string, conf []byte) (*Server, error) {
	dir, err := os.MkdirTemp("", "milvus-edge-prometheus-")
	if err != nil {
		return nil, fmt.Errorf("prometheus dir: %w", err)
	}
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("prometheus config: %w", err)
	}
	addr, err := freeport.Loopback()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("prometheus port: %w", err)
	}
	args := []string{
		"--config.file=" + confPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--log.level=warn", // its start-up notices are ~30 lines per start
	}
	p, err := procs.Start(log, "prometheus "+addr, bin, args, os.Environ(), cfg.ProcOptions...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w (set PROMETHEUS_BIN, or run `make setup`)", err)
	}
	s := &Server{API: API{URL: "http://" + addr}, proc: p, dir: dir, interval: cfg.ScrapeInterval}
	if err := p.WaitReady(ctx, StartTimeout, readyPoll, s.ready); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// ready fails unless /-/ready answers 200 (it answers 503 while the storage
// opens).
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/-/ready: HTTP %d", resp.StatusCode)
	}
	return nil
}

// The parts of Prometheus's config file that Start writes.
type promConfig struct {
	Global        promGlobal     `yaml:"global"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string `yaml:"scrape_interval"`
	ScrapeTimeout      string `yaml:"scrape_timeout"`
	EvaluationInterval string `yaml:"evaluation_interval"`
}

type scrapeConfig struct {
	JobName       string         `yaml:"job_name"`
	MetricsPath   string         `yaml:"metrics_path"`
	Authorization *authorization `yaml:"authorization,omitempty"`
	StaticConfigs []staticConfig `yaml:"static_configs"`
}

type authorization struct {
	Type            string `yaml:"type"`
	CredentialsFile string `yaml:"credentials_file"`
}

type staticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels,omitempty"`
}

// configYAML is Prometheus's config for cfg: one scrape job per target.
func configYAML(cfg Config) ([]byte, error) {
	if len(cfg.Targets) == 0 {
		return nil, errors.New("targets: at least one is required")
	}
	if cfg.ScrapeInterval < time.Millisecond {
		return nil, fmt.Errorf("scrape interval: must be at least 1ms, got %s", cfg.ScrapeInterval)
	}
	iv := model(cfg.ScrapeInterval)
	c := promConfig{Global: promGlobal{ScrapeInterval: iv, ScrapeTimeout: iv, EvaluationInterval: iv}}
	var errs []error
	jobs := map[string]bool{}
	for i, t := range cfg.Targets {
		switch {
		case t.Job == "":
			errs = append(errs, fmt.Errorf("targets[%d].job: required", i))
		case jobs[t.Job]:
			errs = append(errs, fmt.Errorf("targets[%d].job: %q is used by another target", i, t.Job))
		}
		jobs[t.Job] = true
		if _, _, err := net.SplitHostPort(t.Addr); err != nil {
			errs = append(errs, fmt.Errorf("targets[%d].addr: must be host:port: %w", i, err))
		}
		sc := scrapeConfig{
			JobName:       t.Job,
			MetricsPath:   firstOf(t.Path, "/metrics"),
			StaticConfigs: []staticConfig{{Targets: []string{t.Addr}, Labels: t.Labels}},
		}
		if t.BearerTokenFile != "" {
			sc.Authorization = &authorization{Type: "Bearer", CredentialsFile: t.BearerTokenFile}
		}
		c.ScrapeConfigs = append(c.ScrapeConfigs, sc)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("prometheus config: %w", err)
	}
	return append([]byte("# Written by milvus-edge's internal/promproc.\n"), b...), nil
}

// model writes d as a Prometheus duration ("1s", "500ms"): whole
// milliseconds, no fractions.
func model(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
