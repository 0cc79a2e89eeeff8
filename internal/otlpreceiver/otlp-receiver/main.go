// Command otlp-receiver runs otlpreceiver as a process, for tests that are
// not Go (test/e2e): an OTLP/gRPC trace receiver, and a small HTTP API over
// what it received.
//
//	otlp-receiver -grpc 127.0.0.1:4317 -http 127.0.0.1:4318
//
// It prints "otlp-receiver ready" once both listen, and stops on SIGINT or
// SIGTERM. HTTP: GET /v1/traces/<trace id> (the trace's spans, JSON, in
// start order), GET /v1/spans (every span), GET /v1/tree/<trace id> (the
// trace as an indented text tree).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/milvus-edge/milvus-edge/internal/otlpreceiver"
)

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:4317", "OTLP/gRPC listen address")
	httpAddr := flag.String("http", "127.0.0.1:4318", "query API listen address")
	flag.Parse()
	if err := run(*grpcAddr, *httpAddr); err != nil {
		fmt.Fprintln(os.Stderr, "otlp-receiver:", err)
		os.Exit(1)
	}
}

func run(grpcAddr, httpAddr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	glis, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return fmt.Errorf("-grpc: %w", err)
	}
	hlis, err := net.Listen("tcp", httpAddr)
	if err != nil {
		glis.Close()
		return fmt.Errorf("-http: %w", err)
	}
	r := otlpreceiver.New(1 << 20)
	srv := &http.Server{Handler: api(r)}
	errc := make(chan error, 2)
	go func() { errc <- r.Serve(ctx, glis) }()
	go func() { errc <- srv.Serve(hlis) }()
	fmt.Println("otlp-receiver ready")
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = srv.Close()
	stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func api(r *otlpreceiver.Receiver) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /v1/spans", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"spans": r.Spans()})
	})
	mux.HandleFunc("GET /v1/traces/{id}", func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, map[string]any{"spans": r.Trace(strings.ToLower(req.PathValue("id")))})
	})
	mux.HandleFunc("GET /v1/tree/{id}", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprint(w, otlpreceiver.Tree(r.Trace(strings.ToLower(req.PathValue("id")))))
	})
	return mux
}
