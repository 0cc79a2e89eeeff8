package authz

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
	"github.com/milvus-edge/milvus-edge/policy"
)

// Summary is what messages and decision logs say about a request.
type Summary struct {
	Surface, API, Privilege, ObjectType, ObjectName, DB, Collection string
	// decoded is the whole gRPC request message, when the body was whole.
	decoded proto.Message
	// info is what the body said (partitions, nq) for the rate limits.
	info *milvusgrpc.Info
	// partial: Envoy sent a prefix of the body (or a REST body is shorter
	// than its content-length).
	partial bool
}

// terms holds the strings inputs repeat — the document's keys, protobuf
// JSON and enum names of the Milvus protos, RPC and privilege names, common
// header names — as shared terms, so that building an input does not
// allocate them again. Built at init and read-only afterwards; terms are
// immutable, as OPA's own interned terms are.
var terms = buildTerms()

// strTerm returns the shared term for s, or a new one.
func strTerm(s string) *ast.Term {
	if t, ok := terms[s]; ok {
		return t
	}
	return ast.StringTerm(s)
}

var fixedStrings = []string{
	// input keys
	"attributes", "request", "http", "id", "method", "path", "host", "scheme", "protocol", "headers",
	"source", "address", "socketAddress", "portValue", "principal", "contextExtensions",
	"parsed_path", "parsed_query", "parsed_body", "truncated_body", "milvus", "identity",
	"surface", "api", "privilege", "object_type", "object_name", "object_names", "db", "collection",
	"partitions", "nq", "topk", "num_rows", "output_fields", "filter", "consistency_level",
	"user", "roles", "claims", "size", "peer",
	// values
	"", "grpc", "rest", "public", "admin", "root", MethodPassword, MethodAPIKey, MethodJWT, MethodMTLS, DefaultDB, redacted,
	milvusgrpc.ObjectCollection, milvusgrpc.ObjectGlobal, milvusgrpc.ObjectUser, milvusgrpc.AnyName,
	"POST", "GET", "HTTP/2", "HTTP/1.1", "http", "https", "true", "false",
	"milvus.proto.milvus.MilvusService", "v2", "vectordb", "application/grpc", "application/json", "trailers",
	// header names
	":authority", ":method", ":path", ":scheme", "content-type", "content-length", "te", "user-agent",
	"authorization", "dbname", "db-name", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
	PartialBodyHeader, "x-request-id", "x-forwarded-proto", "x-forwarded-for", "x-envoy-internal",
	"x-envoy-expected-rq-timeout-ms", "accept", "accept-encoding", "request-timeout", "accept-type-allow-int64",
}

func buildTerms() map[string]*ast.Term {
	out := make(map[string]*ast.Term, 4096)
	add := func(s string) {
		if _, ok := out[s]; !ok {
			out[s] = ast.StringTerm(s)
		}
	}
	for _, s := range fixedStrings {
		add(s)
	}
	for _, m := range milvusgrpc.Methods() {
		add(m)
	}
	for _, p := range commonpb.ObjectPrivilege_name {
		add(milvusgrpc.PrivilegeAPIName(p))
	}
	files := map[protoreflect.FullName]bool{}
	var walkFile func(protoreflect.FileDescriptor)
	var walkMsgs func(protoreflect.MessageDescriptors)
	walkEnums := func(es protoreflect.EnumDescriptors) {
		for i := 0; i < es.Len(); i++ {
			for j, vs := 0, es.Get(i).Values(); j < vs.Len(); j++ {
				add(string(vs.Get(j).Name()))
			}
		}
	}
	walkMsgs = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			md := ms.Get(i)
			for j := 0; j < md.Fields().Len(); j++ {
				add(md.Fields().Get(j).JSONName())
			}
			walkMsgs(md.Messages())
			walkEnums(md.Enums())
		}
	}
	walkFile = func(fd protoreflect.FileDescriptor) {
		if files[protoreflect.FullName(fd.Path())] {
			return
		}
		files[protoreflect.FullName(fd.Path())] = true
		walkMsgs(fd.Messages())
		walkEnums(fd.Enums())
		for i := 0; i < fd.Imports().Len(); i++ {
			walkFile(fd.Imports().Get(i).FileDescriptor)
		}
	}
	walkFile(milvuspb.File_milvus_proto)
	return out
}

