// Package backendproc starts the real Milvus backends as child processes
// (through internal/procs) and waits until they serve: milvus-lite and a Milvus
// standalone from PyPI `milvus`. `milvus-edge run`, internal/testenv, the
// backends tests and the bench all start their backends here.
package backendproc

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// MilvusLiteTimeout bounds a milvus-lite start.
const MilvusLiteTimeout = 90 * time.Second

// StartMilvusLite launches one milvus-lite server and waits until it answers
// CheckHealth. The binary is l.Command, else $MILVUS_LITE_BIN, else
// .venv/bin/milvus-lite; opts go to procs.Start.
func StartMilvusLite(ctx context.Context, log *slog.Logger, l config.MilvusLite, opts ...procs.Option) (*procs.Proc, error) {
	bin := firstOf(l.Command, os.Getenv("MILVUS_LITE_BIN"), ".venv/bin/milvus-lite")
	host, port, err := net.SplitHostPort(l.Address)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("milvus-lite data dir: %w", err)
	}
	name := "milvus-lite " + l.Address
	p, err := procs.Start(log, name, bin, []string{"server", "--data-dir", l.DataDir, "--host", host, "--port", port}, os.Environ(), opts...)
	if err != nil {
		return nil, fmt.Errorf("%w (set launch.milvus_lite[].command or MILVUS_LITE_BIN, or run `make setup`)", err)
	}
	if err := waitReady(ctx, p, MilvusLiteTimeout, func(ctx context.Context) error { return CheckHealth(ctx, l.Address, "", "") }); err != nil {
		_ = p.Stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}

// CheckHealth makes one CheckHealth call to addr, with Milvus credentials
// (the authorization header as pymilvus sends it) when user is set, and
// fails unless the answer is healthy.
func CheckHealth(ctx context.Context, addr, user, password string) error {
	return checkHealth(ctx, addr, insecure.NewCredentials(), user, password)
}

// checkHealth is CheckHealth over the given transport (plaintext or TLS).
func checkHealth(ctx context.Context, addr string, creds credentials.TransportCredentials, user, password string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	if user != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := milvuspb.NewMilvusServiceClient(conn).CheckHealth(ctx, &milvuspb.CheckHealthRequest{})
	switch {
	case err != nil:
		return err
	case resp.GetStatus().GetCode() != 0:
		return fmt.Errorf("CheckHealth: code %d: %s", resp.GetStatus().GetCode(), resp.GetStatus().GetReason())
	case !resp.GetIsHealthy():
		return fmt.Errorf("CheckHealth: not healthy: %v", resp.GetReasons())
	}
	return nil
}

// waitReady polls ready every 200 ms (procs.Proc.WaitReady).
func waitReady(ctx context.Context, p *procs.Proc, limit time.Duration, ready func(context.Context) error) error {
	return p.WaitReady(ctx, limit, 200*time.Millisecond, ready)
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
