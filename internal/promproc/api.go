package promproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// API is a client of a Prometheus server's HTTP API (/api/v1): instant
// queries and the active targets.
type API struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:9090.
	URL string
	// HTTP is the client used. Default a client with a 10 s timeout.
	HTTP *http.Client
}

func (a API) client() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Sample is one element of an instant query's result: its labels and value
// (a scalar result is one Sample without labels).
type Sample struct {
	Metric map[string]string
	Value  float64
}

// String prints the sample as PromQL's text does: {a="b"} 1.
func (s Sample) String() string {
	keys := make([]string, 0, len(s.Metric))
	for k := range s.Metric {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, s.Metric[k])
	}
	return "{" + strings.Join(parts, ", ") + "} " + strconv.FormatFloat(s.Value, 'g', -1, 64)
}

// apiResponse is the envelope of every /api/v1 answer.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// get calls path with query parameters q and decodes the answer's data into out.
func (a API) get(ctx context.Context, path string, q url.Values, out any) error {
	u := a.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("GET %s: HTTP %d, not an API answer: %.200q", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("GET %s: HTTP %d, %s: %s", path, resp.StatusCode, r.ErrorType, r.Error)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		return fmt.Errorf("GET %s: data: %w", path, err)
	}
	return nil
}

// Query evaluates expr at the current time (/api/v1/query) and returns the
// result: the samples of a vector, or one sample for a scalar. A range
// vector or string result is an error (instant queries of dashboards
// return neither).
func (a API) Query(ctx context.Context, expr string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := a.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return nil, fmt.Errorf("query %s: result: %w", expr, err)
		}
		out := make([]Sample, 0, len(vec))
		for _, v := range vec {
			f, err := sampleValue(v.Value)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", expr, err)
			}
			out = append(out, Sample{Metric: v.Metric, Value: f})
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, fmt.Errorf("query %s: result: %w", expr, err)
		}
		f, err := sampleValue(v)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		return []Sample{{Metric: map[string]string{}, Value: f}}, nil
	default:
		return nil, fmt.Errorf("query %s: result type %q, want vector or scalar", expr, data.ResultType)
	}
}

// sampleValue reads the value of a [time, "value"] pair ("NaN" and "+Inf"
// included).
func sampleValue(v [2]any) (float64, error) {
	s, ok := v[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", v[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("sample value: %w", err)
	}
	return f, nil
}

// TargetStatus is what /api/v1/targets says about an active target.
type TargetStatus struct {
	Labels     map[string]string `json:"labels"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Health     string            `json:"health"` // up, down or unknown (not scraped yet)
	LastError  string            `json:"lastError"`
	LastScrape time.Time         `json:"lastScrape"` // when the last scrape started
}

// Targets returns the active targets.
func (a API) Targets(ctx context.Context) ([]TargetStatus, error) {
	var data struct {
		ActiveTargets []TargetStatus `json:"activeTargets"`
	}
	if err := a.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, err
	}
	return data.ActiveTargets, nil
}

// WaitScrapes waits until every active target has been scraped
// successfully n times since the call, the samples of each of those
// scrapes stored: it waits for n+1 scrapes to start, as a target's scrapes
// run one after the other and a scrape's samples are stored before the next
// one starts. A failed scrape is an error naming the target and its
// lastError; so is ctx ending first.
func (s *Server) WaitScrapes(ctx context.Context, n int) error {
	since := time.Now()
	seen := map[string]map[time.Time]bool{} // scrape URL → scrape start times after since
	poll := min(s.interval/10, 100*time.Millisecond)
	for {
		ts, err := s.Targets(ctx)
		if err != nil {
			return err
		}
		done := len(ts) > 0
		for _, t := range ts {
			if t.LastScrape.After(since) {
				if t.Health != "up" {
					return fmt.Errorf("prometheus: scrape of %s (job %s) failed: %s", t.ScrapeURL, t.Labels["job"], t.LastError)
				}
				if seen[t.ScrapeURL] == nil {
					seen[t.ScrapeURL] = map[time.Time]bool{}
				}
				seen[t.ScrapeURL][t.LastScrape] = true
			}
			if len(seen[t.ScrapeURL]) < n+1 {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus: waiting for %d scrapes of every target: %w (seen: %v)", n, ctx.Err(), counts(seen))
		case <-time.After(poll):
		}
	}
}

func counts(seen map[string]map[time.Time]bool) map[string]int {
	out := map[string]int{}
	for u, m := range seen {
		out[u] = len(m)
	}
	return out
}
