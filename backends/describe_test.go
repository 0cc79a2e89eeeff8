package backends_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/backends"
	"github.com/milvus-edge/milvus-edge/internal/fakemilvus"
)

const auth = "Basic cm9vdDpNaWx2dXM="

// testSchema is an Int64 primary key and an 8-dim float vector.
func testSchema(name string) *schemapb.CollectionSchema {
	return &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector,
			TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: "8"}}},
	}}
}

// startFake serves books (alias novels, partitions _default and p1) in
// default and logs in analytics.
func startFake(t *testing.T) (string, *fakemilvus.Fake) {
	t.Helper()
	addr, f := fakemilvus.Start(t)
	f.Add(fakemilvus.Collection{Schema: testSchema("books"), Partitions: []string{"_default", "p1"}, Aliases: []string{"novels"}})
	f.Add(fakemilvus.Collection{DB: "analytics", Schema: testSchema("logs")})
	return addr, f
}

func newPool(t *testing.T, endpoints map[string][]string) *backends.Pool {
	t.Helper()
	p := backends.NewPool(plain(endpoints), func(cluster string) string {
		if cluster == "c1" {
			return auth
		}
		return ""
	})
	t.Cleanup(p.Close)
	return p
}

// plain is a plaintext target per cluster.
func plain(endpoints map[string][]string) map[string]backends.Target {
	out := make(map[string]backends.Target, len(endpoints))
	for name, eps := range endpoints {
		out[name] = backends.Target{Endpoints: eps}
	}
	return out
}

func assertCollection(t *testing.T, got, want *backends.Collection) {
	t.Helper()
	if !proto.Equal(got.Schema, want.Schema) {
		t.Errorf("schema = %s\nwant %s", prototext.Format(got.Schema), prototext.Format(want.Schema))
	}
	if got.CollectionName != want.CollectionName || got.DB != want.DB ||
		!slices.Equal(got.Partitions, want.Partitions) || !slices.Equal(got.Aliases, want.Aliases) {
		t.Errorf("collection = {%s %s %v %v}, want {%s %s %v %v}", got.CollectionName, got.DB, got.Partitions, got.Aliases,
			want.CollectionName, want.DB, want.Partitions, want.Aliases)
	}
}

func TestDescribe(t *testing.T) {
	addr, f := startFake(t)
	p := newPool(t, map[string][]string{"c1": {addr}})
	books := &backends.Collection{Schema: testSchema("books"), Partitions: []string{"_default", "p1"},
		Aliases: []string{"novels"}, CollectionName: "books", DB: "default"}
	cases := []struct {
		name, cluster, db, coll string
		setup                   func(t *testing.T)
		want                    *backends.Collection
		wantErr                 error // errors.Is target
		wantCode                int32 // StatusError code, when wantErr is set
	}{
		{name: "by name, no database", cluster: "c1", coll: "books", want: books},
		{name: "by name in default", cluster: "c1", db: "default", coll: "books", want: books},
		{name: "by alias: the real name", cluster: "c1", coll: "novels", want: books},
		{name: "by alias on Milvus 2.3 (alias echoed, real name in the schema)", cluster: "c1", coll: "novels", want: books,
			setup: func(t *testing.T) {
				f.SetMilvus23Aliases(true)
				t.Cleanup(func() { f.SetMilvus23Aliases(false) })
			}},
		{name: "other database", cluster: "c1", db: "analytics", coll: "logs",
			want: &backends.Collection{Schema: testSchema("logs"), Partitions: []string{"_default"}, CollectionName: "logs", DB: "analytics"}},
		{name: "unknown collection", cluster: "c1", coll: "nope", wantErr: backends.ErrNotFound, wantCode: 100},
		{name: "collection of another database", cluster: "c1", db: "analytics", coll: "books", wantErr: backends.ErrNotFound, wantCode: 100},
		{name: "unknown database", cluster: "c1", db: "nodb", coll: "books", wantErr: backends.ErrNotFound, wantCode: 800},
		{name: "unknown cluster", cluster: "c9", coll: "books", wantErr: backends.ErrUnknownCluster},
		{name: "backend without ShowPartitions and ListAliases", cluster: "c1", coll: "books",
			setup: func(t *testing.T) {
				f.SetUnimplemented(fakemilvus.ShowPartitions, true)
				f.SetUnimplemented(fakemilvus.ListAliases, true)
				t.Cleanup(func() {
					f.SetUnimplemented(fakemilvus.ShowPartitions, false)
					f.SetUnimplemented(fakemilvus.ListAliases, false)
				})
			},
			// aliases still come from DescribeCollection's response
			want: &backends.Collection{Schema: testSchema("books"), Aliases: []string{"novels"}, CollectionName: "books", DB: "default"}},
		{name: "other Milvus error is not not-found", cluster: "c1", coll: "books",
			setup:   failWith(f, fakemilvus.DescribeCollection, &commonpb.Status{Code: 5, Reason: "service internal"}),
			wantErr: &backends.StatusError{}, wantCode: 5},
		{name: "ShowPartitions error fails the fill", cluster: "c1", coll: "books",
			setup:   failWith(f, fakemilvus.ShowPartitions, &commonpb.Status{Code: 65535, Reason: "boom"}),
			wantErr: &backends.StatusError{}, wantCode: 65535},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			got, err := p.Describe(context.Background(), tc.cluster, tc.db, tc.coll)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				assertCollection(t, got, tc.want)
				return
			}
			se, isStatus := errors.AsType[*backends.StatusError](err)
			if _, wantStatus := tc.wantErr.(*backends.StatusError); wantStatus {
				if !isStatus || errors.Is(err, backends.ErrNotFound) {
					t.Fatalf("Describe = %v, want a StatusError that is not ErrNotFound", err)
				}
			} else if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Describe = %v, want %v", err, tc.wantErr)
			}
			if tc.wantCode != 0 && (!isStatus || se.Code != tc.wantCode) {
				t.Fatalf("Describe = %v, want status code %d", err, tc.wantCode)
			}
		})
	}
}

