package milvusgrpc

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Info is what the edge knows about one request from (a prefix of) its body:
// the names and sizes policies decide on. Pointers and empty values mean the
// request did not carry the value or it lay beyond the decoded prefix.
type Info struct {
	// API is the RPC name ("Search"); REST paths map to the same names.
	API string
	// DB is the db_name (REST: dbName) the body carries. Milvus checks
	// privileges against the dbname header instead; see policy-contract.md.
	DB string
	// Collection is collection_name, Partitions partition_names (or the
	// single partition_name). Lists are set only when known to be complete
	// (a prefix may cut a repeated field after its first elements).
	Collection string
	Partitions []string
	// ObjectName is the object the privilege is checked on: the option's
	// name field, "*" when the option names none, "" without an option.
	// ObjectNames holds every name of a list option (Flush), which Milvus
	// checks one by one; ObjectName is then the first, or "*".
	ObjectName  string
	ObjectNames []string
	// NQ is the number of query vectors (of each sub-search for
	// HybridSearch), TopK the result limit, NumRows the number of rows
	// written.
	NQ, TopK, NumRows *int64
	// NQEstimate is a search's nq read from its placeholder group's declared
	// length when the prefix ends inside the group (estimateNQ), for rate
	// limits; policies see NQ, which is only ever exact.
	NQEstimate *int64
	// SubSearches is the number of HybridSearch sub-searches known.
	SubSearches int
	// OutputFields is output_fields; HasOutputFields reports that the list
	// (possibly empty) is known in full.
	OutputFields    []string
	HasOutputFields bool
	// Filter is the boolean expression (Search dsl, Query/Delete expr).
	Filter *string
	// ConsistencyLevel is the enum name ("Bounded"), "" when unknown or when
	// the collection's default applies.
	ConsistencyLevel string
	// Truncated reports that bytes after the last complete field remained.
	Truncated bool
	// Msg holds the complete top-level fields of the request (a milvuspb
	// message); nil when the method's type is not registered.
	Msg protoreflect.Message
}

// decodePlan names the fields of a request type that Info is filled from;
// nil descriptors are fields the type does not have.
type decodePlan struct {
	db, coll, partNames, partName  protoreflect.FieldDescriptor
	outputFields, filter           protoreflect.FieldDescriptor
	consistency, useDefault        protoreflect.FieldDescriptor
	numRows, nq, placeholder, subs protoreflect.FieldDescriptor
	params                         protoreflect.FieldDescriptor
	// sub is the plan of the sub-requests (HybridSearch's SearchRequests).
	sub *decodePlan
	// topkKeys are the params keys read as TopK, in order of preference.
	topkKeys []string
}

func newDecodePlan(md protoreflect.MessageDescriptor) decodePlan {
	f := func(name protoreflect.Name, kind protoreflect.Kind, list bool) protoreflect.FieldDescriptor {
		fd := md.Fields().ByName(name)
		if fd == nil || fd.Kind() != kind || fd.IsList() != list || fd.IsMap() {
			return nil
		}
		return fd
	}
	p := decodePlan{
		db:           f("db_name", protoreflect.StringKind, false),
		coll:         f("collection_name", protoreflect.StringKind, false),
		partNames:    f("partition_names", protoreflect.StringKind, true),
		partName:     f("partition_name", protoreflect.StringKind, false),
		outputFields: f("output_fields", protoreflect.StringKind, true),
		consistency:  f("consistency_level", protoreflect.EnumKind, false),
		useDefault:   f("use_default_consistency", protoreflect.BoolKind, false),
		numRows:      f("num_rows", protoreflect.Uint32Kind, false),
		nq:           f("nq", protoreflect.Int64Kind, false),
		placeholder:  f("placeholder_group", protoreflect.BytesKind, false),
		topkKeys:     []string{"topk", "limit"},
	}
	if p.filter = f("dsl", protoreflect.StringKind, false); p.filter == nil {
		p.filter = f("expr", protoreflect.StringKind, false)
	}
	// HybridSearch: the sub-searches carry nq, the rank params the limit.
	if s := f("requests", protoreflect.MessageKind, true); s != nil && s.Message().FullName() == md.ParentFile().Package()+".SearchRequest" {
		p.subs = s
		sub := newDecodePlan(s.Message())
		p.sub = &sub
	}
	for _, name := range []protoreflect.Name{"search_params", "query_params", "rank_params"} {
		if fd := f(name, protoreflect.MessageKind, true); fd != nil && fd.Message().Name() == "KeyValuePair" {
			p.params = fd
			if name != "search_params" {
				p.topkKeys = []string{"limit"}
			}
			break
		}
	}
	return p
}

// ErrMalformed marks a request body that is not a valid protobuf message.
var ErrMalformed = errors.New("malformed request message")

