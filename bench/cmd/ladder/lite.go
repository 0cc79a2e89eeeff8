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
	if err := prepareLite(milvuspb.NewMilvusServiceClient(conn)); err != nil {
		stop(c)
		return nil, "", err
	}
	return c, addr, nil
}

func prepareLite(mc milvuspb.MilvusServiceClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	check := func(what string, st *commonpb.Status, err error) error {
		if err != nil {
			return fmt.Errorf("milvus-lite %s: %w", what, err)
		}
		if st.GetCode() != 0 || st.GetErrorCode() != commonpb.ErrorCode_Success {
			return fmt.Errorf("milvus-lite %s: code %d: %s", what, st.GetCode(), st.GetReason())
		}
		return nil
	}
	schema := fixtureSchema()
	schema.Name = liteCollection
	sb, _ := proto.Marshal(schema)
	st, err := mc.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: liteCollection, Schema: sb, ShardsNum: 1})
	if err := check("create collection", st, err); err != nil {
		return err
	}
	for first := 0; first < liteRows; first += 500 {
		r, err := mc.Insert(ctx, insertRequest(liteCollection, 500, first))
		if err := check("insert", r.GetStatus(), err); err != nil {
			return err
		}
	}
	st, err = mc.CreateIndex(ctx, &milvuspb.CreateIndexRequest{CollectionName: liteCollection, FieldName: "vector",
		ExtraParams: []*commonpb.KeyValuePair{{Key: "index_type", Value: "FLAT"}, {Key: "metric_type", Value: "L2"}, {Key: "params", Value: "{}"}}})
	if err := check("create index", st, err); err != nil {
		return err
	}
	st, err = mc.LoadCollection(ctx, &milvuspb.LoadCollectionRequest{CollectionName: liteCollection})
	if err := check("load", st, err); err != nil {
		return err
	}
	return waitFor("milvus-lite search answers "+strconv.Itoa(topK)+" hits", 60*time.Second, func() error {
		r, err := mc.Search(ctx, searchRequest(liteCollection))
		if err := check("search", r.GetStatus(), err); err != nil {
			return err
		}
		if n := len(r.GetResults().GetIds().GetIntId().GetData()); n != topK {
			return fmt.Errorf("search returned %d hits", n)
		}
		return nil
	})
}
