package testenv_test

import (
	"context"
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

func TestMain(m *testing.M) { testenv.Main(m) }

// The shared standalone is a real Milvus with authorization on: a call
// without credentials is refused by Milvus itself, root's call works, and
// Milvus's own metrics count the calls.
func TestMilvusStandalone(t *testing.T) {
	s := testenv.MilvusStandalone(t)
	if again := testenv.MilvusStandalone(t); again != s {
		t.Fatalf("second call = %+v, want the shared %+v", again, s)
	}
	c := testenv.Client(t, s.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := c.ShowCollections(ctx, &milvuspb.ShowCollectionsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ShowCollections without credentials: %v, want Milvus's Unauthenticated", err)
	}
	t.Logf("without credentials: %v", err)
	_, err = c.ShowCollections(testenv.Auth(ctx, s.User, "wrong"), &milvuspb.ShowCollectionsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ShowCollections with a wrong password: %v, want Unauthenticated", err)
	}

	auth := testenv.Auth(ctx, s.User, s.Password)
	resp, err := c.ShowCollections(auth, &milvuspb.ShowCollectionsRequest{})
	if err != nil || resp.GetStatus().GetCode() != 0 {
		t.Fatalf("ShowCollections as root: %v, %v", resp.GetStatus(), err)
	}
	users, err := c.ListCredUsers(auth, &milvuspb.ListCredUsersRequest{})
	if err != nil || !contains(users.GetUsernames(), "root") {
		t.Fatalf("ListCredUsers as root = %v, %v; want root among them", users.GetUsernames(), err)
	}

	metrics := get(t, s.MetricsURL)
	if !strings.Contains(metrics, `milvus_proxy_req_count{function_name="ShowCollections"`) {
		t.Errorf("%s has no milvus_proxy_req_count for ShowCollections", s.MetricsURL)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
