package ratelimit

import (
	"slices"
	"testing"
)

func TestStats(t *testing.T) {
	l, _ := newTestLimiter(t, nil, &Rules{
		Edge:        lv(DQLSearch, 100),
		Databases:   map[string]Level{"d": {Rates: Rates{}.Set(DQLSearch, 100), DenyWriting: true}},
		Collections: map[string]Level{"d/a": lv(DQLSearch, 1)},
		Partitions:  map[string]Level{"*/*/*": lv(DQLSearch, 100)},
		Callers:     []CallerRule{{User: "*", Rates: Rates{}.Set(DQLSearch, 100)}, {Role: "r", Rates: Rates{}.Set(DQLSearch, 100)}},
	})
	c := withParts(search("d", "a", 2), "p1", "p2", "p3") // a's collection bucket: 1 → -1
	c.Caller = Caller{User: "u", Roles: []string{"r"}}
	mustAdmit(t, l, c, "first")
	mustRefuse(t, l, c, "second, refused at the collection")
	mustAdmit(t, l, search("d", "b", 1), "b: edge and database only")
	mustRefuse(t, l, insert("d", "a", 1), "insert into d, denied")
	mustAdmit(t, l, insert("x", "y", 1), "insert into x: no limit, not counted")
	want := []Count{
		{Scope: "edge", RateType: "DQLSearch", Admitted: 2},
		{Scope: "database", RateType: "DMLInsert", Refused: 1},
		{Scope: "database", RateType: "DQLSearch", Admitted: 2},
		{Scope: "collection", RateType: "DQLSearch", Admitted: 1, Refused: 1},
		// Three partitions and two caller rules: one admitted call at each level.
		{Scope: "partition", RateType: "DQLSearch", Admitted: 1},
		{Scope: "caller", RateType: "DQLSearch", Admitted: 1},
	}
	if got := l.Stats(); !slices.Equal(got, want) {
		t.Fatalf("Stats:\n got %+v\nwant %+v", got, want)
	}
	// Per call: three searches (one refused), one refused insert; the
	// unlimited insert into x is not a checked call.
	wantCalls := []CallCount{
		{RateType: "DMLInsert", Refused: 1},
		{RateType: "DQLSearch", Admitted: 2, Refused: 1},
	}
	if got := l.CallStats(); !slices.Equal(got, wantCalls) {
		t.Fatalf("CallStats:\n got %+v\nwant %+v", got, wantCalls)
	}
}
