package authz

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
)

func marshalMsg(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func grpcFrame(msg []byte, flag byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	out[0] = flag
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

func placeholders(t testing.TB, nq, dim int) []byte {
	t.Helper()
	ph := &commonpb.PlaceholderValue{Tag: "$0", Type: commonpb.PlaceholderType_FloatVector}
	for q := 0; q < nq; q++ {
		v := make([]byte, 4*dim)
		for i := 0; i < dim; i++ {
			binary.LittleEndian.PutUint32(v[4*i:], math.Float32bits(float32(q*dim+i)/7))
		}
		ph.Values = append(ph.Values, v)
	}
	return marshalMsg(t, &commonpb.PlaceholderGroup{Placeholders: []*commonpb.PlaceholderValue{ph}})
}

func searchReq(t testing.TB, nq, dim int) *milvuspb.SearchRequest {
	return &milvuspb.SearchRequest{
		DbName: "db1", CollectionName: "docs", PartitionNames: []string{"p1"}, Dsl: "id > 3",
		DslType:      commonpb.DslType_BoolExprV1,
		SearchInput:  &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: placeholders(t, nq, dim)},
		OutputFields: []string{"id", "title"},
		SearchParams: []*commonpb.KeyValuePair{
			{Key: "anns_field", Value: "vec"}, {Key: "topk", Value: "10"}, {Key: "metric_type", Value: "L2"},
			{Key: "params", Value: `{"nprobe":16}`},
		},
		ConsistencyLevel: commonpb.ConsistencyLevel_Bounded,
	}
}

func insertReq(rows, dim int) *milvuspb.InsertRequest {
	ids := make([]int64, rows)
	vecs := make([]float32, rows*dim)
	for i := range ids {
		ids[i] = int64(i)
	}
	for i := range vecs {
		vecs[i] = float32(i) / 3
	}
	return &milvuspb.InsertRequest{
		CollectionName: "docs", PartitionName: "p1", NumRows: uint32(rows),
		FieldsData: []*schemapb.FieldData{
			{Type: schemapb.DataType_Int64, FieldName: "id", Field: &schemapb.FieldData_Scalars{Scalars: &schemapb.ScalarField{
				Data: &schemapb.ScalarField_LongData{LongData: &schemapb.LongArray{Data: ids}}}}},
			{Type: schemapb.DataType_FloatVector, FieldName: "vec", Field: &schemapb.FieldData_Vectors{Vectors: &schemapb.VectorField{
				Dim: int64(dim), Data: &schemapb.VectorField_FloatVector{FloatVector: &schemapb.FloatArray{Data: vecs}}}}},
		},
	}
}

// grpcCheck is a CheckRequest for a gRPC call with the given frame bytes.
func grpcCheck(method string, body []byte, extra map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		":authority": "edge:19530", "content-type": "application/grpc", "te": "trailers",
		"authorization": "cm9vdDpNaWx2dXM=", "user-agent": "grpc-python/1.66",
	}
	for k, v := range extra {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.0.0.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51234}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "req-1", Method: "POST", Path: milvusgrpc.ServicePrefix + method, Host: "edge:19530", Scheme: "http",
			Protocol: "HTTP/2", Headers: h, RawBody: body,
		}},
		ContextExtensions: map[string]string{"listener": "grpc"},
	}}
}

func restCheck(path, body string, extra map[string]string) *authv3.CheckRequest {
	h := map[string]string{"content-type": "application/json", "authorization": "Bearer root:Milvus"}
	for k, v := range extra {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: "POST", Path: path, Host: "edge:19530", Protocol: "HTTP/1.1",
			Headers: h, RawBody: []byte(body)},
	}}}
}

var reader = Identity{User: "reader", Roles: []string{"reader", "public", "reader"}, Method: MethodPassword}

// build runs BuildInput and returns the input as plain JSON values.
func build(t testing.TB, req *authv3.CheckRequest, id Identity) (map[string]any, *Summary) {
	t.Helper()
	v, sum, err := BuildInput(req, id, "", nil)
	if err != nil {
		t.Fatalf("BuildInput: %v", err)
	}
	doc, err := ast.JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return doc.(map[string]any), sum
}