// DecodePrefix decodes a request message from msg, which may be cut at any
// byte (ext_authz sends a prefix of large bodies). Every complete top-level
// field is kept; decoding stops silently at the first incomplete one and
// Info.Truncated is set. Since a cut may fall on a field boundary, a field
// absent from msg is taken as unknown, not as its zero value, unless a
// higher-numbered field follows it. Bytes that are not protobuf, or complete
// fields that do not decode, are an error wrapping ErrMalformed.
func (m *Method) DecodePrefix(msg []byte) (*Info, error) { return m.decode(msg, false) }

// DecodeMessage decodes a complete request message: absent fields hold
// their zero values, and a field cut short is an ErrMalformed error.
func (m *Method) DecodeMessage(msg []byte) (*Info, error) { return m.decode(msg, true) }

func (m *Method) decode(msg []byte, complete bool) (*Info, error) {
	info := &Info{API: m.Name}
	e := exts[m]
	if e == nil || e.msgType == nil {
		return info, nil
	}
	end, maxSeen, truncated, err := scanPrefix(msg)
	if err == nil && truncated && complete {
		err = fmt.Errorf("%w: %s: message ends inside the field at byte %d", ErrMalformed, m.Input.FullName(), end)
	}
	if err != nil {
		return info, err
	}
	info.Truncated = truncated
	pm := e.msgType.New()
	if err := (proto.UnmarshalOptions{RecursionLimit: 64}).Unmarshal(msg[:end], pm.Interface()); err != nil {
		return info, fmt.Errorf("%w: %s: %w", ErrMalformed, m.Input.FullName(), err)
	}
	info.Msg = pm
	fill(info, &e.plan, pm, known{complete: complete, maxSeen: maxSeen})
	if truncated && info.NQ == nil && e.plan.placeholder != nil {
		info.NQEstimate = estimateNQ(msg[end:], e.plan.placeholder.Number())
	}
	info.ObjectName, info.ObjectNames = objectName(e, pm, known{complete: complete, maxSeen: maxSeen})
	return info, nil
}

// scanPrefix walks the top-level fields of msg and returns the end of the
// last complete one and the highest field number seen.
func scanPrefix(msg []byte) (end int, maxSeen protowire.Number, truncated bool, err error) {
	for end < len(msg) {
		num, typ, n := protowire.ConsumeTag(msg[end:])
		if n < 0 {
			return end, maxSeen, true, prefixErr(n, end)
		}
		v := protowire.ConsumeFieldValue(num, typ, msg[end+n:])
		if v < 0 {
			return end, maxSeen, true, prefixErr(v, end)
		}
		end += n + v
		maxSeen = max(maxSeen, num)
	}
	return end, maxSeen, false, nil
}

// prefixErr is nil for a field cut short (the prefix ends inside it) and an
// ErrMalformed error for anything else.
func prefixErr(code, off int) error {
	err := protowire.ParseError(code)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return fmt.Errorf("%w: field at byte %d: %w", ErrMalformed, off, err)
}

// known tells whether a field's value is fully known: always in a complete
// message; in a prefix only below a field already seen, because encoders
// write fields in number order (Go writes oneofs last, so those are never
// known from a prefix). A prefix may hold only the first elements of a
// repeated field, so lists are reported only when known.
type known struct {
	complete bool
	maxSeen  protowire.Number
}

func (k known) of(fd protoreflect.FieldDescriptor) bool {
	return k.complete || (fd.ContainingOneof() == nil && fd.Number() < k.maxSeen)
}

func fill(info *Info, p *decodePlan, m protoreflect.Message, k known) {
	if p.db != nil {
		info.DB = m.Get(p.db).String()
	}
	if p.coll != nil {
		info.Collection = m.Get(p.coll).String()
	}
	if p.partNames != nil && k.of(p.partNames) {
		info.Partitions = stringList(m.Get(p.partNames).List())
	}
	if p.partName != nil && m.Has(p.partName) {
		info.Partitions = []string{m.Get(p.partName).String()}
	}
	if p.outputFields != nil && k.of(p.outputFields) {
		info.OutputFields = stringList(m.Get(p.outputFields).List())
		info.HasOutputFields = true
	}
	if p.filter != nil && m.Has(p.filter) {
		s := m.Get(p.filter).String()
		info.Filter = &s
	}
	info.ConsistencyLevel = consistency(p, m, k)
	if p.numRows != nil && m.Has(p.numRows) {
		info.NumRows = ptr(int64(m.Get(p.numRows).Uint()))
	}
	info.NQ = searchNQ(p, m)
	if p.sub != nil && m.Get(p.subs).List().Len() > 0 {
		info.SubSearches = m.Get(p.subs).List().Len()
		// All sub-requests must have the same nq; the first one tells it.
		info.NQ = searchNQ(p.sub, m.Get(p.subs).List().Get(0).Message())
	}
	if p.params != nil {
		info.TopK = paramInt(m.Get(p.params).List(), p.topkKeys)
	}
}