// ErrInvalidBody marks a request whose complete body cannot be decoded
// (callers answer INVALID_ARGUMENT). It wraps the decoding error.
var ErrInvalidBody = errors.New("invalid request body")

// Input limits and names.
const (
	// DefaultDB is the database Milvus checks when the request names none.
	DefaultDB = "default"
	// maxInlineBytes: larger bytes and strings of the body become {"size": N}
	// (N bytes) so that vectors do not bloat the input.
	maxInlineBytes = 1024
	// maxInlineList: longer lists of the body become {"size": N} (N elements).
	maxInlineList = 256
	// maxGRPCMessage bounds a decompressed gRPC message (Milvus's default
	// serverMaxRecvSize is 64 MiB).
	maxGRPCMessage = 64 << 20
	redacted       = "[redacted]"
)

// BuildInput builds the OPA input document of policy-contract.md for one
// CheckRequest and the identity that made it, straight into an ast.Value (no
// JSON round trip for gRPC bodies). dbHeaderDefault is the database when the
// request names none ("" means "default"). Unknown methods and paths are not
// an error: their api and privilege are "". A complete body that does not
// decode is an error wrapping ErrInvalidBody; the Summary is filled as far as
// it is known either way.
//
// shape is what the policy reads of the input (policy.Bundle.Input; nil
// for all of it): parts it never reads are not built.
func BuildInput(req *authv3.CheckRequest, id Identity, dbHeaderDefault string, shape *policy.InputShape) (ast.Value, *Summary, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	hdr := newHeaders(h)
	path, rawQuery, _ := strings.Cut(h.GetPath(), "?")
	grpcCall := strings.HasPrefix(hdr.get("content-type"), "application/grpc")
	partial := hdr.get(PartialBodyHeader) == "true"

	var b decoded
	var err error
	sum := &Summary{}
	bodyShape, wantBody := shape.Child("parsed_body")
	if grpcCall {
		sum.Surface = "grpc"
		b, err = decodeGRPC(path, h.GetRawBody(), hdr.get("grpc-encoding"), partial, bodyShape, wantBody)
		partial = partial || b.truncated
		// Milvus checks the dbname metadata (its first value), not db_name.
		b.db, _, _ = strings.Cut(hdr.get("dbname"), ",")
	} else {
		sum.Surface = "rest"
		body := h.GetRawBody()
		if len(body) == 0 && h.GetBody() != "" {
			body = []byte(h.GetBody())
		}
		partial = partial || shortOfContentLength(hdr.get("content-length"), len(body))
		b, err = decodeREST(path, body, hdr.get("content-type"), partial, bodyShape, wantBody)
		if err != nil && !partial && hdr.get("content-length") == "" {
			// Without a content-length nothing says the body is whole (see
			// grpcMessage on Envoy's partial-body header): read it as a
			// prefix; ext_proc checks the whole body.
			partial = true
			b, err = decodeREST(path, body, hdr.get("content-type"), partial, bodyShape, wantBody)
		}
		if b.db = b.info.DB; b.db == "" {
			b.db = hdr.get("db-name")
		}
	}
	b.db = strings.TrimSpace(b.db)
	if b.db == "" {
		b.db = cmp.Or(dbHeaderDefault, DefaultDB)
	}
	b.summarize(sum)
	sum.partial = partial
	if err != nil {
		return nil, sum, fmt.Errorf("%w: %w", ErrInvalidBody, err)
	}
	var buf [7][2]*ast.Term
	items := buf[:0]
	reads := func(key string) bool { _, ok := shape.Child(key); return ok }
	if reads("attributes") {
		items = append(items, ast.Item(strTerm("attributes"), ast.NewTerm(attributesObject(req, hdr))))
	}
	if reads("parsed_path") {
		items = append(items, ast.Item(strTerm("parsed_path"), parsedPath(path)))
	}
	if reads("parsed_query") {
		items = append(items, ast.Item(strTerm("parsed_query"), parsedQuery(rawQuery)))
	}
	if reads("truncated_body") {
		items = append(items, ast.Item(strTerm("truncated_body"), ast.InternedTerm(b.truncated)))
	}
	milvus := b.milvusObject(sum) // fills sum's privilege and object type
	if reads("milvus") {
		items = append(items, ast.Item(strTerm("milvus"), ast.NewTerm(milvus)))
	}
	if reads("identity") {
		claims, err := claimsTerm(id.Claims)
		if err != nil {
			return nil, sum, fmt.Errorf("identity claims: %w", err)
		}
		items = append(items, ast.Item(strTerm("identity"), identityTerm(id, claims)))
	}
	if b.body != nil {
		items = append(items, ast.Item(strTerm("parsed_body"), b.body))
	}
	return ast.NewObject(items...), sum, nil
}

