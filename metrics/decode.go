package metrics

import (
	"errors"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// Decoding a StreamAccessLogsMessage with the protobuf runtime costs ~10 µs
// and ~90 allocations per entry (the metadata's maps of Structs go through
// reflection). The stream's messages are therefore kept as bytes (Codec)
// and read here by hand for the one field AccessLogService needs, the
// call's trace id; the rest is skipped unread.

// Codec is the filter server's gRPC codec: protobuf for every message,
// except the access-log stream's, which it keeps as bytes for
// AccessLogService. Install it with grpc.ForceServerCodecV2.
type Codec struct{}

var protoCodec = encoding.GetCodecV2(grpcproto.Name)

// rawMessage is one StreamAccessLogsMessage as received; its buffer is
// reused from message to message.
type rawMessage struct{ b []byte }

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

// Unmarshal implements encoding.CodecV2.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawMessage); ok {
		r.b = r.b[:0]
		for _, buf := range data {
			r.b = append(r.b, buf.ReadOnlyData()...)
		}
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}

// Name implements encoding.CodecV2: it stands in for the proto codec.
func (Codec) Name() string { return grpcproto.Name }

var errMalformed = errors.New("malformed access-log message")

// Field numbers (envoy.service.accesslog.v3, envoy.data.accesslog.v3,
// envoy.config.core.v3.Metadata, google.protobuf.Struct/Value).
const (
	fMsgHTTPLogs     = 2  // StreamAccessLogsMessage.http_logs
	fEntries         = 1  // HTTPAccessLogEntries.log_entry
	fEntryCommon     = 1  // HTTPAccessLogEntry.common_properties
	fCommonMetadata  = 17 // AccessLogCommon.metadata
	fFilterMetadata  = 1  // Metadata.filter_metadata
	fStructFields    = 1  // Struct.fields
	fValueString     = 3  // Value.string_value
	fMapKey, fMapVal = 1, 2
)

// forEachEntry calls f with each HTTP entry of a StreamAccessLogsMessage.
func forEachEntry(msg []byte, f func(entry []byte) error) error {
	return fields(msg, func(n protowire.Number, b []byte) error {
		if n != fMsgHTTPLogs {
			return nil
		}
		return fields(b, func(n protowire.Number, e []byte) error {
			if n != fEntries {
				return nil
			}
			return f(e)
		})
	})
}

// entryTraced says whether an HTTPAccessLogEntry's metadata carries a
// trace id (edgemeta.TraceID in the authz namespace).
func entryTraced(b []byte) (bool, error) {
	traced := false
	err := fields(b, func(n protowire.Number, v []byte) error {
		if n != fEntryCommon {
			return nil
		}
		return fields(v, func(n protowire.Number, v []byte) error {
			if n != fCommonMetadata {
				return nil
			}
			return fields(v, func(n protowire.Number, v []byte) error {
				if n != fFilterMetadata {
					return nil
				}
				ns, st, err := mapEntry(v)
				if err != nil || string(ns) != edgemeta.AuthzNamespace {
					return err
				}
				return structStrings(st, func(key, s []byte) {
					if string(key) == edgemeta.TraceID && len(s) > 0 {
						traced = true
					}
				})
			})
		})
	})
	return traced, err
}

// structStrings calls f with each field of a google.protobuf.Struct whose
// value is a string; other kinds are skipped.
func structStrings(b []byte, f func(key, s []byte)) error {
	return fields(b, func(n protowire.Number, v []byte) error {
		if n != fStructFields {
			return nil
		}
		key, val, err := mapEntry(v)
		if err != nil {
			return err
		}
		var s []byte
		var isStr bool
		err = fields(val, func(n protowire.Number, v []byte) error {
			if n == fValueString {
				s, isStr = v, true
			}
			return nil
		})
		if err == nil && isStr {
			f(key, s)
		}
		return err
	})
}

// mapEntry splits a map entry message into its key and value bytes.
func mapEntry(b []byte) (key, val []byte, err error) {
	err = fields(b, func(n protowire.Number, v []byte) error {
		switch n {
		case fMapKey:
			key = v
		case fMapVal:
			val = v
		}
		return nil
	})
	return key, val, err
}

// fields walks a message, calling lenFn with each bytes field; fields of
// other wire types are skipped.
func fields(b []byte, lenFn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errMalformed
		}
		b = b[l:]
		if t != protowire.BytesType {
			if l = protowire.ConsumeFieldValue(n, t, b); l < 0 {
				return errMalformed
			}
			b = b[l:]
			continue
		}
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return errMalformed
		}
		if err := lenFn(n, v); err != nil {
			return err
		}
		b = b[l:]
	}
	return nil
}
