// Package compose checks the container deployment statically (Docker cannot run
// in CI): docker-compose.yml, the Dockerfile, the compose milvus-edge config and
// the Envoy bootstrap must agree with each other and with internal/config.
package compose

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/milvus-edge/milvus-edge/internal/app"
	"github.com/milvus-edge/milvus-edge/internal/config"
)

const (
	composeFile   = "docker-compose.yml"
	dockerfile    = "Dockerfile"
	edgeConfig    = "deploy/compose/milvus-edge.yaml"
	envoyBoot     = "deploy/compose/envoy-bootstrap.yaml"
	envoyRepo     = "envoyproxy/envoy"
	milvusRepo    = "milvusdb/milvus"
	milvusPort    = "19530"
	envoyBootPath = "/etc/envoy/bootstrap.yaml"
)

var (
	envoyTagRE  = regexp.MustCompile(`^v1\.40\.\d+$`)
	milvusTagRE = regexp.MustCompile(`^v2\.6\.\d+$`)
)

// root is the repository root, two levels above this package's directory
// (go test runs in the package directory).
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(r, "go.mod"))
	if err != nil || !strings.Contains(string(gomod), "module github.com/milvus-edge/milvus-edge\n") {
		t.Fatalf("%s is not the milvus-edge repository root (go.mod: %v)", r, err)
	}
	return r
}

