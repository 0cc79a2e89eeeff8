package validate

import (
	"strconv"
	"strings"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// Search parameter keys read by the Proxy (internal/proxy/task.go).
const (
	annsFieldKey    = "anns_field"
	topKKey         = "topk"
	offsetKey       = "offset"
	limitKey        = "limit"
	roundDecimalKey = "round_decimal"
	iteratorKey     = "iterator"
	paramsKey       = "params"
	groupByFieldKey = "group_by_field"
	groupSizeKey    = "group_size"
)

// annSearch is one vector search: a plain search or one hybrid sub-request.
type annSearch struct {
	params      []*commonpb.KeyValuePair
	placeholder []byte
	nq          int64
	ids         bool       // search by primary keys: no placeholder to check
	field       *fieldInfo // the anns field, once resolved
}

// maxStackSubs is how many hybrid sub-requests are tracked without a heap
// allocation; SDKs send a handful.
const maxStackSubs = 8

// rankParams is what the Proxy reads from hybrid-search rank_params.
type rankParams struct {
	limit, offset int64
	groupBy       bool
}

// Search checks a search request in the order of searchTask.PreExecute,
// then the placeholder checks the QueryNode applies. The collection name
// itself is resolved by the caller's schema lookup, as in the Proxy.
func Search(req *milvuspb.SearchRequest, s *Schema) *Error {
	if len(req.GetSubReqs()) > 0 {
		var buf [maxStackSubs]annSearch
		subs := subSearches(buf[:0], len(req.GetSubReqs()))
		for _, r := range req.GetSubReqs() {
			subs = append(subs, annSearch{params: r.GetSearchParams(), placeholder: r.GetPlaceholderGroup(), nq: r.GetNq()})
		}
		return advancedSearch(s, req.GetPartitionNames(), req.GetOutputFields(), req.GetSearchParams(), subs)
	}
	if err := searchScope(s, req.GetPartitionNames(), req.GetOutputFields()); err != nil {
		return err
	}
	a := annSearch{params: req.GetSearchParams(), placeholder: req.GetPlaceholderGroup(), nq: req.GetNq()}
	if ids := req.GetIds(); ids != nil {
		a.ids = true
		if a.nq == 0 {
			a.nq = int64(len(ids.GetIntId().GetData()) + len(ids.GetStrId().GetData()))
		}
	}
	nq, err := annNq(&a)
	if err != nil {
		return err
	}
	if err := checkNqLimit(nq); err != nil {
		return err
	}
	if a.field, err = searchPlan(s, a.params, nil); err != nil {
		return err
	}
	return checkPlaceholders(&a)
}

// HybridSearch checks a hybrid search: at most 1024 sub-requests, equal nq,
// rank_params limit and offset, then every sub-request as a search whose
// topk defaults to the rank limit.
func HybridSearch(req *milvuspb.HybridSearchRequest, s *Schema) *Error {
	var buf [maxStackSubs]annSearch
	subs := subSearches(buf[:0], len(req.GetRequests()))
	for _, r := range req.GetRequests() {
		subs = append(subs, annSearch{params: r.GetSearchParams(), placeholder: r.GetPlaceholderGroup(), nq: r.GetNq()})
	}
	return advancedSearch(s, req.GetPartitionNames(), req.GetOutputFields(), req.GetRankParams(), subs)
}

// subSearches returns buf, or a new slice when n sub-requests do not fit.
func subSearches(buf []annSearch, n int) []annSearch {
	if n > cap(buf) {
		return make([]annSearch, 0, n)
	}
	return buf
}

func advancedSearch(s *Schema, partitions, outputs []string, rank []*commonpb.KeyValuePair, subs []annSearch) *Error {
	if err := searchScope(s, partitions, outputs); err != nil {
		return err
	}
	if len(subs) == 0 {
		// Without sub-requests the Proxy runs a plain search with no
		// placeholder group, which fails on nq.
		return checkNqLimit(0)
	}
	if len(subs) > maxSearchRequests {
		return unexpected("maximum of ann search requests is %d", maxSearchRequests)
	}
	var nq int64
	for i := range subs {
		subNq, err := annNq(&subs[i])
		if err != nil {
			return err
		}
		if nq == 0 {
			nq = subNq
			continue
		}
		if subNq != nq {
			return paramInvalid(nq, subNq, "sub search request nq should be the same")
		}
	}
	if err := checkNqLimit(nq); err != nil {
		return err
	}
	rp, err := parseRankParams(rank, s)
	if err != nil {
		return err
	}
	for i := range subs {
		if subs[i].field, err = searchPlan(s, subs[i].params, &rp); err != nil {
			return err
		}
	}
	for i := range subs {
		if err := checkPlaceholders(&subs[i]); err != nil {
			return err
		}
	}
	return nil
}

// searchScope checks partitions and output fields (PreExecute before nq).
func searchScope(s *Schema, partitions, outputs []string) *Error {
	if s.partitionKey >= 0 && len(partitions) != 0 {
		return unexpected("not support manually specifying the partition names if partition key mode is used")
	}
	if s.partitionKey < 0 && len(partitions) > 0 {
		if err := partitionsExist(s, partitions); err != nil {
			return err
		}
	}
	return outputFields(s, outputs, false)
}

// partitionsExist is getPartitionIDs without regex matching.
func partitionsExist(s *Schema, partitions []string) *Error {
	for _, p := range partitions {
		if err := partitionTag(p, false); err != nil {
			return err
		}
	}
	for _, p := range partitions {
		if _, ok := s.partitionSet[p]; !ok {
			return unexpected("partition name %s not found", p)
		}
	}
	return nil
}

// outputFields is translateOutputFields: '*' and schema fields are
// accepted, anything else only when the dynamic field is on. aggregates
// lets Query pass expressions such as count(*).
func outputFields(s *Schema, names []string, aggregates bool) *Error {
	for _, name := range names {
		name = strings.TrimSpace(name)
		if name == "*" {
			continue
		}
		if f, ok := s.field(name); ok {
			if f.bm25Output {
				return unexpected("not allowed to retrieve raw data of field %s", name)
			}
			continue
		}
		if aggregates && strings.Contains(name, "(") {
			continue
		}
		if s.dynamic >= 0 {
			continue
		}
		return unexpected("field %s not exist", name)
	}
	return nil
}

// annNq is getNq: the request's nq, else the placeholder value count.
func annNq(a *annSearch) (int64, *Error) {
	if a.nq != 0 || a.ids {
		return a.nq, nil
	}
	n, err := placeholderCount(a.placeholder)
	if err != nil {
		return 0, err
	}
	a.nq = n
	return n, nil
}

func checkNqLimit(nq int64) *Error {
	if nq <= 0 || nq > nqLimit {
		return unexpected("nq [%d] is invalid, nq (number of search vector per search request) should be in range [1, %d], but got %d", nq, nqLimit, nq)
	}
	return nil
}

// limitError is validateLimit's message, or "" when limit is in range.
func limitError(limit, max int64) string {
	if limit <= 0 || limit > max {
		return "it should be in range [1, " + strconv.FormatInt(max, 10) + "], but got " + strconv.FormatInt(limit, 10)
	}
	return ""
}

// searchPlan is tryGeneratePlan: anns field resolution, parseSearchInfo and
// the plan's vector field checks. It returns the anns field.
func searchPlan(s *Schema, params []*commonpb.KeyValuePair, rank *rankParams) (*fieldInfo, *Error) {
	name, ok := lookup(params, annsFieldKey)
	if !ok || name == "" {
		switch len(s.vectors) {
		case 0:
			return nil, unexpected("anns_field not found in schema")
		case 1:
			name = s.fields[s.vectors[0]].GetName()
		default:
			return nil, unexpected("multiple anns_fields exist, please specify a anns_field in search_params")
		}
	}
	groupBy, err := parseSearchInfo(params, s, rank)
	if err != nil {
		return nil, err
	}
	f, ok := s.field(name)
	if groupBy && ok && f.GetDataType() == schemapb.DataType_BinaryVector {
		return nil, unexpected("not support search_group_by operation based on binary vector column")
	}
	if !ok {
		return nil, paramInvalidMsg("failed to create query plan: failed to get field schema by name: fieldName(%s) not found", name)
	}
	if !isVectorType(f.GetDataType()) {
		return nil, paramInvalidMsg("failed to create query plan: field (%s) to search is not of vector data type", name)
	}
	return f, nil
}

// parseSearchInfo checks topk, offset, round_decimal and group-by. It
// reports whether the search groups.
func parseSearchInfo(params []*commonpb.KeyValuePair, s *Schema, rank *rankParams) (bool, *Error) {
	var external int64
	if rank != nil {
		external = rank.limit + rank.offset
	}
	var topK int64
	if str, ok := lookup(params, topKKey); !ok {
		if external <= 0 {
			return false, unexpected("%s is required", topKKey)
		}
		topK = external
	} else if v, err := strconv.ParseInt(str, 0, 64); err != nil {
		if external <= 0 {
			return false, unexpected("%s [%s] is invalid", topKKey, str)
		}
		topK = external
	} else {
		topK = v
	}
	iter, _ := lookup(params, iteratorKey)
	isIterator := iter == "True" || iter == "true"
	if msg := limitError(topK, s.topKLimit()); msg != "" {
		if !isIterator {
			return false, unexpected("%s [%d] is invalid, %s", topKKey, topK, msg)
		}
		topK = s.topKLimit()
	}
	var offset int64
	if str, ok := lookup(params, offsetKey); ok && rank == nil {
		v, err := strconv.ParseInt(str, 0, 64)
		if err != nil {
			return false, unexpected("%s [%s] is invalid", offsetKey, str)
		}
		if msg := limitError(v, s.topKLimit()); v != 0 && msg != "" {
			return false, unexpected("%s [%d] is invalid, %s", offsetKey, v, msg)
		}
		offset = v
	}
	if msg := limitError(topK+offset, s.topKLimit()); msg != "" {
		return false, unexpected("%s+%s [%d] is invalid, %s", offsetKey, topKKey, topK+offset, msg)
	}
	if err := roundDecimal(params); err != nil {
		return false, err
	}
	var groupBy bool
	if rank != nil {
		groupBy = rank.groupBy
	} else {
		var err *Error
		if groupBy, err = groupByInfo(params, s); err != nil {
			return false, err
		}
	}
	if groupBy && isIterator {
		return false, paramInvalid("", "", "Not allowed to do groupBy when doing iteration")
	}
	if p, _ := lookup(params, paramsKey); groupBy && strings.Contains(p, "radius") {
		return false, paramInvalid("", "", "Not allowed to do range-search when doing search-group-by")
	}
	return groupBy, nil
}

func roundDecimal(params []*commonpb.KeyValuePair) *Error {
	str, ok := lookup(params, roundDecimalKey)
	if !ok {
		return nil
	}
	v, err := strconv.ParseInt(str, 0, 64)
	if err != nil || (v != -1 && (v > 6 || v < 0)) {
		return unexpected("%s [%s] is invalid, should be -1 or an integer in range [0, 6]", roundDecimalKey, str)
	}
	return nil
}

// groupByInfo is parseGroupByInfo: the group-by field must exist and
// group_size be in 1..maxGroupSize.
func groupByInfo(params []*commonpb.KeyValuePair, s *Schema) (bool, *Error) {
	name, _ := lookup(params, groupByFieldKey)
	if name != "" {
		if _, ok := s.field(name); !ok {
			return false, fieldNotFound(name, "groupBy field not found in schema")
		}
	}
	if str, ok := lookup(params, groupSizeKey); ok {
		size, err := strconv.ParseInt(str, 0, 64)
		if err != nil {
			return false, paramInvalidMsg("failed to parse input group size:%s", str)
		}
		if size <= 0 {
			return false, paramInvalidMsg("input group size:%d is negative, failed to do search_groupby", size)
		}
		if size > maxGroupSize {
			return false, paramInvalidMsg("input group size:%d exceeds configured max group size:%d", size, maxGroupSize)
		}
	}
	return name != "", nil
}

// parseRankParams checks hybrid-search rank_params.
func parseRankParams(params []*commonpb.KeyValuePair, s *Schema) (rankParams, *Error) {
	str, ok := lookup(params, limitKey)
	if !ok {
		return rankParams{}, unexpected("%s not found in rank_params", limitKey)
	}
	limit, err := strconv.ParseInt(str, 0, 64)
	if err != nil {
		return rankParams{}, unexpected("%s [%s] is invalid", limitKey, str)
	}
	var offset int64
	if str, ok := lookup(params, offsetKey); ok {
		if offset, err = strconv.ParseInt(str, 0, 64); err != nil {
			return rankParams{}, unexpected("%s [%s] is invalid", offsetKey, str)
		}
	}
	if msg := resultWindowError(offset, limit, topKLimit); msg != "" {
		return rankParams{}, unexpected("invalid max query result window, %s", msg)
	}
	if err := roundDecimal(params); err != nil {
		return rankParams{}, err
	}
	groupBy, gerr := groupByInfo(params, s)
	if gerr != nil {
		return rankParams{}, gerr
	}
	return rankParams{limit: limit, offset: offset, groupBy: groupBy}, nil
}

// resultWindowError is validateMaxQueryResultWindow's message, or "".
func resultWindowError(offset, limit, window int64) string {
	if offset < 0 {
		return offsetKey + " [" + strconv.FormatInt(offset, 10) + "] is invalid, should be gte than 0"
	}
	if limit <= 0 {
		return limitKey + " [" + strconv.FormatInt(limit, 10) + "] is invalid, should be greater than 0"
	}
	if depth := offset + limit; depth <= 0 || depth > window {
		return "(offset+limit) should be in range [1, " + strconv.FormatInt(window, 10) + "], but got " + strconv.FormatInt(depth, 10)
	}
	return ""
}
