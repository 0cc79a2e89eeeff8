package policy

import (
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// InputShape is the part of the input document a bundle's decision can
// read, found by walking the rules the decision depends on. The edge builds
// only that part of the input (the rest costs time on every request and is
// never looked at), and the values found there are the decision-cache key.
//
// A ref is read up to its first element that is not a constant string:
// input.parsed_body.entity.role.name reads that leaf, input.milvus[x] reads
// all of input.milvus, and input itself (passed as a value, `with input as`,
// walk(input)) reads everything. A nil *InputShape is the whole input.
type InputShape struct {
	// kids are the keys read below this node; nil means the whole subtree.
	kids map[string]*InputShape
}

// Whole says the whole subtree is read.
func (s *InputShape) Whole() bool { return s == nil || s.kids == nil }

// Child returns the shape under key, and whether key is read at all.
func (s *InputShape) Child(key string) (*InputShape, bool) {
	if s.Whole() {
		return nil, true
	}
	c, ok := s.kids[key]
	return c, ok
}

// Paths lists the read subtrees, sorted; the whole input is one empty path.
func (s *InputShape) Paths() [][]string {
	if s.Whole() {
		return [][]string{{}}
	}
	var out [][]string
	for _, k := range slices.Sorted(maps.Keys(s.kids)) {
		for _, p := range s.kids[k].Paths() {
			out = append(out, append([]string{k}, p...))
		}
	}
	return out
}

// headersPath is where the input holds the request headers.
var headersPath = []string{"attributes", "request", "http", "headers"}

// Headers says which request headers the shape reads, for Envoy's ext_authz
// allowed_headers: the constant keys under input.attributes.request.http.
// headers, sorted, or all when the headers object is read whole (passed
// as a value, read by a non-constant key, or a parent read whole). Neither:
// the policy reads no header.
func (s *InputShape) Headers() (names []string, all bool) {
	c := s
	for _, k := range headersPath {
		var ok bool
		if c, ok = c.Child(k); !ok {
			return nil, false
		}
	}
	if c.Whole() {
		return nil, true
	}
	return slices.Sorted(maps.Keys(c.kids)), false
}

// String renders the paths, e.g. "input.identity, input.milvus.db".
func (s *InputShape) String() string {
	var b strings.Builder
	for i, p := range s.Paths() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.Join(append([]string{"input"}, p...), "."))
	}
	return b.String()
}

// add marks path as read.
func (s *InputShape) add(path []string) {
	if s.Whole() {
		return
	}
	if len(path) == 0 {
		s.kids = nil
		return
	}
	c, ok := s.kids[path[0]]
	if !ok {
		if len(path) == 1 {
			s.kids[path[0]] = &InputShape{}
			return
		}
		c = &InputShape{kids: map[string]*InputShape{}}
		s.kids[path[0]] = c
	}
	if c.Whole() {
		return
	}
	c.add(path[1:])
}

// analyze returns the input shape of the rules query depends on, and
// whether their decisions depend on nothing but that input and the
// bundle's data (no non-deterministic built-in such as time.now_ns or
// http.send), so that they may be cached by the values read.
func analyze(c *ast.Compiler, query ast.Ref) (*InputShape, bool) {
	shape := &InputShape{kids: map[string]*InputShape{}}
	deterministic := true
	seen := map[*ast.Rule]bool{}
	var queue []*ast.Rule
	push := func(r *ast.Rule) {
		for ; r != nil; r = r.Else {
			if !seen[r] {
				seen[r] = true
				queue = append(queue, r)
			}
		}
	}
	for _, r := range c.GetRulesWithPrefix(query) {
		push(r)
	}
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch v := x.(type) {
		case ast.Ref:
			if !v.HasPrefix(ast.InputRootRef) {
				return false
			}
			shape.add(groundKeys(v[1:]))
			for _, t := range v[1:] { // refs inside dynamic keys
				vis.Walk(t)
			}
			return true
		case ast.Var:
			// input as a value, not the head of a ref: all of it is read.
			if v.Equal(ast.InputRootDocument.Value) {
				shape.add(nil)
			}
		case ast.Call:
			if nondeterministic(v[0]) {
				deterministic = false
			}
		case *ast.Expr:
			if v.IsCall() && nondeterministic(v.OperatorTerm()) {
				deterministic = false
			}
		}
		return false
	})
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		vis.Walk(r)
		for dep := range c.Graph.Dependencies(r) {
			if d, ok := dep.(*ast.Rule); ok {
				push(d)
			}
		}
	}
	if shape.Whole() {
		return nil, deterministic
	}
	return shape, deterministic
}

// groundKeys is the leading run of constant strings of a ref's tail.
func groundKeys(tail ast.Ref) []string {
	keys := make([]string, 0, len(tail))
	for _, t := range tail {
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		keys = append(keys, string(s))
	}
	return keys
}

func nondeterministic(op any) bool {
	t, ok := op.(*ast.Term)
	if !ok {
		return false
	}
	ref, ok := t.Value.(ast.Ref)
	if !ok {
		return false
	}
	b, ok := ast.BuiltinMap[ref.String()]
	return ok && b.Nondeterministic
}

// CacheKey returns the values the decision reads from input, rendered as
// one string: two inputs with the same key get the same decision from this
// bundle. ok is false when the bundle's decisions cannot be cached (it reads
// the whole input, or calls a non-deterministic built-in).
func (b *Bundle) CacheKey(input ast.Value) (key string, ok bool) {
	if !b.cacheable {
		return "", false
	}
	var sb strings.Builder
	for _, p := range b.keyPaths {
		v := input
		for _, k := range p {
			obj, isObj := v.(ast.Object)
			if !isObj {
				v = nil
				break
			}
			t := obj.Get(k)
			if t == nil {
				v = nil
				break
			}
			v = t.Value
		}
		if v == nil {
			sb.WriteString("\x01") // absent differs from every value
		} else {
			sb.WriteString(v.String())
		}
		sb.WriteByte(0)
	}
	return sb.String(), true
}
