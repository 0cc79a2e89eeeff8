package main

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The benchmark fixture's collection: id (Int64 primary key, no auto-id) and
// vector (FloatVector, dim 128). Requests must name it for the edge's
// validator to accept them.
const (
	fixtureCollection = "bench"
	dim               = 128
	insertRows        = 100
	topK              = 10
	queryLimit        = 10
)

func fixtureSchema() *schemapb.CollectionSchema {
	return &schemapb.CollectionSchema{Name: fixtureCollection, Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vector", DataType: schemapb.DataType_FloatVector,
			TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(dim)}}},
	}}
}

// Fixture is the BENCHMARK FIXTURE fake Milvus: a gRPC server that answers
// every MilvusService call it knows at once with a fixed, pre-encoded
// response, whatever the request says. It does not decode requests (their
// bytes are read and dropped), so its own CPU per call is close to the gRPC
// transport's floor. It is not a Milvus and checks nothing: the numbers it
// helps produce are the gateway's cost, not a backend's.
type Fixture struct {
	Addr  string
	srv   *grpc.Server
	resp  map[string][]byte // full method → encoded response
	calls sync.Map          // full method → *atomic.Int64
	done  chan struct{}
}

const svc = "/milvus.proto.milvus.MilvusService/"

// StartFixture serves the fixture on 127.0.0.1:0.
func StartFixture() (*Fixture, error) {
	ok := &commonpb.Status{}
	ids := make([]int64, insertRows)
	for i := range ids {
		ids[i] = int64(i)
	}
	scores := make([]float32, topK)
	for i := range scores {
		scores[i] = float32(i) / topK
	}
	longs := func(v []int64) *schemapb.IDs {
		return &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: v}}}
	}
	msgs := map[string]proto.Message{
		"Search": &milvuspb.SearchResults{Status: ok, CollectionName: fixtureCollection, Results: &schemapb.SearchResultData{
			NumQueries: 1, TopK: topK, Ids: longs(ids[:topK]), Scores: scores, Topks: []int64{topK},
		}},
		"Insert": &milvuspb.MutationResult{Status: ok, IDs: longs(ids), InsertCnt: insertRows, Timestamp: 1},
		"Query": &milvuspb.QueryResults{Status: ok, CollectionName: fixtureCollection, OutputFields: []string{"id"},
			FieldsData: []*schemapb.FieldData{{FieldName: "id", FieldId: 100, Type: schemapb.DataType_Int64,
				Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
					Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids[:queryLimit]}}}}}}},
		"DescribeCollection": &milvuspb.DescribeCollectionResponse{Status: ok, Schema: fixtureSchema(),
			CollectionName: fixtureCollection, DbName: "default", CollectionID: 1, ShardsNum: 1, NumPartitions: 1},
		"ShowPartitions": &milvuspb.ShowPartitionsResponse{Status: ok, PartitionNames: []string{"_default"}, PartitionIDs: []int64{1}},
		"ListAliases":    &milvuspb.ListAliasesResponse{Status: ok, DbName: "default", CollectionName: fixtureCollection},
		"GetVersion":     &milvuspb.GetVersionResponse{Status: ok, Version: "bench-fixture"},
		"CheckHealth":    &milvuspb.CheckHealthResponse{Status: ok, IsHealthy: true},
		"Connect":        &milvuspb.ConnectResponse{Status: ok},
	}
	f := &Fixture{resp: map[string][]byte{}, done: make(chan struct{})}
	for name, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		f.resp[svc+name] = b
		f.calls.Store(svc+name, new(atomic.Int64))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.Addr = l.Addr().String()
	f.srv = grpc.NewServer(
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(64<<20),
		grpc.MaxConcurrentStreams(1<<16),
		grpc.UnknownServiceHandler(f.handle),
	)
	go func() { defer close(f.done); _ = f.srv.Serve(l) }()
	return f, nil
}

func (f *Fixture) handle(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	var in discard
	if err := stream.RecvMsg(&in); err != nil {
		return err
	}
	resp, ok := f.resp[method]
	if !ok {
		return status.Errorf(codes.Unimplemented, "bench fixture: method %s not implemented", method)
	}
	if c, ok := f.calls.Load(method); ok {
		c.(*atomic.Int64).Add(1)
	}
	return stream.SendMsg(resp)
}

// Calls returns how many calls of one method (short name) the fixture served.
func (f *Fixture) Calls(name string) int64 {
	if c, ok := f.calls.Load(svc + name); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// Stop stops the server.
func (f *Fixture) Stop() {
	f.srv.Stop()
	<-f.done
}

// discard is a message whose bytes are dropped on receipt.
type discard struct{}

// rawCodec sends []byte as is and drops what it receives into a *discard;
// into a *[]byte it copies. Its name is "proto" so peers see ordinary gRPC.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch p := v.(type) {
	case *discard:
		return nil
	case *[]byte:
		*p = data.Materialize()
		return nil
	}
	return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
}

func (rawCodec) Name() string { return "proto" }

// clientCodec is rawCodec for the loader, with no name: grpc-go makes a
// forced codec's name the content-subtype, and "application/grpc+proto"
// is not "application/grpc", which the Milvus standalone's port multiplexer
// (cmux, gRPC and REST on one port) matches exactly — it answered such calls
// as HTTP/1.1. Without a name the loader sends "application/grpc", as
// pymilvus does.
type clientCodec struct{ rawCodec }

func (clientCodec) Name() string { return "" }
