package envoyres

import (
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// buildAllowedHeaders restricts the request headers Envoy copies into each
// CheckRequest to those the filter server and the policy read; nil (no
// restriction, as an empty list: Envoy needs one pattern) sends all of
// them. Header names reach the matcher in lower case, as in HTTP/2.
func buildAllowedHeaders(names []string) *matcherv3.ListStringMatcher {
	if len(names) == 0 {
		return nil
	}
	m := &matcherv3.ListStringMatcher{}
	for _, n := range names {
		m.Patterns = append(m.Patterns, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}})
	}
	return m
}
