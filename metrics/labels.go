package metrics

import (
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/milvus-edge/milvus-edge/extproc/milvusgrpc"
)

// Other stands for every value beyond a label's cap, or outside its known set.
const Other = "__other__"

// maxLabelLen is the longest name kept as a label value: Milvus names are at
// most 255 characters, so a longer one is not a Milvus name.
const maxLabelLen = 255

// maxUsers caps the distinct username label values.
const maxUsers = 1000

// collections bounds the (db_name, collection_name) label pairs: the first
// max distinct pairs keep their names; later pairs become (db, __other__)
// when db already has a pair of its own, else (__other__, __other__). The
// pair ("", "") of calls that name neither is always kept. The module caps
// the pairs by the same rule before the edge sees them: a pair it already
// capped (either name Other) passes as it is and takes no place.
type collections struct {
	max atomic.Int64

	// mu guards pairs and dbs.
	mu    sync.RWMutex
	pairs map[[2]string]struct{}
	dbs   map[string]struct{}
}

func newCollections(max int) *collections {
	c := &collections{pairs: map[[2]string]struct{}{}, dbs: map[string]struct{}{}}
	c.max.Store(int64(max))
	return c
}

// labels returns the label values for (db, coll).
func (c *collections) labels(db, coll string) (string, string) {
	if db == "" && coll == "" {
		return "", ""
	}
	if !labelValue(db) || !labelValue(coll) {
		return Other, Other
	}
	if db == Other || coll == Other {
		return db, coll
	}
	p := [2]string{db, coll}
	c.mu.RLock()
	_, ok := c.pairs[p]
	c.mu.RUnlock()
	if ok {
		return db, coll
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pairs[p]; ok {
		return db, coll
	}
	if int64(len(c.pairs)) < c.max.Load() {
		c.pairs[p] = struct{}{}
		c.dbs[db] = struct{}{}
		return db, coll
	}
	if _, ok := c.dbs[db]; ok {
		return db, Other
	}
	return Other, Other
}

// users bounds the username label values: the first max distinct users
// keep their names; later ones, and names that are no label value, are
// Other. The module caps them likewise: this is a second guard.
type users struct {
	max int

	// mu guards seen.
	mu   sync.RWMutex
	seen map[string]struct{}
}

func newUsers(max int) *users { return &users{max: max, seen: map[string]struct{}{}} }

// label returns the label value of the user name.
func (u *users) label(name string) string {
	u.mu.RLock()
	_, ok := u.seen[name]
	u.mu.RUnlock()
	if ok {
		return name
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.seen[name]; ok {
		return name
	}
	if name == Other || !labelValue(name) || len(u.seen) >= u.max {
		return Other
	}
	u.seen[name] = struct{}{}
	return name
}

// labelValue says v may be a label value: valid UTF-8 (Prometheus refuses
// anything else) and no longer than a Milvus name.
func labelValue(v string) bool { return len(v) <= maxLabelLen && utf8.ValidString(v) }

// functions are the MilvusService method names: the only function_name
// values besides Other.
var functions = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, n := range milvusgrpc.Methods() {
		m[n] = struct{}{}
	}
	return m
}()
