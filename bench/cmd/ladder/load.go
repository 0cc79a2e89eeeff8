package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Workload is one request the loader repeats: pre-encoded once, so the
// loader spends no CPU on protobuf marshalling during the run.
type Workload struct {
	Backend string // "fake", "milvus-lite" or "milvus" (the standalone)
	Op      string // Search, Insert, Query; "Search c1": one stream
	Method  string // full gRPC method
	Req     []byte
	// Streams, when not 0, replaces -streams and -conns: one stream on one
	// connection measures a call's latency on an unloaded machine.
	Streams int
}

func vector(seed int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32((i*31+seed*17)%97) / 97
	}
	return v
}

func searchRequest(collection string) *milvuspb.SearchRequest {
	vec := make([]byte, 4*dim)
	for i, f := range vector(7) {
		binary.LittleEndian.PutUint32(vec[4*i:], math.Float32bits(f))
	}
	pg, _ := proto.Marshal(&commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{{
		Tag: "$0", Type: commonpb.PlaceholderType_FloatVector, Values: [][]byte{vec},
	}}})
	return &milvuspb.SearchRequest{
		CollectionName: collection, Nq: 1, DslType: commonpb.DslType_BoolExprV1,
		SearchInput: &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: pg},
		SearchParams: []*commonpb.KeyValuePair{
			{Key: "anns_field", Value: "vector"}, {Key: "topk", Value: fmt.Sprint(topK)},
			{Key: "metric_type", Value: "L2"}, {Key: "params", Value: "{}"}, {Key: "round_decimal", Value: "-1"},
		},
	}
}

func insertRequest(collection string, rows, firstID int) *milvuspb.InsertRequest {
	ids := make([]int64, rows)
	vecs := make([]float32, 0, rows*dim)
	for i := range ids {
		ids[i] = int64(firstID + i)
		vecs = append(vecs, vector(firstID+i)...)
	}
	return &milvuspb.InsertRequest{CollectionName: collection, NumRows: uint32(rows), FieldsData: []*schemapb.FieldData{
		{FieldName: "id", Type: schemapb.DataType_Int64, Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
			Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
		{FieldName: "vector", Type: schemapb.DataType_FloatVector, Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{
			Dim: dim, Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
	}}
}

func queryRequest(collection string) *milvuspb.QueryRequest {
	return &milvuspb.QueryRequest{CollectionName: collection, Expr: "id < 100", OutputFields: []string{"id"},
		QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: fmt.Sprint(queryLimit)}}}
}

func mustEncode(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// Workloads: Search (nq 1, dim 128, topk 10), Insert (100 rows, dim 128) and
// Query (filter "id < 100", limit 10) on the fixture; Search on milvus-lite;
// Search and Query, loaded and one stream, on the Milvus standalone.
func workloads(lite, milvus bool) []Workload {
	w := []Workload{
		{"fake", "Search", svc + "Search", mustEncode(searchRequest(fixtureCollection)), 0},
		{"fake", "Insert", svc + "Insert", mustEncode(insertRequest(fixtureCollection, insertRows, 0)), 0},
		{"fake", "Query", svc + "Query", mustEncode(queryRequest(fixtureCollection)), 0},
		{"fake", "Search c1", svc + "Search", mustEncode(searchRequest(fixtureCollection)), 1},
	}
	if lite {
		w = append(w, Workload{"milvus-lite", "Search", svc + "Search", mustEncode(searchRequest(liteCollection)), 0})
	}
	if milvus {
		// The collection's consistency level (Bounded), as pymilvus asks by
		// default: the requests' zero value is Strong, which waits for
		// Milvus's next time tick (~200 ms here) on every call.
		sr, qr := searchRequest(standaloneCollection), queryRequest(standaloneCollection)
		sr.UseDefaultConsistency, qr.UseDefaultConsistency = true, true
		search, query := mustEncode(sr), mustEncode(qr)
		w = append(w,
			Workload{backendMilvus, "Search", svc + "Search", search, 0},
			Workload{backendMilvus, "Query", svc + "Query", query, 0},
			Workload{backendMilvus, "Search c1", svc + "Search", search, 1},
			Workload{backendMilvus, "Query c1", svc + "Query", query, 1})
	}
	return w
}

// authCtx carries root's credentials as pymilvus sends them (the fixture and
// milvus-lite ignore them; the edge checks them).
func authCtx(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", base64.StdEncoding.EncodeToString([]byte("root:Milvus")))
}

// LoadResult is what one measured window produced.
type LoadResult struct {
	OK, Errors  int
	ErrorsByMsg map[string]int
	Window      time.Duration
	Lat         []time.Duration // sorted, OK calls only
}

func (r *LoadResult) Quantile(q float64) time.Duration {
	if len(r.Lat) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.Lat)))) - 1
	return r.Lat[max(i, 0)]
}

