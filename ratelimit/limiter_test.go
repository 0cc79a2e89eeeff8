package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNoRulesAdmits(t *testing.T) {
	l, _ := newTestLimiter(t, nil, nil)
	if l.Active() {
		t.Fatal("Active with no rules")
	}
	mustAdmit(t, l, insert("default", "c", 1<<30), "nil rules")
	l.SetRules(&Rules{})
	if l.Active() {
		t.Fatal("Active with empty rules")
	}
	for range 100 {
		mustAdmit(t, l, query("default", "c"), "empty rules")
	}
}

func TestActive(t *testing.T) {
	for name, r := range map[string]*Rules{
		"edge rate":        {Edge: lv(DQLQuery, 1)},
		"edge deny":        {Edge: Level{DenyReading: true}},
		"edge deny ddl":    {Edge: Level{DenyDDL: true}},
		"database":         {Databases: map[string]Level{"*": {}}},
		"collection":       {Collections: map[string]Level{"*/*": {}}},
		"partition":        {Partitions: map[string]Level{"*/*/*": {}}},
		"caller":           {Callers: []CallerRule{{User: "*"}}},
		"properties alone": {Properties: true},
	} {
		l, _ := newTestLimiter(t, nil, r)
		if !l.Active() {
			t.Errorf("%s: not Active", name)
		}
	}
}

// TestLongRunRate offers three times the rate for 15 fake seconds: what
// passes is the rate times the time plus one burst (and the one call that
// passes at 0 tokens), whatever the cost of a call.
func TestLongRunRate(t *testing.T) {
	const secs = 15
	for _, tc := range []struct {
		name    string
		rules   *Rules
		call    Call
		perSec  float64 // the limit in cost units per second
		offered int     // calls per second, 3× the rate
	}{
		{"query 10 qps", &Rules{Edge: lv(DQLQuery, 10)}, query("default", "c"), 10, 30},
		{"search 40 vps, nq 4", &Rules{Collections: map[string]Level{"default/c": lv(DQLSearch, 40)}},
			search("default", "c", 4), 40, 30},
		{"insert 1 MB/s, 256 KiB calls", &Rules{Databases: map[string]Level{"default": lv(DMLInsert, 1)}},
			insert("default", "c", 256<<10), mb, 12},
		{"ddl 0.5 qps", &Rules{Edge: lv(DDLCollection, 0.5)},
			Call{Type: DDLCollection, Cost: 1, DB: "default", Collection: "c"}, 0.5, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, clk := newTestLimiter(t, nil, tc.rules)
			step := time.Second / time.Duration(tc.offered)
			admitted := 0.0
			for range secs * tc.offered {
				if l.Check(context.Background(), &tc.call) == nil {
					admitted += tc.call.Cost
				}
				clk.advance(step)
			}
			lo, hi := tc.perSec*secs, tc.perSec*secs+tc.perSec+tc.call.Cost
			if admitted < lo-tc.call.Cost || admitted > hi {
				t.Fatalf("admitted %v cost units in %d s, want within [%v, %v] (rate × time + burst)", admitted, secs, lo, hi)
			}
		})
	}
}

// TestHierarchyGivesTokensBack: a refusal at a later level must not keep the
// tokens the earlier levels took. Each case drives a call into debt at the
// refusing level only, refuses a second one there, then sends a call that
// passes the earlier levels only if the second call's tokens came back.
func TestHierarchyGivesTokensBack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rules   *Rules
		limited Call // refused at the last level after the first call
		other   Call // shares the earlier levels only
		scope   Scope
	}{
		{
			name: "collection refuses",
			rules: &Rules{Edge: lv(DQLSearch, 10), Databases: map[string]Level{"default": lv(DQLSearch, 10)},
				Collections: map[string]Level{"default/a": lv(DQLSearch, 1)}},
			limited: search("default", "a", 10), other: search("default", "b", 10), scope: ScopeCollection,
		},
		{
			name: "partition refuses",
			rules: &Rules{Edge: lv(DMLInsert, 1), Collections: map[string]Level{"default/c": lv(DMLInsert, 1)},
				Partitions: map[string]Level{"default/c/p": lv(DMLInsert, 0.25)}},
			limited: withParts(insert("default", "c", 1<<20), "p"), other: withParts(insert("default", "c", 1<<20), "q"),
			scope: ScopePartition,
		},
		{
			name:    "caller refuses",
			rules:   &Rules{Edge: lv(DQLQuery, 1), Callers: []CallerRule{{User: "alice", Rates: Rates{}.Set(DQLQuery, 0.5)}}},
			limited: withUser(query("default", "c"), "alice"), other: withUser(query("default", "c"), "bob"),
			scope: ScopeCaller,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLimiter(t, nil, tc.rules)
			mustAdmit(t, l, tc.limited, "first call")
			ref := mustRefuse(t, l, tc.limited, "second call")
			if ref.Scope != tc.scope || ref.Code != CodeRateLimit {
				t.Fatalf("refused at %s with code %d, want %s code 8", ref.Scope, ref.Code, tc.scope)
			}
			// The earlier levels are now at exactly 0: the other call passes
			// only if the refused call's tokens were given back.
			mustAdmit(t, l, tc.other, "a call sharing only the earlier levels")
			mustRefuse(t, l, tc.other, "the same call again, earlier levels in debt")
		})
	}
}

