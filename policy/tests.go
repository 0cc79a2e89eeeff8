package policy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// testResult is one test_ rule's outcome, as `opa test -v` reports it.
type testResult struct {
	name   string // data.<package>.test_x
	file   string
	row    int
	pass   bool
	skip   bool  // todo_test_ rules
	err    error // an evaluation error; nil for a plain failure
	dur    time.Duration
	output []byte // print() output
}

// runTests runs every test_ rule of the modules against the bundle's data
// with OPA's tester, as `opa test` does, and fails when any test fails.
func runTests(ctx context.Context, modules map[string]*ast.Module, store storage.Store) ([]testResult, error) {
	ch, err := tester.NewRunner().
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("compiling tests: %w", err)
	}
	var results []testResult
	for r := range ch {
		t := testResult{
			name:   r.Package + "." + r.Name,
			pass:   r.Pass(),
			skip:   r.Skip,
			err:    r.Error,
			dur:    r.Duration,
			output: r.Output,
		}
		if r.Location != nil {
			t.file, t.row = r.Location.File, r.Location.Row
		}
		results = append(results, t)
	}
	// The tester runs tests in parallel; report them in source order.
	slices.SortFunc(results, func(a, b testResult) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.row, b.row), cmp.Compare(a.name, b.name))
	})
	if err := ctx.Err(); err != nil {
		return results, fmt.Errorf("running tests: %w", err)
	}
	var failed []string
	for _, r := range results {
		if !r.pass && !r.skip {
			failed = append(failed, fmt.Sprintf("%s (%s:%d)", r.name, r.file, r.row))
		}
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%w: %d of %d failed: %s",
			errTestsFailed, len(failed), len(results), strings.Join(failed, ", "))
	}
	return results, nil
}