type composeSpec struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string       `yaml:"image"`
	Build       any          `yaml:"build"`
	Command     any          `yaml:"command"`
	Volumes     []any        `yaml:"volumes"`
	Ports       []any        `yaml:"ports"`
	DependsOn   any          `yaml:"depends_on"`
	Environment any          `yaml:"environment"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
}

type healthcheck struct {
	Test any `yaml:"test"`
}

func loadCompose(t *testing.T) composeSpec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), composeFile))
	if err != nil {
		t.Fatal(err)
	}
	var c composeSpec
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composeFile)
	}
	return c
}

// imageRef splits an image reference into repository, tag and digest.
func imageRef(ref string) (repo, tag, digest string) {
	repo = ref
	if i := strings.Index(repo, "@"); i >= 0 {
		repo, digest = repo[:i], repo[i+1:]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// pinned reports why an image reference is not pinned to an explicit tag, or "".
func pinned(ref string) string {
	if ref == "" {
		return "no image"
	}
	_, tag, digest := imageRef(ref)
	switch {
	case strings.Contains(ref, "$"):
		return "image is interpolated from the environment"
	case digest != "":
		return ""
	case tag == "":
		return "no tag (implies latest)"
	case strings.EqualFold(tag, "latest"):
		return "tag latest"
	}
	return ""
}

// strs flattens a compose string-or-list field (command, healthcheck.test).
func strs(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// env returns a compose environment (list or map form) as a map.
func env(v any) map[string]string {
	out := map[string]string{}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			out[k] = fmt.Sprint(e)
		}
	case []any:
		for _, e := range v {
			k, val, _ := strings.Cut(fmt.Sprint(e), "=")
			out[k] = val
		}
	}
	return out
}

// dependsOn returns the dependencies and their conditions ("service_started" for the
// list form).
func dependsOn(v any) map[string]string {
	out := map[string]string{}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			out[fmt.Sprint(e)] = "service_started"
		}
	case map[string]any:
		for k, e := range v {
			cond := "service_started"
			if m, ok := e.(map[string]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			out[k] = cond
		}
	}
	return out
}

type mount struct{ typ, source, target string }

func mounts(t *testing.T, name string, s service) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				out = append(out, mount{"volume", "", parts[0]}) // anonymous volume
				continue
			}
			typ := "volume"
			if strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") || strings.HasPrefix(parts[0], "~") {
				typ = "bind"
			}
			out = append(out, mount{typ, parts[0], parts[1]})
		case map[string]any:
			out = append(out, mount{fmt.Sprint(v["type"]), fmt.Sprint(v["source"]), fmt.Sprint(v["target"])})
		default:
			t.Errorf("services.%s.volumes: unexpected entry %v", name, v)
		}
	}
	return out
}

type port struct{ hostIP, hostPort, containerPort string }

func ports(t *testing.T, name string, s service) []port {
	t.Helper()
	var out []port
	for _, v := range s.Ports {
		switch v := v.(type) {
		case string:
			spec, _, _ := strings.Cut(v, "/")
			parts := strings.Split(spec, ":")
			switch len(parts) {
			case 1:
				out = append(out, port{"", "", parts[0]})
			case 2:
				out = append(out, port{"", parts[0], parts[1]})
			case 3:
				out = append(out, port{parts[0], parts[1], parts[2]})
			default:
				t.Errorf("services.%s.ports: cannot parse %q", name, v)
			}
		case map[string]any:
			p := port{containerPort: fmt.Sprint(v["target"])}
			if v["published"] != nil {
				p.hostPort = fmt.Sprint(v["published"])
			}
			if v["host_ip"] != nil {
				p.hostIP = fmt.Sprint(v["host_ip"])
			}
			out = append(out, p)
		default:
			// An integer is a container port published on an ephemeral host port.
			out = append(out, port{"", "", fmt.Sprint(v)})
		}
	}
	return out
}

// serviceByRepo returns the names of the services whose image repository is repo.
func serviceByRepo(c composeSpec, repo string) []string {
	var out []string
	for name, s := range c.Services {
		if r, _, _ := imageRef(s.Image); r == repo {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// edgeService is the service built from the repository's Dockerfile.
func edgeService(t *testing.T, c composeSpec) string {
	t.Helper()
	var out []string
	for name, s := range c.Services {
		if s.Build != nil {
			out = append(out, name)
		}
	}
	if len(out) != 1 {
		t.Fatalf("want exactly one service built from the Dockerfile (milvus-edge), got %v", out)
	}
	return out[0]
}

// milvusStandalones returns the Milvus services running `milvus run standalone`.
func milvusStandalones(c composeSpec) []string {
	var out []string
	for _, name := range serviceByRepo(c, milvusRepo) {
		cmd := strs(c.Services[name].Command)
		if slices.Contains(cmd, "milvus") && slices.Contains(cmd, "standalone") {
			out = append(out, name)
		}
	}
	return out
}

func hostOf(t *testing.T, what, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: %q is not host:port: %v", what, addr, err)
	}
	return h, p
}

func TestImagesPinned(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if why := pinned(s.Image); why != "" {
			t.Errorf("services.%s.image %q is not pinned to an explicit version tag: %s", name, s.Image, why)
		}
	}
	// The Dockerfile's base images too.
	for _, from := range dockerFroms(t) {
		if why := pinned(from); why != "" {
			t.Errorf("%s: FROM %q is not pinned to an explicit tag: %s", dockerfile, from, why)
		}
	}
}

func TestEnvoyService(t *testing.T) {
	c := loadCompose(t)
	envoys := serviceByRepo(c, envoyRepo)
	if len(envoys) != 1 {
		t.Fatalf("want exactly one %s service, got %v", envoyRepo, envoys)
	}
	name := envoys[0]
	s := c.Services[name]
	if _, tag, _ := imageRef(s.Image); !envoyTagRE.MatchString(tag) {
		t.Errorf("services.%s.image %q: want %s with tag v1.40.x (the go-control-plane Envoy API in go.mod)", name, s.Image, envoyRepo)
	}
	cmd := strs(s.Command)
	if i := slices.Index(cmd, "-c"); i < 0 || i+1 >= len(cmd) || cmd[i+1] != envoyBootPath {
		t.Errorf("services.%s.command %v: want -c %s", name, cmd, envoyBootPath)
	}
	var boot bool
	for _, m := range mounts(t, name, s) {
		if m.target == envoyBootPath {
			boot = true
			if filepath.Clean(m.source) != filepath.Clean("./"+envoyBoot) {
				t.Errorf("services.%s: %s is mounted from %s, want ./%s", name, envoyBootPath, m.source, envoyBoot)
			}
		}
	}
	if !boot {
		t.Errorf("services.%s: ./%s is not mounted at %s", name, envoyBoot, envoyBootPath)
	}
	edge := edgeService(t, c)
	if _, ok := dependsOn(s.DependsOn)[edge]; !ok {
		t.Errorf("services.%s.depends_on: want %s", name, edge)
	}
}

func TestPublishedPorts(t *testing.T) {
	c := loadCompose(t)
	envoys := serviceByRepo(c, envoyRepo)
	var on19530 []string
	var admin bool
	for name, s := range c.Services {
		for _, p := range ports(t, name, s) {
			if p.hostPort == milvusPort || (p.hostPort == "" && p.containerPort == milvusPort) {
				on19530 = append(on19530, name)
			}
			if p.containerPort == "9901" {
				if p.hostIP != "127.0.0.1" {
					t.Errorf("services.%s.ports: Envoy admin 9901 must be bound to 127.0.0.1 on the host, got %q", name, p.hostIP)
				}
				admin = admin || slices.Contains(envoys, name)
			}
		}
	}
	if len(envoys) != 1 || !slices.Equal(on19530, envoys) {
		t.Errorf("host port %s must be published by exactly the envoy service %v, got %v", milvusPort, envoys, on19530)
	}
	if !admin {
		t.Errorf("envoy service %v must publish its admin port 9901 (on 127.0.0.1)", envoys)
	}
}

func TestMilvusStandalones(t *testing.T) {
	c := loadCompose(t)
	milvus := milvusStandalones(c)
	if len(milvus) != 2 {
		t.Fatalf("want exactly two Milvus standalone services (%s running `milvus run standalone`), got %v", milvusRepo, milvus)
	}
	if all := serviceByRepo(c, milvusRepo); !slices.Equal(all, milvus) {
		t.Errorf("every %s service must run standalone: %v vs %v", milvusRepo, all, milvus)
	}
	deps := map[string]string{} // etcd/minio service → the Milvus using it
	edge := edgeService(t, c)
	edgeDeps := dependsOn(c.Services[edge].DependsOn)
	for _, name := range milvus {
		s := c.Services[name]
		if _, tag, _ := imageRef(s.Image); !milvusTagRE.MatchString(tag) {
			t.Errorf("services.%s.image %q: want tag v2.6.x", name, s.Image)
		}
		e := env(s.Environment)
		for _, key := range []string{"ETCD_ENDPOINTS", "MINIO_ADDRESS"} {
			if e[key] == "" {
				t.Errorf("services.%s.environment.%s is not set", name, key)
				continue
			}
			host, _ := hostOf(t, fmt.Sprintf("services.%s.environment.%s", name, key), e[key])
			if _, ok := c.Services[host]; !ok {
				t.Errorf("services.%s.environment.%s=%s: no service %q", name, key, e[key], host)
			}
			if other, ok := deps[host]; ok {
				t.Errorf("services.%s and %s share %s; each Milvus needs its own etcd and MinIO", name, other, host)
			}
			deps[host] = name
			if _, ok := dependsOn(s.DependsOn)[host]; !ok {
				t.Errorf("services.%s.depends_on: want %s", name, host)
			}
		}
		if s.Healthcheck == nil || !strings.Contains(strings.Join(strs(s.Healthcheck.Test), " "), "http://localhost:9091/healthz") {
			t.Errorf("services.%s.healthcheck must probe http://localhost:9091/healthz", name)
		}
		if cond := edgeDeps[name]; cond != "service_healthy" {
			t.Errorf("services.%s.depends_on.%s.condition = %q, want service_healthy", edge, name, cond)
		}
	}
}

func TestMountsExist(t *testing.T) {
	c := loadCompose(t)
	r := root(t)
	for name, s := range c.Services {
		for _, m := range mounts(t, name, s) {
			switch m.typ {
			case "bind":
				if !strings.HasPrefix(m.source, "./") {
					t.Errorf("services.%s.volumes: bind mount %q must be a ./ path inside the repository", name, m.source)
					continue
				}
				if _, err := os.Stat(filepath.Join(r, m.source)); err != nil {
					t.Errorf("services.%s.volumes: bind mount source %s: %v", name, m.source, err)
				}
			case "volume":
				if m.source == "" {
					continue
				}
				if _, ok := c.Volumes[m.source]; !ok {
					t.Errorf("services.%s.volumes: named volume %q is not declared under top-level volumes", name, m.source)
				}
			}
		}
	}
}

// dockerInstructions returns the Dockerfile's instructions (keyword, arguments),
// joining continuation lines and dropping comments.
func dockerInstructions(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root(t), dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	var cur string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur == "") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cur += line
		kw, args, _ := strings.Cut(strings.TrimSpace(cur), " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(args)})
		cur = ""
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerFroms(t *testing.T) []string {
	var out []string
	for _, in := range dockerInstructions(t) {
		if in[0] == "FROM" {
			f := strings.Fields(in[1])
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) > 0 {
				out = append(out, f[0])
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no FROM", dockerfile)
	}
	return out
}

// execArgs parses an exec-form (JSON) or shell-form argument list.
func execArgs(s string) []string {
	var out []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &out) == nil {
		return out
	}
	return strings.Fields(s)
}

func TestDockerfile(t *testing.T) {
	r := root(t)
	c := loadCompose(t)
	edge := edgeService(t, c)

	// The compose build points at this Dockerfile.
	switch b := c.Services[edge].Build.(type) {
	case string:
		if filepath.Clean(b) != "." {
			t.Errorf("services.%s.build = %q, want the repository root", edge, b)
		}
	case map[string]any:
		ctx, _ := b["context"].(string)
		df, _ := b["dockerfile"].(string)
		if df == "" {
			df = dockerfile
		}
		if filepath.Clean(ctx) != "." || filepath.Clean(df) != dockerfile {
			t.Errorf("services.%s.build = %v, want context . and dockerfile %s", edge, b, dockerfile)
		}
	}
	if _, tag, _ := imageRef(c.Services[edge].Image); tag == "" {
		t.Errorf("services.%s.image %q: the built image needs an explicit tag", edge, c.Services[edge].Image)
	}

	ins := dockerInstructions(t)
	froms := dockerFroms(t)
	if len(froms) < 2 {
		t.Errorf("%s: want a multi-stage build, got FROM %v", dockerfile, froms)
	} else {
		last := froms[len(froms)-1]
		if repo, _, _ := imageRef(last); repo != "gcr.io/distroless/static-debian12" {
			t.Errorf("%s: runtime stage %q, want gcr.io/distroless/static-debian12", dockerfile, last)
		}
		// The builder's Go is the one go.mod asks for.
		gomod, err := os.ReadFile(filepath.Join(r, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
		if m == nil {
			t.Fatal("go.mod: no go directive")
		}
		goVer := string(m[1])
		repo, tag, _ := imageRef(froms[0])
		if repo != "golang" || !strings.HasPrefix(tag+"-", goVer+"-") {
			t.Errorf("%s: build stage %q, want golang:%s-<distro> (go.mod's go version)", dockerfile, froms[0], goVer)
		}
	}

	ignored := dockerignore(t)
	var copies, builds int
	var entrypoint, cmd []string
	for _, in := range ins {
		switch in[0] {
		case "COPY", "ADD":
			args := execArgs(in[1])
			fromStage := false
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				fromStage = fromStage || strings.HasPrefix(args[0], "--from=")
				args = args[1:]
			}
			if fromStage {
				continue
			}
			if len(args) < 2 {
				t.Errorf("%s: %s %s: want sources and a destination", dockerfile, in[0], in[1])
				continue
			}
			for _, src := range args[:len(args)-1] {
				copies++
				if _, err := os.Stat(filepath.Join(r, src)); err != nil {
					t.Errorf("%s: %s source %s does not exist: %v", dockerfile, in[0], src, err)
				}
				if ignored[filepath.Clean(src)] {
					t.Errorf("%s: %s source %s is excluded by .dockerignore", dockerfile, in[0], src)
				}
			}
		case "RUN":
			if strings.Contains(in[1], "go build") {
				builds++
				for _, f := range strings.Fields(in[1]) {
					if strings.HasPrefix(f, "./") {
						if st, err := os.Stat(filepath.Join(r, f)); err != nil || !st.IsDir() {
							t.Errorf("%s: go build target %s is not a package directory: %v", dockerfile, f, err)
						}
					}
				}
			}
		case "ENTRYPOINT":
			entrypoint = execArgs(in[1])
		case "CMD":
			cmd = execArgs(in[1])
		}
	}
	if copies == 0 {
		t.Errorf("%s: copies nothing from the build context", dockerfile)
	}
	if builds == 0 {
		t.Errorf("%s: no `go build`", dockerfile)
	}
	if text, _ := os.ReadFile(filepath.Join(r, dockerfile)); !strings.Contains(string(text), "CGO_ENABLED=0") {
		t.Errorf("%s: the binary must be built with CGO_ENABLED=0 (distroless/static has no libc)", dockerfile)
	}
	if !slices.Equal(entrypoint, []string{"/milvus-edge"}) {
		t.Errorf("%s: ENTRYPOINT %v, want [/milvus-edge]", dockerfile, entrypoint)
	}
	// The default command serves the config the compose file mounts.
	var cfgTarget string
	for _, m := range mounts(t, edge, c.Services[edge]) {
		if filepath.Clean(m.source) == filepath.Clean("./"+edgeConfig) {
			cfgTarget = m.target
		}
	}
	if cfgTarget == "" {
		t.Errorf("services.%s: ./%s is not mounted", edge, edgeConfig)
	}
	want := []string{"serve", "--config", cfgTarget}
	if !slices.Equal(cmd, want) {
		t.Errorf("%s: CMD %v, want %v", dockerfile, cmd, want)
	}
	if got := strs(c.Services[edge].Command); got != nil && !slices.Equal(got, want) {
		t.Errorf("services.%s.command %v, want %v", edge, got, want)
	}
	for _, p := range []string{".venv", "bin", ".data", "test"} {
		if !ignored[p] {
			t.Errorf(".dockerignore must exclude %s", p)
		}
	}
}

func dockerignore(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "!") {
			out[filepath.Clean(strings.TrimPrefix(l, "/"))] = true
		}
	}
	return out
}

// loadEdgeConfig loads the compose edge config. Its edge.admin_token_file is
// a path inside the container (a volume the edge-admin-token service fills),
// which the config's validation reads: the test points it at a token of its
// own and returns the config with the container path restored.
func loadEdgeConfig(t *testing.T) *config.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), edgeConfig))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Edge struct {
			AdminTokenFile string `yaml:"admin_token_file"`
		} `yaml:"edge"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatalf("%s: %v", edgeConfig, err)
	}
	tokenPath := raw.Edge.AdminTokenFile
	if tokenPath != "" {
		tok := filepath.Join(t.TempDir(), "edge-admin-token")
		if err := os.WriteFile(tok, []byte("a-test-token-of-32-characters-00\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte(tokenPath), []byte(tok))
	}
	cfg, err := config.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", edgeConfig, err)
	}
	cfg.Edge.AdminTokenFile = tokenPath
	return cfg
}

