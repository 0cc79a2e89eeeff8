package config

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// A rotated credential or backend CA file reloads the config, though the
// config file itself did not change.
func TestWatchReferencedFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("one"), 0o600)
	cfg := []byte("clusters:\n  - name: a\n    endpoints: [{address: 127.0.0.1:1}]\n    credential: {user: root, password_file: " + pw + "}\nroutes: [{cluster: a}]\n")
	path := filepath.Join(dir, "edge.yaml")
	os.WriteFile(path, cfg, 0o600)
	var mu sync.Mutex
	calls := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Watch(ctx, path, 10*time.Millisecond, cfg, func(data []byte, err error) {
		mu.Lock()
		calls++
		mu.Unlock()
	})
	count := func() int { mu.Lock(); defer mu.Unlock(); return calls }
	time.Sleep(80 * time.Millisecond)
	if n := count(); n != 0 {
		t.Fatalf("%d reloads with nothing changed", n)
	}
	tmp := pw + ".tmp"
	os.WriteFile(tmp, []byte("two"), 0o600)
	os.Rename(tmp, pw) // rotation by rename
	deadline := time.Now().Add(2 * time.Second)
	for count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d reloads after the password file changed, want 1", n)
	}
	time.Sleep(80 * time.Millisecond)
	if n := count(); n != 1 {
		t.Fatalf("%d reloads, want still 1", n)
	}
}
