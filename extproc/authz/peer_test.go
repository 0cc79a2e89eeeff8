package authz

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/open-policy-agent/opa/v1/ast"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/milvus-edge/milvus-edge/internal/testcerts"
	"github.com/milvus-edge/milvus-edge/policy"
)

func fromReq(r *authv3.CheckRequest, addr, principal, certPEM string) *authv3.CheckRequest {
	r.Attributes.Source = &authv3.AttributeContext_Peer{
		Address:   &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: addr}}},
		Principal: principal, Certificate: url.QueryEscape(certPEM),
	}
	return r
}

func identityOf(t *testing.T, in astValue) (user, method, peer string) {
	t.Helper()
	id := in.(ast.Object).Get(ast.StringTerm("identity"))
	if id == nil {
		t.Fatal("no identity in the input")
	}
	get := func(k string) string {
		v := id.Value.(ast.Object).Get(ast.StringTerm(k))
		if v == nil {
			return ""
		}
		return string(v.Value.(ast.String))
	}
	return get("user"), get("method"), get("peer")
}

// A verified client certificate alone is an identity (method mtls, user =
// its SPIFFE id, else its CN); beside a password it is input.identity.peer.
func TestMTLSIdentity(t *testing.T) {
	ca := testcerts.New(t, "clients")
	spiffe, _ := ca.Issue(t, "reader", testcerts.Leaf{CN: "reader-cn", URIs: []string{"spiffe://example.org/ns/app/sa/reader"}, Client: true})
	cnOnly, _ := ca.Issue(t, "batch", testcerts.Leaf{CN: "batch-job", Client: true})
	read := func(f string) string { b, _ := os.ReadFile(f); return string(b) }
	p := &fakePolicy{d: policy.Decision{Allow: true}}
	s := newServer(t, p, Options{}, nil)
	body := framed(t, &milvuspb.SearchRequest{CollectionName: "docs"})
	for _, tc := range []struct {
		name, auth, principal, cert string
		user, method, peer          string
	}{
		{"spiffe cert alone", "", "", read(spiffe), "spiffe://example.org/ns/app/sa/reader", MethodMTLS, "spiffe://example.org/ns/app/sa/reader"},
		{"cn cert alone", "", "", read(cnOnly), "batch-job", MethodMTLS, "batch-job"},
		{"principal only", "", "spiffe://example.org/x", "", "spiffe://example.org/x", MethodMTLS, "spiffe://example.org/x"},
		{"cert and password", b64("root:Milvus"), "", read(spiffe), "root", MethodPassword, "spiffe://example.org/ns/app/sa/reader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.Check(context.Background(), fromReq(checkReq("application/grpc", tc.auth, searchPath, body), "10.0.0.7", tc.principal, tc.cert))
			if err != nil || code.Code(resp.GetStatus().GetCode()) != code.Code_OK {
				t.Fatalf("%v %v", resp.GetStatus(), err)
			}
			u, m, pr := identityOf(t, p.inputs[len(p.inputs)-1])
			if u != tc.user || m != tc.method || pr != tc.peer {
				t.Fatalf("identity user=%q method=%q peer=%q, want %q %q %q", u, m, pr, tc.user, tc.method, tc.peer)
			}
		})
	}
	// No certificate and no header: Milvus's "missing authorization".
	resp, _ := s.Check(context.Background(), fromReq(checkReq("application/grpc", "", searchPath, body), "10.0.0.7", "", ""))
	if code.Code(resp.GetStatus().GetCode()) != code.Code_UNAUTHENTICATED {
		t.Fatalf("no credential: %v", resp.GetStatus())
	}
}

// Failed logins are audited with the name tried, the method and the
// client's address — never the password.
func TestFailedLoginAudit(t *testing.T) {
	var buf bytes.Buffer
	s := newServer(t, &fakePolicy{d: policy.Decision{Allow: true}}, Options{}, &buf)
	body := framed(t, &milvuspb.SearchRequest{CollectionName: "docs"})
	for _, auth := range []string{b64("root:guess-1"), b64("mallory:guess-2"), b64("mek_not-a-key-xyz")} {
		resp, _ := s.Check(context.Background(), fromReq(checkReq("application/grpc", auth, searchPath, body), "192.0.2.9", "", ""))
		if code.Code(resp.GetStatus().GetCode()) != code.Code_UNAUTHENTICATED {
			t.Fatalf("%s: %v", auth, resp.GetStatus())
		}
	}
	s.dlog.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d audit lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{
		{`"user":"root"`, `"auth_method":"password"`},
		{`"user":"mallory"`, `"auth_method":"password"`},
		{`"auth_method":"api_key"`},
	} {
		for _, w := range append(want, `"client":"192.0.2.9"`, `"allow":false`, `"api":"Search"`, `"reason":"authentication failed: `) {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %s lacks %s", i, lines[i], w)
			}
		}
	}
	for _, secret := range []string{"guess-1", "guess-2", "not-a-key"} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("a secret (%s) in the decision log", secret)
		}
	}
}
