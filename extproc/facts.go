package extproc

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// ext_proc adds to the call's facts that ext_authz put in Envoy's dynamic
// metadata (edgemeta.AuthzNamespace, the one namespace the filter config
// lets it write; Envoy merges the keys): that it refused the call
// (edgemeta.Refused "validation"), and an insert's num_rows, which comes
// after the rows in the message and so is past the prefix ext_authz read
// for any insert larger than auth.max_body_bytes.

// refusedMetadata is the facts of a refusal; shared and never written to.
var refusedMetadata = factsMetadata(map[string]*structpb.Value{
	edgemeta.Refused: structpb.NewStringValue(edgemeta.RefusedValidation),
})

// rowsMetadata is the facts of an Insert or Upsert ext_proc decoded whole.
func rowsMetadata(rows int64, refused bool) *structpb.Struct {
	f := map[string]*structpb.Value{edgemeta.Rows: structpb.NewNumberValue(float64(rows))}
	if refused {
		f[edgemeta.Refused] = structpb.NewStringValue(edgemeta.RefusedValidation)
	}
	return factsMetadata(f)
}

func factsMetadata(f map[string]*structpb.Value) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		edgemeta.AuthzNamespace: structpb.NewStructValue(&structpb.Struct{Fields: f}),
	}}
}

// rowsOf reads num_rows of an Insert or Upsert request msg (its top-level
// fields, the rows skipped by their length); nil for other methods, or when
// the message has none.
func rowsOf(m *milvusgrpc.Method, msg []byte) *int64 {
	if m.Name != "Insert" && m.Name != "Upsert" {
		return nil
	}
	f := m.Input.Fields().ByName("num_rows")
	if f == nil {
		return nil
	}
	var rows *int64
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil
		}
		msg = msg[n:]
		if num == f.Number() && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return nil
			}
			r := int64(uint32(v)) // the last one wins, as protobuf reads it
			rows, msg = &r, msg[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
			return nil
		}
		msg = msg[n:]
	}
	return rows
}
