package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// The edge's C module (Envoy's first HTTP filter) counts every finished
// call into native Envoy stats labelled by what the call was; the edge reads
// them from Envoy's admin at each scrape. Envoy then does a few stat
// increments per call instead of building and streaming an access-log
// entry, and the edge does no work per call at all.
//
// The module defines its stats under the metrics namespace "milvus_edge":
// Envoy's flat names are milvus_edge.<name> plus the tags (what the admin's
// filter parameter matches: the flat name, not the Prometheus one), and
// /stats/prometheus names each family EnvoyStatsPrefix+<name>, with the tags
// as labels.
const (
	EnvoyStatsPrefix = "envoy_milvus_edge_"
	envoyStatsFilter = `^milvus_edge\.`

	statCalls         = "calls"               // counter: +1 per call
	statRequestBytes  = "call_request_bytes"  // counter: request body bytes
	statResponseBytes = "call_response_bytes" // counter: response body bytes
	statNQ            = "call_nq"             // counter: nq, when the call has one
	statRows          = "call_rows"           // counter: num_rows, when the call has one
	statDuration      = "call_duration_us"    // histogram: first byte in to last byte out, µs
	statUsers         = "call_users"          // counter, label user: +1 per call naming a user
)

// maxEnvoyStats bounds one read of /stats/prometheus: the module's stats
// are bounded by its label caps, far below this.
const maxEnvoyStats = 256 << 20

// callTuple is one label tuple of the module's call stats: the facts
// (api, surface, db, collection, refused), the path when it is a known
// Milvus path (else ""), and whether Milvus would count the call a
// success — nothing refused it, HTTP 200, grpc-status 0 for gRPC calls, and
// Milvus status code and error_code 0 in the response message.
type callTuple struct {
	api, surface, path, db, coll, refused string
	ok                                    bool
}

// callValues are one tuple's cumulative values.
type callValues struct {
	calls, in, out, nq, rows float64
	dur                      *rawHistogram // nil before Envoy's first flush of it
}

// rawHistogram is one Envoy histogram series: cumulative counts by upper
// bound in µs, bounds ascending.
type rawHistogram struct {
	count  uint64
	sum    float64
	bounds []float64
	counts []uint64
}

// below is the cumulative count of observations at most ub µs (exact when
// ub is one of the bounds, else that of the next bound down).
func (h *rawHistogram) below(ub float64) uint64 {
	var n uint64
	for i, b := range h.bounds {
		if b > ub {
			break
		}
		n = h.counts[i]
	}
	return n
}

// envoyCalls is what one read of the module's stats says.
type envoyCalls struct {
	tuples map[callTuple]*callValues
	users  map[string]float64
}

// EnvoyStats reads the module's stats from Envoy's admin interface.
type EnvoyStats struct {
	url    string
	client *http.Client
}

// NewEnvoyStats reads the module's stats from Envoy's admin at
// adminAddress (host:port), giving up on a read after timeout.
func NewEnvoyStats(adminAddress string, timeout time.Duration) *EnvoyStats {
	q := url.Values{"filter": {envoyStatsFilter}}
	return &EnvoyStats{url: "http://" + adminAddress + "/stats/prometheus?" + q.Encode(), client: &http.Client{Timeout: timeout}}
}

// read fetches and parses the module's stats.
func (s *EnvoyStats) read(ctx context.Context) (*envoyCalls, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("envoy GET /stats/prometheus: %s", resp.Status)
	}
	calls, err := parseEnvoyCalls(&limitedReader{r: resp.Body, n: maxEnvoyStats})
	if err != nil {
		return nil, fmt.Errorf("envoy GET /stats/prometheus: %w", err)
	}
	return calls, nil
}

var errTooLarge = errors.New("larger than 256 MiB")

// limitedReader fails a read past n bytes, where io.LimitReader would end
// the exposition silently and undercount.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
