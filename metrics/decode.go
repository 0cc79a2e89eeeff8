package metrics

import (
	"errors"
	"math"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// Decoding a StreamAccessLogsMessage with the protobuf runtime cost ~10 µs
// and ~90 allocations per entry (the metadata's maps of Structs go through
// reflection): as much as a tenth of the edge's work per call. The stream's
// messages are therefore kept as bytes (Codec) and read here by hand, for
// the few fields the metrics use; the rest is skipped unread.

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
// envoy.config.core.v3.Metadata, google.protobuf.Struct/Value/Duration/
// UInt32Value).
const (
	fMsgHTTPLogs     = 2  // StreamAccessLogsMessage.http_logs
	fEntries         = 1  // HTTPAccessLogEntries.log_entry
	fEntryCommon     = 1  // HTTPAccessLogEntry.common_properties
	fEntryRequest    = 3  // HTTPAccessLogEntry.request
	fEntryResponse   = 4  // HTTPAccessLogEntry.response
	fCommonLastTx    = 12 // AccessLogCommon.time_to_last_downstream_tx_byte
	fCommonMetadata  = 17 // AccessLogCommon.metadata
	fCommonDuration  = 23 // AccessLogCommon.duration
	fReqPath         = 5  // HTTPRequestProperties.path
	fReqBodyBytes    = 12 // HTTPRequestProperties.request_body_bytes
	fRespCode        = 1  // HTTPResponseProperties.response_code
	fRespBodyBytes   = 3  // HTTPResponseProperties.response_body_bytes
	fRespHeaders     = 4  // HTTPResponseProperties.response_headers
	fRespTrailers    = 5  // HTTPResponseProperties.response_trailers
	fFilterMetadata  = 1  // Metadata.filter_metadata
	fStructFields    = 1  // Struct.fields
	fValueNumber     = 2  // Value.number_value
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

// decodeEntry reads an HTTPAccessLogEntry into k (zeroed first).
func decodeEntry(b []byte, k *call) error {
	*k = call{}
	var lastTx, dur []byte
	err := fields(b, func(n protowire.Number, v []byte) error {
		switch n {
		case fEntryCommon:
			return fields(v, func(n protowire.Number, v []byte) error {
				switch n {
				case fCommonLastTx:
					lastTx = v
				case fCommonDuration:
					dur = v
				case fCommonMetadata:
					return decodeMetadata(v, &k.facts)
				}
				return nil
			})
		case fEntryRequest:
			return fields(v, func(n protowire.Number, v []byte) error {
				if n == fReqPath {
					k.path = string(v)
				}
				return nil
			}, func(n protowire.Number, x uint64) {
				if n == fReqBodyBytes {
					k.in = x
				}
			})
		case fEntryResponse:
			return decodeResponse(v, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if dur == nil {
		dur = lastTx
	}
	k.ms, err = durationMillis(dur)
	return err
}

func decodeResponse(b []byte, k *call) error {
	var trailer string
	var hasTrailer bool
	err := fields(b, func(n protowire.Number, v []byte) error {
		switch n {
		case fRespCode:
			return fields(v, nil, func(n protowire.Number, x uint64) {
				if n == 1 {
					k.http = uint32(x)
				}
			})
		case fRespHeaders, fRespTrailers:
			key, val, err := mapEntry(v)
			if err != nil || string(key) != "grpc-status" {
				return err
			}
			if n == fRespTrailers {
				trailer, hasTrailer = string(val), true
			} else if !hasTrailer {
				k.grpcStatus, k.hasGRPCStatus = string(val), true
			}
		}
		return nil
	}, func(n protowire.Number, x uint64) {
		if n == fRespBodyBytes {
			k.out = x
		}
	})
	if hasTrailer { // the trailers decide, as in callOf
		k.grpcStatus, k.hasGRPCStatus = trailer, true
	}
	return err
}

// decodeMetadata reads the edge's namespaces of an envoy.config.core.v3.Metadata.
func decodeMetadata(b []byte, f *edgemeta.Facts) error {
	return fields(b, func(n protowire.Number, v []byte) error {
		if n != fFilterMetadata {
			return nil
		}
		ns, st, err := mapEntry(v)
		if err != nil {
			return err
		}
		switch string(ns) {
		case edgemeta.AuthzNamespace:
			return structFields(st, func(key, s []byte, num float64, isNum bool) {
				switch string(key) {
				case edgemeta.API:
					f.API = string(s)
				case edgemeta.Surface:
					f.Surface = string(s)
				case edgemeta.DB:
					f.DB = string(s)
				case edgemeta.Collection:
					f.Collection = string(s)
				case edgemeta.User:
					f.User = string(s)
				case edgemeta.Refused:
					f.Refused = string(s)
				case edgemeta.TraceID:
					f.TraceID = string(s)
				case edgemeta.NQ:
					f.NQ, f.HasNQ = number(s, num, isNum)
				case edgemeta.Rows:
					f.Rows, f.HasRows = number(s, num, isNum)
				}
			})
		case edgemeta.ResponseNamespace:
			return structFields(st, func(key, s []byte, num float64, isNum bool) {
				switch string(key) {
				case edgemeta.Code:
					var ok bool
					if f.Code, ok = number(s, num, isNum); ok {
						f.HasCode = true
					}
				case edgemeta.ErrorCode:
					var ok bool
					if f.ErrorCode, ok = number(s, num, isNum); ok {
						f.HasCode = true
					}
				}
			})
		}
		return nil
	})
}

// structFields calls f with each field of a google.protobuf.Struct whose
// value is a string (s) or a number (num, isNum); other kinds are skipped.
func structFields(b []byte, f func(key, s []byte, num float64, isNum bool)) error {
	return fields(b, func(n protowire.Number, v []byte) error {
		if n != fStructFields {
			return nil
		}
		key, val, err := mapEntry(v)
		if err != nil {
			return err
		}
		var s []byte
		var num float64
		var isNum, isStr bool
		err = fields(val, func(n protowire.Number, v []byte) error {
			if n == fValueString {
				s, isStr = v, true
			}
			return nil
		}, nil, func(n protowire.Number, x uint64) {
			if n == fValueNumber {
				num, isNum = math.Float64frombits(x), true
			}
		})
		if err == nil && (isNum || isStr) {
			f(key, s, num, isNum)
		}
		return err
	})
}

// number is a Struct value as an integer: a number, or a decimal string.
func number(s []byte, num float64, isNum bool) (int64, bool) {
	if isNum {
		return int64(num), true
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
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

// durationMillis reads a google.protobuf.Duration in milliseconds (nil: 0).
func durationMillis(b []byte) (float64, error) {
	var sec, nanos int64
	err := fields(b, nil, func(n protowire.Number, x uint64) {
		switch n {
		case 1:
			sec = int64(x)
		case 2:
			nanos = int64(int32(x))
		}
	})
	return float64(sec)*1000 + float64(nanos)/1e6, err
}

// fields walks a message: bytes fields go to lenFn, varints to varFn and
// 64-bit fields (the optional third func) to fixFn; nil funcs skip.
func fields(b []byte, lenFn func(protowire.Number, []byte) error, varFns ...func(protowire.Number, uint64)) error {
	var varFn, fixFn func(protowire.Number, uint64)
	if len(varFns) > 0 {
		varFn = varFns[0]
	}
	if len(varFns) > 1 {
		fixFn = varFns[1]
	}
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errMalformed
		}
		b = b[l:]
		switch t {
		case protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return errMalformed
			}
			if lenFn != nil {
				if err := lenFn(n, v); err != nil {
					return err
				}
			}
			b = b[l:]
		case protowire.VarintType:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return errMalformed
			}
			if varFn != nil {
				varFn(n, v)
			}
			b = b[l:]
		case protowire.Fixed64Type:
			v, l := protowire.ConsumeFixed64(b)
			if l < 0 {
				return errMalformed
			}
			if fixFn != nil {
				fixFn(n, v)
			}
			b = b[l:]
		default:
			l := protowire.ConsumeFieldValue(n, t, b)
			if l < 0 {
				return errMalformed
			}
			b = b[l:]
		}
	}
	return nil
}
