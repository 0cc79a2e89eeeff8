package policy

import (
	"context"
	"os"
	"time"
)

// defaultWatchInterval is Watch's poll interval when none is given.
const defaultWatchInterval = 2 * time.Second

// Watch polls the bundle folder every interval (default 2s when ≤ 0) and
// calls Load when its content hash changes and has then held still for one
// more interval, so a copy in progress is not loaded half-done. It logs each
// reload's outcome and returns when ctx is done. It is a no-op for the
// embedded bundle, which cannot change.
func (e *Engine) Watch(ctx context.Context, interval time.Duration) {
	if e.dir == "" {
		return
	}
	if interval <= 0 {
		interval = defaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var seen, pending, lastErr string
	if b := e.Current(); b != nil {
		seen = b.Version
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, err := readSnapshot(os.DirFS(e.dir), e.dir)
		if err != nil {
			// An unreadable folder (mid-replace, or gone) keeps the running
			// bundle; say so once per distinct error, not every tick.
			if err.Error() != lastErr {
				lastErr = err.Error()
				e.log.Warn("policy bundle unreadable, keeping the running version", "dir", e.dir, "error", err)
			}
			continue
		}
		lastErr = ""
		switch s.version {
		case seen:
			pending = ""
			continue
		case pending:
		default:
			pending = s.version // changed: wait one interval for it to settle
			continue
		}
		seen, pending = s.version, ""
		e.reload(ctx, s.version)
	}
}

// reload runs Load for Watch and logs the outcome. version is the one
// Watch saw; Load reads the folder again and may find a newer one.
func (e *Engine) reload(ctx context.Context, version string) {
	start := time.Now()
	old := e.Status().Version
	if err := e.Load(ctx); err != nil {
		e.log.Error("policy reload failed, keeping the running version",
			"dir", e.dir, "seen", version, "running", old, "error", err)
		return
	}
	e.log.Info("policy reloaded", "dir", e.dir, "version", e.Status().Version, "previous", old,
		"took", time.Since(start))
}
