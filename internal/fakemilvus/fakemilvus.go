// Package fakemilvus is a fake MilvusService for tests that need call counts
// or injected latency. It serves DescribeCollection, ShowPartitions and
// ListAliases from an in-memory map, answering with Milvus's status codes
// (CollectionNotFound 100, DatabaseNotFound 800), and CheckHealth (always
// healthy, for Envoy's active health checks); every other RPC is gRPC
// UNIMPLEMENTED. It is a test fake, not a Milvus: use milvus-lite
// (internal/testenv) when behaviour matters more than counts.
package fakemilvus

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Method names accepted by Calls, Metadata, SetUnimplemented and FailWith.
const (
	DescribeCollection = "DescribeCollection"
	ShowPartitions     = "ShowPartitions"
	ListAliases        = "ListAliases"
)

var methods = []string{DescribeCollection, ShowPartitions, ListAliases}

// Collection is one collection the fake knows. DB "" means "default".
type Collection struct {
	DB         string
	Schema     *schemapb.CollectionSchema // Schema.Name is the collection name
	Partitions []string                   // default: ["_default"]
	Aliases    []string
}

type nameKey struct{ db, name string }

// Fake is the fake server. Its methods are safe for concurrent use.
type Fake struct {
	milvuspb.UnimplementedMilvusServiceServer

	calls   map[string]*atomic.Int64 // fixed at Start: read without mu
	latency atomic.Int64             // nanoseconds added to every served call

	mu      sync.Mutex
	colls   map[nameKey]*Collection
	aliases map[nameKey]string // db/alias → collection name
	dbs     map[string]bool
	unimpl  map[string]bool
	fail    map[string]*commonpb.Status
	md      map[string]metadata.MD // last incoming metadata per method
	// milvus23 answers as Milvus 2.3 does for aliases (SetMilvus23Aliases).
	milvus23 bool
	rest     map[string]http.Header // last REST request headers per path (StartWithREST)
}

// Start serves a new Fake on 127.0.0.1:0 until the test ends.
func Start(t testing.TB) (addr string, f *Fake) {
	t.Helper()
	f = New()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fakemilvus: %v", err)
	}
	srv := grpc.NewServer()
	milvuspb.RegisterMilvusServiceServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return l.Addr().String(), f
}

// New returns a Fake that knows the database "default" and no collection.
func New() *Fake {
	f := &Fake{
		calls: map[string]*atomic.Int64{}, colls: map[nameKey]*Collection{}, aliases: map[nameKey]string{},
		dbs: map[string]bool{"default": true}, unimpl: map[string]bool{},
		fail: map[string]*commonpb.Status{}, md: map[string]metadata.MD{}, rest: map[string]http.Header{},
	}
	for _, m := range methods {
		f.calls[m] = new(atomic.Int64)
	}
	return f
}

