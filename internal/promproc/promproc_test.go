package promproc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start starts a real Prometheus (failing the test when it cannot) that
// stops when the test ends.
func start(t *testing.T, targets ...Target) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout+5*time.Second)
	defer cancel()
	s, err := Start(ctx, testLogger(t), Config{Targets: targets})
	if err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("prometheus: %v", err)
		}
	})
	return s
}

// TestScrapeAndQuery: a real Prometheus scrapes a target that counts calls
// and wants a bearer token; after WaitScrapes the stored counter is the
// exact value served, labels from the config are on it, and the target's
// Authorization header was the token file's content.
func TestScrapeAndQuery(t *testing.T) {
	const token = "0123456789abcdef-token"
	var calls atomic.Int64
	var badAuth atomic.Value
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			badAuth.Store(got)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		calls.Add(1)
		fmt.Fprintf(w, "# TYPE demo_requests_total counter\ndemo_requests_total{function_name=\"Search\"} 7\ndemo_requests_total{function_name=\"Insert\"} 3\n")
	}))
	defer target.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, Target{Job: "demo", Addr: strings.TrimPrefix(target.URL, "http://"), Path: "/m", BearerTokenFile: tokenFile, Labels: map[string]string{"node_id": "7"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.WaitScrapes(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if v := badAuth.Load(); v != nil {
		t.Fatalf("target got Authorization %q", v)
	}
	if c := calls.Load(); c < 3 {
		t.Errorf("target scraped %d times, want at least 3 (2 stored and the next one started)", c)
	}
	got, err := s.Query(ctx, `sum by (function_name, job, node_id) (demo_requests_total)`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"Search": 7, "Insert": 3}
	if len(got) != len(want) {
		t.Fatalf("got %v, want 2 samples", got)
	}
	for _, smp := range got {
		if smp.Value != want[smp.Metric["function_name"]] || smp.Metric["job"] != "demo" || smp.Metric["node_id"] != "7" {
			t.Errorf("sample %s, want %s %v, job demo, node_id 7", smp, smp.Metric["function_name"], want[smp.Metric["function_name"]])
		}
	}
	// A scalar, an empty vector, and a bad expression.
	if got, err := s.Query(ctx, `scalar(sum(demo_requests_total))`); err != nil || len(got) != 1 || got[0].Value != 10 {
		t.Errorf("scalar: %v, %v; want one sample 10", got, err)
	}
	if got, err := s.Query(ctx, `demo_requests_total{function_name="Query"}`); err != nil || len(got) != 0 {
		t.Errorf("no match: %v, %v; want empty", got, err)
	}
	if _, err := s.Query(ctx, `sum(`); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("bad expression: %v, want a bad_data error", err)
	}
}

// TestWaitScrapesReportsFailure: a target that answers 500 makes
// WaitScrapes fail at its first scrape with Prometheus's lastError.
func TestWaitScrapesReportsFailure(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer target.Close()
	s := start(t, Target{Job: "broken", Addr: strings.TrimPrefix(target.URL, "http://")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.WaitScrapes(ctx, 1)
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "job broken") {
		t.Fatalf("WaitScrapes: %v, want the failed scrape with its 500", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no targets", Config{ScrapeInterval: time.Second}, "targets: at least one is required"},
		{"no job", Config{ScrapeInterval: time.Second, Targets: []Target{{Addr: "127.0.0.1:1"}}}, "targets[0].job: required"},
		{"same job", Config{ScrapeInterval: time.Second, Targets: []Target{{Job: "a", Addr: "127.0.0.1:1"}, {Job: "a", Addr: "127.0.0.1:2"}}}, `targets[1].job: "a" is used by another target`},
		{"bad addr", Config{ScrapeInterval: time.Second, Targets: []Target{{Job: "a", Addr: "nowhere"}}}, "targets[0].addr: must be host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := configYAML(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestConfigYAML pins what Prometheus gets: the interval as timeout and
// evaluation interval too, one job per target, the token as a file.
func TestConfigYAML(t *testing.T) {
	b, err := configYAML(Config{ScrapeInterval: 1500 * time.Millisecond, Targets: []Target{
		{Job: "milvus-edge", Addr: "127.0.0.1:18002", BearerTokenFile: "/run/secrets/t"},
		{Job: "envoy", Addr: "127.0.0.1:9901", Path: "/stats/prometheus"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := `# Written by milvus-edge's internal/promproc.
global:
    scrape_interval: 1500ms
    scrape_timeout: 1500ms
    evaluation_interval: 1500ms
scrape_configs:
    - job_name: milvus-edge
      metrics_path: /metrics
      authorization:
        type: Bearer
        credentials_file: /run/secrets/t
      static_configs:
        - targets:
            - 127.0.0.1:18002
    - job_name: envoy
      metrics_path: /stats/prometheus
      static_configs:
        - targets:
            - 127.0.0.1:9901
`
	if string(b) != want {
		t.Errorf("config:\n%s\nwant:\n%s", b, want)
	}
}

// TestMissingBinary: no binary is an error that says how to get one, never
// a skip.
func TestMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		Config{Binary: filepath.Join(t.TempDir(), "prometheus"), Targets: []Target{{Job: "a", Addr: "127.0.0.1:1"}}})
	if err == nil || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("err %v, want one naming make setup", err)
	}
}
