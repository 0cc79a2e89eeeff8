package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestRESTErrorsAreMilvusJSON: REST v2 calls the backend cannot serve get
// Milvus's JSON {code, message}, not Envoy's plain text: from the edge itself
// on a rest: false cluster, from Envoy's local reply mappers when the backend
// fails at the transport level. gRPC calls keep their status codes.
func TestRESTErrorsAreMilvusJSON(t *testing.T) {
	testenv.Setup(t)
	lite := testenv.MilvusLite(t)
	down := testenv.FreeAddr(t) // nothing listens there
	p := testenv.NewPorts(t)
	testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`clusters:
  - name: lite
    rest: false
    endpoints: [{address: %s}]
  - name: lite-as-rest
    endpoints: [{address: %s}]
  - name: down
    endpoints: [{address: %s}]
routes:
  - name: down
    database: downdb
    cluster: down
  - name: lite-as-rest
    database: restdb
    cluster: lite-as-rest
  - name: default
    cluster: lite
`, lite, lite, down), p)

	rest := func(t *testing.T, auth, body string) (int, string, map[string]any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.Listener+"/v2/vectordb/collections/list", strings.NewReader(body))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("HTTP %d %q: not JSON: %v", resp.StatusCode, raw, err)
		}
		if ct := resp.Header.Get("content-type"); ct != "application/json" {
			t.Errorf("content-type %q, want application/json (body %s)", ct, raw)
		}
		t.Logf("HTTP %d %s", resp.StatusCode, raw)
		return resp.StatusCode, string(raw), got
	}
	const root = "Bearer root:Milvus"
	for _, tc := range []struct {
		name, auth, body string
		status           int
		code             float64
		message          string
	}{
		{"rest false cluster", root, `{}`, 200, 10, `cluster "lite" serves no REST v2 API (its backend speaks gRPC only); use a gRPC client, or a backend that serves REST on its client port (Milvus ≥ 2.4 without TLS)`},
		// Authentication still comes first, with its own answer.
		{"rest false cluster, wrong password", "Bearer root:nope", `{}`, 401, 1800, "user hasn't authenticated"},
		// Envoy's reason depends on whether its health check has already
		// marked the endpoint down (no_healthy_upstream) or the call tried to
		// connect (upstream_reset_before_response_started{…}): not sent, either way.
		{"endpoint down", root, `{"dbName":"downdb"}`, 503, 2, "no Milvus backend reachable, the request was not sent: "},
		{"gRPC-only backend taken for REST", root, `{"dbName":"restdb"}`, 502, 65535, "the Milvus backend connection failed during the request, its outcome is unknown: upstream_reset_before_response_started{protocol_error}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, raw, got := rest(t, tc.auth, tc.body)
			if st != tc.status || got["code"] != tc.code || !strings.HasPrefix(fmt.Sprint(got["message"]), tc.message) {
				t.Fatalf("HTTP %d %s, want HTTP %d with code %v and a message starting %q", st, raw, tc.status, tc.code, tc.message)
			}
		})
	}

	c := testenv.Client(t, p.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 10*time.Second)
	defer cancel()
	t.Run("gRPC on the rest false cluster", func(t *testing.T) {
		r, err := c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{})
		if err != nil || r.GetStatus().GetCode() != 0 {
			t.Fatalf("ShowCollections: %v %v", err, r.GetStatus())
		}
	})
	t.Run("gRPC to the down cluster", func(t *testing.T) {
		_, err := c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{DbName: "downdb"})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("ShowCollections(downdb): %v, want UNAVAILABLE", err)
		}
		t.Logf("gRPC: %v", err)
	})
}
