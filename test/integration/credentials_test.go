package integration

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"google.golang.org/grpc/metadata"

	"github.com/milvus-edge/milvus-edge/internal/fakemilvus"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

const svcAPIKey = "mek_service_mode_caller"

// credStack is an edge in front of two fake backends that record what
// reached them: "svc" (forward: service, credential edge-svc / svc-Pw1) and
// "pass" (forward: passthrough). Collections svc_* go to svc, mix_* are split
// between both, everything else goes to pass.
type credStack struct {
	e              *testenv.Edge
	config, pwFile string
	svc, pass      *fakemilvus.Fake
	accessLog      string
	svcGRPC        string // base64("edge-svc:svc-Pw1")
	rootGRPC       string // the client's base64("root:Milvus")
	svcREST        string
	rootREST       string
	apiKeyGRPCAuth string
}

func startCredStack(t *testing.T) *credStack {
	testenv.Setup(t)
	svcAddr, svc := fakemilvus.StartWithREST(t)
	passAddr, pass := fakemilvus.StartWithREST(t)
	for _, f := range []*fakemilvus.Fake{svc, pass} {
		for _, name := range []string{"svc_books", "mix_books", "books"} {
			f.Add(fakemilvus.Collection{Schema: &schemapb.CollectionSchema{Name: name, Fields: []*schemapb.FieldSchema{
				{FieldID: 100, Name: "id", DataType: schemapb.DataType_Int64, IsPrimaryKey: true},
			}}})
		}
	}
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "svc-password")
	if err := os.WriteFile(pwFile, []byte("svc-Pw1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(svcAPIKey))
	bundle := testenv.PolicyBundle(t, fmt.Sprintf(`milvus:
  settings: {root_bypass: true}
  users:
    root: {password_hash: %q, roles: []}
  api_keys:
    - {sha256: %s, user: bot, roles: [admin]}
  roles: {}
`, hash(t, "Milvus"), hex.EncodeToString(sum[:])))
	s := &credStack{
		svc: svc, pass: pass, accessLog: filepath.Join(dir, "access.jsonl"),
		svcGRPC:        base64.StdEncoding.EncodeToString([]byte("edge-svc:svc-Pw1")),
		rootGRPC:       base64.StdEncoding.EncodeToString([]byte("root:Milvus")),
		svcREST:        "Bearer edge-svc:svc-Pw1",
		rootREST:       "Bearer root:Milvus",
		apiKeyGRPCAuth: base64.StdEncoding.EncodeToString([]byte(svcAPIKey)),
	}
	p := testenv.NewPorts(t)
	head := strings.Replace(p.ConfigHead(), "listener: {address: "+p.Listener+"}", "listener: {address: "+p.Listener+", access_log: "+s.accessLog+"}", 1)
	s.pwFile = pwFile
	s.config = head + fmt.Sprintf(`auth: {policy_dir: %s}
clusters:
  - name: svc
    forward: service
    credential: {user: edge-svc, password_file: %s}
    endpoints: [{address: %s}]
  - name: pass
    endpoints: [{address: %s}]
routes:
  - {collection: "svc_*", cluster: svc}
  - {collection: "mix_*", weighted: [{cluster: svc, weight: 1}, {cluster: pass, weight: 1}]}
  - {cluster: pass}
`, bundle, pwFile, svcAddr, passAddr)
	s.e = testenv.Run(t, s.config, p)
	return s
}

// describe calls DescribeCollection through the edge with the given gRPC authorization.
func (s *credStack) describe(t *testing.T, auth, coll string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", auth), 5*time.Second)
	defer cancel()
	r, err := testenv.Client(t, s.e.Ports.Listener).DescribeCollection(ctx, &milvuspb.DescribeCollectionRequest{CollectionName: coll})
	if err != nil || r.GetStatus().GetCode() != 0 {
		t.Fatalf("DescribeCollection(%s): %v %v", coll, err, r.GetStatus())
	}
}

// rest posts a REST v2 collections/describe through the edge.
func (s *credStack) rest(t *testing.T, auth, coll string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.e.Ports.Listener+"/v2/vectordb/collections/describe",
		strings.NewReader(fmt.Sprintf(`{"collectionName":%q}`, coll)))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"code":0`) {
		t.Fatalf("REST describe %s: %d %s", coll, resp.StatusCode, body)
	}
}

// forwardedAuth is the authorization of the last DescribeCollection f got
// through Envoy (a schema fill from the edge carries no x-request-id).
func forwardedAuth(t *testing.T, f *fakemilvus.Fake) []string {
	t.Helper()
	md := f.Metadata(fakemilvus.DescribeCollection)
	if len(md.Get("x-request-id")) == 0 {
		t.Fatalf("the last DescribeCollection did not come through Envoy: %v", md)
	}
	return md.Get("authorization")
}

const describePath = "/v2/vectordb/collections/describe"

func TestServiceModeReplacesAuthorization(t *testing.T) {
	s := startCredStack(t)
	t.Run("gRPC, user root", func(t *testing.T) {
		s.describe(t, s.rootGRPC, "svc_books")
		if got := forwardedAuth(t, s.svc); !slices.Equal(got, []string{s.svcGRPC}) {
			t.Errorf("service cluster got authorization %q, want the cluster's credential %q", got, s.svcGRPC)
		}
	})
	t.Run("gRPC, API key (no Milvus login)", func(t *testing.T) {
		s.describe(t, s.apiKeyGRPCAuth, "svc_books")
		if got := forwardedAuth(t, s.svc); !slices.Equal(got, []string{s.svcGRPC}) {
			t.Errorf("service cluster got authorization %q, want %q", got, s.svcGRPC)
		}
	})
	t.Run("REST v2", func(t *testing.T) {
		s.rest(t, "Bearer "+svcAPIKey, "svc_books")
		if got := s.svc.RESTHeaders(describePath).Values("authorization"); !slices.Equal(got, []string{s.svcREST}) {
			t.Errorf("service cluster got REST authorization %q, want %q", got, s.svcREST)
		}
	})
	t.Run("passthrough keeps the client's header", func(t *testing.T) {
		s.describe(t, s.rootGRPC, "books")
		if got := forwardedAuth(t, s.pass); !slices.Equal(got, []string{s.rootGRPC}) {
			t.Errorf("passthrough cluster got %q, want the client's %q", got, s.rootGRPC)
		}
		s.rest(t, s.rootREST, "books")
		if got := s.pass.RESTHeaders(describePath).Values("authorization"); !slices.Equal(got, []string{s.rootREST}) {
			t.Errorf("passthrough cluster got REST %q, want the client's %q", got, s.rootREST)
		}
	})
	// A weighted route over both: each call gets the header of the cluster
	// Envoy picked for it.
	t.Run("weighted route, per cluster", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 24 && (seen["svc"] == 0 || seen["pass"] == 0 || i < 8); i++ {
			svc0, pass0 := s.svc.Calls(fakemilvus.DescribeCollection), s.pass.Calls(fakemilvus.DescribeCollection)
			s.describe(t, s.rootGRPC, "mix_books")
			switch {
			case s.svc.Calls(fakemilvus.DescribeCollection) > svc0:
				seen["svc"]++
				if got := forwardedAuth(t, s.svc); !slices.Equal(got, []string{s.svcGRPC}) {
					t.Fatalf("call %d to svc: authorization %q, want %q", i, got, s.svcGRPC)
				}
			case s.pass.Calls(fakemilvus.DescribeCollection) > pass0:
				seen["pass"]++
				if got := forwardedAuth(t, s.pass); !slices.Equal(got, []string{s.rootGRPC}) {
					t.Fatalf("call %d to pass: authorization %q, want %q", i, got, s.rootGRPC)
				}
			default:
				t.Fatalf("call %d reached neither backend", i)
			}
		}
		if seen["svc"] == 0 || seen["pass"] == 0 {
			t.Fatalf("the 50/50 split reached %v", seen)
		}
	})
	// A config reload reads the password file again.
	t.Run("reload", func(t *testing.T) {
		testenv.WriteFile(t, s.pwFile, "svc-Pw2")
		s.e.WriteConfig(t, s.config+"# password rotated\n")
		want := base64.StdEncoding.EncodeToString([]byte("edge-svc:svc-Pw2"))
		testenv.Eventually(t, 10*time.Second, "the new password reaches the backend", func() bool {
			s.describe(t, s.rootGRPC, "svc_books")
			return slices.Equal(forwardedAuth(t, s.svc), []string{want})
		})
	})
	// The access log names the mode per call, from the cluster's metadata.
	t.Run("access log", func(t *testing.T) {
		s.e.Stop(t) // flushes Envoy's access log
		want := map[string]string{"svc": "service", "pass": "passthrough"}
		got := map[string]bool{}
		for _, l := range readJSONLines(t, s.accessLog) {
			cluster, _ := l["cluster"].(string)
			if mode, ok := want[cluster]; ok {
				if l["forward"] != mode {
					t.Errorf("access log line for cluster %s says forward %v, want %q: %v", cluster, l["forward"], mode, l)
				}
				got[fmt.Sprint(cluster, " ", l["protocol"])] = true
			}
		}
		for _, k := range []string{"svc HTTP/2", "svc HTTP/1.1", "pass HTTP/2", "pass HTTP/1.1"} {
			if !got[k] {
				t.Errorf("no access log line for %s (have %v)", k, got)
			}
		}
	})
}

// Envoy's admin config_dump shows the service credential as [redacted].
func TestServiceCredentialNotInConfigDump(t *testing.T) {
	s := startCredStack(t)
	dump := testenv.AdminGet(t, s.e.Ports.EnvoyAdmin, "/config_dump?include_eds")
	if !strings.Contains(dump, "milvus_edge_credential/svc/grpc") {
		t.Fatal("config_dump has no credential secret")
	}
	for _, leak := range []string{"svc-Pw1", s.svcGRPC} {
		if strings.Contains(dump, leak) {
			t.Fatalf("config_dump shows the credential (%q)", leak)
		}
	}
}