func failWith(f *fakemilvus.Fake, method string, st *commonpb.Status) func(t *testing.T) {
	return func(t *testing.T) {
		f.FailWith(method, st)
		t.Cleanup(func() { f.FailWith(method, nil) })
	}
}

// The database goes in the request and the dbname header; the cluster's
// credential in authorization (none for a cluster without one).
func TestDescribeHeaders(t *testing.T) {
	addr, f := startFake(t)
	p := newPool(t, map[string][]string{"c1": {addr}, "c2": {addr}})
	if _, err := p.Describe(context.Background(), "c1", "analytics", "logs"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{fakemilvus.DescribeCollection, fakemilvus.ShowPartitions, fakemilvus.ListAliases} {
		md := f.Metadata(m)
		if got := md.Get("dbname"); !slices.Equal(got, []string{"analytics"}) {
			t.Errorf("%s dbname = %q, want analytics", m, got)
		}
		if got := md.Get("authorization"); !slices.Equal(got, []string{auth}) {
			t.Errorf("%s authorization = %q, want the cluster's credential", m, got)
		}
	}
	if _, err := p.Describe(context.Background(), "c2", "", "books"); err != nil {
		t.Fatal(err)
	}
	md := f.Metadata(fakemilvus.DescribeCollection)
	if got := md.Get("authorization"); len(got) != 0 {
		t.Errorf("authorization = %q for a cluster without credential", got)
	}
	if got := md.Get("dbname"); len(got) != 0 {
		t.Errorf("dbname = %q with no database named", got)
	}
}

func TestPoolUpdate(t *testing.T) {
	addr1, f1 := startFake(t)
	addr2, f2 := startFake(t)
	p := newPool(t, map[string][]string{"c1": {addr1}})
	describe := func() error {
		_, err := p.Describe(context.Background(), "c1", "", "books")
		return err
	}
	if err := describe(); err != nil || f1.Calls(fakemilvus.DescribeCollection) != 1 {
		t.Fatalf("Describe = %v, fake1 calls %d", err, f1.Calls(fakemilvus.DescribeCollection))
	}

	p.Update(plain(map[string][]string{"c1": {addr2}})) // moved: the same connection, new endpoints
	poll(t, "calls to move to the new endpoint", func() bool {
		if err := describe(); err != nil {
			t.Fatal(err)
		}
		return f2.Calls(fakemilvus.DescribeCollection) > 0
	})

	p.Update(plain(map[string][]string{"c1": {addr1, addr2}})) // round robin over both
	before1, before2 := f1.Calls(fakemilvus.DescribeCollection), f2.Calls(fakemilvus.DescribeCollection)
	poll(t, "calls to reach both endpoints", func() bool {
		if err := describe(); err != nil {
			t.Fatal(err)
		}
		return f1.Calls(fakemilvus.DescribeCollection) > before1 && f2.Calls(fakemilvus.DescribeCollection) > before2
	})

	p.Update(plain(map[string][]string{"c2": {addr1}})) // c1 removed
	if err := describe(); !errors.Is(err, backends.ErrUnknownCluster) {
		t.Fatalf("Describe on a removed cluster = %v, want ErrUnknownCluster", err)
	}
	p.Close()
	if _, err := p.Describe(context.Background(), "c2", "", "books"); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Describe after Close = %v, want ErrClosed", err)
	}
}

// poll retries cond, bounded: the only waiting these tests do.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
