package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader/filter"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// Bundle is one compiled, tested bundle version. It is immutable once
// published: a reload builds a new Bundle and swaps the pointer.
type Bundle struct {
	// Version is a content hash of the bundle's files (see readSnapshot).
	Version string
	// Users are the password identities of data.milvus.users, by name.
	Users map[string]User
	// APIKeys are data.milvus.api_keys, in bundle order.
	APIKeys []APIKey
	// RootBypass is data.milvus.settings.root_bypass (true when absent).
	RootBypass bool

	// Input is what the decision reads of the input document (nil: all).
	Input *InputShape
	// cacheable: deterministic, and Input is not the whole input; keyPaths
	// are Input's paths as terms, for CacheKey.
	cacheable bool
	keyPaths  [][]*ast.Term

	query    rego.PreparedEvalQuery
	compiler *ast.Compiler // what query was prepared from (benchmarks)
	store    storage.Store
}

// User is one password identity of data.milvus.users.
type User struct {
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$).
	PasswordHash string
	// Roles are the user's roles, without the implicit "public".
	Roles []string
}

// APIKey is one entry of data.milvus.api_keys.
type APIKey struct {
	// SHA256 is the lower-case hex SHA-256 of the key; the key is never stored.
	SHA256 string
	// User is the identity the key authenticates as.
	User string
	// Roles are the key's roles, without the implicit "public".
	Roles []string
}

// bundleFile is one file of a snapshot, read whole.
type bundleFile struct {
	path string // slash-separated, relative to the bundle root
	data []byte
}

// snapshot is a bundle folder read into memory once, so that what is hashed
// is exactly what is compiled even while the folder changes underneath.
type snapshot struct {
	base    string // prefix of module names in messages: the dir, or "embedded"
	files   []bundleFile
	version string
}

