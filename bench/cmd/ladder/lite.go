package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// liteCollection is the milvus-lite row set's collection: the fixture's
// schema, liteRows rows, a FLAT L2 index, loaded.
const (
	liteCollection = "bench_lite"
	liteRows       = 2000
)

func startLite(dir, bin string) (*Child, string, error) {
	addr := freeAddr()
	h, p, _ := net.SplitHostPort(addr)
	c, err := startChild(dir, "milvus-lite", bin, "server", "--data-dir", dir+"/lite-data", "--host", h, "--port", p)
	if err != nil {
		return nil, "", err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.Stop()
		return nil, "", err
	}
	defer conn.Close()
	mc := milvuspb.NewMilvusServiceClient(conn)
	err = waitFor("milvus-lite healthy", 90*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := mc.CheckHealth(ctx, &milvuspb.CheckHealthRequest{})
		if err == nil && !r.GetIsHealthy() {
			err = fmt.Errorf("not healthy: %v", r.GetReasons())
		}
		return err
	}, c)
	if err == nil {
		err = prepareLite(mc)
	}
	if err != nil {
		c.Stop()
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
