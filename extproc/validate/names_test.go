package validate

import (
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"google.golang.org/protobuf/proto"
)

func TestNames(t *testing.T) {
	long := repeat("a", 256)
	for _, tc := range []struct {
		name, db, coll string
		want           *want
	}{
		{"default database", "", "docs", ok()},
		{"named database", "tenant_1", "_docs_2", ok()},
		{"surrounding spaces are trimmed", "", " docs ", ok()},
		{"255 characters", "", repeat("a", 255), ok()},
		{"collection empty", "", "", p1100("collection name should not be empty")},
		{"collection blank", "", "   ", p1100("collection name should not be empty")},
		{"collection too long", "", long, p1100("Invalid collection name: " + long + ".  the length of a collection name must be less than 255 characters")},
		{"collection starts with a digit", "", "1docs", p1100("Invalid collection name: 1docs.  the first character of a collection name must be an underscore or letter")},
		{"collection with a dash", "", "my-docs", p1100("Invalid collection name: my-docs.  collection name can only contain numbers, letters and underscores")},
		{"database starts with a digit", "1db", "docs", &want{CodeDatabaseNameInvalid, "the first character of a database name must be an underscore or letter: invalid database name[database=1db]"}},
		{"database with a dash", "d-b", "docs", &want{CodeDatabaseNameInvalid, "database name can only contain numbers, letters and underscores: invalid database name[database=d-b]"}},
		{"database too long", long, "docs", &want{CodeDatabaseNameInvalid, "the length of a database name must be less than 255 characters: invalid database name[database=" + long + "]"}},
		{"database is checked first", "d-b", "1docs", &want{CodeDatabaseNameInvalid, "database name can only contain numbers, letters and underscores: invalid database name[database=d-b]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, Names(tc.db, tc.coll), tc.want)
		})
	}
}

func TestAliasName(t *testing.T) {
	check(t, collectionName("", "alias"), p1100("collection alias should not be empty"))
	check(t, collectionName("a.b", "alias"), p1100("Invalid collection alias: a.b.  collection alias can only contain numbers, letters and underscores"))
}

func TestPartitionTag(t *testing.T) {
	for _, tc := range []struct {
		name, tag string
		strict    bool
		want      *want
	}{
		{"digit first allowed when strict", "2024-q1", true, ok()},
		{"anything non-empty when lax", "a b$c", false, ok()},
		{"empty", "", false, plain("Invalid partition name: . Partition name should not be empty.")},
		{"bad first character", "$p", true, plain("Invalid partition name: $p. The first character of a partition name must be an underscore or letter.")},
		{"bad character", "p.1", true, plain("Invalid partition name: p.1. Partition name can only contain numbers, letters and underscores.")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, partitionTag(tc.tag, tc.strict), tc.want)
		})
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *Error
		want *commonpb.Status
	}{
		{"parameter invalid maps to IllegalArgument", paramInvalidMsg("x"), &commonpb.Status{
			Code: 1100, Reason: "x: invalid parameter", ErrorCode: commonpb.ErrorCode_IllegalArgument, Detail: "x: invalid parameter"}},
		{"partition not found maps to MetaFailed", partitionNotFound("p"), &commonpb.Status{
			Code: 200, Reason: "partition not found[partition=p]", ErrorCode: commonpb.ErrorCode_MetaFailed, Detail: "partition not found[partition=p]"}},
		{"collection not found maps to CollectionNotExists", newError(CodeCollectionNotFound, "collection not found[collection=c]"), &commonpb.Status{
			Code: 100, Reason: "collection not found[collection=c]", ErrorCode: commonpb.ErrorCode_CollectionNotExists, Detail: "collection not found[collection=c]"}},
		{"plain errors are unexpected", unexpected("topk is required"), &commonpb.Status{
			Code: 65535, Reason: "topk is required", ErrorCode: commonpb.ErrorCode_UnexpectedError, Detail: "topk is required"}},
		{"field name invalid has no legacy code", fieldNameInvalid("x", "m"), &commonpb.Status{
			Code: 1701, Reason: "m: field name invalid[field=x]", ErrorCode: commonpb.ErrorCode_UnexpectedError, Detail: "m: field name invalid[field=x]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Status(); !proto.Equal(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
			if tc.err.Error() != tc.want.GetReason() {
				t.Fatalf("Error() = %q", tc.err.Error())
			}
		})
	}
}