// at walks a dotted path ("milvus.api", "parsed_body.fieldsData.1.type").
func at(doc any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch d := doc.(type) {
		case map[string]any:
			doc = d[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(d) {
				return nil
			}
			doc = d[i]
		default:
			return nil
		}
	}
	return doc
}

// expect checks path → value pairs; json.Number values compare as strings,
// and a nil want means absent.
func expect(t *testing.T, doc map[string]any, want map[string]any) {
	t.Helper()
	for path, w := range want {
		got := at(doc, path)
		if n, ok := got.(json.Number); ok {
			got = n.String()
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
}

func strs(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestBuildInputGRPC(t *testing.T) {
	schema := marshalMsg(t, &schemapb.CollectionSchema{Name: "new", Fields: []*schemapb.FieldSchema{{Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true}}})
	for _, tc := range []struct {
		name, method string
		msg          proto.Message
		headers      map[string]string
		want         map[string]any
	}{{
		name: "search", method: "Search", msg: searchReq(t, 2, 8), headers: map[string]string{"dbname": "prod"},
		want: map[string]any{
			"milvus.surface": "grpc", "milvus.api": "Search", "milvus.privilege": "Search", "milvus.object_type": "Collection",
			"milvus.object_name": "docs", "milvus.db": "prod", "milvus.collection": "docs", "milvus.partitions": strs("p1"),
			"milvus.nq": "2", "milvus.topk": "10", "milvus.output_fields": strs("id", "title"), "milvus.filter": "id > 3",
			"milvus.consistency_level": "Bounded", "milvus.num_rows": nil,
			"parsed_body.dbName": "db1", "parsed_body.collectionName": "docs", "parsed_body.dslType": "BoolExprV1",
			"parsed_body.searchParams.1.key": "topk", "parsed_body.searchParams.1.value": "10",
			"parsed_body.placeholderGroup": base64.StdEncoding.EncodeToString(placeholders(t, 2, 8)),
			"parsed_body.consistencyLevel": "Bounded", "truncated_body": false,
			"parsed_path": strs("milvus.proto.milvus.MilvusService", "Search"), "parsed_query": map[string]any{},
			"attributes.request.http.headers.authorization": "[redacted]", "attributes.request.http.headers.dbname": "prod",
			"attributes.request.http.method": "POST", "attributes.request.http.protocol": "HTTP/2",
			"attributes.source.address.socketAddress.address": "10.0.0.7", "attributes.source.address.socketAddress.portValue": "51234",
			"attributes.contextExtensions.listener": "grpc",
			"identity.user":                         "reader", "identity.roles": strs("reader", "public"), "identity.method": "password",
			"identity.claims": map[string]any{},
		},
	}, {
		name: "insert 1000 rows", method: "Insert", msg: insertReq(1000, 8),
		want: map[string]any{
			"milvus.api": "Insert", "milvus.privilege": "Insert", "milvus.object_name": "docs", "milvus.db": "default",
			"milvus.num_rows": "1000", "milvus.partitions": strs("p1"), "milvus.nq": nil, "milvus.consistency_level": nil,
			"parsed_body.numRows": "1000", "parsed_body.fieldsData.0.fieldName": "id", "parsed_body.fieldsData.0.type": "Int64",
			"parsed_body.fieldsData.0.scalars.longData.data":    map[string]any{"size": json.Number("1000")},
			"parsed_body.fieldsData.1.vectors.dim":              "8",
			"parsed_body.fieldsData.1.vectors.floatVector.data": map[string]any{"size": json.Number("8000")},
		},
	}, {
		name: "query", method: "Query",
		msg: &milvuspb.QueryRequest{CollectionName: "docs", Expr: "id in [1,2]", OutputFields: []string{"id"},
			QueryParams: []*commonpb.KeyValuePair{{Key: "limit", Value: "20"}}, UseDefaultConsistency: true},
		want: map[string]any{"milvus.api": "Query", "milvus.privilege": "Query", "milvus.filter": "id in [1,2]",
			"milvus.topk": "20", "milvus.output_fields": strs("id"), "milvus.consistency_level": nil,
			"parsed_body.useDefaultConsistency": true, "milvus.partitions": []any{}},
	}, {
		name: "delete", method: "Delete", msg: &milvuspb.DeleteRequest{CollectionName: "docs", Expr: "id < 5"},
		want: map[string]any{"milvus.api": "Delete", "milvus.privilege": "Delete", "milvus.object_type": "Collection",
			"milvus.filter": "id < 5", "milvus.consistency_level": "Strong"},
	}, {
		name: "create collection", method: "CreateCollection",
		msg: &milvuspb.CreateCollectionRequest{CollectionName: "new", Schema: schema, ShardsNum: 2,
			Properties: []*commonpb.KeyValuePair{{Key: "mmap.enabled", Value: "true"}}},
		want: map[string]any{"milvus.api": "CreateCollection", "milvus.privilege": "CreateCollection",
			"milvus.object_type": "Global", "milvus.object_name": "*", "milvus.collection": "new",
			"parsed_body.schema": base64.StdEncoding.EncodeToString(schema), "parsed_body.shardsNum": "2",
			"parsed_body.properties.0.key": "mmap.enabled"},
	}, {
		name: "has collection needs no privilege", method: "HasCollection",
		msg: &milvuspb.HasCollectionRequest{CollectionName: "docs"}, headers: map[string]string{"dbname": "a,b"},
		want: map[string]any{"milvus.api": "HasCollection", "milvus.privilege": "", "milvus.object_type": "",
			"milvus.object_name": "", "milvus.collection": "docs", "milvus.db": "a"},
	}, {
		name: "flush checks every name", method: "Flush", msg: &milvuspb.FlushRequest{CollectionNames: []string{"a", "b"}},
		want: map[string]any{"milvus.object_name": "a", "milvus.object_names": strs("a", "b")},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			doc, sum := build(t, grpcCheck(tc.method, grpcFrame(marshalMsg(t, tc.msg), 0), tc.headers), reader)
			expect(t, doc, tc.want)
			if sum.API != tc.method || sum.Surface != "grpc" || sum.DB != at(doc, "milvus.db") ||
				sum.Privilege != at(doc, "milvus.privilege") || sum.ObjectName != at(doc, "milvus.object_name") {
				t.Errorf("summary %+v does not match the input", sum)
			}
		})
	}
}

// TestBuildInputTruncated cuts the frame of a 1000-row insert at several
// offsets: fields after the cut are absent and truncated_body is set.
func TestBuildInputTruncated(t *testing.T) {
	msg := marshalMsg(t, insertReq(1000, 8))
	frame := grpcFrame(msg, 0)
	partial := map[string]string{PartialBodyHeader: "true"}
	for _, tc := range []struct {
		cut  int
		want map[string]any
	}{
		{0, map[string]any{"truncated_body": true, "milvus.collection": "", "milvus.object_name": "", "parsed_body": nil}},
		{3, map[string]any{"truncated_body": true, "milvus.collection": "", "parsed_body": nil}},
		{5 + 3, map[string]any{"truncated_body": true, "milvus.collection": "", "parsed_body": map[string]any{}}},
		{5 + 6, map[string]any{"truncated_body": true, "milvus.collection": "docs", "milvus.object_name": "docs",
			"milvus.partitions": []any{}, "parsed_body.collectionName": "docs", "parsed_body.partitionName": nil}},
		{5 + 10, map[string]any{"milvus.partitions": strs("p1"), "parsed_body.fieldsData": nil, "milvus.num_rows": nil}},
		{2048, map[string]any{"milvus.collection": "docs", "milvus.num_rows": nil, "parsed_body.fieldsData.0.fieldName": "id",
			"parsed_body.fieldsData.1": nil}},
		{len(frame) - 1, map[string]any{"parsed_body.fieldsData.1.fieldName": "vec", "milvus.num_rows": nil, "truncated_body": true}},
		{len(frame), map[string]any{"milvus.num_rows": "1000", "truncated_body": false}},
	} {
		doc, _ := build(t, grpcCheck("Insert", frame[:tc.cut], partial), reader)
		for k, v := range tc.want {
			got := at(doc, k)
			if n, ok := got.(json.Number); ok {
				got = n.String()
			}
			if k == "parsed_body" && v != nil {
				if got == nil {
					t.Errorf("cut %d: parsed_body absent", tc.cut)
				}
			} else if !reflect.DeepEqual(got, v) {
				t.Errorf("cut %d: %s = %#v, want %#v", tc.cut, k, got, v)
			}
		}
	}
}

func TestBuildInputREST(t *testing.T) {
	search := `{"dbName":"db1","collectionName":"docs","data":[[0.1,0.2],[0.3,0.4]],"annsField":"vec","limit":5,` +
		`"filter":"id > 0","outputFields":["id"],"searchParams":{"params":{"nprobe":8}},"big":"` + strings.Repeat("x", 2000) + `"}`
	doc, sum := build(t, restCheck("/v2/vectordb/entities/search?trace=1&trace=2", search, map[string]string{"db-name": "ignored"}), reader)
	expect(t, doc, map[string]any{
		"milvus.surface": "rest", "milvus.api": "Search", "milvus.privilege": "Search", "milvus.object_type": "Collection",
		"milvus.object_name": "docs", "milvus.db": "db1", "milvus.nq": "2", "milvus.topk": "5", "milvus.filter": "id > 0",
		"milvus.output_fields": strs("id"), "truncated_body": false,
		"parsed_path": strs("v2", "vectordb", "entities", "search"), "parsed_query.trace": strs("1", "2"),
		"parsed_body.collectionName": "docs", "parsed_body.limit": "5", "parsed_body.data.1.0": "0.3",
		"parsed_body.searchParams.params.nprobe": "8", "parsed_body.big": map[string]any{"size": json.Number("2000")},
		"attributes.request.http.headers.authorization": "[redacted]",
	})
	if sum.Surface != "rest" || sum.DB != "db1" || sum.Collection != "docs" {
		t.Errorf("summary %+v", sum)
	}

	// The DB-Name header applies when the body has no dbName.
	doc, _ = build(t, restCheck("/v2/vectordb/collections/describe", `{"collectionName":"docs"}`, map[string]string{"db-name": "hdr"}), reader)
	expect(t, doc, map[string]any{"milvus.db": "hdr", "milvus.api": "DescribeCollection", "milvus.object_type": "Global", "milvus.object_name": "*"})

	// A cut body gives the names it holds whole (ext_proc refuses bodies
	// that give a name twice), nothing else, and says it is cut.
	doc, _ = build(t, restCheck("/v2/vectordb/entities/search", search[:40], map[string]string{PartialBodyHeader: "true"}), reader)
	expect(t, doc, map[string]any{"truncated_body": true, "parsed_body": nil, "milvus.collection": "docs", "milvus.db": "db1", "milvus.api": "Search", "milvus.nq": nil})
	doc, _ = build(t, restCheck("/v2/vectordb/entities/search", search[:30], map[string]string{PartialBodyHeader: "true"}), reader)
	expect(t, doc, map[string]any{"truncated_body": true, "milvus.collection": "", "milvus.db": "db1"})
	doc, _ = build(t, restCheck("/v2/vectordb/entities/search", search[:40], map[string]string{"content-length": "999"}), reader)
	expect(t, doc, map[string]any{"truncated_body": true})

	// Other paths: no API, no error, JSON bodies still parsed.
	doc, _ = build(t, restCheck("/healthz", `{"a":1}`, nil), reader)
	expect(t, doc, map[string]any{"milvus.api": "", "milvus.privilege": "", "parsed_body.a": "1"})
	doc, _ = build(t, restCheck("/upload", `not json`, map[string]string{"content-type": "text/plain"}), reader)
	expect(t, doc, map[string]any{"milvus.api": "", "parsed_body": nil})
}

func TestBuildInputIdentity(t *testing.T) {
	id := Identity{User: "ci", Roles: nil, Method: MethodJWT, Claims: map[string]any{"sub": "ci", "groups": []any{"a"}, "n": 42.0}}
	doc, _ := build(t, restCheck("/v2/vectordb/collections/list", `{}`, nil), id)
	expect(t, doc, map[string]any{"identity.roles": strs("public"), "identity.method": "jwt",
		"identity.claims.sub": "ci", "identity.claims.groups": strs("a"), "identity.claims.n": "42"})
}

func TestBuildInputHeaderMap(t *testing.T) {
	req := grpcCheck("Search", grpcFrame(marshalMsg(t, searchReq(t, 1, 4)), 0), nil)
	h := req.Attributes.Request.Http
	h.Headers = nil
	h.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "content-type", RawValue: []byte("application/grpc")}, {Key: "DBName", Value: "x"},
		{Key: "dbname", Value: "y"}, {Key: "authorization", Value: "secret"},
	}}
	doc, _ := build(t, req, reader)
	expect(t, doc, map[string]any{"milvus.db": "x", "milvus.api": "Search", "attributes.request.http.headers.dbname": "x,y",
		"attributes.request.http.headers.authorization": "[redacted]"})
}

func TestBuildInputGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(marshalMsg(t, &milvuspb.QueryRequest{CollectionName: "docs"}))
	_ = zw.Close()
	doc, _ := build(t, grpcCheck("Query", grpcFrame(buf.Bytes(), 1), map[string]string{"grpc-encoding": "gzip"}), reader)
	expect(t, doc, map[string]any{"milvus.collection": "docs", "truncated_body": false})
	// A compressed prefix is not inflated.
	doc, _ = build(t, grpcCheck("Query", grpcFrame(buf.Bytes(), 1)[:10], map[string]string{"grpc-encoding": "gzip", PartialBodyHeader: "true"}), reader)
	expect(t, doc, map[string]any{"milvus.collection": "", "truncated_body": true, "milvus.api": "Query"})
}

func TestBuildInputNoBody(t *testing.T) {
	doc, _ := build(t, grpcCheck("Search", nil, nil), reader)
	expect(t, doc, map[string]any{"truncated_body": true, "milvus.api": "Search", "milvus.object_name": "", "parsed_body": nil})
	doc, _ = build(t, grpcCheck("NoSuchMethod", []byte{0, 0, 0, 0, 1, 0xff}, nil), reader)
	expect(t, doc, map[string]any{"milvus.api": "", "milvus.privilege": "", "parsed_body": nil,
		"parsed_path": strs("milvus.proto.milvus.MilvusService", "NoSuchMethod")})
}

