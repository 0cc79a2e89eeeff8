package compose

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	prometheusRepo = "prom/prometheus"
	grafanaRepo    = "grafana/grafana"
	dashboardFile  = "deploy/grafana/milvus-edge.json"
	setupScript    = "scripts/setup.sh"
)

// promConfig is the part of a Prometheus config the tests read.
type promConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		Authorization *struct {
			Type            string `yaml:"type"`
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// oneService returns the one service whose image repository is repo.
func oneService(t *testing.T, c composeSpec, repo string) (string, service) {
	t.Helper()
	names := serviceByRepo(c, repo)
	if len(names) != 1 {
		t.Fatalf("want exactly one %s service, got %v", repo, names)
	}
	return names[0], c.Services[names[0]]
}

// flag returns the value of --name=value in args, or "".
func flag(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// volumeAt returns the named volume mounted at dir in s, or "".
func volumeAt(t *testing.T, name string, s service, dir string) string {
	t.Helper()
	for _, m := range mounts(t, name, s) {
		if m.typ == "volume" && path.Clean(m.target) == path.Clean(dir) {
			return m.source
		}
	}
	return ""
}

// loopbackOnly fails for every port of s published beyond the host's loopback.
func loopbackOnly(t *testing.T, name string, s service) {
	t.Helper()
	for _, p := range ports(t, name, s) {
		if p.hostIP != "127.0.0.1" {
			t.Errorf("services.%s.ports: container port %s must be published on 127.0.0.1 only, got host IP %q", name, p.containerPort, p.hostIP)
		}
	}
}

// dashboardJobs returns the defaults of the dashboard's job and envoy_job
// variables.
func dashboardJobs(t *testing.T) (edge, envoy string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	for _, v := range d.Templating.List {
		q, _ := v.Query.(string)
		switch v.Name {
		case "job":
			edge = q
		case "envoy_job":
			envoy = q
		}
	}
	if edge == "" || envoy == "" {
		t.Fatalf("%s: want textbox variables job and envoy_job with defaults, got %q and %q", dashboardFile, edge, envoy)
	}
	return edge, envoy
}

// TestPrometheusService: the compose Prometheus is the version the tests
// run (scripts/setup.sh's Debian package), its config passes promtool, and
// it scrapes the edge's admin /metrics with the edge's admin token (the same
// volume in both containers, a Host the edge accepts) and Envoy's admin
// /stats/prometheus, under the job names the dashboard defaults to.
func TestPrometheusService(t *testing.T) {
	c := loadCompose(t)
	cfg := loadEdgeConfig(t)
	name, s := oneService(t, c, prometheusRepo)
	loopbackOnly(t, name, s)

	script, err := os.ReadFile(filepath.Join(root(t), setupScript))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PROMETHEUS_VERSION=(\d+\.\d+)\b`).FindSubmatch(script)
	if m == nil {
		t.Fatalf("%s: no PROMETHEUS_VERSION", setupScript)
	}
	if _, tag, _ := imageRef(s.Image); !strings.HasPrefix(tag, "v"+string(m[1])+".") {
		t.Errorf("services.%s.image %q: want tag v%s.x, the Prometheus %s installs for the tests", name, s.Image, m[1], setupScript)
	}

	confPath := flag(strs(s.Command), "config.file")
	if confPath == "" {
		t.Fatalf("services.%s.command %v: want --config.file=", name, strs(s.Command))
	}
	var confSrc string
	for _, mt := range mounts(t, name, s) {
		if mt.target == confPath {
			confSrc = mt.source
		}
	}
	if confSrc == "" {
		t.Fatalf("services.%s: nothing mounted at --config.file %s", name, confPath)
	}
	promtool := os.Getenv("PROMTOOL_BIN")
	if promtool == "" {
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Fatalf("promtool: %v (set PROMTOOL_BIN, or run `make setup`: Debian's prometheus package)", err)
		}
	}
	if out, err := exec.Command(promtool, "check", "config", "--syntax-only", filepath.Join(root(t), confSrc)).CombinedOutput(); err != nil {
		t.Errorf("promtool check config %s: %v\n%s", confSrc, err, out)
	}
	b, err := os.ReadFile(filepath.Join(root(t), confSrc))
	if err != nil {
		t.Fatal(err)
	}
	var pc promConfig
	if err := yaml.Unmarshal(b, &pc); err != nil {
		t.Fatalf("%s: %v", confSrc, err)
	}

	edge := edgeService(t, c)
	envoy, _ := oneService(t, c, envoyRepo)
	edgeJob, envoyJob := dashboardJobs(t)
	_, adminPort := hostOf(t, "edge.admin_address", cfg.Edge.AdminAddress)
	_, envoyAdminPort := hostOf(t, "envoy.admin_address", cfg.Envoy.AdminAddress)
	jobs := map[string]bool{}
	for i, sc := range pc.ScrapeConfigs {
		jobs[sc.JobName] = true
		var targets []string
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
		switch sc.JobName {
		case edgeJob:
			if !slices.Equal(targets, []string{net.JoinHostPort(edge, adminPort)}) {
				t.Errorf("%s: scrape_configs[%d] (%s) targets %v, want [%s:%s] (the %s service, edge.admin_address's port)", confSrc, i, sc.JobName, targets, edge, adminPort, edge)
			}
			if sc.MetricsPath != "/metrics" {
				t.Errorf("%s: scrape_configs[%d].metrics_path %q, want /metrics", confSrc, i, sc.MetricsPath)
			}
			checkEdgeToken(t, c, cfg.Edge.AdminTokenFile, name, sc.Authorization)
		case envoyJob:
			if !slices.Equal(targets, []string{net.JoinHostPort(envoy, envoyAdminPort)}) {
				t.Errorf("%s: scrape_configs[%d] (%s) targets %v, want [%s:%s] (envoy.admin_address's port)", confSrc, i, sc.JobName, targets, envoy, envoyAdminPort)
			}
			if sc.MetricsPath != "/stats/prometheus" {
				t.Errorf("%s: scrape_configs[%d].metrics_path %q, want /stats/prometheus", confSrc, i, sc.MetricsPath)
			}
		}
	}
	for _, j := range []string{edgeJob, envoyJob} {
		if !jobs[j] {
			t.Errorf("%s: no scrape job %q (the name %s defaults to)", confSrc, j, dashboardFile)
		}
	}

	// The edge's admin API listens on the compose network (with a token)
	// and is not published on the host.
	if h, _ := hostOf(t, "edge.admin_address", cfg.Edge.AdminAddress); h != "0.0.0.0" && h != "::" {
		t.Errorf("%s: edge.admin_address %s: want 0.0.0.0 (Prometheus scrapes it from its own container)", edgeConfig, cfg.Edge.AdminAddress)
	}
	for _, p := range ports(t, edge, c.Services[edge]) {
		if p.containerPort == adminPort {
			t.Errorf("services.%s.ports publishes the admin port %s on the host", edge, adminPort)
		}
	}
}

// checkEdgeToken: Prometheus sends the token file the edge reads, both
// mounted from one named volume that the one-shot token service fills
// before the edge starts; and the edge answers its service name as Host.
func checkEdgeToken(t *testing.T, c composeSpec, tokenFile, prom string, auth *struct {
	Type            string `yaml:"type"`
	CredentialsFile string `yaml:"credentials_file"`
},
) {
	t.Helper()
	edge := edgeService(t, c)
	if tokenFile == "" {
		t.Fatalf("%s: edge.admin_token_file is not set; Prometheus scrapes the admin API off loopback", edgeConfig)
	}
	if auth == nil || auth.Type != "Bearer" || auth.CredentialsFile == "" {
		t.Fatalf("the %s scrape job: want authorization {type: Bearer, credentials_file: ...}, got %+v", edge, auth)
	}
	edgeVol := volumeAt(t, edge, c.Services[edge], path.Dir(tokenFile))
	promVol := volumeAt(t, prom, c.Services[prom], path.Dir(auth.CredentialsFile))
	if edgeVol == "" || edgeVol != promVol || path.Base(tokenFile) != path.Base(auth.CredentialsFile) {
		t.Errorf("the edge reads %s (volume %q), Prometheus sends %s (volume %q): want the same file of one named volume",
			tokenFile, edgeVol, auth.CredentialsFile, promVol)
	}
	// The service that fills the volume, and the edge waits for it.
	var writers []string
	for name, s := range c.Services {
		if name == edge || name == prom {
			continue
		}
		for _, m := range mounts(t, name, s) {
			if m.typ == "volume" && m.source == edgeVol && edgeVol != "" {
				writers = append(writers, name)
				cmd := strings.Join(strs(s.Command), " ")
				if !strings.Contains(cmd, path.Join(m.target, path.Base(tokenFile))) || !strings.Contains(cmd, "/dev/urandom") {
					t.Errorf("services.%s.command %q: want a random token written to %s", name, cmd, path.Join(m.target, path.Base(tokenFile)))
				}
			}
		}
	}
	if len(writers) != 1 {
		t.Errorf("volume %q: want one service writing the token, got %v", edgeVol, writers)
	} else if cond := dependsOn(c.Services[edge].DependsOn)[writers[0]]; cond != "service_completed_successfully" {
		t.Errorf("services.%s.depends_on.%s.condition = %q, want service_completed_successfully", edge, writers[0], cond)
	}
	// The admin API refuses a Host that is not its own; on 0.0.0.0 the
	// machine's host name is its own.
	var host struct {
		Services map[string]struct {
			Hostname string `yaml:"hostname"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile(filepath.Join(root(t), composeFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	if h := host.Services[edge].Hostname; h != edge {
		t.Errorf("services.%s.hostname = %q, want %s: the admin API accepts its host name as Host, and Prometheus scrapes %s:<port>", edge, h, edge, edge)
	}
}

// TestGrafanaService: Grafana is provisioned with the compose Prometheus as
// its datasource and the dashboard file, on the host's loopback only.
func TestGrafanaService(t *testing.T) {
	c := loadCompose(t)
	name, s := oneService(t, c, grafanaRepo)
	loopbackOnly(t, name, s)
	prom, _ := oneService(t, c, prometheusRepo)

	var provisioning, dashDir string
	for _, m := range mounts(t, name, s) {
		switch {
		case m.target == "/etc/grafana/provisioning":
			provisioning = m.source
		case filepath.Clean(m.source) == filepath.Clean("./"+dashboardFile):
			dashDir = path.Dir(m.target)
		}
	}
	if provisioning == "" || dashDir == "" {
		t.Fatalf("services.%s: want a provisioning folder at /etc/grafana/provisioning and ./%s mounted, got %v", name, dashboardFile, mounts(t, name, s))
	}
	var ds struct {
		Datasources []struct {
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(provisioning, "datasources", "prometheus.yaml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources: want one prometheus datasource, got %+v", ds.Datasources)
	}
	if u, err := url.Parse(ds.Datasources[0].URL); err != nil || u.Host != prom+":9090" {
		t.Errorf("datasource url %q: want http://%s:9090", ds.Datasources[0].URL, prom)
	}
	var dp struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(provisioning, "dashboards", "milvus-edge.yaml"), &dp)
	if len(dp.Providers) != 1 || path.Clean(dp.Providers[0].Options.Path) != dashDir {
		t.Errorf("dashboard provider %+v: want one reading %s, where %s is mounted", dp.Providers, dashDir, dashboardFile)
	}
}

func readYAML(t *testing.T, rel string, out any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}
