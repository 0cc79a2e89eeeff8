package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// activeRequestsFilter selects the requests in flight on the client
// listener's connection managers: "milvus" and, on a TLS listener,
// "milvus_plaintext" (xds/envoyres). Envoy's own admin listener, which
// answers these polls, is left out.
const activeRequestsFilter = `^http\.milvus(_plaintext)?\.downstream_rq_active$`

// drainPoll is how often the drain reads Envoy's active requests.
const drainPoll = 50 * time.Millisecond

// drainEnvoy lets the calls in flight through Envoy finish before Envoy is
// stopped. It starts Envoy's graceful drain (every client connection is told
// to go away: HTTP/2 GOAWAY, HTTP/1.1 "connection: close" on its next
// response; with --drain-strategy immediate all of them at once), then stops
// its listeners at once (no new connections: a client's next call fails
// fast with UNAVAILABLE and can go elsewhere, instead of starting a call
// that the exit would cut), and waits until no request is active, limit
// passes or Envoy exits. Calls keep flowing to the backends, ext_authz and
// ext_proc while it waits: the caller stops those only after Envoy exited.
func drainEnvoy(ctx context.Context, log *slog.Logger, admin string, exited <-chan struct{}, limit time.Duration) {
	if limit <= 0 {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, q := range []string{"graceful", ""} {
		if err := adminPost(ctx, admin, "/drain_listeners?"+q); err != nil {
			log.Warn("envoy drain: stopping envoy now", "error", err)
			return
		}
	}
	first, last := -1, -1
	for {
		n, err := activeRequests(ctx, admin)
		if err == nil {
			if first < 0 {
				first = n
			}
			last = n
			if n == 0 {
				log.Info("envoy drained", "requests_in_flight_at_stop", first, "took", time.Since(start).Round(time.Millisecond).String())
				return
			}
		}
		select {
		case <-exited:
			return // the supervisor reports the exit
		case <-ctx.Done():
			log.Warn("envoy drain: requests still in flight at envoy.drain_timeout; stopping envoy cuts them",
				"drain_timeout", limit.String(), "requests_in_flight_at_stop", first, "left", last)
			return
		case <-time.After(drainPoll):
		}
	}
}

// adminPost posts to Envoy's admin interface.
func adminPost(ctx context.Context, admin, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+admin+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return nil
}

// activeRequests sums the client listener's downstream_rq_active gauges.
func activeRequests(ctx context.Context, admin string) (int, error) {
	u := "http://" + admin + "/stats?format=json&filter=" + url.QueryEscape(activeRequestsFilter)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /stats: %s", resp.Status)
	}
	var body struct {
		Stats []struct {
			Name  string `json:"name"`
			Value *int   `json:"value"`
		} `json:"stats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("GET /stats: %w", err)
	}
	n := 0
	for _, s := range body.Stats {
		if s.Value != nil {
			n += *s.Value
		}
	}
	return n, nil
}