func TestEdgeConfig(t *testing.T) {
	c := loadCompose(t)
	cfg := loadEdgeConfig(t)
	milvus := milvusStandalones(c)
	var hosts []string
	for _, cl := range cfg.Clusters {
		for j, ep := range cl.Endpoints {
			h, p := hostOf(t, fmt.Sprintf("clusters.%s.endpoints[%d]", cl.Name, j), ep.Address)
			hosts = append(hosts, h)
			if p != milvusPort {
				t.Errorf("%s: cluster %s endpoint %s: want Milvus's port %s", edgeConfig, cl.Name, ep.Address, milvusPort)
			}
		}
	}
	sort.Strings(hosts)
	if len(milvus) == 0 || !slices.Equal(hosts, milvus) {
		t.Errorf("%s: cluster endpoint hosts %v, want the Milvus compose services %v", edgeConfig, hosts, milvus)
	}
	if n := len(cfg.Launch.MilvusLite); n != 0 {
		t.Errorf("%s: launch.milvus_lite has %d entries; compose launches nothing", edgeConfig, n)
	}

	edge := edgeService(t, c)
	envoy := serviceByRepo(c, envoyRepo)
	for what, pair := range map[string][2]string{
		"xds":     {cfg.Edge.XDSAdvertiseAddress, cfg.Edge.XDSAddress},
		"filters": {cfg.Edge.FiltersAdvertiseAddress, cfg.Edge.FiltersAddress},
	} {
		ah, ap := hostOf(t, what+"_advertise_address", pair[0])
		lh, lp := hostOf(t, what+"_address", pair[1])
		if ah != edge || ap != lp {
			t.Errorf("%s: edge.%s_advertise_address %s, want %s:%s", edgeConfig, what, pair[0], edge, lp)
		}
		if lh != "0.0.0.0" && lh != "::" && lh != "" {
			t.Errorf("%s: edge.%s_address %s must listen on all interfaces for the envoy container", edgeConfig, what, pair[1])
		}
	}
	// Envoy listens where the compose file publishes it.
	_, lp := hostOf(t, "listener.address", cfg.Listener.Address)
	_, admp := hostOf(t, "envoy.admin_address", cfg.Envoy.AdminAddress)
	if len(envoy) == 1 {
		var cps []string
		for _, p := range ports(t, envoy[0], c.Services[envoy[0]]) {
			cps = append(cps, p.containerPort)
		}
		for _, p := range []string{lp, admp} {
			if !slices.Contains(cps, p) {
				t.Errorf("services.%s publishes container ports %v; %s listens on %s", envoy[0], cps, edgeConfig, p)
			}
		}
	}
}

