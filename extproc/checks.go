package extproc

import (
	"encoding/json"
	"strconv"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/extproc/validate"
)

// dataChecks validate a data-path request against its collection's schema.
// decoded is the request already decoded (by ext_authz), or nil.
var dataChecks = map[string]func(msg []byte, decoded proto.Message, s *validate.Schema) *validate.Error{
	"Search":       checkOf("Search", validate.Search),
	"HybridSearch": checkOf("HybridSearch", validate.HybridSearch),
	"Query":        checkOf("Query", validate.Query),
	"Insert":       checkOf("Insert", validate.Insert),
	"Upsert":       checkOf("Upsert", validate.Upsert),
	"Delete":       checkOf("Delete", validate.Delete),
}

// checkOf decodes the whole request into its milvuspb type, unless it comes
// decoded, and validates it.
func checkOf[T any, R interface {
	*T
	proto.Message
}](api string, fn func(R, *validate.Schema) *validate.Error) func([]byte, proto.Message, *validate.Schema) *validate.Error {
	return func(msg []byte, decoded proto.Message, s *validate.Schema) *validate.Error {
		r, ok := decoded.(R)
		if !ok {
			r = R(new(T))
			if err := proto.Unmarshal(msg, r); err != nil {
				return badMessage(api, err)
			}
		}
		return fn(r, s)
	}
}

func checkCreateCollection(msg []byte) *validate.Error {
	r := &milvuspb.CreateCollectionRequest{}
	if err := proto.Unmarshal(msg, r); err != nil {
		return badMessage("CreateCollection", err)
	}
	return validate.CreateCollection(r)
}

func badMessage(api string, err error) *validate.Error {
	return &validate.Error{Code: 1100, Legacy: commonpb.ErrorCode_IllegalArgument, Reason: "invalid " + api + " request: " + err.Error()}
}

// collectionNotFound is the Milvus Proxy's answer for an unknown collection.
func collectionNotFound(db, coll string) *validate.Error {
	return &validate.Error{
		Code: 100, Legacy: commonpb.ErrorCode_CollectionNotExists,
		Reason: "collection not found[database=" + db + "][collection=" + coll + "]",
	}
}

// restNames validates the names of a REST request.
func checkRESTNames(r *Request) *validate.Error {
	if r.Collection == "" {
		return nil
	}
	return validate.Names(r.DB, r.Collection)
}

// ddlKind says what a successful DDL call changes in the schema cache.
type ddlKind int

const (
	ddlCollection ddlKind = iota + 1 // the named collection (and aliases pointing at it)
	ddlAlias                         // an alias and the collection it names
	ddlRename                        // old and new names
	ddlDatabase                      // every collection of a database
)

var ddlKinds = map[string]ddlKind{
	"CreateCollection": ddlCollection, "DropCollection": ddlCollection, "AlterCollection": ddlCollection,
	"AlterCollectionField": ddlCollection, "AddCollectionField": ddlCollection, "TruncateCollection": ddlCollection,
	"CreatePartition": ddlCollection, "DropPartition": ddlCollection,
	"LoadCollection": ddlCollection, "ReleaseCollection": ddlCollection,
	"CreateAlias": ddlAlias, "AlterAlias": ddlAlias, "DropAlias": ddlAlias,
	"RenameCollection": ddlRename,
	"CreateDatabase":   ddlDatabase, "DropDatabase": ddlDatabase, "AlterDatabase": ddlDatabase,
}

// ddlTarget is what to invalidate once a DDL call succeeds.
type ddlTarget struct {
	kind    ddlKind
	cluster string
	db      string
	names   []string
}

func newDDLTarget(kind ddlKind, m *milvusgrpc.Method, msg []byte, req *Request, route Router) *ddlTarget {
	t := &ddlTarget{kind: kind, db: req.DB}
	switch kind {
	case ddlCollection:
		t.names = []string{req.Collection}
	case ddlAlias:
		t.names = []string{req.Collection, stringValue(m, msg, "alias")}
	case ddlRename:
		t.names = []string{stringValue(m, msg, "oldName"), stringValue(m, msg, "newName")}
	}
	name := req.Collection
	if len(t.names) > 0 && name == "" {
		name = t.names[0]
	}
	t.cluster = route(req.DB, name)
	return t
}

