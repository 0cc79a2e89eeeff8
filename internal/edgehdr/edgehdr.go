// Package edgehdr names the request headers milvus-edge uses inside Envoy.
// Clients may not set them: the listener strips every one of them before any
// filter runs, so a client cannot choose its own route or identity.
package edgehdr

import (
	"encoding/base64"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"google.golang.org/protobuf/proto"
)

const (
	// Route carries the route key "<database>/<collection>" that ext_proc sets
	// from the decoded request; Envoy's routes match it.
	Route = "x-milvus-edge-route"
	// User carries the authenticated user name upstream (set by ext_authz).
	User = "x-milvus-edge-user"
	// Reject carries a Milvus status (base64 of a marshalled common.Status) for a
	// request ext_proc refused; Envoy routes such requests to the edge's own
	// responder, which answers with the method's typed response.
	Reject = "x-milvus-edge-reject"
	// Checked marks a request ext_authz already decoded, validated and gave
	// its route key: Envoy's routes for it skip ext_proc.
	Checked = "x-milvus-edge-checked"
	// Watch marks the call ext_authz chose to have its response status read
	// by ext_proc (the sampled backend-answer watch).
	Watch = "x-milvus-edge-watch"
	// Class carries the call's class, "read", "write" or "other"
	// (milvusgrpc.Class), set with the route key: Envoy's read routes retry
	// on another host and may fail over to a fallback cluster.
	Class = "x-milvus-edge-class"
	// Trace carries a traced call's context to ext_proc, set by ext_authz
	// only on calls it traces: a W3C traceparent naming the call's server
	// span (internal/edgetrace), the parent of ext_proc's spans. The route
	// configuration removes it before the request goes upstream.
	Trace = "x-milvus-edge-trace"
)

// Internal lists every header the edge owns.
var Internal = []string{Route, User, Reject, Checked, Watch, Class, Trace}

// EncodeReject is the Reject header's value for status st.
func EncodeReject(st *commonpb.Status) string {
	b, _ := proto.Marshal(st) // a Status always marshals
	return base64.StdEncoding.EncodeToString(b)
}

// DecodeReject reads a Reject header's value.
func DecodeReject(v string) (*commonpb.Status, error) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, err
	}
	st := &commonpb.Status{}
	return st, proto.Unmarshal(b, st)
}
