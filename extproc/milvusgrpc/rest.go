package milvusgrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// RESTPrefix starts the path of every Milvus REST v2 endpoint.
const RESTPrefix = "/v2/vectordb/"

// restAPIs maps REST v2 paths (after RESTPrefix) to the MilvusService RPC
// the handler calls first, so REST requests get the same Method, privilege
// and object as gRPC (handler_v2.go RegisterRoutesToV2 and its handlers).
var restAPIs = map[string]string{
	"collections/list":                    "ShowCollections",
	"collections/has":                     "HasCollection",
	"collections/describe":                "DescribeCollection",
	"collections/get_stats":               "GetCollectionStatistics",
	"collections/get_load_state":          "GetLoadState",
	"collections/create":                  "CreateCollection",
	"collections/drop":                    "DropCollection",
	"collections/rename":                  "RenameCollection",
	"collections/load":                    "LoadCollection",
	"collections/refresh_load":            "LoadCollection",
	"collections/release":                 "ReleaseCollection",
	"collections/alter_properties":        "AlterCollection",
	"collections/drop_properties":         "AlterCollection",
	"collections/compact":                 "ManualCompaction",
	"collections/get_compaction_state":    "GetCompactionState",
	"collections/flush":                   "Flush",
	"collections/truncate":                "TruncateCollection",
	"collections/add_function":            "AddCollectionFunction",
	"collections/alter_function":          "AlterCollectionFunction",
	"collections/drop_function":           "DropCollectionFunction",
	"collections/fields/alter_properties": "AlterCollectionField",
	"collections/fields/add":              "AddCollectionField",

	"databases/create":           "CreateDatabase",
	"databases/drop":             "DropDatabase",
	"databases/list":             "ListDatabases",
	"databases/describe":         "DescribeDatabase",
	"databases/alter":            "AlterDatabase",
	"databases/alter_properties": "AlterDatabase",
	"databases/drop_properties":  "AlterDatabase",

	"entities/query":           "Query",
	"entities/get":             "Query",
	"entities/delete":          "Delete",
	"entities/insert":          "Insert",
	"entities/upsert":          "Upsert",
	"entities/search":          "Search",
	"entities/advanced_search": "HybridSearch",
	"entities/hybrid_search":   "HybridSearch",

	"partitions/list":      "ShowPartitions",
	"partitions/has":       "HasPartition",
	"partitions/get_stats": "GetPartitionStatistics",
	"partitions/create":    "CreatePartition",
	"partitions/drop":      "DropPartition",
	"partitions/load":      "LoadPartitions",
	"partitions/release":   "ReleasePartitions",

	"users/list":            "ListCredUsers",
	"users/describe":        "SelectUser",
	"users/create":          "CreateCredential",
	"users/update_password": "UpdateCredential",
	"users/drop":            "DeleteCredential",
	"users/grant_role":      "OperateUserRole",
	"users/revoke_role":     "OperateUserRole",

	"roles/list":                "SelectRole",
	"roles/describe":            "SelectGrant",
	"roles/create":              "CreateRole",
	"roles/drop":                "DropRole",
	"roles/grant_privilege":     "OperatePrivilege",
	"roles/revoke_privilege":    "OperatePrivilege",
	"roles/grant_privilege_v2":  "OperatePrivilegeV2",
	"roles/revoke_privilege_v2": "OperatePrivilegeV2",

	"privilege_groups/create":                       "CreatePrivilegeGroup",
	"privilege_groups/drop":                         "DropPrivilegeGroup",
	"privilege_groups/list":                         "ListPrivilegeGroups",
	"privilege_groups/add_privileges_to_group":      "OperatePrivilegeGroup",
	"privilege_groups/remove_privileges_from_group": "OperatePrivilegeGroup",

	"indexes/list":             "DescribeIndex",
	"indexes/describe":         "DescribeIndex",
	"indexes/create":           "CreateIndex",
	"indexes/drop":             "DropIndex",
	"indexes/alter_properties": "AlterIndex",
	"indexes/drop_properties":  "AlterIndex",

	"aliases/list":     "ListAliases",
	"aliases/describe": "DescribeAlias",
	"aliases/create":   "CreateAlias",
	"aliases/drop":     "DropAlias",
	"aliases/alter":    "AlterAlias",

	// The REST import jobs call internal Proxy methods (ImportV2, ...); the
	// closest MilvusService RPCs stand in for them.
	"jobs/import/list":         "ListImportTasks",
	"jobs/import/create":       "Import",
	"jobs/import/get_progress": "GetImportState",
	"jobs/import/describe":     "GetImportState",

	"resource_groups/create":           "CreateResourceGroup",
	"resource_groups/drop":             "DropResourceGroup",
	"resource_groups/alter":            "UpdateResourceGroups",
	"resource_groups/describe":         "DescribeResourceGroup",
	"resource_groups/list":             "ListResourceGroups",
	"resource_groups/transfer_replica": "TransferReplica",

	"common/run_analyzer": "RunAnalyzer",
}

// restMethods is restAPIs resolved against the method table at init.
var restMethods = buildREST()

func buildREST() map[string]*Method {
	out := make(map[string]*Method, len(restAPIs))
	for p, api := range restAPIs {
		if m, ok := methods[ServicePrefix+api]; ok {
			out[RESTPrefix+p] = m
		}
	}
	return out
}

// LookupREST returns the MilvusService method a REST v2 path stands for;
// a query string is ignored.
func LookupREST(path string) (*Method, bool) {
	path, _, _ = strings.Cut(path, "?")
	m, ok := restMethods[path]
	return m, ok
}

