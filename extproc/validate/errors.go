package validate

import (
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
)

// Milvus merr codes (pkg/util/merr/errors.go) that validation can return.
const (
	CodeCollectionNotFound  int32 = 100
	CodePartitionNotFound   int32 = 200
	CodeDatabaseNameInvalid int32 = 802
	CodeIOFailed            int32 = 1001
	CodeParameterInvalid    int32 = 1100
	CodeParameterMissing    int32 = 1101
	CodeParameterTooLarge   int32 = 1102
	CodeFieldNotFound       int32 = 1700
	CodeFieldNameInvalid    int32 = 1701
	// CodeUnexpected is what merr.Code gives any error that is not a merr
	// error: the Milvus 2.6 Proxy returns many validation failures as plain
	// fmt.Errorf/errors.New values, and clients see them with this code.
	CodeUnexpected int32 = 65535
)

// Error is a Milvus-shaped error: the client must not be able to tell it
// from Milvus's own. Code and Reason are what merr.Status puts in the
// response status, Legacy is the deprecated error_code Milvus derives from
// Code (merr oldCode).
type Error struct {
	// Code is the merr code (Status.code).
	Code int32
	// Legacy is the deprecated Status.error_code older SDKs read.
	Legacy commonpb.ErrorCode
	// Reason is Status.reason, word for word as Milvus writes it.
	Reason string
	// detail is Status.detail when it differs from Reason: merr.Status
	// reports the innermost wrapper as reason and the whole chain as detail.
	detail string
}

// Error returns the reason, as a Milvus client prints it.
func (e *Error) Error() string { return e.Reason }

// Status builds the response status the way merr.Status does. Milvus 2.6
// sets extra_info is_input_error only when the returned error is a bare
// merr error typed as an input error (merr.GetErrorType is a plain type
// assertion); every error here is wrapped or untyped in the Proxy, so the
// flag is never set and extra_info stays empty, as in Milvus.
func (e *Error) Status() *commonpb.Status {
	detail := e.detail
	if detail == "" {
		detail = e.Reason
	}
	return &commonpb.Status{
		Code:      e.Code,
		Reason:    e.Reason,
		ErrorCode: e.Legacy,
		Detail:    detail,
	}
}

// legacyCode is merr's oldCode: the deprecated error_code older SDKs read.
func legacyCode(code int32) commonpb.ErrorCode {
	switch code {
	case CodeCollectionNotFound:
		return commonpb.ErrorCode_CollectionNotExists
	case CodeParameterInvalid:
		return commonpb.ErrorCode_IllegalArgument
	case CodePartitionNotFound:
		return commonpb.ErrorCode_MetaFailed
	default:
		return commonpb.ErrorCode_UnexpectedError
	}
}

func newError(code int32, reason string) *Error {
	return &Error{Code: code, Legacy: legacyCode(code), Reason: reason}
}

// unexpected mirrors a plain Go error returned by the Proxy (code 65535).
func unexpected(format string, args ...any) *Error {
	return newError(CodeUnexpected, fmt.Sprintf(format, args...))
}

// paramInvalidMsg mirrors merr.WrapErrParameterInvalidMsg.
func paramInvalidMsg(format string, args ...any) *Error {
	return newError(CodeParameterInvalid, fmt.Sprintf(format, args...)+": invalid parameter")
}

// paramInvalid mirrors merr.WrapErrParameterInvalid(expected, actual, msg).
func paramInvalid(expected, actual any, msg string) *Error {
	return newError(CodeParameterInvalid, fmt.Sprintf("%s: invalid parameter[expected=%v][actual=%v]", msg, expected, actual))
}

// fieldNameInvalid mirrors merr.WrapErrFieldNameInvalid(field, msg).
func fieldNameInvalid(field, msg string) *Error {
	return newError(CodeFieldNameInvalid, fmt.Sprintf("%s: field name invalid[field=%s]", msg, field))
}

// fieldNotFound mirrors merr.WrapErrFieldNotFound(field, msg).
func fieldNotFound(field, msg string) *Error {
	return newError(CodeFieldNotFound, fmt.Sprintf("%s: field not found[field=%s]", msg, field))
}

// dbNameInvalid mirrors merr.WrapErrDatabaseNameInvalid(db, msg).
func dbNameInvalid(db, msg string) *Error {
	return newError(CodeDatabaseNameInvalid, fmt.Sprintf("%s: invalid database name[database=%s]", msg, db))
}

// partitionNotFound mirrors merr.WrapErrPartitionNotFound(partition).
func partitionNotFound(partition string) *Error {
	return newError(CodePartitionNotFound, "partition not found[partition="+partition+"]")
}

// ioFailed mirrors merr.WrapErrIoFailedReason(reason).
func ioFailed(reason string) *Error {
	return newError(CodeIOFailed, "IO failed: "+reason)
}

// withDetail sets the chain text merr.Status reports as detail when an
// outer errors.Wrap prefix is dropped from the reason.
func (e *Error) withDetail(prefix string) *Error {
	e.detail = prefix + ": " + e.Reason
	return e
}
