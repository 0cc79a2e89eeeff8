package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/fakemilvus"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// TestLargeRESTCallsKeepTheirGrants: a REST v2 insert larger than ext_authz's
// 64 KiB buffer is decided on the names its prefix holds, so a user whose
// grant is on that one collection inserts as with a small body; a body that
// names its collection twice (Milvus acts on the last) is refused with
// Milvus's JSON error and never reaches the backend. (The backend is a named
// fake that speaks REST: neither milvus-lite nor Milvus 2.3 serves REST v2.)
func TestLargeRESTCallsKeepTheirGrants(t *testing.T) {
	testenv.Setup(t)
	backend, _ := fakemilvus.StartWithREST(t)
	p := testenv.NewPorts(t)
	// The reader may also insert into default.docs, and only there.
	bundle := testenv.PolicyBundle(t, rbacData(t, `        - {object_type: Collection, db: default, object_name: docs, privilege: Insert}
`))
	e := testenv.Run(t, p.ConfigHead()+fmt.Sprintf(`auth: {policy_dir: %s}
clusters:
  - name: default
    endpoints: [{address: %s}]
routes:
  - cluster: default
validation: {disabled: true}
`, bundle, backend), p)
	post := func(body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+e.Ports.Listener+"/v2/vectordb/entities/insert", strings.NewReader(body))
		must(t, err)
		req.Header.Set("content-type", "application/json")
		req.Header.Set("authorization", "Bearer reader:Reader-pw1")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	rows := func(n int) string {
		var sb strings.Builder
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"id":%d,"vec":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]}`, i)
		}
		return sb.String()
	}
	upstream := func() int { return testenv.Counter(t, e.Ports.EnvoyAdmin, upstreamTotal) }
	for _, n := range []int{10, 3000} { // ~0.5 KB and ~150 KB
		u0 := upstream()
		code, body := post(`{"collectionName":"docs","data":[` + rows(n) + `]}`)
		if code != 200 || body != `{"code":0,"data":{}}` || upstream()-u0 != 1 {
			t.Fatalf("insert of %d rows into docs: %d %s (upstream +%d), want it through", n, code, body, upstream()-u0)
		}
		u0 = upstream()
		code, body = post(`{"collectionName":"other","data":[` + rows(n) + `]}`)
		if code != 403 || upstream() != u0 {
			t.Fatalf("insert of %d rows into other: %d %s, want 403 at the edge", n, code, body)
		}
	}
	u0 := upstream()
	code, body := post(`{"collectionName":"docs","data":[` + rows(3000) + `],"CollectionName":"other"}`)
	if code != 200 || !strings.Contains(body, `"code":1100`) || upstream() != u0 {
		t.Fatalf("a body naming its collection twice: %d %s (upstream +%d), want Milvus's 1100 at the edge", code, body, upstream()-u0)
	}
}
