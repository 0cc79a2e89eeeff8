package inproc

import (
	"strconv"
	"strings"

	"github.com/envoyproxy/envoy/source/extensions/dynamic_modules/sdk/go/shared"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// partialBodyHeader is the header Envoy's ext_authz adds to the check's
// headers when it sends a body prefix: "true" when the body was cut.
const partialBodyHeader = "x-envoy-auth-partial-body"

// checkRequest builds what Envoy's ext_authz filter sends for this call:
// the request headers (lower-case names, repeated ones joined with ","),
// method, path, host, protocol, the body prefix as raw bytes and the
// peer's address and verified SPIFFE identity.
func checkRequest(h shared.HttpFilterHandle, body []byte, partial bool) *authv3.CheckRequest {
	hm := h.RequestHeaders()
	all := hm.GetAll()
	headers := make(map[string]string, len(all)+1)
	for _, kv := range all {
		k := kv[0].ToString()
		if prev, ok := headers[k]; ok {
			headers[k] = prev + "," + kv[1].ToString()
			continue
		}
		headers[k] = kv[1].ToString()
	}
	if body != nil || partial {
		headers[partialBodyHeader] = strconv.FormatBool(partial)
	}
	size := int64(-1)
	if n, err := strconv.ParseInt(headers["content-length"], 10, 64); err == nil {
		size = n
	}
	http := &authv3.AttributeContext_HttpRequest{
		Headers:  headers,
		Method:   headers[":method"],
		Path:     headers[":path"],
		Host:     headers[":authority"],
		Scheme:   headers[":scheme"],
		Id:       headers["x-request-id"],
		Size:     size,
		Protocol: protocol(h),
		RawBody:  body,
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:  source(h),
		Request: &authv3.AttributeContext_Request{Http: http},
	}}
}

func protocol(h shared.HttpFilterHandle) string {
	p, _ := h.GetAttributeString(shared.AttributeIDRequestProtocol)
	return p.ToString()
}

// source is the downstream peer: its address and, on a mutual-TLS listener,
// the first URI SAN of its verified certificate (ext_authz's principal).
func source(h shared.HttpFilterHandle) *authv3.AttributeContext_Peer {
	p := &authv3.AttributeContext_Peer{}
	if a, ok := h.GetAttributeString(shared.AttributeIDSourceAddress); ok {
		host, port := splitHostPort(a.ToString())
		p.Address = &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}}
	}
	if san, ok := h.GetAttributeString(shared.AttributeIDConnectionUriSanPeerCertificate); ok {
		p.Principal = san.ToString()
	}
	return p
}

// splitHostPort splits "1.2.3.4:5" or "[::1]:5"; without a port the whole
// string is the host.
func splitHostPort(s string) (string, uint32) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.HasSuffix(s, "]") {
		return s, 0
	}
	port, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil {
		return s, 0
	}
	return strings.TrimSuffix(strings.TrimPrefix(s[:i], "["), "]"), uint32(port)
}
