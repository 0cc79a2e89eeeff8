package edgemeta

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Facts are one call's facts as Envoy's dynamic metadata holds them at the
// end of the call (an access-log entry's common_properties.metadata). A key
// that is absent reads as its zero value, with the Has* flags for numbers
// whose zero means something.
type Facts struct {
	// From AuthzNamespace.
	API, Surface, DB, Collection, Partition, User, DecisionID, Refused, TraceID string
	// SpanID, UpstreamSpanID and ParentSpanID of a traced call.
	SpanID, UpstreamSpanID, ParentSpanID string
	NQ, TopK, Rows                       int64
	HasNQ, HasTopK, HasRows              bool

	// From ResponseNamespace: the Milvus status of the response message.
	Code, ErrorCode int64
	// HasCode says the response's status was read (Code or ErrorCode set).
	HasCode bool
	Reason  string
}

// MilvusOK says the response carried no Milvus error: its code and legacy
// error_code are 0, or no status was read from it.
func (f *Facts) MilvusOK() bool { return f.Code == 0 && f.ErrorCode == 0 }

// Read returns the facts in md (nil: none).
func Read(md *corev3.Metadata) Facts {
	var f Facts
	fm := md.GetFilterMetadata()
	if a := fm[AuthzNamespace].GetFields(); a != nil {
		f.API = str(a[API])
		f.Surface = str(a[Surface])
		f.DB = str(a[DB])
		f.Collection = str(a[Collection])
		f.Partition = str(a[Partition])
		f.User = str(a[User])
		f.DecisionID = str(a[DecisionID])
		f.Refused = str(a[Refused])
		f.TraceID = str(a[TraceID])
		f.SpanID = str(a[SpanID])
		f.UpstreamSpanID = str(a[UpstreamSpanID])
		f.ParentSpanID = str(a[ParentSpanID])
		f.NQ, f.HasNQ = num(a[NQ])
		f.TopK, f.HasTopK = num(a[TopK])
		f.Rows, f.HasRows = num(a[Rows])
	}
	if r := fm[ResponseNamespace].GetFields(); r != nil {
		var hasCode, hasErr bool
		f.Code, hasCode = num(r[Code])
		f.ErrorCode, hasErr = num(r[ErrorCode])
		f.HasCode = hasCode || hasErr
		f.Reason = str(r[Reason])
	}
	return f
}

// str is a string value; numbers and booleans are not names.
func str(v *structpb.Value) string { return v.GetStringValue() }

// num reads a number stored as a JSON number or as a decimal string.
func num(v *structpb.Value) (int64, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return int64(k.NumberValue), true
	case *structpb.Value_StringValue:
		n, err := strconv.ParseInt(k.StringValue, 10, 64)
		return n, err == nil
	}
	return 0, false
}