// Window marks the measured interval; the loader calls onStart at its
// beginning and onEnd at its end (for the CPU samples).
type Window struct {
	Warmup, Duration time.Duration
	OnStart, OnEnd   func()
	// Rate paces the streams to this many calls per second in all (the
	// k-th call starts at k/Rate, or at once when late); 0: closed loop,
	// each stream calls again as soon as its call ends.
	Rate float64
}

// Run drives w against target from streams workers spread over conns HTTP/2
// connections, closed-loop or paced (win.Rate): warm-up, then the measured
// window. A call counts when it starts and ends inside the window; a gRPC
// error or a Milvus status other than success is an error.
func Run(target string, w Workload, conns, streams int, win Window) (*LoadResult, error) {
	cc := make([]*grpc.ClientConn, conns)
	for i := range cc {
		c, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(clientCodec{}), grpc.MaxCallRecvMsgSize(64<<20)))
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.Connect()
		cc[i] = c
	}
	ctx, cancel := context.WithCancel(authCtx(context.Background()))
	defer cancel()
	start := time.Now()
	t0 := start.Add(win.Warmup)
	t1 := t0.Add(win.Duration)
	type acc struct {
		lat  []time.Duration
		errs map[string]int
	}
	accs := make([]acc, streams)
	var slots atomic.Int64 // paced: the next call's slot
	var wg sync.WaitGroup
	for s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &accs[s]
			a.lat = make([]time.Duration, 0, 1<<15)
			a.errs = map[string]int{}
			c := cc[s%conns]
			for {
				if win.Rate > 0 {
					slot := start.Add(time.Duration(float64(slots.Add(1)-1) / win.Rate * float64(time.Second)))
					time.Sleep(time.Until(slot))
				}
				st := time.Now()
				if !st.Before(t1) {
					return
				}
				var out []byte
				err := c.Invoke(ctx, w.Method, w.Req, &out)
				end := time.Now()
				if st.Before(t0) || end.After(t1) {
					continue
				}
				if err == nil {
					err = milvusStatus(out)
				}
				if err != nil {
					a.errs[errText(err)]++
					continue
				}
				a.lat = append(a.lat, end.Sub(st))
			}
		}()
	}
	time.Sleep(time.Until(t0))
	if win.OnStart != nil {
		win.OnStart()
	}
	time.Sleep(time.Until(t1))
	if win.OnEnd != nil {
		win.OnEnd()
	}
	// In-flight calls finish; one stuck for 10 s more is cut off.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		cancel()
		<-finished
	}
	r := &LoadResult{ErrorsByMsg: map[string]int{}, Window: win.Duration}
	for _, a := range accs {
		r.Lat = append(r.Lat, a.lat...)
		for m, n := range a.errs {
			r.ErrorsByMsg[m] += n
			r.Errors += n
		}
	}
	slices.Sort(r.Lat)
	r.OK = len(r.Lat)
	return r, nil
}

func errText(err error) string {
	if st, ok := status.FromError(err); ok {
		return fmt.Sprintf("grpc %s: %.160s", st.Code(), st.Message())
	}
	return fmt.Sprintf("%.200s", err.Error())
}

// milvusStatus reads field 1 (status, in every response used here) of a
// response and fails on any Milvus error: a gateway refusal comes back as a
// gRPC success carrying such a status.
func milvusStatus(resp []byte) error {
	for len(resp) > 0 {
		num, typ, n := protowire.ConsumeTag(resp)
		if n < 0 {
			return fmt.Errorf("response: bad protobuf")
		}
		resp = resp[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(resp)
			if n < 0 {
				return fmt.Errorf("response: bad status")
			}
			var st commonpb.Status
			if err := proto.Unmarshal(v, &st); err != nil {
				return err
			}
			if st.GetCode() != 0 || st.GetErrorCode() != commonpb.ErrorCode_Success {
				return fmt.Errorf("milvus status code=%d error_code=%s: %.160s", st.GetCode(), st.GetErrorCode(), st.GetReason())
			}
			return nil
		}
		n = protowire.ConsumeFieldValue(num, typ, resp)
		if n < 0 {
			return fmt.Errorf("response: bad protobuf")
		}
		resp = resp[n:]
	}
	return nil
}
