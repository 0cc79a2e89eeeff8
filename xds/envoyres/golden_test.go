package envoyres_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/xds/envoyres"
	"github.com/milvus-edge/milvus-edge/xds/server"
	"github.com/milvus-edge/milvus-edge/xds/translate"
)

// goldenNames are the addresses the golden cases' endpoint names resolve
// to: milvus-b has two, as a name may.
var goldenNames = map[string][]netip.Addr{
	"milvus-a": {netip.MustParseAddr("192.0.2.10")},
	"milvus-b": {netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("192.0.2.21")},
}

var update = flag.Bool("update", false, "rewrite the golden files in ../testdata/out")

// TestGolden translates every ../testdata/in/<case>.yaml config and compares
// the resources with ../testdata/out/<case>.{listeners,routes,clusters,endpoints,secrets}.yaml.
// Credential and certificate files are under ../testdata/secrets (read as the
// edge reads them, by server.ReadListenerCerts); the password variable is set here.
func TestGolden(t *testing.T) {
	t.Setenv("MILVUS_EDGE_GOLDEN_PASSWORD", "golden-Pw")
	ins, err := filepath.Glob("../testdata/in/*.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	want := map[string]bool{}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			certs, err := server.ReadListenerCerts(cfg.Listener.TLS)
			if err != nil {
				t.Fatal(err)
			}
			// A short fixed list keeps the goldens readable; the app passes every
			// MilvusService method that carries no names.
			g, err := translate.Translate(cfg, translate.Options{SkipProcessing: []string{
				"/milvus.proto.milvus.MilvusService/Connect", "/milvus.proto.milvus.MilvusService/GetVersion",
			}, ReadPaths: []string{"/milvus.proto.milvus.MilvusService/GetVersion"}, ListenerCerts: certs,
				// Restricts ext_authz's headers unless the case sets auth.policy_dir.
				AuthzHeaders: []string{"dbname", "authorization", "content-type", "authorization"},
				// Used by the in_process case only.
				ModulePath:      "/opt/milvus-edge/libmilvus_edge.so",
				CallsModulePath: "/opt/milvus-edge/libmilvus_edge_calls.so",
				KnownPaths:      []string{"/milvus.proto.milvus.MilvusService/Search", "/v2/vectordb/entities/search"}})
			if err != nil {
				t.Fatal(err)
			}
			// The xDS server resolves endpoint names before the build.
			g.ResolveNames(func(host string) []netip.Addr {
				a, ok := goldenNames[host]
				if !ok {
					t.Fatalf("golden case names %q: add it to goldenNames", host)
				}
				return a
			})
			r := envoyres.Build(g)
			for kind, msgs := range map[string][]proto.Message{
				"listeners": toMsgs(r.Listeners), "routes": toMsgs(r.Routes),
				"clusters": toMsgs(r.Clusters), "endpoints": toMsgs(r.Endpoints),
				"secrets": toMsgs(r.Secrets),
			} {
				out := filepath.Join("../testdata/out", name+"."+kind+".yaml")
				want[out] = true
				check(t, out, toYAML(t, msgs))
			}
		})
	}
	// Delete goldens whose input is gone, but only after a run of every
	// case: with -run, want holds the selected cases only.
	if *update && flag.Lookup("test.run").Value.String() == "" {
		outs, _ := filepath.Glob("../testdata/out/*.yaml")
		for _, o := range outs {
			if !want[o] {
				os.Remove(o)
			}
		}
	}
}

func check(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./xds/envoyres -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the translation (run go test ./xds/envoyres -update and review the diff):\n%s", path, got)
	}
}

func toMsgs[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// toYAML renders protos as stable YAML: protojson (which varies its
// whitespace on purpose) → generic JSON → YAML with sorted keys.
func toYAML(t *testing.T, msgs []proto.Message) []byte {
	t.Helper()
	var docs []any
	for _, m := range msgs {
		b, err := protojson.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, ints(v))
	}
	if docs == nil {
		docs = []any{}
	}
	out, err := yaml.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ints turns integral JSON numbers back into integers so YAML prints 67108864,
// not 6.7108864e+07.
func ints(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = ints(e)
		}
	case []any:
		for i, e := range x {
			x[i] = ints(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}
