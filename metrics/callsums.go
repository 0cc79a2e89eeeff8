package metrics

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// callSums are the Milvus Proxy families of one read of Envoy's stats: the
// module's tuples, each resolved to its function and capped labels, summed
// into the series they fall in. A series exists as soon as a tuple falls
// in it, with 0 where none of its calls counts (Milvus binds them
// likewise): a function's three req_count statuses and its latency
// histogram, the send bytes and vectors of a search.
type callSums struct {
	req      map[seriesKey]*reqSums
	latency  map[string]*histSum   // by function; successful calls only
	recv     map[[3]string]float64 // msg_type, db_name, collection_name
	send     *float64              // nil until a search or query
	vectors  map[vectorKey]float64
	rest     map[string]*restSums // by path
	refusals map[string]float64   // by who refused
	users    map[string]float64
}

type seriesKey struct{ fn, db, coll string }

type reqSums struct{ success, fail float64 }

// vectorKey names a series of search_vectors_count (fn "Search"),
// insert_vectors_count or upsert_vectors_count.
type vectorKey struct{ fn, db, coll string }

type restSums struct {
	count, in, out float64
	latency        histSum // every call
}

// histSum is a histogram in Milvus's ms buckets.
type histSum struct {
	count   uint64
	sum     float64
	buckets [18]uint64 // cumulative, by milvusBuckets
}

// add adds an Envoy histogram in µs. The bootstrap gives the module's
// histogram Milvus's bounds ×1000, which makes this exact; with other
// bounds each Milvus bucket gets the count of the next raw bound down.
func (h *histSum) add(d *rawHistogram) {
	if d == nil {
		return
	}
	h.count += d.count
	h.sum += d.sum / 1000
	for i, b := range milvusBuckets {
		h.buckets[i] += d.below(b * 1000)
	}
}

func (h *histSum) metric(d *prometheus.Desc, labels ...string) prometheus.Metric {
	b := make(map[float64]uint64, len(milvusBuckets))
	for i, ub := range milvusBuckets {
		b[ub] = h.buckets[i]
	}
	return prometheus.MustNewConstHistogram(d, h.count, h.sum, b, labels...)
}

// sum resolves and caps the tuples and users of raw. They are taken in a
// stable order, so that the caps admit the same names whatever order Envoy
// lists them in.
func (c *Calls) sum(raw *envoyCalls) *callSums {
	s := &callSums{req: map[seriesKey]*reqSums{}, latency: map[string]*histSum{}, recv: map[[3]string]float64{},
		vectors: map[vectorKey]float64{}, rest: map[string]*restSums{}, refusals: map[string]float64{}, users: map[string]float64{}}
	tuples := slices.SortedFunc(maps.Keys(raw.tuples), func(a, b callTuple) int {
		return cmp.Or(strings.Compare(a.db, b.db), strings.Compare(a.coll, b.coll), strings.Compare(a.api, b.api),
			strings.Compare(a.path, b.path), strings.Compare(a.surface, b.surface), strings.Compare(a.refused, b.refused),
			cmp.Compare(boolInt(a.ok), boolInt(b.ok)))
	})
	for _, t := range tuples {
		s.add(c, t, raw.tuples[t])
	}
	for _, u := range slices.Sorted(maps.Keys(raw.users)) {
		if u != "" { // the module counts only calls that name a user
			s.users[c.users.label(u)] += raw.users[u]
		}
	}
	return s
}

func (s *callSums) add(c *Calls, t callTuple, v *callValues) {
	k := call{path: t.path, api: t.api, surface: t.surface}
	k.resolve()
	db, coll := c.colls.labels(t.db, t.coll)
	key := seriesKey{k.fn, db, coll}
	r, lat := s.req[key], s.latency[k.fn]
	if r == nil {
		r = &reqSums{}
		s.req[key] = r
	}
	if lat == nil {
		lat = &histSum{}
		s.latency[k.fn] = lat
	}
	// What only successful calls count: zero for the others.
	var out, nq, rows float64
	if t.ok {
		r.success += v.calls
		lat.add(v.dur)
		out, nq, rows = v.out, v.nq, v.rows
	} else {
		r.fail += v.calls
	}
	if mt, ok := msgTypes[k.fn]; ok {
		s.recv[[3]string{mt, db, coll}] += v.in
	}
	switch k.fn {
	case "Search", "HybridSearch":
		s.addSend(out)
		s.vectors[vectorKey{"Search", db, coll}] += nq
	case "Query":
		s.addSend(out)
	case "Insert", "Upsert":
		s.vectors[vectorKey{k.fn, db, coll}] += rows
	}
	if k.rest {
		rs := s.rest[k.restPath]
		if rs == nil {
			rs = &restSums{}
			s.rest[k.restPath] = rs
		}
		rs.count, rs.in, rs.out = rs.count+v.calls, rs.in+v.in, rs.out+v.out
		rs.latency.add(v.dur)
	}
	if t.refused != "" {
		s.refusals[refusedLabel(t.refused)] += v.calls
	}
}

func (s *callSums) addSend(n float64) {
	if s.send == nil {
		s.send = new(float64)
	}
	*s.send += n
}

func (s *callSums) collect(c *Calls, ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for k, r := range s.req {
		counter(c.reqCount, r.success+r.fail, c.node, k.fn, StatusTotal, k.db, k.coll)
		counter(c.reqCount, r.success, c.node, k.fn, StatusSuccess, k.db, k.coll)
		counter(c.reqCount, r.fail, c.node, k.fn, StatusFail, k.db, k.coll)
	}
	for fn, h := range s.latency {
		ch <- h.metric(c.reqLatency, c.node, fn)
	}
	for k, n := range s.recv {
		counter(c.recvBytes, n, c.node, k[0], k[1], k[2])
	}
	if s.send != nil {
		counter(c.sendBytes, *s.send, c.node)
	}
	vectors := map[string]*prometheus.Desc{"Search": c.searchVectors, "Insert": c.insertVectors, "Upsert": c.upsertVectors}
	for k, n := range s.vectors {
		counter(vectors[k.fn], n, c.node, k.db, k.coll)
	}
	for path, r := range s.rest {
		counter(c.restCount, r.count, c.node, path)
		counter(c.restRecv, r.in, c.node, path)
		counter(c.restSend, r.out, c.node, path)
		ch <- r.latency.metric(c.restLatency, c.node, path)
	}
	for by, n := range s.refusals {
		counter(c.refusals, n, by)
	}
	for u, n := range s.users {
		counter(c.userRPC, n, u)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
