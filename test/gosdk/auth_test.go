package gosdk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus/client/v2/milvusclient"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// isUnauthenticated reports whether err (possibly wrapped by the SDK) is a gRPC
// Unauthenticated status or carries Milvus's own authentication failure message.
func isUnauthenticated(err error) bool {
	if status.Code(err) == codes.Unauthenticated {
		return true
	}
	msg := err.Error()
	for _, s := range []string{
		"Unauthenticated",
		"auth check failure, please check username and password are correct",
		"missing authorization in header",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func TestUnauthenticated(t *testing.T) {
	s := edgeStack(t)

	// Control: the right credentials work, so the failures below are about auth.
	t.Run("valid credentials", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := newClient(ctx, t, s.EdgeAddr, "root", "Milvus")
		if _, err := c.ListCollections(ctx, milvusclient.NewListCollectionOption()); err != nil {
			t.Fatalf("ListCollections with root/Milvus via edge: %v", err)
		}
	})

	for _, tc := range []struct {
		name, user, password string
	}{
		{"wrong password", "root", "not-the-password"},
		{"no credentials", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := milvusclient.New(ctx, &milvusclient.ClientConfig{Address: s.EdgeAddr, Username: tc.user, Password: tc.password})
			if err == nil {
				defer c.Close(context.Background())
				_, err = c.ListCollections(ctx, milvusclient.NewListCollectionOption())
			}
			if err == nil {
				t.Fatalf("user %q password %q: New and ListCollections succeeded through the edge, want Unauthenticated", tc.user, tc.password)
			}
			if !isUnauthenticated(err) {
				t.Fatalf("user %q: got %v (gRPC code %v), want Unauthenticated", tc.user, err, status.Code(err))
			}
			t.Logf("rejected as expected: code=%v err=%v", status.Code(err), err)
		})
	}
}
