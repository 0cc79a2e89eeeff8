package backends

import (
	"errors"
	"fmt"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
)

// ErrNotFound marks an unknown collection or database: Milvus status code
// CollectionNotFound (100), DatabaseNotFound (800), legacy
// CollectionNotExists, or a generic code whose reason says so. The schema
// cache keeps a short negative entry for it.
var ErrNotFound = errors.New("collection or database not found")

// Milvus status codes (pkg/util/merr, reference/milvus-proxy.md §4.5) this
// package branches on.
const (
	CodeUnimplemented      int32 = 10
	CodeCollectionNotFound int32 = 100
	CodeDatabaseNotFound   int32 = 800
	codeUnknown            int32 = 65535
)

// StatusError is a Milvus answer whose common.Status is not Success. Callers
// may echo Code and Reason to clients as Milvus would.
type StatusError struct {
	Method    string
	Code      int32              // status.code; 0 when the server sets only the legacy field
	ErrorCode commonpb.ErrorCode // legacy status.error_code
	Reason    string
	Retriable bool
}

func (e *StatusError) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("%s: milvus error code %s: %s", e.Method, e.ErrorCode, e.Reason)
	}
	return fmt.Sprintf("%s: milvus status code %d: %s", e.Method, e.Code, e.Reason)
}

// Is makes errors.Is(err, ErrNotFound) true for not-found statuses.
func (e *StatusError) Is(target error) bool { return target == ErrNotFound && e.NotFound() }

// NotFound says the collection or its database does not exist. Specific
// codes are trusted; only generic ones (legacy-only, < 100 as milvus-lite
// sends for a missing database, 65535) are judged by their reason, so that
// "index not found" (700) or "node not found" (901) never read as a missing
// collection.
func (e *StatusError) NotFound() bool {
	switch {
	case e.Code == CodeCollectionNotFound, e.Code == CodeDatabaseNotFound,
		e.ErrorCode == commonpb.ErrorCode_CollectionNotExists:
		return true
	case e.Code >= 100 && e.Code != codeUnknown:
		return false
	}
	r := strings.ToLower(e.Reason)
	for _, s := range []string{"not found", "can't find", "cannot find", "not exist"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

// checkStatus turns a non-success status into a *StatusError. A missing
// status is success (proto zero values), as Milvus clients read it.
func checkStatus(method string, st *commonpb.Status) error {
	if st.GetCode() == 0 && st.GetErrorCode() == commonpb.ErrorCode_Success {
		return nil
	}
	return &StatusError{Method: method, Code: st.GetCode(), ErrorCode: st.GetErrorCode(),
		Reason: st.GetReason(), Retriable: st.GetRetriable()}
}
