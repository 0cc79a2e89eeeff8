package inproc

import (
	"strconv"
	"strings"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/milvus-edge/milvus-edge/extproc/authz"
	"github.com/milvus-edge/milvus-edge/internal/edgemeta"
)

// Response details Envoy's ext_authz filter gives its local replies
// (%RESPONSE_CODE_DETAILS%), kept so logs read the same in both modes.
const (
	detailsDenied = "ext_authz_denied"
	detailsError  = "ext_authz_error"
)

// apply does what Envoy's ext_authz filter does with an answer: an error
// fails closed with 503 (status_on_error; UNAVAILABLE for gRPC clients); a
// denial is answered locally with its status, headers and body; an allow
// sets and removes its request headers and clears the route cache when it
// changed any. The answer's dynamic metadata goes to ext_authz's namespace
// either way. apply returns true when the call goes on.
func apply(h shared.HttpFilterHandle, resp *authv3.CheckResponse, err error) bool {
	grpcCall := strings.HasPrefix(h.RequestHeaders().GetOne("content-type").ToString(), "application/grpc")
	if err != nil || resp == nil {
		h.SendLocalResponse(503, grpcStatus(grpcCall, 503, nil), nil, detailsError)
		return false
	}
	setMetadata(h, resp.GetDynamicMetadata())
	if resp.GetStatus().GetCode() != int32(code.Code_OK) {
		d := resp.GetDeniedResponse()
		status := uint32(d.GetStatus().GetCode())
		if status == 0 {
			status = 403 // ext_authz's default
		}
		headers := make([][2]string, 0, len(d.GetHeaders())+1)
		for _, o := range d.GetHeaders() {
			headers = append(headers, [2]string{o.GetHeader().GetKey(), o.GetHeader().GetValue()})
		}
		h.SendLocalResponse(status, grpcStatus(grpcCall, status, headers), []byte(d.GetBody()), detailsDenied)
		return false
	}
	ok := resp.GetOkResponse()
	hm := h.RequestHeaders()
	changed := len(ok.GetHeadersToRemove()) > 0
	for _, o := range ok.GetHeaders() {
		changed = setHeader(hm, o) || changed
	}
	for _, k := range ok.GetHeadersToRemove() {
		hm.Remove(k)
	}
	if changed {
		h.ClearRouteCache()
	}
	return true
}

// grpcStatus adds the grpc-status Envoy's ext_authz gives a gRPC call's
// local reply (Grpc::Utility::httpToGrpcStatus of the HTTP status) unless
// the answer names one: a module's local reply carries grpc-status 0 (OK)
// otherwise, and the client would read a refusal as success. Envoy still
// puts the body in grpc-message.
func grpcStatus(grpcCall bool, httpStatus uint32, headers [][2]string) [][2]string {
	if !grpcCall {
		return headers
	}
	for _, kv := range headers {
		if strings.EqualFold(kv[0], "grpc-status") {
			return headers
		}
	}
	c := codes.Unknown
	switch httpStatus {
	case 400:
		c = codes.Internal
	case 401:
		c = codes.Unauthenticated
	case 403:
		c = codes.PermissionDenied
	case 404:
		c = codes.Unimplemented
	case 429, 502, 503, 504:
		c = codes.Unavailable
	}
	return append(headers, [2]string{"grpc-status", strconv.Itoa(int(c))})
}

// setHeader applies one header as ext_authz applies an allow's headers:
// they replace what the request had unless the option asks to append.
func setHeader(hm shared.HeaderMap, o *corev3.HeaderValueOption) bool {
	k, v := strings.ToLower(o.GetHeader().GetKey()), o.GetHeader().GetValue()
	switch o.GetAppendAction() {
	case corev3.HeaderValueOption_ADD_IF_ABSENT:
		if len(hm.Get(k)) > 0 {
			return false
		}
		hm.Set(k, v)
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
		if len(hm.Get(k)) == 0 {
			return false
		}
		hm.Set(k, v)
	case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		if o.GetAppend().GetValue() {
			hm.Add(k, v)
			return true
		}
		hm.Set(k, v) // ext_authz's default for an allow: replace
	default:
		hm.Set(k, v)
	}
	return true
}

// setMetadata copies the answer's facts (flat strings, numbers, booleans:
// internal/edgemeta) into ext_authz's namespace, where the access log, the
// metrics and ext_proc read them.
func setMetadata(h shared.HttpFilterHandle, md *structpb.Struct) {
	authz.EachFact(md, func(k string, v *structpb.Value) {
		switch x := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			h.SetMetadata(edgemeta.AuthzNamespace, k, x.StringValue)
		case *structpb.Value_NumberValue:
			h.SetMetadata(edgemeta.AuthzNamespace, k, x.NumberValue)
		case *structpb.Value_BoolValue:
			h.SetMetadata(edgemeta.AuthzNamespace, k, x.BoolValue)
		}
	})
}
