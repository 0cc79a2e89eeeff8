package backends

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Collection is what the schema cache keeps for one collection.
type Collection struct {
	Schema         *schemapb.CollectionSchema
	Partitions     []string // nil when the backend lacks ShowPartitions
	Aliases        []string
	CollectionName string // the real name, also when Describe was given an alias
	CollectionID   int64  // 0 on milvus-lite
	DB             string // the database that answered ("default" when none was named)
	// Properties are the collection's properties (collection.insertRate.max.mb, …).
	Properties map[string]string
}

// Size approximates the bytes the entry holds, for the cache's cost.
func (c *Collection) Size() int64 {
	n := int64(proto.Size(c.Schema)) + int64(len(c.CollectionName)+len(c.DB)) + 64
	for _, s := range c.Partitions {
		n += int64(len(s)) + 16
	}
	for _, s := range c.Aliases {
		n += int64(len(s)) + 16
	}
	for k, v := range c.Properties {
		n += int64(len(k)+len(v)) + 32
	}
	return n
}

// Describe fills a Collection from one cluster: DescribeCollection (name or
// alias), then ShowPartitions and ListAliases on the real name, in parallel.
// A backend without ShowPartitions or ListAliases (gRPC UNIMPLEMENTED) still
// yields the schema. Unknown collections and databases wrap ErrNotFound;
// other non-success statuses are *StatusError.
func (p *Pool) Describe(ctx context.Context, cluster, db, collection string) (*Collection, error) {
	c, err := p.describe(ctx, cluster, db, collection)
	if err != nil {
		return nil, fmt.Errorf("describe %q in database %q on cluster %q: %w", collection, db, cluster, err)
	}
	return c, nil
}

func (p *Pool) describe(ctx context.Context, cluster, db, collection string) (*Collection, error) {
	client, ctx, err := p.client(ctx, cluster, db)
	if err != nil {
		return nil, err
	}
	resp, err := client.DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{DbName: db, CollectionName: collection})
	if err != nil {
		return nil, err
	}
	if err := checkStatus("DescribeCollection", resp.GetStatus()); err != nil {
		return nil, err
	}
	out := &Collection{Schema: resp.GetSchema(), CollectionName: resp.GetCollectionName(),
		CollectionID: resp.GetCollectionID(), DB: firstNonEmpty(resp.GetDbName(), db, "default"), Aliases: resp.GetAliases()}
	out.Properties = pairs(resp.GetProperties())
	if out.CollectionName == "" { // servers before 2.2 leave it empty
		out.CollectionName = firstNonEmpty(resp.GetSchema().GetName(), collection)
	}
	if out.Schema == nil {
		return nil, errors.New("DescribeCollection: success without a schema")
	}
	if real := out.Schema.GetName(); real != "" && real != out.CollectionName && out.CollectionName == collection {
		// Milvus 2.3 echoes an alias as collection_name; the collection's
		// name is the schema's. Taken when the collection lists the alias.
		r, err := client.ListAliases(ctx, &milvuspb.ListAliasesRequest{DbName: db, CollectionName: real})
		if ok, _ := optional("ListAliases", r.GetStatus(), err); ok && slices.Contains(r.GetAliases(), collection) {
			out.CollectionName = real
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		r, err := client.ShowPartitions(gctx, &milvuspb.ShowPartitionsRequest{DbName: db, CollectionName: out.CollectionName})
		ok, err := optional("ShowPartitions", r.GetStatus(), err)
		if ok {
			out.Partitions = r.GetPartitionNames()
		}
		return err
	})
	var aliases []string
	listed := false
	g.Go(func() error {
		r, err := client.ListAliases(gctx, &milvuspb.ListAliasesRequest{DbName: db, CollectionName: out.CollectionName})
		listed, err = optional("ListAliases", r.GetStatus(), err)
		aliases = r.GetAliases()
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if listed { // else keep DescribeCollection's aliases (Milvus 2.4+ fills them)
		out.Aliases = aliases
	}
	return out, nil
}

// DescribeDatabase returns a database's properties (database.force.deny.*,
// …). A backend without DescribeDatabase (Milvus before 2.4) answers with no
// properties.
func (p *Pool) DescribeDatabase(ctx context.Context, cluster, db string) (map[string]string, error) {
	client, ctx, err := p.client(ctx, cluster, db)
	if err != nil {
		return nil, err
	}
	r, err := client.DescribeDatabase(ctx, &milvuspb.DescribeDatabaseRequest{DbName: db})
	ok, err := optional("DescribeDatabase", r.GetStatus(), err)
	if err != nil {
		return nil, fmt.Errorf("describe database %q on cluster %q: %w", db, cluster, err)
	}
	if !ok {
		return map[string]string{}, nil
	}
	return pairs(r.GetProperties()), nil
}

func pairs(kvs []*commonpb.KeyValuePair) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue()
	}
	return m
}

// optional checks a call the backend may lack: ok is false, with no error,
// for gRPC UNIMPLEMENTED (milvus-lite and older Milvus) or Milvus code 10.
func optional(method string, st *commonpb.Status, err error) (ok bool, _ error) {
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return false, nil
		}
		return false, fmt.Errorf("%s: %w", method, err)
	}
	if err := checkStatus(method, st); err != nil {
		if se, isStatus := errors.AsType[*StatusError](err); isStatus && se.Code == CodeUnimplemented {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
