package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// limitsYAML turns the edge's rate limits on for the envoy+authz+proc+limits
// step. Every benchmarked call meets three limits — the edge's, its
// collection's (bench; the milvus-lite rows' bench_lite has none) and its
// user's (user "*": a bucket per user) — and the collection's properties are
// looked up in the schema cache (rate_limit.properties defaults to on). All
// are far above what the loader can send, so nothing is refused and the
// step measures the limiter's work alone.
const limitsYAML = `rate_limit:
  enabled: true
  edge: {insert_mb: 1e9, search_vps: 1e9, query_qps: 1e9}
  collections:
    - {database: default, name: bench, insert_mb: 1e9, search_vps: 1e9, query_qps: 1e9}
  callers:
    - {user: "*", insert_mb: 1e9, search_vps: 1e9, query_qps: 1e9}
`

// reloadEdge rewrites the running edge's config file as the one startEdge
// wrote with extra laid over it ("" restores it) and waits until the edge
// has hot-reloaded it. The same edge process then serves the next step, so
// a step with limits and the one without differ only in the limits.
func reloadEdge(e edgeAddrs, extra string) error {
	yml := e.yaml
	if extra != "" {
		var err error
		if yml, err = mergeYAML(string(e.yaml), extra); err != nil {
			return err
		}
	}
	// Write then rename: the edge polls the file and must not read half of it.
	tmp := e.config + ".new"
	if err := os.WriteFile(tmp, yml, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, e.config); err != nil {
		return err
	}
	// The edge's /v1/status names the loaded file by the first 8 bytes of
	// its SHA-256 (internal/app hash).
	sum := sha256.Sum256(yml)
	want := hex.EncodeToString(sum[:8])
	return waitFor("milvus-edge config reload", 10*time.Second, func() error {
		var st struct {
			Config struct {
				FileHash  string `json:"file_hash"`
				LastError string `json:"last_error"`
			} `json:"config"`
		}
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + e.admin + "/v1/status")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		switch {
		case st.Config.FileHash == want:
			return nil
		case st.Config.LastError != "":
			return errors.New("edge rejected the config: " + st.Config.LastError)
		}
		return fmt.Errorf("edge serves config %s, not %s yet", st.Config.FileHash, want)
	})
}
