// The call counts: one entry per label tuple, summed inside Envoy's
// process with atomic adds (no Envoy stat is touched per call), and
// written out in the Prometheus text format when the edge asks
// (callsmodule/envoy/admin.c, GET /milvus_edge/calls on Envoy's admin).
#ifndef MILVUS_EDGE_TABLE_H
#define MILVUS_EDGE_TABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "labels.h"

// The labels of a call tuple, in this order.
enum { ME_API, ME_SURFACE, ME_PATH, ME_DB, ME_COLLECTION, ME_REFUSED, ME_OK, ME_NLABELS };

// ME_BUCKETS are Milvus's latency buckets (1, 2, 4 … 131072 ms); the
// durations are kept in µs.
#define ME_BUCKETS 18

typedef struct {
  _Atomic uint64_t calls, in, out, nq, rows, dur_count, dur_sum_us;
  _Atomic uint64_t bucket[ME_BUCKETS]; // durations in (bound i-1, bound i]
} me_values;

typedef struct {
  char *key; // the labels, each as a 2-byte length and its bytes
  size_t key_len;
  me_values v;
} me_entry;

typedef struct {
  char *name;
  size_t len;
  _Atomic uint64_t calls;
} me_user;

// me_table holds the entries and the per-user call counts, never removed
// (the label caps bound them). Lookups share a read lock; an entry's
// counters are atomics, so calls on both of Envoy's workers add at once.
typedef struct {
  pthread_rwlock_t mu;
  me_set index, user_index; // key → position in entries / users
  me_entry **entries;
  size_t len, cap;
  me_user **users;
  size_t users_len, users_cap;
} me_table;

void me_table_init(me_table *t);
// me_table_free releases what the table holds (the module's lives as long
// as Envoy; the tests free theirs).
void me_table_free(me_table *t);
// me_table_add counts one finished call of the tuple labels.
void me_table_add(me_table *t, const me_str labels[ME_NLABELS], uint64_t in, uint64_t out, uint64_t nq,
                  uint64_t rows, uint64_t dur_us);
// me_table_add_user counts one call of user (a capped label value).
void me_table_add_user(me_table *t, me_str user);
// me_table_write returns the counts as Prometheus text (malloc'ed; *len
// set), or NULL when out of memory.
char *me_table_write(me_table *t, size_t *len);

#endif