func TestBuildInputErrors(t *testing.T) {
	msg := marshalMsg(t, searchReq(t, 1, 8))
	for name, req := range map[string]*authv3.CheckRequest{
		"field cut in a complete frame": grpcCheck("Search", grpcFrame(msg[:20], 0), map[string]string{PartialBodyHeader: "true"}),
		"bad protobuf":                  grpcCheck("Search", grpcFrame([]byte{0x00, 0x01}, 0), nil),
		"compressed, no encoding":       grpcCheck("Search", grpcFrame(msg, 1), nil),
		"rest bad json, whole":          restCheck("/v2/vectordb/entities/search", `{"collectionName":`, map[string]string{"content-length": "18"}),
	} {
		t.Run(name, func(t *testing.T) {
			v, sum, err := BuildInput(req, reader, "", nil)
			if !errors.Is(err, ErrInvalidBody) || v != nil || sum == nil || sum.API != "Search" {
				t.Errorf("got %v, %+v, %v; want ErrInvalidBody with a summary", v, sum, err)
			}
		})
	}
}

// TestBuildInputPrefix: a body shorter than its frame (or, for REST without
// a content-length, one that does not parse) is a prefix whatever Envoy's
// partial-body header says — Envoy sends "false" when it stopped buffering
// below max_request_bytes, as it does for every body of a few DATA frames
// past the limit. The prefix is decided on; the call is not single-pass.
func TestBuildInputPrefix(t *testing.T) {
	msg := marshalMsg(t, searchReq(t, 1, 8))
	for name, tc := range map[string]struct {
		req  *authv3.CheckRequest
		coll string
	}{
		"short frame":                        {grpcCheck("Search", []byte{0, 0}, nil), ""},
		"frame cut, header says not partial": {grpcCheck("Search", grpcFrame(msg, 0)[:40], map[string]string{PartialBodyHeader: "false"}), "docs"},
		"rest cut, no content-length":        {restCheck("/v2/vectordb/entities/search", `{"collectionName":"docs","data":[[0.1,`, nil), "docs"},
	} {
		t.Run(name, func(t *testing.T) {
			_, sum, err := BuildInput(tc.req, reader, "", nil)
			if err != nil || !sum.partial || sum.decoded != nil || sum.API != "Search" || sum.Collection != tc.coll {
				t.Errorf("got %+v, %v; want a prefix naming collection %q", sum, err, tc.coll)
			}
		})
	}
}

