package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/milvus-edge/milvus-edge/extproc/authz"
	"github.com/milvus-edge/milvus-edge/internal/config"
	"github.com/milvus-edge/milvus-edge/internal/testenv"
)

// teamRego allows a call only when its x-team header says "search": a
// policy of the operator's that reads a header the edge itself never does.
const teamRego = `package milvus.authz

default decision := {"allow": false, "reason": "x-team must be search"}

decision := {"allow": true, "reason": ""} if input.attributes.request.http.headers["x-team"] == "search"
`

// TestCustomPolicyReadsAnyHeader: a policy_dir bundle may read any header
// (ext_authz gets them all: no allowed_headers), through real Envoy.
func TestCustomPolicyReadsAnyHeader(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	bundle := t.TempDir()
	testenv.WriteFile(t, filepath.Join(bundle, "data.yaml"), rbacData(t, ""))
	testenv.WriteFile(t, filepath.Join(bundle, "team.rego"), teamRego)
	// ext_authz's allowed_headers: the external filter's config.
	testenv.Run(t, p.ConfigHeadFor(config.FiltersExternal)+fmt.Sprintf(`auth: {policy_dir: %s}
clusters: [{name: default, endpoints: [{address: %s}]}]
routes: [{cluster: default}]
`, bundle, backend), p)
	c := testenv.Client(t, p.Listener)
	has := func(ctx context.Context) error {
		_, err := c.HasCollection(ctx, &milvuspb.HasCollectionRequest{CollectionName: "docs"})
		return err
	}
	for _, tc := range []struct {
		name string
		md   []string
		want codes.Code
	}{
		{"x-team search", []string{"x-team", "search"}, codes.OK},
		{"x-team other", []string{"x-team", "other"}, codes.PermissionDenied},
		{"no x-team", nil, codes.PermissionDenied},
	} {
		ctx := metadata.AppendToOutgoingContext(testenv.Root(context.Background()), tc.md...)
		if st := call(t, ctx, has); st.Code() != tc.want {
			t.Errorf("%s: %v %q, want %v", tc.name, st.Code(), st.Message(), tc.want)
		}
	}
	if got := allowedHeaders(t, p.EnvoyAdmin); got != nil {
		t.Fatalf("a custom policy_dir restricts ext_authz's headers to %q", got)
	}
}

// TestEmbeddedPolicyHeaders: with the embedded bundle, Envoy sends
// ext_authz only the headers the edge reads, and what it reads still
// arrives: the credential, and the database of the dbname header (the
// decision log's db).
func TestEmbeddedPolicyHeaders(t *testing.T) {
	testenv.Setup(t)
	backend := testenv.MilvusLite(t)
	p := testenv.NewPorts(t)
	decisions := filepath.Join(t.TempDir(), "decisions.jsonl")
	e := testenv.Run(t, p.ConfigHeadFor(config.FiltersExternal)+fmt.Sprintf(`auth: {decision_log: %s}
clusters: [{name: default, endpoints: [{address: %s}]}]
routes: [{cluster: default}]
`, decisions, backend), p)
	c := testenv.Client(t, p.Listener)
	want := slices.Sorted(slices.Values(authz.RequestHeaders))
	if got := allowedHeaders(t, p.EnvoyAdmin); !slices.Equal(got, want) {
		t.Fatalf("ext_authz allowed_headers %q, want %q", got, want)
	}
	ctx := metadata.AppendToOutgoingContext(testenv.Root(context.Background()), "dbname", "team_db", "x-team", "search")
	if st := call(t, ctx, func(ctx context.Context) error {
		_, err := c.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
		return err
	}); st.Code() != codes.OK {
		t.Fatalf("root ListDatabases: %v %q", st.Code(), st.Message())
	}
	if st := call(t, testenv.Auth(context.Background(), "root", "wrong"), func(ctx context.Context) error {
		_, err := c.ListDatabases(ctx, &milvuspb.ListDatabasesRequest{})
		return err
	}); st.Code() != codes.Unauthenticated {
		t.Fatalf("wrong password: %v %q, want Unauthenticated", st.Code(), st.Message())
	}
	e.Stop(t) // flushes the decision log
	var dbs []any
	for _, d := range readJSONLines(t, decisions) {
		if d["api"] == "ListDatabases" && d["allow"] == true {
			dbs = append(dbs, d["db"])
		}
	}
	if len(dbs) != 1 || dbs[0] != "team_db" {
		t.Fatalf("allowed ListDatabases decisions name databases %v, want [team_db] (the dbname header)", dbs)
	}
}

// allowedHeaders reads the exact names of ext_authz's allowed_headers from
// Envoy's config dump; nil when it sends every header.
func allowedHeaders(t *testing.T, envoyAdmin string) []string {
	t.Helper()
	dump := testenv.AdminGet(t, envoyAdmin, "/config_dump?resource=dynamic_listeners")
	var cfg struct {
		Configs []struct {
			ActiveState struct {
				Listener struct {
					FilterChains []struct {
						Filters []struct {
							TypedConfig struct {
								HTTPFilters []struct {
									Name        string `json:"name"`
									TypedConfig struct {
										AllowedHeaders *struct {
											Patterns []struct {
												Exact string `json:"exact"`
											} `json:"patterns"`
										} `json:"allowed_headers"`
									} `json:"typed_config"`
								} `json:"http_filters"`
							} `json:"typed_config"`
						} `json:"filters"`
					} `json:"filter_chains"`
				} `json:"listener"`
			} `json:"active_state"`
		} `json:"configs"`
	}
	if err := json.Unmarshal([]byte(dump), &cfg); err != nil {
		t.Fatalf("config_dump: %v", err)
	}
	found := false
	var names []string
	for _, l := range cfg.Configs {
		for _, fc := range l.ActiveState.Listener.FilterChains {
			for _, f := range fc.Filters {
				for _, hf := range f.TypedConfig.HTTPFilters {
					if hf.Name != "envoy.filters.http.ext_authz" {
						continue
					}
					found = true
					if ah := hf.TypedConfig.AllowedHeaders; ah != nil {
						for _, p := range ah.Patterns {
							names = append(names, p.Exact)
						}
					}
				}
			}
		}
	}
	if !found {
		t.Fatalf("no ext_authz filter in the config dump: %.500s", strings.TrimSpace(dump))
	}
	return names
}