func withParts(c Call, parts ...string) Call { c.Partitions = parts; return c }
func withUser(c Call, user string) Call      { c.Caller.User = user; return c }

// TestGiveBackManyLevels: every level charged is given back, however many
// (here nine partitions and a caller: more than the checker's stack buffer).
func TestGiveBackManyLevels(t *testing.T) {
	parts := make([]string, 9)
	for i := range parts {
		parts[i] = fmt.Sprintf("p%d", i)
	}
	l, _ := newTestLimiter(t, nil, &Rules{
		Partitions: map[string]Level{"*/*/*": lv(DQLSearch, 1)},
		Callers:    []CallerRule{{User: "bob", Rates: Rates{}.Set(DQLSearch, 1)}},
	})
	mustAdmit(t, l, withUser(search("default", "c", 2), "bob"), "bob, no partitions") // bob at -1
	mustRefuse(t, l, withUser(withParts(search("default", "c", 2), parts...), "bob"), "bob, nine partitions")
	// Every partition bucket must be back at 1 for carol's call to pass.
	mustAdmit(t, l, withUser(withParts(search("default", "c", 2), parts...), "carol"), "carol, nine partitions")
}

func TestLevelOrder(t *testing.T) {
	// Every level at 1 MB/s and put in debt by one call; the refusal names
	// the first level, in Milvus's order, that limits the call. Lifting the
	// levels one by one walks the order.
	rules := Rules{
		Edge:        lv(DMLInsert, 1),
		Databases:   map[string]Level{"*": lv(DMLInsert, 1)},
		Collections: map[string]Level{"*/*": lv(DMLInsert, 1)},
		Partitions:  map[string]Level{"*/*/*": lv(DMLInsert, 1)},
		Callers:     []CallerRule{{User: "*", Rates: Rates{}.Set(DMLInsert, 1)}},
	}
	l, _ := newTestLimiter(t, nil, &rules)
	c := withUser(withParts(insert("d", "c", 2<<20), "p"), "u")
	mustAdmit(t, l, c, "first call") // every level at -1 MiB
	lift := []func(){
		func() { rules.Edge = Level{} },
		func() { rules.Databases = nil },
		func() { rules.Collections = nil },
		func() { rules.Partitions = nil },
	}
	for i, want := range []Scope{ScopeEdge, ScopeDatabase, ScopeCollection, ScopePartition, ScopeCaller} {
		r := rules
		l.SetRules(&r)
		if ref := mustRefuse(t, l, c, want.String()); ref.Scope != want {
			t.Fatalf("refused at %s, want %s", ref.Scope, want)
		}
		if i < len(lift) {
			lift[i]()
		}
	}
}

func TestDMLUnits(t *testing.T) {
	l, clk := newTestLimiter(t, nil, &Rules{Collections: map[string]Level{"default/c": lv(DMLDelete, 2)}})
	del := func(size int64) Call {
		return Call{Type: DMLDelete, Cost: Cost(DMLDelete, size, 0), DB: "default", Collection: "c"}
	}
	mustAdmit(t, l, del(2<<20), "2 MiB delete at 2 MB/s") // 0 bytes left
	mustAdmit(t, l, del(1), "one byte at 0")              // -1 byte
	ref := mustRefuse(t, l, del(1), "in debt")
	want := "request is rejected by grpc RateLimiter middleware, please retry later: rate limit exceeded[rate=2.097152e+06]"
	if ref.Reason != want || ref.Type != DMLDelete || ref.Scope != ScopeCollection {
		t.Fatalf("refusal %+v, want collection DMLDelete %q (rate in bytes/s)", ref, want)
	}
	// 2 MiB/s repays one byte in under a microsecond.
	clk.advance(time.Microsecond)
	mustAdmit(t, l, del(1<<20), "a microsecond later")
}

