package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/backendproc"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/procs"
)

// liteCollection is the milvus-lite row set's collection: the fixture's
// schema, liteRows rows, a FLAT L2 index, loaded.
const (
	liteCollection = "bench_lite"
	liteRows       = 2000
)

// startLite starts milvus-lite (internal/backendproc, as the edge does; its
// output goes to <dir>/milvus-lite.log) and loads the row set.
func startLite(dir, bin string) (*procs.Proc, string, error) {
	addr := freeAddr()
	f, err := os.Create(filepath.Join(dir, "milvus-lite.log"))
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), backendproc.MilvusLiteTimeout+10*time.Second)
	defer cancel()
	c, err := backendproc.StartMilvusLite(ctx, quiet, config.MilvusLite{Address: addr, DataDir: filepath.Join(dir, "lite-data"), Command: bin}, procs.Output(f))
	if err != nil {
		f.Close()
		return nil, "", err
	}
	go func() {
		<-c.Done()
		f.Close()
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stop(c)
		return nil, "", err
	}
	defer conn.Close()
	if err := prepareCollection(milvuspb.NewMilvusServiceClient(conn), "milvus-lite", liteCollection, liteRows, false); err != nil {
		stop(c)
		return nil, "", err
	}
	return c, addr, nil
}

// prepareCollection creates collection (the fixture's schema) on a backend,
// inserts rows rows, optionally (a real Milvus) flushes them into sealed
// segments and makes the collection Bounded-consistent, builds a
// FLAT L2 index, loads it and waits until a Search finds topK hits. Calls
// carry root's credentials (a backend with authentication off ignores them).
func prepareCollection(mc milvuspb.MilvusServiceClient, backend, collection string, rows int, flush bool) error {
	ctx, cancel := context.WithTimeout(authCtx(context.Background()), 120*time.Second)
	defer cancel()
	check := func(what string, st *commonpb.Status, err error) error {
		if err != nil {
			return fmt.Errorf("%s %s: %w", backend, what, err)
		}
		if st.GetCode() != 0 || st.GetErrorCode() != commonpb.ErrorCode_Success {
			return fmt.Errorf("%s %s: code %d: %s", backend, what, st.GetCode(), st.GetReason())
		}
		return nil
	}
	schema := fixtureSchema()
	schema.Name = collection
	sb, _ := proto.Marshal(schema)
	req := &milvuspb.CreateCollectionRequest{CollectionName: collection, Schema: sb, ShardsNum: 1}
	if flush {
		// pymilvus's default; the zero value is Strong.
		req.ConsistencyLevel = commonpb.ConsistencyLevel_Bounded
	}
	st, err := mc.CreateCollection(ctx, req)
	if err := check("create collection", st, err); err != nil {
		return err
	}
	for first := 0; first < rows; first += 500 {
		r, err := mc.Insert(ctx, insertRequest(collection, min(500, rows-first), first))
		if err := check("insert", r.GetStatus(), err); err != nil {
			return err
		}
	}
	if flush {
		r, err := mc.Flush(ctx, &milvuspb.FlushRequest{CollectionNames: []string{collection}})
		if err := check("flush", r.GetStatus(), err); err != nil {
			return err
		}
	}
	st, err = mc.CreateIndex(ctx, &milvuspb.CreateIndexRequest{CollectionName: collection, FieldName: "vector",
		ExtraParams: []*commonpb.KeyValuePair{{Key: "index_type", Value: "FLAT"}, {Key: "metric_type", Value: "L2"}, {Key: "params", Value: "{}"}}})
	if err := check("create index", st, err); err != nil {
		return err
	}
	st, err = mc.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{CollectionName: collection})
	if err := check("load", st, err); err != nil {
		return err
	}
	return waitFor(backend+" search answers "+strconv.Itoa(topK)+" hits", 60*time.Second, func() error {
		r, err := mc.Search(ctx, searchRequest(collection))
		if err := check("search", r.GetStatus(), err); err != nil {
			return err
		}
		if n := len(r.GetResults().GetIds().GetIntId().GetData()); n != topK {
			return fmt.Errorf("search returned %d hits", n)
		}
		return nil
	})
}
