package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

func oneBackend(t *testing.T) (*testenv.Edge, string) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	e := testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
`, backend), p)
	return e, backend
}

func TestUnauthenticatedNeverReachesBackend(t *testing.T) {
	e, _ := oneBackend(t)
	c := testenv.Client(t, e.Ports.Listener)
	const upstream = "cluster.default.upstream_rq_total"
	before := testenv.Counter(t, e.Ports.EnvoyAdmin, upstream)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		msg  string
	}{
		{"missing", context.Background(), "missing authorization in header"},
		{"wrong password", testenv.Auth(context.Background(), "root", "wrong"), "auth check failure, please check username and password are correct"},
		{"unknown user", testenv.Auth(context.Background(), "nobody", "Milvus"), "auth check failure, please check username and password are correct"},
		{"not base64", metadata.AppendToOutgoingContext(context.Background(), "authorization", "%%%"), "invalid token format"},
		{"api key", metadata.AppendToOutgoingContext(context.Background(), "authorization", "c2VjcmV0a2V5"), "auth check failure, please check api key is correct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(tc.ctx, 5*time.Second)
			defer cancel()
			_, err := c.HasCollection(ctx, &milvuspb.HasCollectionRequest{CollectionName: "docs"})
			st := status.Convert(err)
			if st.Code() != codes.Unauthenticated || st.Message() != tc.msg {
				t.Fatalf("got %v %q, want Unauthenticated %q", st.Code(), st.Message(), tc.msg)
			}
		})
	}
	if after := testenv.Counter(t, e.Ports.EnvoyAdmin, upstream); after != before {
		t.Fatalf("backend saw %d requests from unauthenticated calls", after-before)
	}
	// The counter does move for an authenticated call.
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 5*time.Second)
	defer cancel()
	if _, err := c.HasCollection(ctx, &milvuspb.HasCollectionRequest{CollectionName: "docs"}); err != nil {
		t.Fatal(err)
	}
	if after := testenv.Counter(t, e.Ports.EnvoyAdmin, upstream); after != before+1 {
		t.Fatalf("upstream counter went %d → %d for one authenticated call", before, after)
	}
}

func TestMalformedRequestIsInvalidArgument(t *testing.T) {
	e, _ := oneBackend(t)
	// Field 3 (collection_name) declares 80 bytes and carries one: the edge
	// cannot read the names, refuses the call, and the backend never sees it.
	conn := testenv.RawConnTo(t, e.Ports.Listener)
	err := conn.Invoke(testenv.Root(context.Background()), "/milvus.proto.milvus.MilvusService/HasCollection", []byte{0x1a, 0x50, 'a'})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v %q, want InvalidArgument", st.Code(), st.Message())
	}
	t.Logf("bad frame → %v %q", st.Code(), st.Message())
	if n := testenv.Counter(t, e.Ports.EnvoyAdmin, "cluster.default.upstream_rq_total"); n != 0 {
		t.Fatalf("backend saw %d requests", n)
	}
}

// TestFiltersOnUnixSocket: Envoy reaches ext_authz and ext_proc over a Unix
// socket (edge.filters_address: unix:/path).
func TestFiltersOnUnixSocket(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	sock := filepath.Join(t.TempDir(), "filters.sock")
	yaml := strings.Replace(p.ConfigHead(), "filters_address: "+p.Filters, "filters_address: unix:"+sock, 1)
	e := testenv.Run(t, yaml+fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
`, backend), p)
	c := testenv.Client(t, e.Ports.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 5*time.Second)
	defer cancel()
	if _, err := c.HasCollection(ctx, &milvuspb.HasCollectionRequest{CollectionName: "docs"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.HasCollection(context.Background(), &milvuspb.HasCollectionRequest{CollectionName: "docs"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("without credentials over the socket path: %v", err)
	}
}