func TestBuildInputAllocs(t *testing.T) {
	req := benchSearchRequest(t)
	allocs := testing.AllocsPerRun(50, func() {
		if _, _, err := BuildInput(req, reader, "", nil); err != nil {
			t.Fatal(err)
		}
	})
	// Budget for a 768-d search prefix with 8 headers; see the benchmark.
	if allocs > 260 {
		t.Errorf("BuildInput allocates %.0f times per search, budget 260", allocs)
	}
}

// benchSearchRequest is a 768-d, nq 1 search whose body Envoy cut at 2 KiB.
func benchSearchRequest(t testing.TB) *authv3.CheckRequest {
	frame := grpcFrame(marshalMsg(t, searchReq(t, 1, 768)), 0)
	return grpcCheck("Search", frame[:2048], map[string]string{
		PartialBodyHeader: "true", "dbname": "prod", "grpc-accept-encoding": "identity,deflate,gzip", "grpc-timeout": "10S",
	})
}

func BenchmarkBuildInputSearch768(b *testing.B) {
	req := benchSearchRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := BuildInput(req, reader, "", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzBuildInput(f *testing.F) {
	search := grpcFrame(marshalMsg(f, searchReq(f, 2, 4)), 0)
	f.Add(milvusgrpc.ServicePrefix+"Search", search, false)
	f.Add(milvusgrpc.ServicePrefix+"Search", search[:30], true)
	f.Add(milvusgrpc.ServicePrefix+"Insert", grpcFrame(marshalMsg(f, insertReq(3, 2)), 0), false)
	f.Add(milvusgrpc.ServicePrefix+"Flush", grpcFrame(marshalMsg(f, &milvuspb.FlushRequest{CollectionNames: []string{"a"}}), 0), false)
	f.Add(milvusgrpc.ServicePrefix+"SelectUser", grpcFrame(marshalMsg(f, &milvuspb.SelectUserRequest{User: &milvuspb.UserEntity{Name: "u"}}), 0), false)
	f.Add("/v2/vectordb/entities/search?a=1", []byte(`{"collectionName":"c","data":[[1,2]],"limit":3}`), false)
	f.Add("/v2/vectordb/entities/insert", []byte(`{"collectionName":"c","data":[{"id":1}`), true)
	f.Add("/v2/vectordb/users/describe", []byte(`{"userName":"bob"}`), false)
	f.Add("/%zz/a%2Fb", []byte(`{}`), false)
	f.Fuzz(func(t *testing.T, path string, body []byte, partial bool) {
		hdr := map[string]string{}
		if partial {
			hdr[PartialBodyHeader] = "true"
		}
		if !strings.HasPrefix(path, "/milvus.") {
			fuzzCheck(t, restCheck(path, string(body), hdr))
			return
		}
		// gRPC: body as the raw frame bytes, and as a message in a frame
		// (cut when partial).
		for _, raw := range [][]byte{body, grpcFrame(body, 0)[:5+len(body)*2/3], grpcFrame(body, 0)} {
			req := grpcCheck("", raw, hdr)
			req.Attributes.Request.Http.Path = path
			fuzzCheck(t, req)
		}
	})
}

func fuzzCheck(t *testing.T, req *authv3.CheckRequest) {
	v, sum, err := BuildInput(req, reader, "", nil)
	if sum == nil {
		t.Fatal("nil summary")
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidBody) || v != nil {
			t.Fatalf("error %v (value %v) is not an ErrInvalidBody", err, v)
		}
		return
	}
	doc, err := ast.JSON(v)
	if err != nil {
		t.Fatalf("input is not JSON: %v", err)
	}
	m := doc.(map[string]any)
	if at(m, "milvus.api") != sum.API || at(m, "milvus.db") == "" || at(m, "identity.user") != "reader" {
		t.Fatalf("inconsistent input: %v", m["milvus"])
	}
	if at(m, "attributes.request.http.headers.authorization") != "[redacted]" {
		t.Fatal("authorization not redacted")
	}
}
