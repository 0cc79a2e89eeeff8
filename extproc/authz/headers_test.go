package authz

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRequestHeadersListsEveryRead reads this package's source and fails on
// a request header read that RequestHeaders does not list: Envoy would not
// send it (allowed_headers), and the read would always find "". A read is
// an index of GetHeaders()'s map, directly or through a variable, or a get
// on the headers that newHeaders returns; its key must be a constant.
// Only newHeaders and headers.term may use the whole map: they hand it to
// the policy, whose reads the control plane adds (policy.InputShape).
func TestRequestHeadersListsEveryRead(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[n.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
		}
	}
	reads := 0
	check := func(fn string, pos token.Pos, key ast.Expr) {
		t.Helper()
		reads++
		var name string
		switch k := key.(type) {
		case *ast.BasicLit:
			name, _ = strconv.Unquote(k.Value)
		case *ast.Ident:
			name = consts[k.Name]
		}
		switch {
		case name == "":
			t.Errorf("%s (%s): reads a header by a non-constant key; Envoy sends only the listed ones", fset.Position(pos), fn)
		case !slices.Contains(RequestHeaders, name):
			t.Errorf("%s (%s): reads header %q, which RequestHeaders does not list: Envoy will not send it", fset.Position(pos), fn, name)
		}
	}
	for _, f := range parsed {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			fn := fd.Name.Name
			wholeOK := fn == "newHeaders" || fn == "term"
			maps, hdrs := map[string]bool{}, map[string]bool{} // variables holding GetHeaders() / newHeaders()
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
					for i, r := range as.Rhs {
						id, ok := as.Lhs[i].(*ast.Ident)
						switch {
						case !ok:
						case isCall(r, "GetHeaders"):
							maps[id.Name] = true
						case isCall(r, "newHeaders"):
							hdrs[id.Name] = true
						}
					}
				}
				return true
			})
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.IndexExpr:
					if id, ok := x.X.(*ast.Ident); (ok && maps[id.Name]) || isCall(x.X, "GetHeaders") {
						check(fn, x.Pos(), x.Index)
					}
				case *ast.CallExpr:
					if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "get" && len(x.Args) == 1 {
						if id, ok := sel.X.(*ast.Ident); ok && hdrs[id.Name] {
							check(fn, x.Pos(), x.Args[0])
						}
					}
				}
				return true
			})
			if !wholeOK {
				assertNoWholeUse(t, fset, fn, fd.Body, maps)
			}
		}
	}
	if reads < len(RequestHeaders) {
		t.Fatalf("found %d header reads, fewer than the %d listed headers: the scan no longer recognises the readers", reads, len(RequestHeaders))
	}
}

// assertNoWholeUse fails on a use of a GetHeaders() map other than an index
// (a range, a call argument): it could read any header.
func assertNoWholeUse(t *testing.T, fset *token.FileSet, fn string, body *ast.BlockStmt, maps map[string]bool) {
	t.Helper()
	allowed := map[ast.Expr]bool{}
	ast.Inspect(body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.IndexExpr:
			allowed[x.X] = true
		case *ast.AssignStmt: // hs := h.GetHeaders()
			if len(x.Lhs) == len(x.Rhs) {
				for i, r := range x.Rhs {
					if id, ok := x.Lhs[i].(*ast.Ident); ok && maps[id.Name] && isCall(r, "GetHeaders") {
						allowed[id], allowed[r] = true, true
					}
				}
			}
		}
		return true
	})
	ast.Inspect(body, func(n ast.Node) bool {
		e, ok := n.(ast.Expr)
		if !ok {
			return true
		}
		if allowed[e] {
			return false
		}
		if id, ok := e.(*ast.Ident); (ok && maps[id.Name]) || isCall(e, "GetHeaders") {
			t.Errorf("%s (%s): uses the whole header map; read headers by constant keys listed in RequestHeaders", fset.Position(e.Pos()), fn)
			return false
		}
		return true
	})
}

// isCall says e calls a function or method named name.
func isCall(e ast.Expr, name string) bool {
	c, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name == name
	case *ast.SelectorExpr:
		return f.Sel.Name == name
	}
	return false
}