func TestEnvoyBootstrap(t *testing.T) {
	c := loadCompose(t)
	cfg := loadEdgeConfig(t)
	data, err := os.ReadFile(filepath.Join(root(t), envoyBoot))
	if err != nil {
		t.Fatal(err)
	}
	var boot struct {
		Node struct {
			ID string `yaml:"id"`
		} `yaml:"node"`
		Admin struct {
			Address address `yaml:"address"`
		} `yaml:"admin"`
		DynamicResources struct {
			ADSConfig struct {
				APIType      string `yaml:"api_type"`
				GRPCServices []struct {
					EnvoyGRPC struct {
						ClusterName string `yaml:"cluster_name"`
					} `yaml:"envoy_grpc"`
				} `yaml:"grpc_services"`
			} `yaml:"ads_config"`
		} `yaml:"dynamic_resources"`
		StaticResources struct {
			Clusters []struct {
				Name           string `yaml:"name"`
				LoadAssignment struct {
					Endpoints []struct {
						LBEndpoints []struct {
							Endpoint struct {
								Address address `yaml:"address"`
							} `yaml:"endpoint"`
						} `yaml:"lb_endpoints"`
					} `yaml:"endpoints"`
				} `yaml:"load_assignment"`
			} `yaml:"clusters"`
		} `yaml:"static_resources"`
	}
	if err := yaml.Unmarshal(data, &boot); err != nil {
		t.Fatalf("%s: %v", envoyBoot, err)
	}
	if boot.Node.ID != cfg.Envoy.NodeID {
		t.Errorf("%s: node.id %q, want envoy.node_id %q", envoyBoot, boot.Node.ID, cfg.Envoy.NodeID)
	}
	if _, admp := hostOf(t, "envoy.admin_address", cfg.Envoy.AdminAddress); boot.Admin.Address.port() != admp {
		t.Errorf("%s: admin port %s, want envoy.admin_address port %s", envoyBoot, boot.Admin.Address.port(), admp)
	}
	ads := boot.DynamicResources.ADSConfig
	if ads.APIType != "GRPC" || len(ads.GRPCServices) != 1 {
		t.Fatalf("%s: dynamic_resources.ads_config must be GRPC with one grpc_service", envoyBoot)
	}
	name := ads.GRPCServices[0].EnvoyGRPC.ClusterName
	if name != config.ReservedPrefix+"xds" {
		t.Errorf("%s: ADS cluster %q, want %sxds", envoyBoot, name, config.ReservedPrefix)
	}
	edge := edgeService(t, c)
	_, xdsPort := hostOf(t, "edge.xds_address", cfg.Edge.XDSAddress)
	want := edge + ":" + xdsPort
	var found bool
	for _, cl := range boot.StaticResources.Clusters {
		if cl.Name != name {
			continue
		}
		found = true
		var got []string
		for _, e := range cl.LoadAssignment.Endpoints {
			for _, lb := range e.LBEndpoints {
				a := lb.Endpoint.Address.SocketAddress
				got = append(got, a.Address+":"+a.port())
			}
		}
		if !slices.Equal(got, []string{want}) {
			t.Errorf("%s: ADS cluster %s endpoints %v, want [%s] (the %s service at edge.xds_address's port)", envoyBoot, name, got, want, edge)
		}
		if cfg.Edge.XDSAdvertiseAddress != want {
			t.Errorf("%s: edge.xds_advertise_address %q, want %q as in %s", edgeConfig, cfg.Edge.XDSAdvertiseAddress, want, envoyBoot)
		}
	}
	if !found {
		t.Errorf("%s: no static cluster %q for ADS", envoyBoot, name)
	}
}

