package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	xdsserver "github.com/milvus-edge/milvus-edge/xds/server"
)

// serveAdmin serves /healthz, /metrics, /v1/* and /debug/pprof on the edge admin
// address, every one of them behind adminGuard (browser requests refused; the
// token of edge.admin_token_file, when set).
func serveAdmin(ctx context.Context, log *slog.Logger, lis net.Listener, st *reloadState, xds *xdsserver.Server, f *Filters) error {
	pol := f.Policy
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", metricsHandler(st, xds, f))
	// Go's profiler, for `go tool pprof http://<admin>/debug/pprof/profile`
	// (with a token: fetch the profile with curl, then `go tool pprof FILE`).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /v1/policy", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(pol.Status())
	})
	mux.HandleFunc("POST /v1/cache/invalidate", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Cluster    string `json:"cluster"`
			DB         string `json:"db"`
			Collection string `json:"collection"`
		}
		if r.ContentLength != 0 {
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
				http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		invalidateSchemas(f, st, req.Cluster, req.DB, req.Collection)
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"invalidated": req})
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		st.mu.Lock()
		body := map[string]any{
			"config": map[string]any{
				"file_hash": st.fileHash, "xds_version": st.version,
				"loaded_at": st.loadedAt.UTC().Format(time.RFC3339Nano), "last_error": st.lastError,
			},
			"xds":          xds.Status(),
			"policy":       pol.Status(),
			"schema_cache": f.Schemas.Stats(),
			"rate_limit":   f.Limits.Status(),
			"auth":         f.AuthStatus(),
			"discovery":    f.Discovery.Status(),
		}
		st.mu.Unlock()
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	(&balanceAdmin{log: log, st: st, xds: xds, b: f.Balance, envoy: &http.Client{}}).register(mux)
	guard, err := newAdminGuard(log, st, lis, mux)
	if err != nil {
		lis.Close()
		return err
	}
	srv := &http.Server{Handler: guard, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		return fmt.Errorf("admin server: %w", err)
	}
}

// invalidateSchemas drops cached schemas: one collection, a database, or all;
// an empty cluster means every configured cluster.
func invalidateSchemas(f *Filters, st *reloadState, cluster, db, collection string) {
	if db == "" && collection == "" {
		f.Schemas.InvalidateAll()
		return
	}
	if db == "" {
		db = "default"
	}
	clusters := []string{cluster}
	if cluster == "" {
		st.mu.Lock()
		clusters = clusters[:0]
		for _, c := range st.cfg.Clusters {
			clusters = append(clusters, c.Name)
		}
		st.mu.Unlock()
	}
	for _, c := range clusters {
		if collection == "" {
			f.Schemas.InvalidateDB(c, db)
		} else {
			f.Schemas.Invalidate(c, db, collection)
		}
	}
}