func TestUpsert(t *testing.T) {
	upsert := func(size int64) Call {
		return Call{Type: DMLUpsert, Cost: Cost(DMLUpsert, size, 0), DB: "default", Collection: "c"}
	}
	t.Run("charged as insert without an upsert limit", func(t *testing.T) {
		l, _ := newTestLimiter(t, nil, &Rules{Edge: lv(DMLInsert, 1)})
		mustAdmit(t, l, upsert(2<<20), "upsert into debt")
		ref := mustRefuse(t, l, insert("default", "c", 1), "insert after the upsert")
		if ref.Type != DMLInsert {
			t.Fatalf("refused as %s, want DMLInsert", ref.Type)
		}
		if ref := mustRefuse(t, l, upsert(1), "upsert again"); ref.Type != DMLInsert {
			t.Fatalf("upsert refused as %s, want DMLInsert (Milvus charges upserts as inserts)", ref.Type)
		}
	})
	t.Run("own limit when set", func(t *testing.T) {
		l, _ := newTestLimiter(t, nil, &Rules{Edge: lv(DMLInsert, 1, DMLUpsert, 4)})
		mustAdmit(t, l, upsert(3<<20), "3 MiB upsert")
		mustAdmit(t, l, upsert(2<<20), "2 MiB upsert at 1 MiB left") // -1 MiB
		mustAdmit(t, l, insert("default", "c", 1<<20), "insert: its own bucket is full")
		if ref := mustRefuse(t, l, upsert(1), "upsert in debt"); ref.Type != DMLUpsert ||
			!strings.HasSuffix(ref.Reason, "[rate=4.194304e+06]") {
			t.Fatalf("refusal %+v, want DMLUpsert at 4 MiB/s", ref)
		}
	})
	t.Run("insert rate 0 denies upserts", func(t *testing.T) {
		l, _ := newTestLimiter(t, nil, &Rules{Edge: lv(DMLInsert, 0)})
		ref := mustRefuse(t, l, upsert(1), "upsert")
		if ref.Code != CodeQuotaExceeded || ref.Reason != "quota exceeded[reason=rate type: DMLInsert]" {
			t.Fatalf("refusal %+v", ref)
		}
	})
}

func TestPartitions(t *testing.T) {
	l, _ := newTestLimiter(t, nil, &Rules{Partitions: map[string]Level{
		"default/c/*":  lv(DMLInsert, 1, DQLSearch, 1),
		"default/c/p1": lv(DMLInsert, 2),
	}})
	ins := func(parts ...string) Call { return withParts(insert("default", "c", 2<<20), parts...) }

	mustAdmit(t, l, ins(), "insert without a partition")
	ref := mustRefuse(t, l, ins("_default"), "insert into _default, charged by the unnamed insert")
	if ref.Scope != ScopePartition || !strings.HasSuffix(ref.Reason, "[rate=1.048576e+06]") {
		t.Fatalf("refusal %+v, want partition at 1 MB/s", ref)
	}
	mustAdmit(t, l, ins("p1"), "p1 (exact rule, own bucket)")
	mustAdmit(t, l, ins("p1"), "p1 at 0")
	mustRefuse(t, l, ins("p1"), "p1 in debt")
	mustAdmit(t, l, ins("p2"), "p2 (\"*\" rule, own bucket)")
	mustAdmit(t, l, withParts(insert("default", "other", 1<<30), "p1"), "another collection has no partition rule")

	// Search: no "_default" without names; every named partition is charged.
	for range 5 {
		mustAdmit(t, l, search("default", "c", 10), "search without partitions")
	}
	mustAdmit(t, l, withParts(search("default", "c", 2), "p3", "p4"), "search p3, p4")
	if ref := mustRefuse(t, l, withParts(search("default", "c", 2), "p5", "p4"), "search p5, p4"); !strings.HasSuffix(ref.Reason, "[rate=1]") {
		t.Fatalf("refusal %+v", ref)
	}
	// p5 passes only if the refused call gave back its 2 (else it is at -1).
	mustAdmit(t, l, withParts(search("default", "c", 1), "p5"), "p5 after the refusal")
}

