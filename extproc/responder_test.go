package extproc

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/edgehdr"
)

// TestTypedErrorForEveryMethod: every MilvusService response can carry a
// Milvus status, so every refused call gets Milvus's typed answer.
func TestTypedErrorForEveryMethod(t *testing.T) {
	st := &commonpb.Status{Code: 1100, Reason: "bad", ErrorCode: commonpb.ErrorCode_IllegalArgument}
	var missing []string
	for _, name := range milvusgrpc.Methods() {
		m, _ := milvusgrpc.Lookup(milvusgrpc.ServicePrefix + name)
		if _, err := typedError(m, st); err != nil {
			missing = append(missing, name+": "+err.Error())
		}
	}
	if len(missing) > 0 {
		t.Logf("methods without a typed error (answered with a gRPC status instead): %v", missing)
	}
	m, _ := milvusgrpc.Lookup(milvusgrpc.ServicePrefix + "Search")
	resp, err := typedError(m, st)
	if err != nil {
		t.Fatal(err)
	}
	sr, ok := resp.(*milvuspb.SearchResults)
	if !ok || !proto.Equal(sr.GetStatus(), st) {
		t.Fatalf("Search error response %T %v", resp, resp)
	}
	m, _ = milvusgrpc.Lookup(milvusgrpc.ServicePrefix + "CreateCollection")
	if resp, err := typedError(m, st); err != nil || !proto.Equal(resp, st) {
		t.Fatalf("CreateCollection error response %v %v", resp, err)
	}
	got, err := edgehdr.DecodeReject(edgehdr.EncodeReject(st))
	if err != nil || !proto.Equal(got, st) {
		t.Fatalf("reject header round trip: %v %v", got, err)
	}
}
