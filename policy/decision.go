package policy

import (
	"fmt"
	"net/http"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// noDecision is the answer when data.milvus.authz.decision is undefined:
// fail closed.
var noDecision = Decision{Reason: "policy returned no decision", Status: http.StatusForbidden}

// Keys of the decision object, as terms so lookups allocate nothing.
var (
	keyAllow   = ast.StringTerm("allow")
	keyReason  = ast.StringTerm("reason")
	keyStatus  = ast.StringTerm("status")
	keyHeaders = ast.StringTerm("headers")
)

// decodeDecision reads the result of the decision query, whose value
// keepTerm left as an *ast.Term.
func decodeDecision(rs rego.ResultSet) (Decision, error) {
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return noDecision, nil
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return Decision{}, fmt.Errorf("%w: unexpected result type %T", ErrMalformedDecision, rs[0].Expressions[0].Value)
	}
	return decisionOf(t.Value)
}

// decisionOf accepts a boolean (as {allow: b}) or a decision object.
// Unknown keys of the object are ignored, so bundles may carry more.
func decisionOf(v ast.Value) (Decision, error) {
	var d Decision
	switch v := v.(type) {
	case ast.Boolean:
		d.Allow = bool(v)
	case ast.Object:
		if err := decisionFields(v, &d); err != nil {
			return Decision{}, err
		}
	default:
		return Decision{}, fmt.Errorf("%w: want an object or a boolean, got %s", ErrMalformedDecision, ast.ValueName(v))
	}
	switch {
	case d.Allow:
		d.Status = 0 // a status is for denials only
	case d.Status == 0:
		d.Status = http.StatusForbidden
	}
	return d, nil
}

// decisionFields reads allow (required), reason, status and headers.
func decisionFields(o ast.Object, d *Decision) error {
	allow := o.Get(keyAllow)
	if allow == nil {
		return fmt.Errorf("%w: allow is missing", ErrMalformedDecision)
	}
	b, ok := allow.Value.(ast.Boolean)
	if !ok {
		return fmt.Errorf("%w: allow must be a boolean, got %s", ErrMalformedDecision, ast.ValueName(allow.Value))
	}
	d.Allow = bool(b)
	if t := o.Get(keyReason); t != nil {
		s, ok := t.Value.(ast.String)
		if !ok {
			return fmt.Errorf("%w: reason must be a string, got %s", ErrMalformedDecision, ast.ValueName(t.Value))
		}
		d.Reason = string(s)
	}
	if t := o.Get(keyStatus); t != nil {
		n, _ := t.Value.(ast.Number) // "" when not a number: Int fails
		code, ok := n.Int()
		if !ok || code < 400 || code > 599 {
			return fmt.Errorf("%w: status must be an HTTP error status (400-599), got %v", ErrMalformedDecision, t)
		}
		d.Status = code
	}
	if t := o.Get(keyHeaders); t != nil {
		h, err := headersOf(t.Value)
		if err != nil {
			return err
		}
		d.Headers = h
	}
	return nil
}

// headersOf reads an object of string values; an empty one is nil.
func headersOf(v ast.Value) (map[string]string, error) {
	o, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("%w: headers must be an object, got %s", ErrMalformedDecision, ast.ValueName(v))
	}
	if o.Len() == 0 {
		return nil, nil
	}
	h := make(map[string]string, o.Len())
	var err error
	o.Foreach(func(k, v *ast.Term) {
		ks, kok := k.Value.(ast.String)
		vs, vok := v.Value.(ast.String)
		if !kok || !vok {
			if err == nil {
				err = fmt.Errorf("%w: headers[%v] must be a string, got %s", ErrMalformedDecision, k, ast.ValueName(v.Value))
			}
			return
		}
		h[string(ks)] = string(vs)
	})
	return h, err
}
