package main

import (
	"context"
	"net"
	"os"
	"os/signal"
	"syscall"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

// noopAuthz is a benchmark fixture, not a product part: an ext_authz server
// that allows every request without looking at it. The `envoy+noop-authz`
// step runs it as its own process (`bench-ladder noop-authz ADDR`), with the
// gRPC server options of the edge's filter server, so that step measures
// the floor of the design — Envoy's ext_authz call and a Go gRPC server's
// cost per call — apart from what the edge does inside Check.
type noopAuthz struct {
	authv3.UnimplementedAuthorizationServer
}

var okResponse = &authv3.CheckResponse{
	Status:       &rpcstatus.Status{Code: int32(code.Code_OK)},
	HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
}

func (noopAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return okResponse, nil
}

// serveNoopAuthz serves noopAuthz on addr until SIGTERM/SIGINT.
func serveNoopAuthz(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20), grpc.MaxConcurrentStreams(100_000), grpc.NumStreamWorkers(64))
	authv3.RegisterAuthorizationServer(s, noopAuthz{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; s.Stop() }()
	return s.Serve(lis)
}