func TestWildcards(t *testing.T) {
	// Each rule has its own query rate; a bucket of rate r admits r+1 calls
	// at one instant, which names the rule that applied.
	rules := &Rules{
		Databases: map[string]Level{"*": lv(DQLQuery, 1), "big": lv(DQLQuery, 9)},
		Collections: map[string]Level{
			"d1/c1": lv(DQLQuery, 2), "d1/*": lv(DQLQuery, 3), "*/c1": lv(DQLQuery, 4), "*/*": lv(DQLQuery, 5),
		},
	}
	for _, tc := range []struct {
		name  string
		rules *Rules
		c     Call
		want  int
	}{
		{"database *", &Rules{Databases: rules.Databases}, query("d1", ""), 2},
		{"database exact wins", &Rules{Databases: rules.Databases}, query("big", ""), 10},
		{"collection exact", &Rules{Collections: rules.Collections}, query("d1", "c1"), 3},
		{"collection db/*", &Rules{Collections: rules.Collections}, query("d1", "c2"), 4},
		{"collection */coll", &Rules{Collections: rules.Collections}, query("d2", "c1"), 5},
		{"collection */*", &Rules{Collections: rules.Collections}, query("d2", "c2"), 6},
		{"partition exact", &Rules{Partitions: map[string]Level{"d/c/p": lv(DQLQuery, 2), "d/c/*": lv(DQLQuery, 3), "d/*/*": lv(DQLQuery, 4), "*/*/*": lv(DQLQuery, 5)}},
			withParts(query("d", "c"), "p"), 3},
		{"partition d/c/*", &Rules{Partitions: map[string]Level{"d/c/*": lv(DQLQuery, 3), "d/*/*": lv(DQLQuery, 4), "*/*/*": lv(DQLQuery, 5)}},
			withParts(query("d", "c"), "p"), 4},
		{"partition d/*/*", &Rules{Partitions: map[string]Level{"d/*/*": lv(DQLQuery, 4), "*/*/*": lv(DQLQuery, 5)}},
			withParts(query("d", "c"), "p"), 5},
		{"partition */*/*", &Rules{Partitions: map[string]Level{"*/*/*": lv(DQLQuery, 5)}},
			withParts(query("d", "c"), "p"), 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLimiter(t, nil, tc.rules)
			if got := burst(l, tc.c, 100); got != tc.want {
				t.Fatalf("%d calls admitted at once, want %d", got, tc.want)
			}
		})
	}
	t.Run("each object its own bucket", func(t *testing.T) {
		l, _ := newTestLimiter(t, nil, rules)
		burst(l, query("d9", "x"), 100) // drains d9's database bucket
		if got := burst(l, query("d8", "x"), 100); got != 2 {
			t.Fatalf("d8 after d9 was drained: %d admitted, want 2", got)
		}
		burst(l, query("big", "c8"), 100) // drains */* for big/c8
		if got := burst(l, query("d7", "c9"), 100); got != 2 {
			t.Fatalf("d7/c9: %d admitted, want 2 (its own database bucket of 1, own */* bucket)", got)
		}
	})
}