// readSnapshot reads every .rego, .json, .yaml and .yml file of fsys,
// recursively, skipping dotfiles and dot-folders (editor droppings, and the
// "..data" links of a Kubernetes ConfigMap mount, whose files are reached
// through the links at the top). Symlinked files are followed; symlinked
// folders are not.
func readSnapshot(fsys fs.FS, base string) (*snapshot, error) {
	s := &snapshot{base: base}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := p != "." && strings.HasPrefix(d.Name(), ".")
		switch {
		case d.IsDir() && hidden:
			return fs.SkipDir
		case d.IsDir(), hidden, !isBundleFile(p):
			return nil
		case !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0:
			return nil // sockets, pipes, devices
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		s.files = append(s.files, bundleFile{path: p, data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", base, err)
	}
	// WalkDir visits in lexical order already; sort anyway so the hash
	// never depends on the walk.
	slices.SortFunc(s.files, func(a, b bundleFile) int { return strings.Compare(a.path, b.path) })
	h := sha256.New()
	var n [8]byte
	for _, f := range s.files {
		io.WriteString(h, f.path)
		binary.BigEndian.PutUint64(n[:], uint64(len(f.data)))
		h.Write(n[:])
		h.Write(f.data)
	}
	s.version = hex.EncodeToString(h.Sum(nil)[:8])
	return s, nil
}

// isBundleFile reports whether a file is part of the bundle's content hash.
func isBundleFile(p string) bool {
	switch path.Ext(p) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	}
	return false
}

// isBundleInput reports whether OPA's bundle reader should see a file: the
// modules and the data files. Other JSON/YAML (test inputs, a stray
// patch.json that would turn the bundle into a delta bundle) stay out.
func isBundleInput(p string) bool {
	if strings.HasSuffix(p, bundle.RegoExt) {
		return true
	}
	b := path.Base(p)
	return b == "data.json" || bundle.IsYAMLDataFile(b)
}

// readBundle parses a snapshot with OPA's bundle reader, so data files are
// mounted exactly as in OPA bundles (a/b/data.yaml → data.a.b).
func readBundle(s *snapshot) (bundle.Bundle, error) {
	return bundle.NewCustomReader(&snapshotLoader{files: s.files}).
		WithBaseDir(s.base).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotations(true).
		WithSkipBundleVerification(true).
		WithLazyLoadingMode(false).
		Read()
}

// snapshotLoader is a bundle.DirectoryLoader over a snapshot's files.
type snapshotLoader struct {
	files []bundleFile
	next  int
}

// NextFile returns the next module or data file, then io.EOF.
func (l *snapshotLoader) NextFile() (*bundle.Descriptor, error) {
	for l.next < len(l.files) {
		f := l.files[l.next]
		l.next++
		if isBundleInput(f.path) {
			return bundle.NewDescriptor(f.path, f.path, bytes.NewReader(f.data)), nil
		}
	}
	return nil, io.EOF
}

// WithFilter is a no-op: readSnapshot has already chosen the files.
func (l *snapshotLoader) WithFilter(filter.LoaderFilter) bundle.DirectoryLoader { return l }

// WithPathFormat is a no-op: paths are always relative and slash-separated.
func (l *snapshotLoader) WithPathFormat(bundle.PathFormat) bundle.DirectoryLoader { return l }

// WithSizeLimitBytes is a no-op: the files are already in memory.
func (l *snapshotLoader) WithSizeLimitBytes(int64) bundle.DirectoryLoader { return l }

// WithFollowSymlinks is a no-op: readSnapshot decides.
func (l *snapshotLoader) WithFollowSymlinks(bool) bundle.DirectoryLoader { return l }

// decisionRef is DecisionQuery as a reference, to check the bundle defines it.
var decisionRef = ast.MustParseRef(DecisionQuery)

// compiled is everything build derives from a snapshot.
type compiled struct {
	bundle  *Bundle
	results []testResult
}

// build reads, compiles and prepares a snapshot, runs its Rego tests and
// validates data.milvus. When the tests ran, their results are returned,
// with or without an error.
func build(ctx context.Context, s *snapshot) (*compiled, error) {
	raw, err := readBundle(s)
	if err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	modules := make(map[string]*ast.Module, len(raw.Modules))
	for _, m := range raw.Modules {
		modules[m.Path] = m.Parsed
	}
	// Print statements are erased on the decision path (they would cost on
	// every request); the tester compiles its own copy with them enabled.
	c := ast.NewCompiler().WithEnablePrintStatements(false)
	if c.Compile(modules); c.Failed() {
		return nil, fmt.Errorf("compiling: %w", c.Errors)
	}
	if len(c.GetRulesWithPrefix(decisionRef)) == 0 {
		return nil, fmt.Errorf("compiling: no rule defines %s", DecisionQuery)
	}
	data := raw.Data
	if data == nil {
		data = map[string]any{}
	}
	// The reader has produced JSON-compatible values already; reads return
	// ast.Values so evaluation does not convert data on every request.
	store := inmem.NewFromObjectWithOpts(data,
		inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	q, err := rego.New(
		rego.Query(DecisionQuery),
		rego.Compiler(c),
		rego.Store(store),
		rego.GenerateJSON(keepTerm),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing %s: %w", DecisionQuery, err)
	}
	// Tests and data are checked independently, so one run reports both.
	out := &compiled{}
	out.results, err = runTests(ctx, modules, store)
	b := &Bundle{Version: s.version, query: q, compiler: c, store: store}
	var deterministic bool
	b.Input, deterministic = analyze(c, decisionRef)
	b.cacheable = deterministic && b.Input != nil
	for _, p := range b.Input.Paths() {
		ts := make([]*ast.Term, len(p))
		for i, k := range p {
			ts[i] = ast.StringTerm(k)
		}
		b.keyPaths = append(b.keyPaths, ts)
	}
	if err := errors.Join(err, parseData(data, b)); err != nil {
		return out, err
	}
	out.bundle = b
	return out, nil
}

// keepTerm hands the decision back as the *ast.Term it is, skipping rego's
// conversion of results to map[string]any (decodeDecision reads the term).
func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// loadError joins a build error with the name of the snapshot, so the
// message says which bundle was refused.
func loadError(s *snapshot, err error) error {
	if s == nil {
		return err
	}
	return fmt.Errorf("loading policy bundle %s (version %s): %w", s.base, s.version, err)
}

// errTestsFailed is wrapped by build when a bundle's own Rego tests fail.
var errTestsFailed = errors.New("bundle tests failed")
