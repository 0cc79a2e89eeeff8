package policy

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TestBundle runs the checks Load runs on dir (parse, compile, prepare, the
// bundle's Rego tests, data.milvus validation) and writes a report to w in
// the spirit of `opa test -v`: each test PASS/FAIL/SKIP by file, then
// "N/M tests passed". It is `milvus-edge policy test DIR`; the error says
// what failed.
func TestBundle(ctx context.Context, dir string, w io.Writer) error {
	s, err := readSnapshot(os.DirFS(dir), dir)
	if err != nil {
		fmt.Fprintf(w, "FAIL: %v\n", err)
		return err
	}
	c, err := build(ctx, s)
	if c != nil { // the tests ran
		writeResults(w, c.results)
	}
	if err != nil {
		// One problem a line: errors.Join separates them with newlines.
		fmt.Fprintf(w, "FAIL: %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return loadError(s, err)
	}
	fmt.Fprintf(w, "bundle %s (version %s): OK\n", dir, s.version)
	return nil
}

// writeResults prints test results grouped by file, as `opa test -v` does.
func writeResults(w io.Writer, results []testResult) {
	var file string
	passed, counted := 0, 0
	for _, r := range results {
		if r.file != file {
			file = r.file
			fmt.Fprintf(w, "%s:\n", filepath.ToSlash(file))
		}
		outcome := "PASS"
		switch {
		case r.skip:
			outcome = "SKIPPED"
		case !r.pass && r.err != nil:
			outcome = "ERROR"
		case !r.pass:
			outcome = "FAIL"
		}
		if !r.skip {
			counted++
			if r.pass {
				passed++
			}
		}
		fmt.Fprintf(w, "%s: %s (%s)\n", r.name, outcome, r.dur.Round(time.Microsecond))
		if r.err != nil {
			fmt.Fprintf(w, "  %v\n", r.err)
		}
		if len(r.output) > 0 && !r.pass {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(strings.TrimSpace(string(r.output)), "\n", "\n  "))
		}
	}
	if len(results) > 0 {
		fmt.Fprintln(w, strings.Repeat("-", 80))
	}
	fmt.Fprintf(w, "%d/%d tests passed\n", passed, counted)
}
