package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEnvoyAdmin stands in for Envoy's admin interface (the real one is
// driven by test/integration's stop tests): it records the drain posts and
// answers /stats with the active requests, one fewer per read down to floor.
type fakeEnvoyAdmin struct {
	mu      sync.Mutex
	posts   []string
	active  int
	floor   int
	filters []string
}

func (f *fakeEnvoyAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/drain_listeners":
		f.posts = append(f.posts, r.URL.RawQuery)
	case r.Method == http.MethodGet && r.URL.Path == "/stats":
		f.filters = append(f.filters, r.URL.Query().Get("filter"))
		fmt.Fprintf(w, `{"stats":[{"name":"http.milvus.downstream_rq_active","value":%d},{"name":"http.milvus_plaintext.downstream_rq_active","value":0}]}`, f.active)
		if f.active > f.floor {
			f.active--
		}
	default:
		http.NotFound(w, r)
	}
}

func TestDrainEnvoyWaitsForRequests(t *testing.T) {
	admin := &fakeEnvoyAdmin{active: 3}
	srv := httptest.NewServer(admin)
	defer srv.Close()
	var logs bytes.Buffer
	start := time.Now()
	drainEnvoy(t.Context(), slog.New(slog.NewTextHandler(&logs, nil)), strings.TrimPrefix(srv.URL, "http://"), nil, 5*time.Second)
	took := time.Since(start)
	if got := strings.Join(admin.posts, ","); got != "graceful," {
		t.Errorf("drain posts %q, want graceful then plain", got)
	}
	if len(admin.filters) != 4 || admin.filters[0] != activeRequestsFilter {
		t.Errorf("stats reads %q, want 4 with %q", admin.filters, activeRequestsFilter)
	}
	if took < 3*drainPoll || took > 2*time.Second {
		t.Errorf("drain took %v, want about 3 polls", took)
	}
	if !strings.Contains(logs.String(), "envoy drained") || !strings.Contains(logs.String(), "requests_in_flight_at_stop=3") {
		t.Errorf("log %q", logs.String())
	}
}

func TestDrainEnvoyBound(t *testing.T) {
	admin := &fakeEnvoyAdmin{active: 2, floor: 1}
	srv := httptest.NewServer(admin)
	defer srv.Close()
	var logs bytes.Buffer
	start := time.Now()
	drainEnvoy(t.Context(), slog.New(slog.NewTextHandler(&logs, nil)), strings.TrimPrefix(srv.URL, "http://"), nil, 300*time.Millisecond)
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("drain took %v, want the 300ms bound", took)
	}
	if !strings.Contains(logs.String(), "requests still in flight") || !strings.Contains(logs.String(), "left=1") {
		t.Errorf("log %q", logs.String())
	}
}

func TestDrainEnvoyEndsWhenEnvoyExits(t *testing.T) {
	admin := &fakeEnvoyAdmin{active: 1, floor: 1}
	srv := httptest.NewServer(admin)
	defer srv.Close()
	exited := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(exited) })
	start := time.Now()
	drainEnvoy(t.Context(), slog.New(slog.DiscardHandler), strings.TrimPrefix(srv.URL, "http://"), exited, 5*time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("drain went on %v after Envoy exited", took)
	}
}

func TestDrainEnvoyNoAdmin(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	var logs bytes.Buffer
	start := time.Now()
	drainEnvoy(t.Context(), slog.New(slog.NewTextHandler(&logs, nil)), addr, nil, 5*time.Second)
	if took := time.Since(start); took > 2*time.Second || !strings.Contains(logs.String(), "stopping envoy now") {
		t.Errorf("unreachable admin: took %v, log %q", took, logs.String())
	}
}