func TestCallers(t *testing.T) {
	q := func(c Caller) Call { x := query("default", "c"); x.Caller = c; return x }
	alice, bob := Caller{User: "alice"}, Caller{User: "bob"}
	two := Rates{}.Set(DQLQuery, 2)
	for _, tc := range []struct {
		name  string
		rules []CallerRule
		calls []Caller // in this order, each drained at one instant
		want  []int
	}{
		{"user", []CallerRule{{User: "alice", Rates: two}}, []Caller{alice, bob}, []int{3, 50}},
		{"user *: one bucket each", []CallerRule{{User: "*", Rates: two}}, []Caller{alice, bob, {}}, []int{3, 3, 50}},
		{"user * and by name: two buckets, both apply",
			[]CallerRule{{User: "*", Rates: two}, {User: "alice", Rates: Rates{}.Set(DQLQuery, 5)}},
			[]Caller{alice, bob}, []int{3, 3}},
		{"by name and user *, the tighter by name",
			[]CallerRule{{User: "alice", Rates: Rates{}.Set(DQLQuery, 1)}, {User: "*", Rates: Rates{}.Set(DQLQuery, 5)}},
			[]Caller{alice, bob}, []int{2, 6}},
		{"role: one bucket for every holder", []CallerRule{{Role: "reader", Rates: two}},
			[]Caller{{User: "a", Roles: []string{"admin", "reader"}}, {User: "b", Roles: []string{"reader"}}, {User: "c", Roles: []string{"admin"}}},
			[]int{3, 0, 50}},
		{"api key", []CallerRule{{APIKey: "k1", Rates: two}},
			[]Caller{{APIKey: "k1"}, {User: "x", APIKey: "k1"}, {APIKey: "k2"}}, []int{3, 0, 50}},
		{"jwt group", []CallerRule{{JWTGroup: "etl", Rates: two}},
			[]Caller{{User: "a", Groups: []string{"etl"}}, {User: "b", Groups: []string{"bi", "etl"}}, {User: "c", Groups: []string{"bi"}}},
			[]int{3, 0, 50}},
		{"rule for another type", []CallerRule{{User: "alice", Rates: Rates{}.Set(DQLSearch, 0)}}, []Caller{alice}, []int{50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLimiter(t, nil, &Rules{Callers: tc.rules})
			for i, c := range tc.calls {
				if got := burst(l, q(c), 50); got != tc.want[i] {
					t.Fatalf("caller %+v: %d admitted at once, want %d", c, got, tc.want[i])
				}
			}
		})
	}
	t.Run("refusal", func(t *testing.T) {
		l, _ := newTestLimiter(t, nil, &Rules{Callers: []CallerRule{{User: "*", Rates: Rates{}.Set(DMLInsert, 1)}}})
		c := insert("default", "c", 2<<20)
		c.Caller = alice
		mustAdmit(t, l, c, "first")
		ref := mustRefuse(t, l, c, "second")
		if ref.Scope != ScopeCaller || ref.Code != CodeRateLimit || ref.Type != DMLInsert {
			t.Fatalf("refusal %+v", ref)
		}
		c.Caller = bob
		mustAdmit(t, l, c, "bob while alice is throttled")
	})
}

func TestForceDeny(t *testing.T) {
	ddl := Call{Type: DDLCollection, Cost: 1, DB: "db1", Collection: "c"}
	for _, tc := range []struct {
		name   string
		rules  *Rules
		denied []Call
		passes []Call
		scope  Scope
	}{
		{"edge writing", &Rules{Edge: Level{DenyWriting: true}},
			[]Call{insert("db1", "c", 1), {Type: DMLUpsert, Cost: 1, DB: "db1", Collection: "c"}, {Type: DMLDelete, Cost: 1, DB: "db1", Collection: "c"}},
			[]Call{query("db1", "c"), search("db1", "c", 1), ddl}, ScopeEdge},
		{"edge reading", &Rules{Edge: Level{DenyReading: true}},
			[]Call{query("db1", "c"), search("db1", "c", 1)}, []Call{insert("db1", "c", 1), ddl}, ScopeEdge},
		{"edge ddl", &Rules{Edge: Level{DenyDDL: true}},
			[]Call{ddl, {Type: DDLDB, Cost: 1, DB: "db1"}, {Type: DDLFlush, Cost: 1, DB: "db1", Collection: "c"}},
			[]Call{insert("db1", "c", 1), query("db1", "c")}, ScopeEdge},
		{"database writing", &Rules{Databases: map[string]Level{"db1": {DenyWriting: true}}},
			[]Call{insert("db1", "c", 1)}, []Call{insert("db2", "c", 1), query("db1", "c")}, ScopeDatabase},
		{"database reading via *", &Rules{Databases: map[string]Level{"*": {DenyReading: true}, "db2": {}}},
			[]Call{search("db1", "c", 1)}, []Call{search("db2", "c", 1), insert("db1", "c", 1)}, ScopeDatabase},
		{"collection writing", &Rules{Collections: map[string]Level{"db1/c": {DenyWriting: true}}},
			[]Call{insert("db1", "c", 1)}, []Call{insert("db1", "d", 1)}, ScopeCollection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLimiter(t, nil, tc.rules)
			for _, c := range tc.denied {
				ref := mustRefuse(t, l, c, c.Type.String())
				if ref.Code != CodeQuotaExceeded || ref.Scope != tc.scope || ref.Type != c.Type ||
					ref.Reason != "quota exceeded[reason=access has been disabled by the administrator]" {
					t.Fatalf("%s: refusal %+v", c.Type, ref)
				}
			}
			for _, c := range tc.passes {
				for range 20 {
					mustAdmit(t, l, c, c.Type.String()+" of another class or object")
				}
			}
		})
	}
	t.Run("deny takes no tokens", func(t *testing.T) {
		l, _ := newTestLimiter(t, nil, &Rules{Edge: lv(DQLQuery, 1), Databases: map[string]Level{"db1": {DenyReading: true}}})
		for range 5 {
			mustRefuse(t, l, query("db1", "c"), "denied")
		}
		if got := burst(l, query("db2", "c"), 10); got != 2 {
			t.Fatalf("edge bucket admitted %d after denied calls, want a full 2", got)
		}
	})
}

