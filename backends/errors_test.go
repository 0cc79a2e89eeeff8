package backends

import (
	"errors"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
)

func TestCheckStatus(t *testing.T) {
	cases := []struct {
		name         string
		st           *commonpb.Status
		wantErr      bool
		wantNotFound bool
	}{
		{"nil status is success", nil, false, false},
		{"success", &commonpb.Status{}, false, false},
		{"CollectionNotFound 100", &commonpb.Status{Code: 100, Reason: "collection not found[collection=x]"}, true, true},
		{"DatabaseNotFound 800", &commonpb.Status{Code: 800, Reason: "database not found[database=x]"}, true, true},
		{"legacy CollectionNotExists only", &commonpb.Status{ErrorCode: commonpb.ErrorCode_CollectionNotExists}, true, true},
		{"legacy UnexpectedError can't find", &commonpb.Status{ErrorCode: commonpb.ErrorCode_UnexpectedError, Reason: "can't find collection: x"}, true, true},
		{"milvus-lite missing database (code 6)", &commonpb.Status{ErrorCode: commonpb.ErrorCode_IllegalArgument, Code: 6, Reason: "database 'x' does not exist"}, true, true},
		{"generic 65535 with not found", &commonpb.Status{Code: 65535, Reason: "Collection Not Found"}, true, true},
		{"ServiceInternal 5", &commonpb.Status{Code: 5, Reason: "internal"}, true, false},
		{"IndexNotFound 700 is not a missing collection", &commonpb.Status{Code: 700, Reason: "index not found"}, true, false},
		{"NodeNotFound 901 is not a missing collection", &commonpb.Status{Code: 901, Reason: "node not found"}, true, false},
		{"PartitionNotFound 200", &commonpb.Status{Code: 200, Reason: "partition not found"}, true, false},
		{"legacy error with code 0", &commonpb.Status{ErrorCode: commonpb.ErrorCode_UnexpectedError, Reason: "boom"}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkStatus("DescribeCollection", tc.st)
			if (err != nil) != tc.wantErr {
				t.Fatalf("checkStatus = %v, want error %v", err, tc.wantErr)
			}
			if got := errors.Is(err, ErrNotFound); got != tc.wantNotFound {
				t.Fatalf("errors.Is(%v, ErrNotFound) = %v, want %v", err, got, tc.wantNotFound)
			}
			if err == nil {
				return
			}
			se, ok := errors.AsType[*StatusError](err)
			if !ok || se.Code != tc.st.GetCode() || se.Reason != tc.st.GetReason() || se.Method != "DescribeCollection" {
				t.Fatalf("StatusError = %+v, want the status's code and reason", se)
			}
		})
	}
}
