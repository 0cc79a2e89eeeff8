package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"golang.org/x/net/http2"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// framing is how a client puts one gRPC call on the wire: whether it sends
// content-length, compresses the frame, and how it writes the body.
type framing struct {
	contentLength bool
	gzip          bool
	// chunk > 0 writes the body in pieces of that many bytes (small HTTP/2
	// DATA frames, as some clients send them).
	chunk int
}

func (f framing) String() string {
	return fmt.Sprintf("content-length=%v,gzip=%v,chunk=%d", f.contentLength, f.gzip, f.chunk)
}

var framings = []framing{
	{}, {contentLength: true}, {gzip: true}, {gzip: true, contentLength: true},
	{chunk: 1000}, {chunk: 1000, contentLength: true},
}

// rawAnswer is what came back for one raw call.
type rawAnswer struct {
	grpcStatus int
	grpcMsg    string
	msg        []byte // the response message (uncompressed)
}

// rawCall sends one unary gRPC call over h2c with the framing and reads the
// whole answer, trailers included.
func rawCall(t *testing.T, addr, method string, msg []byte, f framing) rawAnswer {
	t.Helper()
	flag := byte(0)
	if f.gzip {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		_, _ = zw.Write(msg)
		_ = zw.Close()
		msg, flag = zb.Bytes(), 1
	}
	frame := make([]byte, 5+len(msg))
	frame[0] = flag
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	var body io.Reader = bytes.NewReader(frame)
	if f.chunk > 0 {
		pr, pw := io.Pipe()
		go func() {
			for off := 0; off < len(frame); off += f.chunk {
				if _, err := pw.Write(frame[off:min(off+f.chunk, len(frame))]); err != nil {
					return
				}
			}
			pw.Close()
		}()
		body = pr
	}
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/milvus.proto.milvus.MilvusService/"+method, body)
	must(t, err)
	req.Header.Set("content-type", "application/grpc")
	req.Header.Set("te", "trailers")
	req.Header.Set("authorization", base64.StdEncoding.EncodeToString([]byte("root:Milvus")))
	if f.gzip {
		req.Header.Set("grpc-encoding", "gzip")
		req.Header.Set("grpc-accept-encoding", "gzip")
	}
	if f.contentLength {
		req.ContentLength = int64(len(frame))
	} else {
		req.ContentLength = -1
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	must(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(t, err)
	a := rawAnswer{grpcStatus: -1}
	for _, h := range []http.Header{resp.Trailer, resp.Header} {
		if v := h.Get("grpc-status"); v != "" && a.grpcStatus < 0 {
			a.grpcStatus, _ = strconv.Atoi(v)
			a.grpcMsg = h.Get("grpc-message")
		}
	}
	if len(data) >= 5 {
		m := data[5 : 5+binary.BigEndian.Uint32(data[1:5])]
		if data[0] == 1 {
			zr, err := gzip.NewReader(bytes.NewReader(m))
			must(t, err)
			m, err = io.ReadAll(zr)
			must(t, err)
		}
		a.msg = m
	}
	return a
}

// TestRefusalFraming: a call the edge refuses gets the same typed Milvus
// answer whatever the client's framing — content-length present or not,
// gzip-compressed frames, small DATA frames — on both of the edge's paths
// (ext_authz single pass for bodies it holds whole, ext_proc for larger
// ones); valid calls larger than ext_authz's buffer pass in every framing;
// a call over listener.max_request_bytes gets the size-limit answer.
func TestRefusalFraming(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	const maxRequest = 2 << 20
	head := strings.Replace(p.ConfigHead(), "listener: {", fmt.Sprintf("listener: {max_request_bytes: %d, ", maxRequest), 1)
	e := testenv.Run(t, head+oneCluster(backend), p)
	c := testenv.Client(t, e.Ports.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 60*time.Second)
	defer cancel()
	const dim = 8
	createVectorCollection(ctx, t, c, "framing", dim)
	upstream := func() int { return testenv.Counter(t, e.Ports.EnvoyAdmin, upstreamTotal) }

	wantReason := "vector dimension mismatch, expected vector size(byte) 32, actual 16."
	for _, size := range []struct {
		name string
		nq   int
	}{{"small (single pass)", 1}, {"over 64 KiB (ext_proc)", 6000}} {
		search := searchRequestNQ("framing", 4, size.nq)
		msg, _ := proto.Marshal(search)
		for _, f := range framings {
			t.Run("refused Search "+size.name+" "+f.String(), func(t *testing.T) {
				u0 := upstream()
				a := rawCall(t, e.Ports.Listener, "Search", msg, f)
				if a.grpcStatus != 0 {
					t.Fatalf("grpc-status %d %q, want 0 with a typed SearchResults", a.grpcStatus, a.grpcMsg)
				}
				var r milvuspb.SearchResults
				must(t, proto.Unmarshal(a.msg, &r))
				if r.GetStatus().GetCode() != 65535 || r.GetStatus().GetReason() != wantReason {
					t.Fatalf("status %v, want 65535 %q", r.GetStatus(), wantReason)
				}
				if got := upstream() - u0; got != 0 {
					t.Errorf("the backend saw %d calls, want 0", got)
				}
			})
		}
	}
	// Valid inserts on both sides of ext_authz's 64 KiB buffer pass in
	// every framing, and the rows are there.
	next := int64(1)
	for _, rows := range []int{10, 1000} {
		for _, f := range framings {
			t.Run(fmt.Sprintf("Insert %d rows %s", rows, f), func(t *testing.T) {
				req := insertRequest("framing", rows, dim)
				ids := req.FieldsData[0].GetScalars().GetLongData().GetData()
				for i := range ids {
					ids[i] = next + int64(i)
				}
				next += int64(rows)
				msg, _ := proto.Marshal(req)
				a := rawCall(t, e.Ports.Listener, "Insert", msg, f)
				if a.grpcStatus != 0 {
					t.Fatalf("grpc-status %d %q", a.grpcStatus, a.grpcMsg)
				}
				var r milvuspb.MutationResult
				must(t, proto.Unmarshal(a.msg, &r))
				if r.GetStatus().GetCode() != 0 || r.GetInsertCnt() != int64(rows) {
					t.Fatalf("Insert of %d rows (%d bytes): %v, inserted %d", rows, len(msg), r.GetStatus(), r.GetInsertCnt())
				}
			})
		}
	}
	// Over the size limit — a little, and by more than the filter server's
	// own gRPC receive limit — Milvus's answer to an oversized message
	// (RESOURCE_EXHAUSTED "… larger than max …"), never a frame error, and
	// the backend never sees it.
	for _, rows := range []int{maxRequest/(4*dim) + 1000, 3 * maxRequest / (4 * dim)} {
		big, _ := proto.Marshal(insertRequest("framing", rows, dim))
		for _, f := range []framing{{}, {contentLength: true}} {
			t.Run(fmt.Sprintf("over max_request_bytes %d bytes %s", len(big), f), func(t *testing.T) {
				u0 := upstream()
				a := rawCall(t, e.Ports.Listener, "Insert", big, f)
				if a.grpcStatus != 8 || !strings.Contains(a.grpcMsg, fmt.Sprintf("larger than max (%d vs. %d)", len(big)+5, maxRequest)) {
					t.Fatalf("grpc-status %d %q, want 8 (RESOURCE_EXHAUSTED) with the size limit", a.grpcStatus, a.grpcMsg)
				}
				if got := upstream() - u0; got != 0 {
					t.Errorf("the backend saw %d calls, want 0", got)
				}
			})
		}
	}
}

// oneCluster is the config of one cluster, "default", of one endpoint,
// routed everything.
func oneCluster(backend string) string {
	return fmt.Sprintf(`clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
`, backend)
}

// createVectorCollection creates a collection with an Int64 key "id" and a
// float vector "vec" of dim through c.
func createVectorCollection(ctx context.Context, t *testing.T, c milvuspb.MilvusServiceClient, name string, dim int) {
	t.Helper()
	schema, _ := proto.Marshal(&schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
		{FieldID: 100, Name: "id", IsPrimaryKey: true, DataType: schemapb.DataType_Int64},
		{FieldID: 101, Name: "vec", DataType: schemapb.DataType_FloatVector, TypeParams: []*commonpb.KeyValuePair{{Key: "dim", Value: strconv.Itoa(dim)}}},
	}})
	st, err := c.CreateCollection(ctx, &milvuspb.CreateCollectionRequest{CollectionName: name, Schema: schema})
	if err != nil || st.GetCode() != 0 {
		t.Fatalf("CreateCollection %s: %v %v", name, st, err)
	}
}

