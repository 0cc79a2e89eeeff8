package compose

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/milvus-edge/milvus-edge/internal/sharedlimit"
)

const (
	ratelimitRepo  = "envoyproxy/ratelimit"
	redisRepo      = "redis"
	ratelimitToolM = "tools/ratelimit/go.mod"
)

// The ratelimit service runs the version scripts/setup.sh builds (its image
// tag is the commit of tools/ratelimit's pseudo-version), reads the edge's
// domain config (sharedlimit.ConfigYAML) where its file provider looks, and
// uses the compose Redis, started first.
func TestRateLimitService(t *testing.T) {
	c := loadCompose(t)
	names := serviceByRepo(c, ratelimitRepo)
	if len(names) != 1 {
		t.Fatalf("want exactly one %s service, got %v", ratelimitRepo, names)
	}
	name := names[0]
	s := c.Services[name]

	gomod, err := os.ReadFile(filepath.Join(root(t), ratelimitToolM))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github\.com/envoyproxy/ratelimit v\S*[.-]\d{14}-([0-9a-f]{12})\s`).FindSubmatch(gomod)
	if m == nil {
		t.Fatalf("%s: no envoyproxy/ratelimit pseudo-version", ratelimitToolM)
	}
	if _, tag, _ := imageRef(s.Image); tag != string(m[1][:8]) {
		t.Errorf("services.%s.image %q: want tag %s, the commit %s pins", name, s.Image, m[1][:8], ratelimitToolM)
	}

	e := env(s.Environment)
	confDir := path.Join(e["RUNTIME_ROOT"], e["RUNTIME_SUBDIRECTORY"], "config")
	if e["RUNTIME_ROOT"] == "" || e["RUNTIME_SUBDIRECTORY"] == "" || e["RUNTIME_WATCH_ROOT"] != "false" {
		t.Errorf("services.%s.environment: want RUNTIME_ROOT, RUNTIME_SUBDIRECTORY and RUNTIME_WATCH_ROOT=false, got %v", name, e)
	}
	var mounted bool
	for _, mt := range mounts(t, name, s) {
		if path.Dir(mt.target) != confDir {
			continue
		}
		mounted = true
		got, err := os.ReadFile(filepath.Join(root(t), mt.source))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != sharedlimit.ConfigYAML {
			t.Errorf("%s differs from sharedlimit.ConfigYAML (what the tests run):\n%s\nwant:\n%s", mt.source, got, sharedlimit.ConfigYAML)
		}
	}
	if !mounted {
		t.Errorf("services.%s: no config file mounted in %s", name, confDir)
	}

	if e["REDIS_SOCKET_TYPE"] != "tcp" {
		t.Errorf("services.%s.environment.REDIS_SOCKET_TYPE = %q, want tcp", name, e["REDIS_SOCKET_TYPE"])
	}
	host, _ := hostOf(t, "services."+name+".environment.REDIS_URL", e["REDIS_URL"])
	if repo, _, _ := imageRef(c.Services[host].Image); repo != redisRepo {
		t.Errorf("services.%s.environment.REDIS_URL=%s: want a %s service, got %q", name, e["REDIS_URL"], redisRepo, c.Services[host].Image)
	}
	if cond := dependsOn(s.DependsOn)[host]; cond != "service_healthy" {
		t.Errorf("services.%s.depends_on.%s.condition = %q, want service_healthy (the service exits without Redis at start)", name, host, cond)
	}
}
