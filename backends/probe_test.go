package backends_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// Probe against a real milvus-lite: a latency; a port nobody listens on: an
// error; after Retain or Close the connection is gone.
func TestProbeMilvusLite(t *testing.T) {
	addr := testenv.MilvusLite(t)
	dead := testenv.FreeAddr(t)
	p := backends.NewProber()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		d, err := p.Probe(pctx, "c1", addr, nil, "")
		cancel()
		if err != nil || d <= 0 || d > 2*time.Second {
			t.Fatalf("probe %d of milvus-lite: %v, %v", i, d, err)
		}
		t.Logf("probe %d: %v", i, d)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := p.Probe(pctx, "c1", dead, nil, "")
	cancel()
	if err == nil {
		t.Fatal("a probe of a closed port passed")
	}
	t.Logf("closed port: %v", err)
	// A bad CA is the endpoint's error, not a panic.
	if _, err := p.Probe(ctx, "c2", addr, &backends.TLS{ServerName: "x", CA: []byte("nope")}, ""); err == nil {
		t.Fatal("a probe with a CA holding no certificate passed")
	}
	p.Retain(map[string][]string{"c1": {addr}})
	if _, err := p.Probe(ctx, "c1", addr, nil, ""); err != nil {
		t.Fatalf("after Retain: %v", err)
	}
	p.Close()
	if _, err := p.Probe(ctx, "c1", addr, nil, ""); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