// searchRequestNQ is searchRequest with nq query vectors.
func searchRequestNQ(coll string, dim, nq int) *milvuspb.SearchRequest {
	r := searchRequest(coll, dim)
	var pg commonpb.PlaceholderGroup
	_ = proto.Unmarshal(r.GetPlaceholderGroup(), &pg)
	v := pg.Placeholders[0].Values[0]
	for len(pg.Placeholders[0].Values) < nq {
		pg.Placeholders[0].Values = append(pg.Placeholders[0].Values, v)
	}
	b, _ := proto.Marshal(&pg)
	r.SearchInput = &milvuspb.SearchRequest_PlaceholderGroup{PlaceholderGroup: b}
	r.Nq = int64(nq)
	return r
}

// TestLargeBodies: valid inserts on both sides of every buffer and limit on
// the way — ext_authz's 64 KiB prefix, Envoy's 1 MiB defaults, tens of MiB up
// to listener.max_request_bytes (64 MiB) — pass through the edge, validated,
// and the backend stores every row.
func TestLargeBodies(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	e := testenv.Run(t, p.ConfigHead()+oneCluster(backend), p)
	c := testenv.Client(t, e.Ports.Listener)
	ctx, cancel := context.WithTimeout(testenv.Root(context.Background()), 5*time.Minute)
	defer cancel()
	const dim = 768
	createVectorCollection(ctx, t, c, "large", dim)
	next := int64(1)
	for _, rows := range []int{30, 500, 1400, 5500, 11000} { // ~92 KB, 1.5 MB, 4.3 MB, 17 MB, 34 MB
		req := insertRequest("large", rows, dim)
		ids := req.FieldsData[0].GetScalars().GetLongData().GetData()
		for i := range ids {
			ids[i] = next + int64(i)
		}
		next += int64(rows)
		size := proto.Size(req)
		t.Run(fmt.Sprintf("%d rows, %d bytes", rows, size), func(t *testing.T) {
			start := time.Now()
			r, err := c.Insert(ctx, req)
			if err != nil || r.GetStatus().GetCode() != 0 || r.GetInsertCnt() != int64(rows) {
				t.Fatalf("Insert of %d bytes: %v, %v, inserted %d", size, err, r.GetStatus(), r.GetInsertCnt())
			}
			t.Logf("%d bytes inserted in %v", size, time.Since(start))
		})
	}
}