func TestRateZero(t *testing.T) {
	for _, tc := range []struct {
		rules *Rules
		c     Call
		scope Scope
	}{
		{&Rules{Edge: lv(DDLFlush, 0)}, Call{Type: DDLFlush, Cost: 1, DB: "d", Collection: "c"}, ScopeEdge},
		{&Rules{Databases: map[string]Level{"d": lv(DQLSearch, 0)}}, search("d", "c", 1), ScopeDatabase},
		{&Rules{Collections: map[string]Level{"d/c": lv(DMLDelete, 0)}}, Call{Type: DMLDelete, Cost: 1, DB: "d", Collection: "c"}, ScopeCollection},
		{&Rules{Partitions: map[string]Level{"d/c/_default": lv(DMLInsert, 0)}}, insert("d", "c", 1), ScopePartition},
		{&Rules{Edge: lv(DQLQuery, 100), Callers: []CallerRule{{Role: "r", Rates: Rates{}.Set(DQLQuery, 0)}}},
			Call{Type: DQLQuery, Cost: 1, DB: "d", Collection: "c", Caller: Caller{Roles: []string{"r"}}}, ScopeCaller},
	} {
		t.Run(tc.scope.String(), func(t *testing.T) {
			l, _ := newTestLimiter(t, nil, tc.rules)
			ref := mustRefuse(t, l, tc.c, "rate 0")
			want := "quota exceeded[reason=rate type: " + tc.c.Type.String() + "]"
			if ref.Code != CodeQuotaExceeded || ref.Scope != tc.scope || ref.Reason != want {
				t.Fatalf("refusal %+v, want code 9 at %s %q", ref, tc.scope, want)
			}
		})
	}
}