// restDDLNames are the REST v2 body keys a DDL target names besides
// collectionName (Milvus handler_v2.go request types).
type restDDLNames struct {
	AliasName         string `json:"aliasName"`
	NewCollectionName string `json:"newCollectionName"`
}

// newRESTDDLTarget is newDDLTarget for a REST v2 body (JSON).
func newRESTDDLTarget(kind ddlKind, body []byte, req *Request, route Router) *ddlTarget {
	var n restDDLNames
	_ = json.Unmarshal(body, &n) // the body decoded already; absent keys stay ""
	t := &ddlTarget{kind: kind, db: req.DB}
	switch kind {
	case ddlCollection:
		t.names = []string{req.Collection}
	case ddlAlias:
		t.names = []string{req.Collection, n.AliasName}
	case ddlRename:
		t.names = []string{req.Collection, n.NewCollectionName}
	}
	name := req.Collection
	if name == "" && len(t.names) > 1 {
		name = t.names[1]
	}
	t.cluster = route(req.DB, name)
	return t
}

// restResponseOK reads a REST v2 answer: {"code": 0, ...} is success.
func restResponseOK(body []byte) bool {
	var r struct {
		Code *int64 `json:"code"`
	}
	return json.Unmarshal(body, &r) == nil && r.Code != nil && *r.Code == 0
}

func (t *ddlTarget) invalidate(s Schemas) {
	if t.kind == ddlDatabase {
		s.InvalidateDB(t.cluster, t.db)
		return
	}
	for _, n := range t.names {
		if n != "" {
			s.Invalidate(t.cluster, t.db, n)
		}
	}
}

// stringValue reads a top-level string field by name from an encoded message.
func stringValue(m *milvusgrpc.Method, msg []byte, name protoreflect.Name) string {
	f := m.Input.Fields().ByName(name)
	if f == nil || f.Kind() != protoreflect.StringKind {
		return ""
	}
	return string(fieldBytes(msg, f.Number()))
}

// responseOK says a DDL response reports success.
func responseOK(m *milvusgrpc.Method, msg []byte) bool {
	st := &commonpb.Status{}
	if m.Output.FullName() != st.ProtoReflect().Descriptor().FullName() {
		f := m.Output.Fields().ByName("status")
		if f == nil {
			return false
		}
		raw := fieldBytes(msg, f.Number())
		if raw == nil {
			return true // an empty status is success
		}
		msg = raw
	}
	if err := proto.Unmarshal(msg, st); err != nil {
		return false
	}
	return st.GetCode() == 0 && st.GetErrorCode() == commonpb.ErrorCode_Success
}

// fieldBytes returns the first length-delimited top-level field num of msg,
// nil when absent or unreadable.
func fieldBytes(msg []byte, num protowire.Number) []byte {
	for len(msg) > 0 {
		n0, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil
		}
		msg = msg[n:]
		if n0 == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(msg)
			return v
		}
		n = protowire.ConsumeFieldValue(n0, typ, msg)
		if n < 0 {
			return nil
		}
		msg = msg[n:]
	}
	return nil
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// schemaMoved says a (possibly partial) response body reports that the
// collection is gone or its schema changed: Milvus CollectionNotFound (100)
// or SchemaMismatch (109), or their legacy codes.
func schemaMoved(m *milvusgrpc.Method, body []byte) bool {
	if len(body) < 5 || body[0] != 0 {
		return false
	}
	msg := body[5:]
	var raw []byte
	if m.Output.FullName() == (&commonpb.Status{}).ProtoReflect().Descriptor().FullName() {
		raw = msg
	} else if f := m.Output.Fields().ByName("status"); f != nil {
		raw = fieldBytes(msg, f.Number())
	}
	if raw == nil {
		return false
	}
	st := &commonpb.Status{}
	if proto.Unmarshal(raw, st) != nil {
		return false
	}
	switch {
	case st.GetCode() == 100 || st.GetCode() == 109:
		return true
	case st.GetErrorCode() == commonpb.ErrorCode_CollectionNotExists || st.GetErrorCode() == commonpb.ErrorCode_SchemaMismatch:
		return true
	}
	return false
}