// restBody holds the REST v2 request keys Info is filled from. Decoding into
// a struct matches keys as Milvus's own binding does (encoding/json: exact
// match preferred, then case-insensitive, last duplicate wins), so that
// "CollectionName" cannot hide a name from the policy. Values stay raw and
// are read leniently: a key of the wrong type is simply left out.
type restBody struct {
	DBName           json.RawMessage `json:"dbName"`
	CollectionName   json.RawMessage `json:"collectionName"`
	PartitionNames   json.RawMessage `json:"partitionNames"`
	PartitionName    json.RawMessage `json:"partitionName"`
	Filter           json.RawMessage `json:"filter"`
	OutputFields     json.RawMessage `json:"outputFields"`
	Limit            json.RawMessage `json:"limit"`
	Data             jsonLen         `json:"data"`
	Search           []restSubSearch `json:"search"`
	ConsistencyLevel json.RawMessage `json:"consistencyLevel"`
	UserName         json.RawMessage `json:"userName"`
}

type restSubSearch struct {
	Data jsonLen `json:"data"`
}

// jsonLen records the number of elements of a JSON array without decoding
// them; n is -1 for anything but an array, set reports that the key was there.
type jsonLen struct {
	n   int
	set bool
}

// UnmarshalJSON counts the top-level elements of an array.
func (l *jsonLen) UnmarshalJSON(b []byte) error {
	l.n, l.set = countArray(b), true
	return nil
}

// ErrBadJSON marks a complete REST body that is not a JSON object.
var ErrBadJSON = errors.New("request body is not a JSON object")

// DecodeRESTPrefix reads what policies decide on from a REST v2 body and
// returns the body itself (json.Number for numbers) for parsed_body. m may
// be nil for paths that are not Milvus endpoints. When partial is true the
// body may be cut anywhere: a body that does not parse then yields
// Info{Truncated: true} and a nil map, since nothing in it can be trusted.
func DecodeRESTPrefix(m *Method, body []byte, partial bool) (*Info, map[string]any, error) {
	info := &Info{}
	if m != nil {
		info.API = m.Name
	}
	if len(bytes.TrimSpace(body)) == 0 {
		info.Truncated = partial
		info.ObjectName, info.ObjectNames = restObjectName(m, &restBody{})
		return info, nil, nil
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || dec.More() {
		if partial {
			// A cut body: only the names it holds whole, for the policy.
			info.Truncated = true
			fillREST(info, m, prefixNames(body))
			return info, nil, nil
		}
		if err == nil {
			err = errors.New("trailing data after the JSON value")
		}
		return info, nil, fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	var rb restBody
	// Type errors leave the offending field out and decoding goes on.
	_ = json.Unmarshal(body, &rb)
	fillREST(info, m, &rb)
	return info, doc, nil
}

func fillREST(info *Info, m *Method, rb *restBody) {
	info.DB = jsonString(rb.DBName)
	info.Collection = jsonString(rb.CollectionName)
	info.Partitions = jsonStrings(rb.PartitionNames)
	if p := jsonString(rb.PartitionName); p != "" {
		info.Partitions = []string{p}
	}
	if !isNull(rb.Filter) {
		var s string
		if json.Unmarshal(rb.Filter, &s) == nil {
			info.Filter = &s
		}
	}
	if !isNull(rb.OutputFields) {
		var out []string
		if json.Unmarshal(rb.OutputFields, &out) == nil {
			info.OutputFields, info.HasOutputFields = nilIfEmpty(out), true
		}
	}
	if !isNull(rb.Limit) {
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(rb.Limit)), 10, 64); err == nil {
			info.TopK = &n
		}
	}
	info.ConsistencyLevel = jsonString(rb.ConsistencyLevel)
	if rb.Data.set && rb.Data.n >= 0 {
		n := int64(rb.Data.n)
		switch info.API {
		case "Insert", "Upsert":
			info.NumRows = &n
		case "Search":
			info.NQ = &n
		}
	}
	if info.API == "HybridSearch" && len(rb.Search) > 0 && rb.Search[0].Data.set && rb.Search[0].Data.n >= 0 {
		n := int64(rb.Search[0].Data.n)
		info.NQ = &n
	}
	info.ObjectName, info.ObjectNames = restObjectName(m, rb)
}

// restObjectName resolves the privilege's object name from the REST body:
// collectionName for Collection objects, userName for User objects.
func restObjectName(m *Method, rb *restBody) (string, []string) {
	if m == nil {
		return "", nil
	}
	p, ok := m.Privilege()
	switch {
	case !ok:
		return "", nil
	case p.NameField == nil:
		return AnyName, nil
	}
	var name string
	if p.ObjectType == ObjectUser {
		name = jsonString(rb.UserName)
	} else {
		name = jsonString(rb.CollectionName)
	}
	switch {
	case p.NameList && name == "":
		return AnyName, nil
	case p.NameList:
		return name, []string{name}
	case p.NameSubField != nil && name == "":
		return AnyName, nil
	}
	return name, nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func jsonStrings(raw json.RawMessage) []string {
	var s []string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return nilIfEmpty(s)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// isNull reports a key that is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	return raw == nil || string(bytes.TrimSpace(raw)) == "null"
}

// countArray counts the top-level elements of a JSON array (b is one
// complete, valid JSON value, as encoding/json hands to UnmarshalJSON); it
// returns -1 when b is not an array.
func countArray(b []byte) int {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' {
		return -1
	}
	n, depth, inStr, empty := 0, 0, false, true
	for i := 1; i < len(b)-1; i++ {
		c := b[i]
		switch {
		case inStr:
			if c == '\\' {
				i++
			} else if c == '"' {
				inStr = false
			}
			continue
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			n++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		empty = false
	}
	if empty {
		return 0
	}
	return n + 1
}