// decoded is what the body said.
type decoded struct {
	method    *milvusgrpc.Method
	info      *milvusgrpc.Info
	body      *ast.Term // parsed_body, nil when absent
	truncated bool
	db        string
}

// decodeGRPC decodes the first gRPC frame of raw. A frame cut short is fine
// when Envoy says the body is partial; a frame or message that is broken
// although complete is an error.
func decodeGRPC(path string, raw []byte, encoding string, partial bool, body *policy.InputShape, wantBody bool) (decoded, error) {
	d := decoded{info: &milvusgrpc.Info{}}
	m, ok := milvusgrpc.Lookup(path)
	if !ok {
		d.truncated = partial
		return d, nil
	}
	d.method, d.info.API = m, m.Name
	msg, cut, err := grpcMessage(raw, encoding)
	if err != nil || msg == nil {
		d.truncated = cut
		return d, err
	}
	decode := m.DecodeMessage // a complete message may not end inside a field
	if cut {
		decode = m.DecodePrefix
	}
	info, err := decode(msg)
	if info != nil {
		d.info = info
	}
	if err != nil {
		return d, err
	}
	d.truncated = cut
	if info.Msg != nil && wantBody {
		d.body = messageTerm(info.Msg, body)
	}
	return d, nil
}

// grpcMessage returns the message bytes of the first frame of raw. cut
// reports that they are a prefix (or that nothing is known: no body).
//
// A frame shorter than its declared length is always taken as a prefix,
// whatever Envoy's partial-body header says: Envoy stops buffering for
// ext_authz when the next DATA frame would pass max_request_bytes, and then
// marks the body partial only if it held more than it sent — so a 100 KB
// call arrives as its first ~64 KB with "x-envoy-auth-partial-body: false".
// Deciding on the prefix is safe: the names come first in protobuf, and the
// whole body is ext_proc's to check (a frame truly cut short by the client
// is refused there, or by the backend).
func grpcMessage(raw []byte, encoding string) (msg []byte, cut bool, err error) {
	switch {
	case len(raw) == 0:
		// No body was sent to us (a unary call has at least the 5-byte
		// prefix): nothing about the request is known.
		return nil, true, nil
	case len(raw) < 5:
		return nil, true, nil
	case uint64(len(raw)-5) < uint64(binary.BigEndian.Uint32(raw[1:5])):
		if raw[0] != 0 {
			// A compressed prefix cannot be inflated reliably.
			return nil, true, nil
		}
		return raw[5:], true, nil
	}
	msg, err = milvusgrpc.Frame(raw, encoding, maxGRPCMessage)
	return msg, false, err
}

// decodeREST reads a REST v2 body (Milvus parses it as JSON whatever the
// content-type). Other paths get parsed_body only for JSON bodies, and their
// bodies never make an error.
func decodeREST(path string, body []byte, contentType string, partial bool, shape *policy.InputShape, wantBody bool) (decoded, error) {
	m, ok := milvusgrpc.LookupREST(path)
	if !ok {
		m = nil
		if !strings.Contains(contentType, "json") {
			return decoded{info: &milvusgrpc.Info{}, truncated: partial}, nil
		}
	}
	d := decoded{method: m, truncated: partial}
	info, doc, err := milvusgrpc.DecodeRESTPrefix(m, body, partial)
	d.info = info
	switch {
	case err != nil && m == nil:
		return decoded{info: &milvusgrpc.Info{}, truncated: partial}, nil
	case err != nil:
		return d, err
	}
	if doc != nil && wantBody {
		d.body = jsonTerm(doc, shape)
	}
	return d, nil
}