// consistency is the level's name when set, "Strong" (the zero value) when
// it is known to be absent and the default is not asked for, else "".
func consistency(p *decodePlan, m protoreflect.Message, k known) string {
	if p.consistency == nil {
		return ""
	}
	if m.Has(p.consistency) {
		v := m.Get(p.consistency).Enum()
		if ev := p.consistency.Enum().Values().ByNumber(v); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v))
	}
	if !k.of(p.consistency) {
		return ""
	}
	if p.useDefault != nil && (!k.of(p.useDefault) || m.Get(p.useDefault).Bool()) {
		return ""
	}
	return string(p.consistency.Enum().Values().ByNumber(0).Name())
}

// searchNQ reads nq of a SearchRequest, counting the placeholder values when
// nq is 0 as the Proxy does (getNq).
func searchNQ(p *decodePlan, m protoreflect.Message) *int64 {
	if p.nq == nil {
		return nil
	}
	if n := m.Get(p.nq).Int(); n > 0 {
		return &n
	}
	if p.placeholder != nil && m.Has(p.placeholder) {
		if n, ok := countPlaceholders(m.Get(p.placeholder).Bytes()); ok {
			return &n
		}
	}
	return nil
}

// countPlaceholders counts the values of the first PlaceholderValue in a
// serialized common.PlaceholderGroup {placeholders=1 {tag=1, type=2,
// values=3}} without copying the vectors.
func countPlaceholders(b []byte) (int64, bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			ph, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, false
			}
			return countField(ph, 3)
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, false
		}
		b = b[n:]
	}
	return 0, false
}

func countField(b []byte, field protowire.Number) (int64, bool) {
	var c int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, false
		}
		b = b[n:]
		if num == field {
			c++
		}
	}
	return c, true
}

// estimateNQ reads the number of query vectors of a search whose prefix
// ends inside its placeholder_group (large searches: their nq field comes
// after it): the group's declared length divided by the size of its first
// value. Exact for dense vectors, whose values all have one size; nil when
// the cut field is not the group or its first value is not in the prefix.
func estimateNQ(cut []byte, field protowire.Number) *int64 {
	num, typ, n := protowire.ConsumeTag(cut)
	if n < 0 || num != field || typ != protowire.BytesType {
		return nil
	}
	groupLen, m := protowire.ConsumeVarint(cut[n:])
	if m < 0 {
		return nil
	}
	b := cut[n+m:] // the group's first bytes: placeholders=1 {tag=1, type=2, values=3...}
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 || num != 1 || typ != protowire.BytesType {
		return nil
	}
	valueLen, m := protowire.ConsumeVarint(b[n:])
	if m < 0 {
		return nil
	}
	head := n + m // bytes of the group before the PlaceholderValue's fields
	for off := head; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return nil
		}
		if num == 3 && typ == protowire.BytesType {
			v, m := protowire.ConsumeVarint(b[off+n:])
			if m < 0 || v == 0 {
				return nil
			}
			per := uint64(n+m) + v
			// The values run from here to the end of the PlaceholderValue.
			rest := min(valueLen, groupLen) - uint64(off-head)
			return ptr(int64(max(rest/per, 1)))
		}
		l := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if l < 0 {
			return nil
		}
		off += n + l
	}
	return nil
}

// paramInt returns the first of keys in a KeyValuePair list that parses as
// an integer.
func paramInt(l protoreflect.List, keys []string) *int64 {
	for _, key := range keys {
		for i := 0; i < l.Len(); i++ {
			kv := l.Get(i).Message()
			fds := kv.Descriptor().Fields()
			if kv.Get(fds.ByNumber(1)).String() != key {
				continue
			}
			if n, err := strconv.ParseInt(kv.Get(fds.ByNumber(2)).String(), 10, 64); err == nil {
				return &n
			}
		}
	}
	return nil
}

// objectName resolves the privilege's object name as the Proxy does
// (funcutil.GetObjectName / GetObjectNames). A name list cut short is
// unknown: "" and no names.
func objectName(e *methodExt, m protoreflect.Message, k known) (string, []string) {
	if !e.hasPriv {
		return "", nil
	}
	p := e.priv
	switch {
	case p.NameField == nil:
		return AnyName, nil
	case p.NameList && !k.of(p.NameField):
		return "", nil
	case p.NameList:
		names := stringList(m.Get(p.NameField).List())
		if len(names) == 0 {
			return AnyName, names
		}
		return names[0], names
	case p.NameSubField != nil:
		if s := m.Get(p.NameField).Message().Get(p.NameSubField).String(); s != "" {
			return s, nil
		}
		return AnyName, nil
	default:
		return m.Get(p.NameField).String(), nil
	}
}

func stringList(l protoreflect.List) []string {
	if l.Len() == 0 {
		return nil
	}
	out := make([]string, l.Len())
	for i := range out {
		out[i] = l.Get(i).String()
	}
	return out
}

func ptr[T any](v T) *T { return &v }
