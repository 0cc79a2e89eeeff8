package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const secretValue = "s3cr3t-Pw"

func clusterYAML(extra string) string {
	return fmt.Sprintf(`
clusters: [{name: qn, endpoints: [{address: 10.0.0.1:1}]%s}]
routes: [{cluster: qn}]`, extra)
}

func TestCredentialForms(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGE_TEST_TOKEN", "tok-123")
	for _, tc := range []struct {
		name, extra         string
		forward, grpc, rest string
	}{
		{"none: passthrough by default", "", "passthrough", "", ""},
		{"user and password file", fmt.Sprintf(", credential: {user: root, password_file: %s}", pwFile),
			"passthrough", "cm9vdDpzM2NyM3QtUHc=", "Bearer root:" + secretValue},
		{"token env, service", ", forward: service, credential: {token_env: EDGE_TEST_TOKEN}",
			"service", "dG9rLTEyMw==", "Bearer tok-123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(clusterYAML(tc.extra)))
			if err != nil {
				t.Fatal(err)
			}
			cl := c.Clusters[0]
			if cl.Forward != tc.forward {
				t.Errorf("forward = %q, want %q", cl.Forward, tc.forward)
			}
			if got := cl.Credential.GRPCAuthorization().Reveal(); got != tc.grpc {
				t.Errorf("gRPC authorization = %q, want %q", got, tc.grpc)
			}
			if got := cl.Credential.RESTAuthorization().Reveal(); got != tc.rest {
				t.Errorf("REST authorization = %q, want %q", got, tc.rest)
			}
		})
	}
}

func TestCredentialValidation(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGE_TEST_EMPTY", "")
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"service without credential", ", forward: service",
			[]string{"clusters[0].forward: service sends the cluster's credential: set clusters[0].credential"}},
		{"unknown mode", ", forward: proxy", []string{`clusters[0].forward: must be one of passthrough, service, got "proxy"`}},
		{"user without password", ", credential: {user: root}",
			[]string{`clusters[0].credential.user: user "root" needs password_file or password_env`}},
		{"password without user", ", credential: {password_env: X}",
			[]string{"clusters[0].credential.user: is required with a password"}},
		{"empty credential", ", credential: {}", []string{"clusters[0].credential: set user with password_file or password_env, or token_file or token_env"}},
		{"user and token", ", credential: {user: root, password_env: X, token_env: Y}", []string{"not both"}},
		{"file and env", ", credential: {token_file: /x, token_env: Y}", []string{"clusters[0].credential: set token_file or token_env, not both"}},
		{"unreadable file", ", credential: {user: root, password_file: " + missing + "}",
			[]string{"clusters[0].credential.password_file: cannot read the password: open " + missing}},
		{"empty file", ", credential: {token_file: " + empty + "}", []string{"clusters[0].credential.token_file: " + empty + " is empty"}},
		{"unset env", ", credential: {user: root, password_env: EDGE_TEST_UNSET_VARIABLE}",
			[]string{"clusters[0].credential.password_env: environment variable EDGE_TEST_UNSET_VARIABLE is not set"}},
		{"empty env", ", credential: {token_env: EDGE_TEST_EMPTY}", []string{"clusters[0].credential.token_env: environment variable EDGE_TEST_EMPTY is empty"}},
		{"colon in user", ", credential: {user: 'a:b', password_env: HOME}", []string{`clusters[0].credential.user: must not contain ':'`}},
		{"literal secrets are not fields", ", credential: {user: root, password: Milvus}", []string{"field password not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(clusterYAML(tc.extra)))
			if err == nil {
				t.Fatal("config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestSecretsNeverPrint: however a config is printed, logged or marshalled,
// the secret does not appear.
func TestSecretsNeverPrint(t *testing.T) {
	t.Setenv("EDGE_TEST_PW", secretValue)
	c, err := Parse([]byte(clusterYAML(", forward: service, credential: {user: root, password_env: EDGE_TEST_PW}")))
	if err != nil {
		t.Fatal(err)
	}
	cred := c.Clusters[0].Credential
	if cred.GRPCAuthorization().Reveal() == "" {
		t.Fatal("no secret read")
	}
	var out bytes.Buffer
	for _, v := range []any{c, *c, cred, *cred, c.Clusters[0], c.Clusters, cred.GRPCAuthorization(), cred.RESTAuthorization(), cred.secret} {
		fmt.Fprintf(&out, "%v %+v %#v %s %q\n", v, v, v, v, v)
	}
	j, _ := json.Marshal(c)
	y, _ := yaml.Marshal(c)
	out.Write(j)
	out.Write(y)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "secret", cred.secret, "grpc", cred.GRPCAuthorization(), "cred", cred)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "secret", cred.secret, "cluster", c.Clusters[0])
	for _, leak := range []string{secretValue, cred.GRPCAuthorization().Reveal()} {
		if strings.Contains(out.String(), leak) {
			t.Fatalf("secret printed:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), Redacted) || !strings.Contains(out.String(), "password from $EDGE_TEST_PW") {
		t.Errorf("output does not show [redacted] and the secret's source:\n%s", out.String())
	}
}

// TestCredentialFileReread: every Parse (a config reload) reads the file again.
func TestCredentialFileReread(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	yml := []byte(clusterYAML(", credential: {token_file: " + f + "}"))
	for _, tok := range []string{"first", "second"} {
		if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Parse(yml)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Clusters[0].Credential.RESTAuthorization().Reveal(); got != "Bearer "+tok {
			t.Errorf("after writing %q: %q", tok, got)
		}
	}
}