// shortOfContentLength reports a body shorter than its content-length.
func shortOfContentLength(cl string, have int) bool {
	n, err := strconv.ParseInt(cl, 10, 64)
	return err == nil && n > int64(have)
}

func (d *decoded) summarize(s *Summary) {
	s.DB = d.db
	if d.info != nil && d.info.Msg != nil && !d.truncated {
		s.decoded = d.info.Msg.Interface()
	}
	if d.info != nil {
		s.API, s.ObjectName, s.Collection = d.info.API, d.info.ObjectName, d.info.Collection
		s.info = d.info
	}
	if d.method != nil {
		if p, ok := d.method.Privilege(); ok {
			s.Privilege, s.ObjectType = p.Name, p.ObjectType
		}
	}
}

// milvusObject is input.milvus.
func (d *decoded) milvusObject(s *Summary) ast.Object {
	info := d.info
	var buf [16][2]*ast.Term
	items := append(buf[:0],
		ast.Item(strTerm("surface"), strTerm(s.Surface)),
		ast.Item(strTerm("api"), strTerm(s.API)),
		ast.Item(strTerm("privilege"), strTerm(s.Privilege)),
		ast.Item(strTerm("object_type"), strTerm(s.ObjectType)),
		ast.Item(strTerm("object_name"), strTerm(s.ObjectName)),
		ast.Item(strTerm("db"), strTerm(s.DB)),
		ast.Item(strTerm("collection"), ast.StringTerm(s.Collection)),
		ast.Item(strTerm("partitions"), stringsTerm(info.Partitions)),
	)
	if info.ObjectNames != nil {
		// Flush: Milvus checks every name; policies should too.
		items = append(items, ast.Item(strTerm("object_names"), stringsTerm(info.ObjectNames)))
	}
	items = optInt(items, "nq", info.NQ)
	items = optInt(items, "topk", info.TopK)
	items = optInt(items, "num_rows", info.NumRows)
	if len(info.OutputFields) > 0 {
		items = append(items, ast.Item(strTerm("output_fields"), stringsTerm(info.OutputFields)))
	}
	if info.Filter != nil {
		items = append(items, ast.Item(strTerm("filter"), ast.StringTerm(*info.Filter)))
	}
	if info.ConsistencyLevel != "" {
		items = append(items, ast.Item(strTerm("consistency_level"), strTerm(info.ConsistencyLevel)))
	}
	return ast.NewObject(items...)
}

func optInt(items [][2]*ast.Term, key string, v *int64) [][2]*ast.Term {
	if v == nil {
		return items
	}
	return append(items, ast.Item(strTerm(key), int64Term(*v)))
}

func int64Term(v int64) *ast.Term {
	if v >= -1 && v <= 512 {
		return ast.InternedTerm(int(v))
	}
	return ast.NewTerm(ast.Number(strconv.FormatInt(v, 10)))
}

