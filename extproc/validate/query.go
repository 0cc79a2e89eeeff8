package validate

import (
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
)

// Query parameter keys (internal/proxy/task.go).
const (
	reduceStopForBestKey = "reduce_stop_for_best"
	collectionIDKey      = "collection_id"
	queryGroupByKey      = "group_by_fields"
	unlimited            = -1 // typeutil.Unlimited
)

// Query checks a query request in the order of queryTask.PreExecute. The
// filter expression is not parsed: only the empty expression is judged.
func Query(req *milvuspb.QueryRequest, s *Schema) *Error {
	if err := collectionName(req.GetCollectionName(), "name"); err != nil {
		return err
	}
	partitions := req.GetPartitionNames()
	if s.partitionKey >= 0 && len(partitions) != 0 {
		return paramInvalidMsg("not support manually specifying the partition names if partition key mode is used")
	}
	for _, p := range partitions {
		if err := partitionTag(p, false); err != nil {
			return err
		}
	}
	limit, groupBy, err := queryParams(req, s)
	if err != nil {
		return err
	}
	if err := outputFields(s, req.GetOutputFields(), true); err != nil {
		return err
	}
	var aggregates, countStar bool
	for _, name := range req.GetOutputFields() {
		name = strings.TrimSpace(name)
		if strings.Contains(name, "(") {
			aggregates = true
			countStar = countStar || strings.EqualFold(name, "count(*)")
		}
	}
	if req.GetExpr() == "" && limit == unlimited && !aggregates {
		return paramInvalidMsg("empty expression should be used with limit")
	}
	for _, p := range partitions {
		if _, ok := s.partitionSet[p]; !ok {
			return unexpected("partition name %s not found", p)
		}
	}
	if countStar && limit != unlimited && !groupBy {
		return paramInvalidMsg("count entities with pagination is not allowed")
	}
	return nil
}

// queryParams is parseQueryParams: it returns the limit (unlimited when
// absent) and whether the query groups.
func queryParams(req *milvuspb.QueryRequest, s *Schema) (int64, bool, *Error) {
	params := req.GetQueryParams()
	if str, ok := lookup(params, reduceStopForBestKey); ok {
		if _, err := strconv.ParseBool(str); err != nil {
			return 0, false, paramInvalid("true or false", str, "value for reduce_stop_for_best is invalid")
		}
	}
	if str, ok := lookup(params, iteratorKey); ok {
		if _, err := strconv.ParseBool(str); err != nil {
			return 0, false, paramInvalid("true or false", str, "value for iterator field is invalid")
		}
	}
	if str, ok := lookup(params, collectionIDKey); ok {
		if _, err := strconv.ParseInt(str, 0, 64); err != nil {
			return 0, false, paramInvalid("int value for collection_id", collectionIDKey, "value for collection id is invalid")
		}
	}
	limit := int64(unlimited)
	if str, ok := lookup(params, limitKey); ok {
		v, err := strconv.ParseInt(str, 0, 64)
		if err != nil {
			return 0, false, unexpected("%s [%s] is invalid", limitKey, str)
		}
		limit = v
		var offset int64
		if str, ok := lookup(params, offsetKey); ok {
			if offset, err = strconv.ParseInt(str, 0, 64); err != nil {
				return 0, false, unexpected("%s [%s] is invalid", offsetKey, str)
			}
		}
		if msg := resultWindowError(offset, limit, s.topKLimit()); msg != "" {
			return 0, false, unexpected("invalid max query result window, %s", msg)
		}
	}
	groups, _ := lookup(params, queryGroupByKey)
	return limit, strings.TrimSpace(strings.ReplaceAll(groups, ",", "")) != "", nil
}

// Delete checks a delete request as deleteRunner.Init does before it
// plans the delete: the expression must not be empty, and a partition name
// must be valid, exist, and not be used with a partition key.
func Delete(req *milvuspb.DeleteRequest, s *Schema) *Error {
	if err := collectionName(req.GetCollectionName(), "name"); err != nil {
		return err
	}
	if req.GetExpr() == "" {
		return paramInvalidMsg("delete plan can't be empty or always true : %s", req.GetExpr())
	}
	part := req.GetPartitionName()
	if part == "" {
		return nil
	}
	if s.partitionKey >= 0 {
		return unexpected("not support manually specifying the partition names if partition key mode is used")
	}
	if err := partitionTag(part, true); err != nil {
		return err.withDetail("Invalid partition name")
	}
	if _, ok := s.partitionSet[part]; !ok {
		err := partitionNotFound(part)
		err.Reason = "Failed to get partition id: " + err.Reason
		return err
	}
	return nil
}
