// Package milvusgrpc decodes what Envoy hands the filters for a Milvus gRPC
// call: the method from the :path, the length-prefixed gRPC frame, and the
// request's database and collection names. The method table comes from the
// milvuspb descriptors, so every MilvusService RPC is known without a
// hand-written list, and new RPCs arrive with a proto module bump.
package milvusgrpc

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ServicePrefix starts the :path of every MilvusService call.
const ServicePrefix = "/milvus.proto.milvus.MilvusService/"

// Method is one MilvusService RPC.
type Method struct {
	// Name is the RPC name, e.g. "Search".
	Name string
	// Input is the request message type.
	Input protoreflect.MessageDescriptor
	// Output is the response message type.
	Output protoreflect.MessageDescriptor
	// dbField and collField are the field numbers of db_name and
	// collection_name in Input, 0 when the message has none.
	dbField, collField protowire.Number
}

var methods = buildMethods()

func buildMethods() map[string]*Method {
	svc := milvuspb.File_milvus_proto.Services().ByName("MilvusService")
	out := make(map[string]*Method, svc.Methods().Len())
	for i := 0; i < svc.Methods().Len(); i++ {
		md := svc.Methods().Get(i)
		m := &Method{Name: string(md.Name()), Input: md.Input(), Output: md.Output()}
		m.dbField = stringField(md.Input(), "db_name", "dbName")
		m.collField = stringField(md.Input(), "collection_name", "collectionName")
		out[ServicePrefix+m.Name] = m
	}
	return out
}

// stringField returns the number of the first singular string field with one
// of the names (older requests spell them dbName / collectionName).
func stringField(md protoreflect.MessageDescriptor, names ...protoreflect.Name) protowire.Number {
	for _, name := range names {
		if f := md.Fields().ByName(name); f != nil && f.Kind() == protoreflect.StringKind && !f.IsList() {
			return f.Number()
		}
	}
	return 0
}

// CarriesNames says the request has a database or collection field, so ext_proc
// must see it to route it. Requests without either (Connect, GetVersion,
// CheckHealth, ListDatabases, user and role RPCs, ...) take the default route
// and skip ext_proc entirely.
func (m *Method) CarriesNames() bool { return m.dbField != 0 || m.collField != 0 }

// NoNameMethods returns the :paths of every method that carries no names, sorted.
func NoNameMethods() []string {
	var out []string
	for p, m := range methods {
		if !m.CarriesNames() {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Lookup returns the MilvusService method for a :path.
func Lookup(path string) (*Method, bool) {
	m, ok := methods[path]
	return m, ok
}

// Methods returns every known method name (for tests and docs).
func Methods() []string {
	out := make([]string, 0, len(methods))
	for p := range methods {
		out = append(out, strings.TrimPrefix(p, ServicePrefix))
	}
	return out
}

// Frame errors; callers answer them with INVALID_ARGUMENT.
var (
	ErrShortFrame     = errors.New("grpc frame shorter than its 5-byte prefix")
	ErrTruncatedFrame = errors.New("grpc frame shorter than its declared length")
	ErrCompressed     = errors.New("compressed grpc frame without a supported grpc-encoding")
	ErrTooLarge       = errors.New("decompressed grpc message exceeds the size limit")
)

// TooLarge is the answer to a call over listener.max_request_bytes (n and
// limit count the whole body, frame prefix included): gRPC's own text, which
// Milvus clients get from Milvus for a message over its receive limit, naming
// the edge's knob. gRPC callers get it with RESOURCE_EXHAUSTED.
func TooLarge(n, limit int64) string {
	return fmt.Sprintf("grpc: received message larger than max (%d vs. %d): milvus-edge listener.max_request_bytes", n, limit)
}

// Frame returns the message of the first length-prefixed gRPC frame in body,
// decompressing it when the frame's flag says so and encoding is gzip.
// maxLen bounds the decompressed size.
func Frame(body []byte, encoding string, maxLen int) ([]byte, error) {
	if len(body) < 5 {
		return nil, ErrShortFrame
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if uint64(len(body)-5) < uint64(n) {
		return nil, fmt.Errorf("%w: declared %d bytes, have %d", ErrTruncatedFrame, n, len(body)-5)
	}
	msg := body[5 : 5+n]
	if body[0] == 0 {
		return msg, nil
	}
	if encoding != "gzip" {
		return nil, fmt.Errorf("%w (grpc-encoding %q)", ErrCompressed, encoding)
	}
	zr, err := gzip.NewReader(bytes.NewReader(msg))
	if err != nil {
		return nil, fmt.Errorf("gzip frame: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(maxLen)+1))
	if err != nil {
		return nil, fmt.Errorf("gzip frame: %w", err)
	}
	if len(out) > maxLen {
		return nil, ErrTooLarge
	}
	return out, nil
}

// ErrDuplicateName marks a request that carries db_name or collection_name
// more than once. Protobuf keeps the last value, so a body could show one name
// in the prefix ext_authz decides on and act on another: such requests are
// refused (no Milvus client sends them).
var ErrDuplicateName = errors.New("db_name or collection_name appears more than once")

// Names reads db_name and collection_name from a complete encoded request
// without unmarshalling it: it walks the top-level fields (skipping payloads
// by their length) and refuses a name given twice.
func (m *Method) Names(msg []byte) (db, coll string, err error) {
	if m.dbField == 0 && m.collField == 0 {
		return "", "", nil
	}
	seenDB, seenColl := false, false
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		msg = msg[n:]
		if typ == protowire.BytesType && (num == m.dbField || num == m.collField) {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return "", "", protowire.ParseError(n)
			}
			if num == m.dbField {
				if seenDB {
					return "", "", ErrDuplicateName
				}
				db, seenDB = string(v), true
			} else {
				if seenColl {
					return "", "", ErrDuplicateName
				}
				coll, seenColl = string(v), true
			}
			msg = msg[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		msg = msg[n:]
	}
	return db, coll, nil
}

// WithDB returns msg with db_name set to db, appended as a field: protobuf
// lets fields come in any order, so the payload is copied once, not re-encoded.
// Call it only when the message has no db_name.
func (m *Method) WithDB(msg []byte, db string) []byte {
	if m.dbField == 0 {
		return nil
	}
	out := make([]byte, 0, len(msg)+len(db)+4)
	out = append(out, msg...)
	out = protowire.AppendTag(out, m.dbField, protowire.BytesType)
	return protowire.AppendString(out, db)
}

// AppendFrame appends msg as one uncompressed length-prefixed gRPC frame.
func AppendFrame(dst, msg []byte) []byte {
	dst = append(dst, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(msg)))
	return append(dst, msg...)
}

// Paths returns every known request path, sorted: each MilvusService
// method's gRPC :path and each REST v2 path.
func Paths() []string {
	out := make([]string, 0, len(methods)+len(restMethods))
	for p := range methods {
		out = append(out, p)
	}
	for p := range restMethods {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