func stringsTerm(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = strTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

// sizeTerm stands for a value left out of the input: {"size": n}.
func sizeTerm(n int) *ast.Term {
	return ast.ObjectTerm(ast.Item(strTerm("size"), int64Term(int64(n))))
}

// identityTerm is input.identity; roles always include "public".
func identityTerm(id Identity, claims *ast.Term) *ast.Term {
	roles := make([]*ast.Term, 0, len(id.Roles)+1)
	seen := make(map[string]struct{}, len(id.Roles)+1)
	add := func(r string) {
		if _, dup := seen[r]; !dup {
			seen[r] = struct{}{}
			roles = append(roles, strTerm(r))
		}
	}
	for _, r := range id.Roles {
		add(r)
	}
	add("public")
	items := [][2]*ast.Term{
		ast.Item(strTerm("user"), strTerm(id.User)),
		ast.Item(strTerm("roles"), ast.ArrayTerm(roles...)),
		ast.Item(strTerm("method"), strTerm(id.Method)),
		ast.Item(strTerm("claims"), claims),
	}
	if id.Peer != "" {
		// The verified client certificate's identity, also beside a password.
		items = append(items, ast.Item(strTerm("peer"), ast.StringTerm(id.Peer)))
	}
	return ast.ObjectTerm(items...)
}

func claimsTerm(claims map[string]any) (*ast.Term, error) {
	if len(claims) == 0 {
		return ast.ObjectTerm(), nil
	}
	v, err := ast.InterfaceToValue(claims)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(v), nil
}

// parsedPath splits the path (query removed) on '/', percent-decoding each
// segment, as OPA-Envoy does.
func parsedPath(path string) *ast.Term {
	segs := strings.Split(strings.TrimLeft(path, "/"), "/")
	ts := make([]*ast.Term, len(segs))
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		ts[i] = strTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

// parsedQuery is the query string as name → values; a malformed pair is
// skipped.
func parsedQuery(raw string) *ast.Term {
	if raw == "" {
		return ast.ObjectTerm()
	}
	q, _ := url.ParseQuery(raw) // keeps the pairs that parse
	items := make([][2]*ast.Term, 0, len(q))
	for k, vs := range q {
		items = append(items, ast.Item(strTerm(k), stringsTerm(vs)))
	}
	return ast.ObjectTerm(items...)
}

// attributesObject is input.attributes: the parts of the CheckRequest
// attributes policies use, with protobuf JSON names.
func attributesObject(req *authv3.CheckRequest, hdr headers) ast.Object {
	a := req.GetAttributes()
	h := a.GetRequest().GetHttp()
	httpObj := ast.NewObject(
		ast.Item(strTerm("id"), ast.StringTerm(h.GetId())),
		ast.Item(strTerm("method"), strTerm(h.GetMethod())),
		ast.Item(strTerm("path"), strTerm(h.GetPath())),
		ast.Item(strTerm("host"), strTerm(h.GetHost())),
		ast.Item(strTerm("scheme"), strTerm(h.GetScheme())),
		ast.Item(strTerm("protocol"), strTerm(h.GetProtocol())),
		ast.Item(strTerm("headers"), hdr.term()),
	)

	sock := a.GetSource().GetAddress().GetSocketAddress()
	source := ast.NewObject(ast.Item(strTerm("address"), ast.ObjectTerm(
		ast.Item(strTerm("socketAddress"), ast.ObjectTerm(
			ast.Item(strTerm("address"), ast.StringTerm(sock.GetAddress())),
			ast.Item(strTerm("portValue"), int64Term(int64(sock.GetPortValue()))),
		)),
	)))
	if p := a.GetSource().GetPrincipal(); p != "" {
		source.Insert(strTerm("principal"), ast.StringTerm(p))
	}
	ext := make([][2]*ast.Term, 0, len(a.GetContextExtensions()))
	for k, v := range a.GetContextExtensions() {
		ext = append(ext, ast.Item(strTerm(k), strTerm(v)))
	}
	return ast.NewObject(
		ast.Item(strTerm("request"), ast.ObjectTerm(ast.Item(strTerm("http"), ast.NewTerm(httpObj)))),
		ast.Item(strTerm("source"), ast.NewTerm(source)),
		ast.Item(strTerm("contextExtensions"), ast.ObjectTerm(ext...)),
	)
}

// headers reads the request headers from either the merged map or, with
// Envoy's encode_raw_headers, the raw header list (duplicates comma-joined).
type headers struct {
	m map[string]string
}

func newHeaders(h *authv3.AttributeContext_HttpRequest) headers {
	if len(h.GetHeaders()) > 0 || len(h.GetHeaderMap().GetHeaders()) == 0 {
		return headers{m: h.GetHeaders()}
	}
	m := make(map[string]string, len(h.GetHeaderMap().GetHeaders()))
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		k, v := strings.ToLower(hv.GetKey()), hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		if old, ok := m[k]; ok {
			v = old + "," + v
		}
		m[k] = v
	}
	return headers{m: m}
}

func (h headers) get(k string) string { return h.m[k] }

// term is the headers object with credentials redacted.
func (h headers) term() *ast.Term {
	var buf [24][2]*ast.Term
	items := buf[:0]
	for k, v := range h.m {
		if k == "authorization" || k == "proxy-authorization" {
			v = redacted
		}
		items = append(items, ast.Item(strTerm(k), strTerm(v)))
	}
	return ast.ObjectTerm(items...)
}

// floatTerm renders a float as protobuf JSON does: NaN and infinities are
// strings.
func floatTerm(f float64, bits int) *ast.Term {
	switch {
	case math.IsNaN(f):
		return ast.StringTerm("NaN")
	case math.IsInf(f, 1):
		return ast.StringTerm("Infinity")
	case math.IsInf(f, -1):
		return ast.StringTerm("-Infinity")
	}
	return ast.NewTerm(ast.Number(strconv.FormatFloat(f, 'g', -1, bits)))
}

// bytesTerm is base64 for small values, {"size": n} for large ones.
func bytesTerm(b []byte) *ast.Term {
	if len(b) > maxInlineBytes {
		return sizeTerm(len(b))
	}
	return ast.StringTerm(base64.StdEncoding.EncodeToString(b))
}

// messageTerm renders a protobuf message with protobuf JSON names; int64s
// are numbers and enums names, large bytes and lists become {"size": N}.
// Only the fields shape reads are rendered (nil shape: all).
func messageTerm(m protoreflect.Message, shape *policy.InputShape) *ast.Term {
	var buf [16][2]*ast.Term
	items := buf[:0]
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		sub, read := shape.Child(fd.JSONName())
		if read && m.Has(fd) {
			items = append(items, ast.Item(strTerm(fd.JSONName()), fieldTerm(fd, m.Get(fd), sub)))
		}
	}
	return ast.ObjectTerm(items...)
}

