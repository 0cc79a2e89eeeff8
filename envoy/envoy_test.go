package envoy

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

func TestBootstrapGolden(t *testing.T) {
	for name, b := range map[string]Bootstrap{
		"loopback": {NodeID: "milvus-edge", AdminAddress: "127.0.0.1:9901", XDSAddress: "127.0.0.1:18000"},
		"dns": {NodeID: "edge-2", AdminAddress: "0.0.0.0:9901", XDSAddress: "milvus-edge:18000",
			CallsModule: "/usr/local/lib/milvus-edge/libmilvus_edge_calls.so"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := b.Render()
			if err != nil {
				t.Fatal(err)
			}
			path := "testdata/" + name + ".golden.yaml"
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("bootstrap differs from %s (go test ./envoy -update):\n%s", path, got)
			}
		})
	}
}

func TestRenderRejectsBadAddress(t *testing.T) {
	if _, err := (Bootstrap{NodeID: "n", AdminAddress: "nope", XDSAddress: "127.0.0.1:1"}).Render(); err == nil {
		t.Fatal("bad admin address accepted")
	}
}
