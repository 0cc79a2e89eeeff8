// Package extproc is the edge's ext_proc server: one processor per Envoy
// stream decodes the Milvus request (gRPC frame or REST JSON), derives its
// database and collection, and sets the route key header that Envoy's routes
// match. Schema validation and rewrites plug in after decoding.
package extproc

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
)

// DefaultDB is the database Milvus uses when a request names none.
const DefaultDB = "default"

// Request is a decoded Milvus request, the same shape for gRPC and REST.
type Request struct {
	// API is the RPC name ("Search") or the REST path's last two parts ("entities/search").
	API string
	// DB is the database: the body's db_name, else the dbname header, else "default".
	DB string
	// Collection is the collection the request names, "" when none.
	Collection string
}

// decodeREST decodes a REST v2 request (/v2/vectordb/<resource>/<action>).
// A body that gives a name twice is refused: ext_authz may have decided on a
// prefix, and the names it saw must be the ones Milvus acts on (it keeps the
// last of duplicate keys).
func decodeREST(path string, body []byte, dbHeader string) (*Request, error) {
	req := &Request{API: strings.TrimPrefix(path, "/v2/vectordb/")}
	if len(body) > 0 {
		var err error
		if req.DB, req.Collection, err = milvusgrpc.RESTNames(body); err != nil {
			return nil, fmt.Errorf("invalid JSON body: %w", err)
		}
	}
	if req.DB == "" {
		req.DB = orDefault(dbHeader)
	}
	return req, nil
}

func orDefault(db string) string {
	if db == "" {
		return DefaultDB
	}
	return db
}

// RouteKey returns the route key header value, or "" when a name holds
// characters no Milvus name may hold: such a request takes the default route
// and the backend answers it with Milvus's own name error.
func (r *Request) RouteKey() string {
	if !routable(r.DB) || (r.Collection != "" && !routable(r.Collection)) {
		return ""
	}
	return r.DB + "/" + r.Collection
}

func routable(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // marshalling a string cannot fail
	return string(b)
}
