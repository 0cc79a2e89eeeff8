package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCtl(t *testing.T) {
	for name, tc := range map[string]struct {
		args       []string
		path, body string // body as JSON; "" for none
		json       bool
		err        string
	}{
		"clusters":             {args: []string{"clusters"}, path: "/v1/clusters"},
		"clusters json":        {args: []string{"--json", "clusters"}, path: "/v1/clusters", json: true},
		"json after":           {args: []string{"clusters", "--json"}, path: "/v1/clusters", json: true},
		"drain":                {args: []string{"drain", "default", "127.0.0.1:1"}, path: "/v1/endpoints/drain", body: `{"cluster":"default","endpoint":"127.0.0.1:1"}`},
		"undrain":              {args: []string{"undrain", "default", "127.0.0.1:1"}, path: "/v1/endpoints/undrain", body: `{"cluster":"default","endpoint":"127.0.0.1:1"}`},
		"weight default ttl":   {args: []string{"weight", "default", "127.0.0.1:1", "5"}, path: "/v1/endpoints/weight", body: `{"cluster":"default","endpoint":"127.0.0.1:1","ttl":"1h0m0s","weight":5}`},
		"weight for":           {args: []string{"weight", "default", "127.0.0.1:1", "5", "--for", "10m"}, path: "/v1/endpoints/weight", body: `{"cluster":"default","endpoint":"127.0.0.1:1","ttl":"10m0s","weight":5}`},
		"weight for first":     {args: []string{"weight", "--for", "30s", "default", "127.0.0.1:1", "0"}, path: "/v1/endpoints/weight", body: `{"cluster":"default","endpoint":"127.0.0.1:1","ttl":"30s","weight":0}`},
		"cache all":            {args: []string{"cache", "invalidate"}, path: "/v1/cache/invalidate", body: `{"cluster":"","collection":"","db":""}`},
		"cache one":            {args: []string{"cache", "invalidate", "--db", "d", "--collection", "c"}, path: "/v1/cache/invalidate", body: `{"cluster":"","collection":"c","db":"d"}`},
		"policy":               {args: []string{"policy", "status"}, path: "/v1/policy"},
		"no command":           {args: nil, err: "missing command"},
		"unknown":              {args: []string{"reboot"}, err: `unknown command "reboot"`},
		"drain one arg":        {args: []string{"drain", "default"}, err: "drain CLUSTER ENDPOINT"},
		"weight too big":       {args: []string{"weight", "default", "127.0.0.1:1", "129"}, err: "must be 0..128"},
		"weight not a number":  {args: []string{"weight", "default", "127.0.0.1:1", "x"}, err: "must be 0..128"},
		"weight bad duration":  {args: []string{"weight", "default", "127.0.0.1:1", "3", "--for", "soon"}, err: "invalid value"},
		"weight zero duration": {args: []string{"weight", "default", "127.0.0.1:1", "3", "--for", "0s"}, err: "must be positive"},
		"cache no verb":        {args: []string{"cache"}, err: "cache invalidate"},
		"policy no verb":       {args: []string{"policy"}, err: "policy status"},
		"unknown flag":         {args: []string{"clusters", "--nope"}, err: "flag provided but not defined"},
	} {
		t.Run(name, func(t *testing.T) {
			o, call, err := parseCtl(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if call.Path != tc.path || o.JSON != tc.json {
				t.Fatalf("path %s json %t, want %s %t", call.Path, o.JSON, tc.path, tc.json)
			}
			var body string
			if call.Body != nil {
				b, _ := json.Marshal(call.Body)
				body = string(b)
			}
			if body != tc.body {
				t.Fatalf("body %s, want %s", body, tc.body)
			}
		})
	}
}

func TestCtlTarget(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	cfg := filepath.Join(dir, "edge.yaml")
	os.WriteFile(cfg, []byte("edge: {admin_address: 127.0.0.1:4444, admin_token_file: "+tok+"}\nclusters: []\n"), 0o600)
	addr, token, err := ctlTarget(ctlOptions{Config: cfg})
	if err != nil || addr != "127.0.0.1:4444" || token != "s3cret" {
		t.Fatalf("from config: %q %q %v", addr, token, err)
	}
	addr, token, err = ctlTarget(ctlOptions{Config: cfg, Admin: "127.0.0.1:5555"})
	if err != nil || addr != "127.0.0.1:5555" || token != "s3cret" {
		t.Fatalf("--admin over config: %q %q %v", addr, token, err)
	}
	addr, token, err = ctlTarget(ctlOptions{})
	if err != nil || addr != "127.0.0.1:18002" || token != "" {
		t.Fatalf("defaults: %q %q %v", addr, token, err)
	}
	if _, _, err := ctlTarget(ctlOptions{TokenFile: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing token file is not an error")
	}
}

const clustersJSON = `{"clusters":[{"name":"default","lb_policy":"least_request","endpoints":[
 {"address":"127.0.0.1:1","configured_weight":1,"weight":100,"why":"configured (latency 1.1 ms vs best 1.1 ms)","draining":false,"envoy":{"health":"healthy","weight":100}},
 {"address":"127.0.0.1:2","configured_weight":1,"weight":9,"why":"latency 112 ms vs best 1.1 ms","draining":false,"envoy":{"health":"healthy","weight":9}},
 {"address":"127.0.0.1:3","configured_weight":1,"weight":100,"why":"drained by operator","draining":true,"envoy":{"health":"draining","weight":100}}]}]}`

func TestClustersTable(t *testing.T) {
	var out bytes.Buffer
	if err := clustersTable(&out, []byte(clustersJSON)); err != nil {
		t.Fatal(err)
	}
	want := `CLUSTER  POLICY         ENDPOINT     HEALTH    WEIGHT  CONFIGURED  WHY
default  least_request  127.0.0.1:1  healthy   100     1           configured (latency 1.1 ms vs best 1.1 ms)
default  least_request  127.0.0.1:2  healthy   9       1           latency 112 ms vs best 1.1 ms
default  least_request  127.0.0.1:3  draining  100     1           drained by operator
`
	if out.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	clustersTable(&out, []byte(`{"clusters":[{"name":"a","endpoints":[{"address":"x:1"}]}],"envoy_error":"envoy admin 127.0.0.1:9 unreachable: refused"}`))
	if !strings.Contains(out.String(), "a    ") || !strings.Contains(out.String(), "?") ||
		!strings.Contains(out.String(), "health unknown: envoy admin 127.0.0.1:9 unreachable") {
		t.Fatalf("without Envoy:\n%s", out.String())
	}
}

func TestPolicyLine(t *testing.T) {
	var out bytes.Buffer
	err := policyLine(&out, []byte(`{"Version":"4fed753fc9c756a8","LoadedAt":"2026-12-01T10:45:35.7Z","LastError":"","Source":"embedded","Cacheable":true,"LoadErrors":0}`))
	want := "policy bundle 4fed753fc9c756a8 (embedded), loaded 2026-12-01T10:45:35Z, decisions cacheable true, refused loads 0, last load error: none\n"
	if err != nil || out.String() != want {
		t.Fatalf("%v %q", err, out.String())
	}
}

func TestCtlAgainstAPI(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		if r.URL.Path == "/v1/endpoints/drain" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"unknown cluster \"nope\""}`))
			return
		}
		w.Write([]byte(clustersJSON))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tok := filepath.Join(t.TempDir(), "t")
	os.WriteFile(tok, []byte("abc"), 0o600)
	var out, errOut bytes.Buffer
	if code := ctlCmd([]string{"--admin", addr, "--token-file", tok, "clusters"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if got.Header.Get("Authorization") != "Bearer abc" || !strings.Contains(out.String(), "drained by operator") {
		t.Fatalf("auth %q, out %s", got.Header.Get("Authorization"), out.String())
	}
	out.Reset()
	code := ctlCmd([]string{"--admin", addr, "drain", "nope", "127.0.0.1:1"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), `404 Not Found: unknown cluster "nope"`) {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
	if got.Header.Get("Content-Type") != "application/json" || string(gotBody) != `{"cluster":"nope","endpoint":"127.0.0.1:1"}` {
		t.Fatalf("request %v %s", got.Header, gotBody)
	}
}