func TestProperties(t *testing.T) {
	configured := &Rules{Properties: true, Collections: map[string]Level{"d/c": lv(DQLSearch, 3, DQLQuery, 3)}}
	for _, tc := range []struct {
		name  string
		rules *Rules
		props *fakeProperties
		c     Call
		want  int // calls admitted at one instant
	}{
		{"search property wins", configured,
			&fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.searchRate.max.vps": "1"}}},
			search("d", "c", 1), 2},
		{"other types keep the configured limit", configured,
			&fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.searchRate.max.vps": "1"}}},
			query("d", "c"), 4},
		{"query property", configured,
			&fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.queryRate.max.qps": "7"}}},
			query("d", "c"), 8},
		{"insert property in MB/s", &Rules{Properties: true},
			&fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.insertRate.max.mb": "2"}}},
			insert("d", "c", 1<<20), 3},
		{"upsert property", &Rules{Properties: true},
			&fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.upsertRate.max.mb": "1"}}},
			Call{Type: DMLUpsert, Cost: 1 << 20, DB: "d", Collection: "c"}, 2},
		{"delete property", &Rules{Properties: true},
			&fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.deleteRate.max.mb": "0.5"}}},
			Call{Type: DMLDelete, Cost: 1 << 19, DB: "d", Collection: "c"}, 2},
		{"another collection", configured,
			&fakeProperties{coll: map[string]map[string]string{"d/x": {"collection.searchRate.max.vps": "1"}}},
			search("d", "c", 1), 4},
		{"error: the configured limits", configured, &fakeProperties{err: errors.New("schema not cached")},
			search("d", "c", 1), 4},
		{"rules without properties ignore them", &Rules{Collections: configured.Collections},
			&fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.searchRate.max.vps": "1"}}},
			search("d", "c", 1), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newTestLimiter(t, tc.props, tc.rules)
			if got := burst(l, tc.c, 50); got != tc.want {
				t.Fatalf("%d admitted at once, want %d", got, tc.want)
			}
		})
	}
	t.Run("malformed values are ignored", func(t *testing.T) {
		for _, v := range []string{"", "abc", "-1", "NaN", "1e400x", "0x"} {
			props := &fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.searchRate.max.vps": v}}}
			l, _ := newTestLimiter(t, props, configured)
			if got := burst(l, search("d", "c", 1), 50); got != 4 {
				t.Errorf("searchRate %q: %d admitted at once, want 4 (the configured 3)", v, got)
			}
		}
	})
	t.Run("property 0 denies", func(t *testing.T) {
		props := &fakeProperties{coll: map[string]map[string]string{"d/c": {"collection.searchRate.max.vps": "0"}}}
		l, _ := newTestLimiter(t, props, configured)
		if ref := mustRefuse(t, l, search("d", "c", 1), "rate 0"); ref.Code != CodeQuotaExceeded || ref.Scope != ScopeCollection {
			t.Fatalf("refusal %+v", ref)
		}
	})
	t.Run("database force deny", func(t *testing.T) {
		props := &fakeProperties{db: map[string]map[string]string{
			"d":  {"database.force.deny.writing": "true"},
			"r":  {"database.force.deny.reading": "True", "database.force.deny.ddl": "1"},
			"no": {"database.force.deny.writing": "yes", "database.force.deny.reading": "false"},
		}}
		l, _ := newTestLimiter(t, props, &Rules{Properties: true, Databases: map[string]Level{"*": lv(DQLQuery, 100)}})
		ref := mustRefuse(t, l, insert("d", "c", 1), "insert into d")
		if ref.Code != CodeQuotaExceeded || ref.Scope != ScopeDatabase ||
			ref.Reason != "quota exceeded[reason=access has been disabled by the administrator]" {
			t.Fatalf("refusal %+v", ref)
		}
		mustAdmit(t, l, query("d", "c"), "query in d (reading not denied)")
		mustAdmit(t, l, insert("e", "c", 1), "insert into e")
		mustRefuse(t, l, query("r", "c"), "query in r")
		mustRefuse(t, l, Call{Type: DDLIndex, Cost: 1, DB: "r", Collection: "c"}, "ddl in r")
		mustAdmit(t, l, insert("r", "c", 1), "insert into r")
		mustAdmit(t, l, insert("no", "c", 1), "insert into no (\"yes\" is not a bool)")
		mustAdmit(t, l, query("no", "c"), "query in no")
		// The configured database limit still applies beside the deny switch.
		if got := burst(l, query("d", "c"), 200); got != 100 { // one query above already
			t.Fatalf("d's configured query limit: %d admitted, want 100", got)
		}
	})
}

func TestSetRules(t *testing.T) {
	l, clk := newTestLimiter(t, nil, &Rules{Edge: lv(DQLQuery, 10)})
	for range 5 {
		mustAdmit(t, l, query("d", "c"), "draining")
	}
	l.SetRules(&Rules{Edge: lv(DQLQuery, 20)})
	if got := burst(l, query("d", "c"), 100); got != 6 {
		t.Fatalf("after raising the rate, %d admitted, want 6 (5 tokens kept)", got)
	}
	clk.advance(time.Second) // -1 + 20
	if got := burst(l, query("d", "c"), 100); got != 20 {
		t.Fatalf("a second later, %d admitted, want 20 (the new rate)", got)
	}
	clk.advance(time.Hour)
	l.SetRules(&Rules{Edge: lv(DQLQuery, 2)})
	if got := burst(l, query("d", "c"), 100); got != 3 {
		t.Fatalf("after lowering the rate to 2, %d admitted, want 3", got)
	}
	l.SetRules(&Rules{})
	mustAdmit(t, l, query("d", "c"), "rules without limits")
	l.SetRules(nil)
	mustAdmit(t, l, query("d", "c"), "nil rules")
}