func fieldTerm(fd protoreflect.FieldDescriptor, v protoreflect.Value, shape *policy.InputShape) *ast.Term {
	switch {
	case fd.IsList():
		l := v.List()
		if l.Len() > maxInlineList {
			return sizeTerm(l.Len())
		}
		ts := make([]*ast.Term, l.Len())
		for i := range ts {
			ts[i] = scalarTerm(fd, l.Get(i), nil) // refs through an index read it all
		}
		return ast.ArrayTerm(ts...)
	case fd.IsMap():
		items := make([][2]*ast.Term, 0, v.Map().Len())
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			if sub, read := shape.Child(k.String()); read {
				items = append(items, ast.Item(strTerm(k.String()), scalarTerm(fd.MapValue(), mv, sub)))
			}
			return true
		})
		return ast.ObjectTerm(items...)
	}
	return scalarTerm(fd, v, shape)
}

func scalarTerm(fd protoreflect.FieldDescriptor, v protoreflect.Value, shape *policy.InputShape) *ast.Term {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return ast.InternedTerm(v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return int64Term(v.Int())
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if u := v.Uint(); u <= math.MaxInt64 {
			return int64Term(int64(u))
		}
		return ast.NewTerm(ast.Number(strconv.FormatUint(v.Uint(), 10)))
	case protoreflect.FloatKind:
		return floatTerm(v.Float(), 32)
	case protoreflect.DoubleKind:
		return floatTerm(v.Float(), 64)
	case protoreflect.StringKind:
		if s := v.String(); len(s) > maxInlineBytes {
			return sizeTerm(len(s))
		}
		return strTerm(v.String())
	case protoreflect.BytesKind:
		return bytesTerm(v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return strTerm(string(ev.Name()))
		}
		return int64Term(int64(v.Enum()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageTerm(v.Message(), shape)
	}
	return ast.NullTerm()
}

// jsonTerm renders a JSON document decoded with UseNumber, with the same
// limits as messageTerm.
// Only the keys shape reads are rendered (nil shape: all).
func jsonTerm(v any, shape *policy.InputShape) *ast.Term {
	switch v := v.(type) {
	case map[string]any:
		items := make([][2]*ast.Term, 0, len(v))
		for k, e := range v {
			if sub, read := shape.Child(k); read {
				items = append(items, ast.Item(strTerm(k), jsonTerm(e, sub)))
			}
		}
		return ast.ObjectTerm(items...)
	case []any:
		if len(v) > maxInlineList {
			return sizeTerm(len(v))
		}
		ts := make([]*ast.Term, len(v))
		for i, e := range v {
			ts[i] = jsonTerm(e, nil)
		}
		return ast.ArrayTerm(ts...)
	case string:
		if len(v) > maxInlineBytes {
			return sizeTerm(len(v))
		}
		return ast.StringTerm(v)
	case json.Number:
		return ast.NewTerm(ast.Number(v))
	case bool:
		return ast.InternedTerm(v)
	}
	return ast.NullTerm()
}
