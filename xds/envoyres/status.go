package envoyres

import (
	"sort"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

type statusException struct {
	name  string
	field int32
}

// statusExceptions are the MilvusService methods whose response holds its
// status elsewhere than in field 1 (the field number), or not at all (0),
// sorted by name: every other method's response either has its status in
// field 1 or is a common.Status itself. The calls filter reads a response's
// status by them (callsmodule/status.c).
func statusExceptions() []statusException {
	status := (&commonpb.Status{}).ProtoReflect().Descriptor().FullName()
	methods := milvuspb.File_milvus_proto.Services().ByName("MilvusService").Methods()
	var out []statusException
	for i := range methods.Len() {
		m := methods.Get(i)
		if m.Output().FullName() == status {
			continue
		}
		f := m.Output().Fields().ByName("status")
		switch {
		case f == nil || f.Message() == nil || f.Message().FullName() != status:
			out = append(out, statusException{string(m.Name()), 0})
		case f.Number() != 1:
			out = append(out, statusException{string(m.Name()), int32(f.Number())})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