// Add stores (or replaces) a collection and its aliases, creating its database.
func (f *Fake) Add(c Collection) {
	c.DB = dbOrDefault(c.DB)
	if c.Partitions == nil {
		c.Partitions = []string{"_default"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dbs[c.DB] = true
	f.colls[nameKey{c.DB, c.Schema.GetName()}] = &c
	for _, a := range c.Aliases {
		f.aliases[nameKey{c.DB, a}] = c.Schema.GetName()
	}
}

// Drop forgets a collection and its aliases.
func (f *Fake) Drop(db, name string) {
	db = dbOrDefault(db)
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.colls[nameKey{db, name}]; c != nil {
		for _, a := range c.Aliases {
			delete(f.aliases, nameKey{db, a})
		}
	}
	delete(f.colls, nameKey{db, name})
}

// SetLatency delays every served call by d (or until the call's ctx ends).
func (f *Fake) SetLatency(d time.Duration) { f.latency.Store(int64(d)) }

// SetUnimplemented makes method answer gRPC UNIMPLEMENTED, as milvus-lite
// and older Milvus do for RPCs they lack.
func (f *Fake) SetUnimplemented(method string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unimpl[method] = on
}

// SetMilvus23Aliases makes aliases answer as Milvus 2.3.5 does:
// DescribeCollection by alias echoes the alias as collection_name (the real
// name is only schema.name), and ListAliases does not take an alias.
func (f *Fake) SetMilvus23Aliases(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.milvus23 = on
}

// isAlias23 says name is an alias and the fake answers as Milvus 2.3.
func (f *Fake) isAlias23(ctx context.Context, reqDB, name string) bool {
	db := reqDB
	if md, ok := metadata.FromIncomingContext(ctx); ok && db == "" && len(md.Get("dbname")) > 0 {
		db = md.Get("dbname")[0]
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, alias := f.aliases[nameKey{dbOrDefault(db), name}]
	return f.milvus23 && alias
}

// FailWith makes method answer st (nil: serve normally).
func (f *Fake) FailWith(method string, st *commonpb.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = st
}

// Calls returns how many calls of method arrived (served or not).
func (f *Fake) Calls(method string) int64 {
	if c := f.calls[method]; c != nil {
		return c.Load()
	}
	return 0
}

// Metadata returns the incoming gRPC metadata of the last call of method.
func (f *Fake) Metadata(method string) metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.md[method].Copy()
}

// begin counts the call, records its metadata, waits the latency and says
// how to answer: a gRPC error, a failure status, or serve (both nil).
func (f *Fake) begin(ctx context.Context, method string) (*commonpb.Status, error) {
	f.calls[method].Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.md[method] = md
	unimpl, fail := f.unimpl[method], f.fail[method]
	f.mu.Unlock()
	if d := time.Duration(f.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if unimpl {
		return nil, status.Errorf(codes.Unimplemented, "method %s not implemented", method)
	}
	if fail != nil {
		return proto.Clone(fail).(*commonpb.Status), nil
	}
	return nil, nil
}

// lookup resolves db (request field, then the dbname header, as Milvus) and
// name (a collection or an alias).
func (f *Fake) lookup(ctx context.Context, reqDB, name string) (*Collection, *commonpb.Status) {
	db := reqDB
	if db == "" {
		if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("dbname")) > 0 {
			db = md.Get("dbname")[0]
		}
	}
	db = dbOrDefault(db)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dbs[db] {
		return nil, &commonpb.Status{ErrorCode: commonpb.ErrorCode_UnexpectedError, Code: 800,
			Reason: fmt.Sprintf("database not found[database=%s]", db)}
	}
	if real, ok := f.aliases[nameKey{db, name}]; ok {
		name = real
	}
	c := f.colls[nameKey{db, name}]
	if c == nil {
		return nil, &commonpb.Status{ErrorCode: commonpb.ErrorCode_CollectionNotExists, Code: 100,
			Reason: fmt.Sprintf("collection not found[database=%s][collection=%s]", db, name)}
	}
	return c, nil
}

// CheckHealth answers isHealthy true, as milvus-lite and a Milvus with
// authorization off do: Envoy's active health checks (either CheckHealth
// kind) call it over HTTP/2 on the fake's port. Not counted.
func (f *Fake) CheckHealth(context.Context, *milvuspb.CheckHealthRequest) (*milvuspb.CheckHealthResponse, error) {
	return &milvuspb.CheckHealthResponse{Status: &commonpb.Status{}, IsHealthy: true}, nil
}

// DescribeCollection answers with the schema, resolving aliases.
func (f *Fake) DescribeCollection(ctx context.Context, req *milvuspb.DescribeCollectionRequest) (*milvuspb.DescribeCollectionResponse, error) {
	if st, err := f.begin(ctx, DescribeCollection); st != nil || err != nil {
		return &milvuspb.DescribeCollectionResponse{Status: st}, err
	}
	c, st := f.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.DescribeCollectionResponse{Status: st}, nil
	}
	name := c.Schema.GetName()
	if f.isAlias23(ctx, req.GetDbName(), req.GetCollectionName()) {
		name = req.GetCollectionName()
	}
	return &milvuspb.DescribeCollectionResponse{
		Status: &commonpb.Status{}, Schema: proto.Clone(c.Schema).(*schemapb.CollectionSchema),
		CollectionName: name, DbName: c.DB, Aliases: slices.Clone(c.Aliases),
		ShardsNum: 1, NumPartitions: int64(len(c.Partitions)),
	}, nil
}

// ShowPartitions answers with the partition names.
func (f *Fake) ShowPartitions(ctx context.Context, req *milvuspb.ShowPartitionsRequest) (*milvuspb.ShowPartitionsResponse, error) {
	if st, err := f.begin(ctx, ShowPartitions); st != nil || err != nil {
		return &milvuspb.ShowPartitionsResponse{Status: st}, err
	}
	c, st := f.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.ShowPartitionsResponse{Status: st}, nil
	}
	return &milvuspb.ShowPartitionsResponse{Status: &commonpb.Status{}, PartitionNames: slices.Clone(c.Partitions)}, nil
}

// ListAliases answers with the aliases of one collection.
func (f *Fake) ListAliases(ctx context.Context, req *milvuspb.ListAliasesRequest) (*milvuspb.ListAliasesResponse, error) {
	if st, err := f.begin(ctx, ListAliases); st != nil || err != nil {
		return &milvuspb.ListAliasesResponse{Status: st}, err
	}
	if f.isAlias23(ctx, req.GetDbName(), req.GetCollectionName()) {
		return &milvuspb.ListAliasesResponse{Status: &commonpb.Status{ErrorCode: commonpb.ErrorCode_CollectionNotExists, Code: 100,
			Reason: fmt.Sprintf("collection not found[database=%s][collection=%s]", dbOrDefault(req.GetDbName()), req.GetCollectionName())}}, nil
	}
	c, st := f.lookup(ctx, req.GetDbName(), req.GetCollectionName())
	if st != nil {
		return &milvuspb.ListAliasesResponse{Status: st}, nil
	}
	return &milvuspb.ListAliasesResponse{Status: &commonpb.Status{}, DbName: c.DB,
		CollectionName: c.Schema.GetName(), Aliases: slices.Clone(c.Aliases)}, nil
}

func dbOrDefault(db string) string {
	if db == "" {
		return "default"
	}
	return db
}