type socketAddress struct {
	Address   string `yaml:"address"`
	PortValue any    `yaml:"port_value"`
}

func (s socketAddress) port() string {
	switch p := s.PortValue.(type) {
	case int:
		return strconv.Itoa(p)
	case nil:
		return ""
	}
	return fmt.Sprint(s.PortValue)
}

type address struct {
	SocketAddress socketAddress `yaml:"socket_address"`
}

func (a address) port() string { return a.SocketAddress.port() }

// bootstrapCommand renders the compose bootstrap on the host, where the
// admin token file the config names does not exist (the bootstrap does not
// depend on it).
const bootstrapCommand = `tok=$(mktemp) && head -c 32 /dev/urandom | base64 > $tok && sed "s#/run/secrets/edge-admin-token#$tok#" deploy/compose/milvus-edge.yaml > $tok.yaml && milvus-edge bootstrap --config $tok.yaml > deploy/compose/envoy-bootstrap.yaml; rm -f $tok $tok.yaml`

// TestBootstrapIsRendered: the committed Envoy bootstrap is exactly what
// `milvus-edge bootstrap` prints for deploy/compose/milvus-edge.yaml.
func TestBootstrapIsRendered(t *testing.T) {
	want, err := app.BootstrapFor(loadEdgeConfig(t)).Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root(t), "deploy/compose/envoy-bootstrap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("deploy/compose/envoy-bootstrap.yaml is stale; regenerate it with (the config names the container's admin token file):\n  %s", bootstrapCommand)
	}
}
