package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The edge's calls module (callsmodule/, Envoy's first HTTP filter) counts
// every finished call in a table of its own, labelled by what the call was,
// and serves the table on Envoy's admin interface (GET /milvus_edge/calls,
// the module's bootstrap extension) in the Prometheus text format; the edge
// reads it at each scrape. Envoy then does a few atomic adds per call
// instead of building and streaming an access-log entry (or bumping
// labelled Envoy stats, ~3 µs each), and the edge does no work per call at
// all. Each family is EnvoyStatsPrefix+<name>, the labels as below.
const (
	EnvoyStatsPrefix = "envoy_milvus_edge_"
	envoyStatsPath   = "/milvus_edge/calls"

	statCalls         = "calls"               // counter: +1 per call
	statRequestBytes  = "call_request_bytes"  // counter: request body bytes
	statResponseBytes = "call_response_bytes" // counter: response body bytes
	statNQ            = "call_nq"             // counter: nq, when the call has one
	statRows          = "call_rows"           // counter: num_rows, when the call has one
	statDuration      = "call_duration_us"    // histogram: first byte in to last byte out, µs
	statUsers         = "call_users"          // counter, label user: +1 per call naming a user
)

// maxEnvoyStats bounds one read of the module's counts: its label caps
// bound them far below this.
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
	dur                      *rawHistogram
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
	return &EnvoyStats{url: "http://" + adminAddress + envoyStatsPath, client: &http.Client{Timeout: timeout}}
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
		return nil, fmt.Errorf("envoy GET %s: %s", envoyStatsPath, resp.Status)
	}
	calls, err := parseEnvoyCalls(&limitedReader{r: resp.Body, n: maxEnvoyStats})
	if err != nil {
		return nil, fmt.Errorf("envoy GET %s: %w", envoyStatsPath, err)
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
