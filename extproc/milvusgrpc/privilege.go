package milvusgrpc

import (
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Object types of a privilege, as Milvus names them (common.proto ObjectType).
const (
	ObjectCollection = "Collection"
	ObjectGlobal     = "Global"
	ObjectUser       = "User"
)

// AnyName is the object name of privileges whose option names no field.
const AnyName = "*"

// Privilege is what the Milvus Proxy checks before an RPC runs, read from
// the request message's `(common.privilege_ext_obj)` option exactly as
// PrivilegeInterceptor reads it.
type Privilege struct {
	// ObjectType is "Collection", "Global" or "User".
	ObjectType string
	// Name is the privilege API name: the ObjectPrivilege enum name without
	// its "Privilege" or "PrivilegeGroup" prefix, e.g. "Search", "ReadOnly".
	Name string
	// NameField is the request field that holds the object name, nil when
	// the name is "*" (object_name_index <= 0).
	NameField protoreflect.FieldDescriptor
	// NameSubField is field 1 of NameField's message when NameField is a
	// message (e.g. SelectUserRequest.user.name), else nil.
	NameSubField protoreflect.FieldDescriptor
	// NameList reports that NameField is a repeated string
	// (object_name_indexs, e.g. FlushRequest.collection_names): Milvus checks
	// every name in it.
	NameList bool
}

// methodExt is everything precomputed per method beyond milvusgrpc.go's table.
type methodExt struct {
	priv    Privilege
	hasPriv bool
	plan    decodePlan
	msgType protoreflect.MessageType
}

// exts is keyed by the *Method values of the methods table; it is built once
// at package init and read-only afterwards.
var exts = buildExts()

func buildExts() map[*Method]*methodExt {
	out := make(map[*Method]*methodExt, len(methods))
	for _, m := range methods {
		e := &methodExt{plan: newDecodePlan(m.Input)}
		e.priv, e.hasPriv = readPrivilege(m.Input)
		if mt, err := protoregistry.GlobalTypes.FindMessageByName(m.Input.FullName()); err == nil {
			e.msgType = mt
		}
		out[m] = e
	}
	return out
}

// readPrivilege reads the privilege_ext_obj option of a request message.
func readPrivilege(md protoreflect.MessageDescriptor) (Privilege, bool) {
	opts, ok := md.Options().(*descriptorpb.MessageOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, commonpb.E_PrivilegeExtObj) {
		return Privilege{}, false
	}
	ext, ok := proto.GetExtension(opts, commonpb.E_PrivilegeExtObj).(*commonpb.PrivilegeExt)
	if !ok || ext == nil {
		return Privilege{}, false
	}
	p := Privilege{
		ObjectType: ext.GetObjectType().String(),
		Name:       PrivilegeAPIName(ext.GetObjectPrivilege().String()),
	}
	switch {
	case ext.GetObjectNameIndexs() > 0:
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(ext.GetObjectNameIndexs()))
		if fd != nil && fd.IsList() && fd.Kind() == protoreflect.StringKind {
			p.NameField, p.NameList = fd, true
		}
	case ext.GetObjectNameIndex() > 0:
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(ext.GetObjectNameIndex()))
		if fd == nil || fd.IsList() || fd.IsMap() {
			break
		}
		switch fd.Kind() {
		case protoreflect.StringKind:
			p.NameField = fd
		case protoreflect.MessageKind:
			if sub := fd.Message().Fields().ByNumber(1); sub != nil && sub.Kind() == protoreflect.StringKind && !sub.IsList() {
				p.NameField, p.NameSubField = fd, sub
			}
		}
	}
	return p, true
}

// PrivilegeAPIName turns an ObjectPrivilege enum name into the API name
// Milvus grants use (MetaStore2API): "PrivilegeSearch" → "Search",
// "PrivilegeGroupReadOnly" → "ReadOnly".
func PrivilegeAPIName(enum string) string {
	if s, ok := strings.CutPrefix(enum, "PrivilegeGroup"); ok {
		return s
	}
	return strings.TrimPrefix(enum, "Privilege")
}

// Privilege returns the privilege the Milvus Proxy checks for this RPC;
// ok is false when the request message carries no privilege option (Milvus
// lets such calls through unchecked).
func (m *Method) Privilege() (p Privilege, ok bool) {
	e := exts[m]
	if e == nil {
		return Privilege{}, false
	}
	return e.priv, e.hasPriv
}
