// Package callsmodule is the edge's calls filter: C source for a dynamic
// module Envoy loads (envoy/filter.c, built by scripts/build-calls-module.sh
// into bin/libmilvus_edge_calls.so) that reads the Milvus status of every
// response and counts every call in Envoy's stats (docs/metrics.md). The C
// has no runtime of its own, so it costs Envoy a few callbacks per call.
//
// This Go package only wraps the module's pure parts — the status reader
// (status.c), the label caps (labels.c) and the call table (table.c) — so
// that go test checks them against the Milvus protos and under concurrent
// calls; the edge never links it.
package callsmodule

/*
#cgo CFLAGS: -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Werror
#cgo LDFLAGS: -lpthread
#include <stdlib.h>
#include "status.h"
#include "labels.h"
#include "table.h"
*/
import "C"

import "unsafe"

// Results of GRPCStatus (status.h).
const (
	Read = int(C.ME_READ)
	Need = int(C.ME_NEED)
	None = int(C.ME_NONE)
	Ask  = int(C.ME_ASK)
)

// Status is a response's Milvus status.
type Status struct {
	Code, ErrorCode int64
	Reason          string
	HasReason       bool
}

func statusOf(st *C.me_status) Status {
	s := Status{Code: int64(st.code), ErrorCode: int64(st.error_code)}
	if st.reason != nil {
		s.HasReason = true
		s.Reason = C.GoStringN(st.reason, C.int(st.reason_len))
	}
	return s
}

// GRPCStatus runs me_grpc_status on b (the first bytes of a gRPC response
// body) for a method whose status is field statusField (-1: not looked up).
func GRPCStatus(b []byte, statusField int) (Status, int, int) {
	p := C.CBytes(b)
	defer C.free(p)
	var st C.me_status
	var need C.size_t
	r := C.me_grpc_status((*C.uint8_t)(p), C.size_t(len(b)), C.int(statusField), &st, &need)
	return statusOf(&st), int(r), int(need)
}

// RESTStatus runs me_rest_status on b (the first bytes of a REST answer).
func RESTStatus(b string) (Status, bool) {
	p := C.CString(b)
	defer C.free(unsafe.Pointer(p))
	var st C.me_status
	ok := C.me_rest_status(p, C.size_t(len(b)), &st) != 0
	return statusOf(&st), ok
}

// PercentDecode runs me_percent_decode (grpc-message's escapes).
func PercentDecode(s string) string {
	p := C.CString(s)
	defer C.free(unsafe.Pointer(p))
	out := make([]byte, len(s)+1)
	n := C.me_percent_decode(p, C.size_t(len(s)), (*C.char)(unsafe.Pointer(&out[0])), C.size_t(len(out)))
	return string(out[:n])
}

// Caps are the module's label caps (labels.c).
type Caps struct{ c *C.me_caps }

// NewCaps returns caps of maxPairs (db, collection) pairs and maxUsers users.
func NewCaps(maxPairs, maxUsers int) *Caps {
	c := (*C.me_caps)(C.malloc(C.sizeof_me_caps))
	C.me_caps_init(c, C.long(maxPairs), C.long(maxUsers))
	return &Caps{c}
}

// Free releases the caps.
func (c *Caps) Free() {
	C.me_caps_free(c.c)
	C.free(unsafe.Pointer(c.c))
}

func str(s string) (C.me_str, func()) {
	p := C.CString(s)
	return C.me_str{p: p, n: C.size_t(len(s))}, func() { C.free(unsafe.Pointer(p)) }
}

// Collection returns the label values of (db, coll).
func (c *Caps) Collection(db, coll string) (string, string) {
	d, f1 := str(db)
	defer f1()
	k, f2 := str(coll)
	defer f2()
	var od, oc C.me_str
	C.me_collection_labels(c.c, d, k, &od, &oc)
	return C.GoStringN(od.p, C.int(od.n)), C.GoStringN(oc.p, C.int(oc.n))
}

// User returns the label value of user.
func (c *Caps) User(user string) string {
	u, f := str(user)
	defer f()
	o := C.me_user_label(c.c, u)
	return C.GoStringN(o.p, C.int(o.n))
}

// Table is the module's call table (table.c).
type Table struct{ t *C.me_table }

// NewTable returns an empty table.
func NewTable() *Table {
	t := (*C.me_table)(C.malloc(C.sizeof_me_table))
	C.me_table_init(t)
	return &Table{t}
}

// Free releases the table.
func (t *Table) Free() {
	C.me_table_free(t.t)
	C.free(unsafe.Pointer(t.t))
}

// Labels are a call's label values, in table.h's order: api, surface,
// path, db, collection, refused, ok.
type Labels [C.ME_NLABELS]string

// Add counts one finished call (me_table_add).
func (t *Table) Add(l Labels, in, out, nq, rows, durUS uint64) {
	var cl [C.ME_NLABELS]C.me_str
	for i, v := range l {
		s, free := str(v)
		defer free()
		cl[i] = s
	}
	C.me_table_add(t.t, &cl[0], C.uint64_t(in), C.uint64_t(out), C.uint64_t(nq), C.uint64_t(rows), C.uint64_t(durUS))
}

// AddUser counts one call of user (me_table_add_user).
func (t *Table) AddUser(user string) {
	u, free := str(user)
	defer free()
	C.me_table_add_user(t.t, u)
}

// Text is the table in the Prometheus text format (me_table_write).
func (t *Table) Text() string {
	var n C.size_t
	p := C.me_table_write(t.t, &n)
	if p == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(p))
	return C.GoStringN(p, C.int(n))
}
