package backends_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/cache"
	"github.com/milvus-edge/milvus-edge/internal/fakemilvus"
)

// newSchemaCache wires the cache to the pool as the edge does: the backend's
// not-found becomes the cache's negative entry, cost is the entry's size.
func newSchemaCache(t *testing.T, p *backends.Pool) *cache.Schemas[*backends.Collection] {
	t.Helper()
	s, err := cache.NewSchemas(func(ctx context.Context, k cache.SchemaKey) (*backends.Collection, error) {
		return p.Describe(ctx, k.Cluster, k.DB, k.Collection)
	}, cache.SchemaOptions{
		MaxCost:    64 << 20,
		Cost:       func(v any) int64 { return v.(*backends.Collection).Size() },
		IsNotFound: func(err error) bool { return errors.Is(err, backends.ErrNotFound) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// 1,000 concurrent first Gets reach the backend once.
func TestSchemaCacheOverPool(t *testing.T) {
	addr, f := startFake(t)
	f.SetLatency(20 * time.Millisecond) // the fill outlasts the Gets' arrival
	s := newSchemaCache(t, newPool(t, map[string][]string{"c1": {addr}}))
	k := cache.SchemaKey{Cluster: "c1", DB: "default", Collection: "books"}

	const n = 1000
	got := make([]*backends.Collection, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			c, err := s.Get(context.Background(), k)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	close(start)
	wg.Wait()
	for _, m := range []string{fakemilvus.DescribeCollection, fakemilvus.ShowPartitions, fakemilvus.ListAliases} {
		if c := f.Calls(m); c != 1 {
			t.Errorf("%s calls = %d, want 1", m, c)
		}
	}
	for i, c := range got {
		if c == nil || c != got[0] || c.CollectionName != "books" {
			t.Fatalf("Get %d = %p, want the one shared collection %p", i, c, got[0])
		}
	}

	// An unknown collection is asked for once, then answered from the
	// negative entry, with the backend's status still reachable.
	unknown := cache.SchemaKey{Cluster: "c1", DB: "default", Collection: "nope"}
	before := f.Calls(fakemilvus.DescribeCollection)
	for range 3 {
		_, err := s.Get(context.Background(), unknown)
		se, ok := errors.AsType[*backends.StatusError](err)
		if !errors.Is(err, cache.ErrNotFound) || !errors.Is(err, backends.ErrNotFound) || !ok || se.Code != backends.CodeCollectionNotFound {
			t.Fatalf("Get(unknown) = %v, want cache and backend not-found with code 100", err)
		}
	}
	if c := f.Calls(fakemilvus.DescribeCollection) - before; c != 1 {
		t.Fatalf("DescribeCollection calls for an unknown collection = %d, want 1", c)
	}
}
