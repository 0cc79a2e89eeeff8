#include "table.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_entry(void *p);
static void free_user(void *p);

void me_table_init(me_table *t) {
  memset(t, 0, sizeof(*t));
  pthread_rwlock_init(&t->mu, NULL);
  me_set_init(&t->index), me_set_init(&t->user_index);
}

void me_table_free(me_table *t) {
  for (size_t i = 0; i < t->len; i++) free_entry(t->entries[i]);
  for (size_t i = 0; i < t->users_len; i++) free_user(t->users[i]);
  free(t->entries), free(t->users);
  me_set_free(&t->index), me_set_free(&t->user_index);
  pthread_rwlock_destroy(&t->mu);
}

// key encodes the labels, each as a 2-byte length and its bytes (label
// values are at most ME_MAX_LABEL bytes).
static size_t key(const me_str labels[ME_NLABELS], char *out) {
  size_t n = 0;
  for (int i = 0; i < ME_NLABELS; i++) {
    out[n++] = (char)(labels[i].n >> 8), out[n++] = (char)labels[i].n;
    memcpy(out + n, labels[i].p, labels[i].n);
    n += labels[i].n;
  }
  return n;
}

// grow makes room for one more pointer in *arr (cap *cap).
static int grow(void ***arr, size_t len, size_t *cap) {
  if (len < *cap) return 1;
  size_t c = *cap ? *cap * 2 : 64;
  void **a = realloc(*arr, c * sizeof(void *));
  if (!a) return 0;
  *arr = a, *cap = c;
  return 1;
}

static void *new_entry(const char *k, size_t n) {
  me_entry *e = calloc(1, sizeof(me_entry));
  if (e && !(e->key = malloc(n))) free(e), e = NULL;
  if (e) memcpy(e->key, k, n), e->key_len = n;
  return e;
}

static void free_entry(void *p) {
  me_entry *e = p;
  free(e->key), free(e);
}

static void *new_user(const char *k, size_t n) {
  me_user *u = calloc(1, sizeof(me_user));
  if (u && !(u->name = malloc(n + 1))) free(u), u = NULL;
  if (u) memcpy(u->name, k, n), u->len = n;
  return u;
}

static void free_user(void *p) {
  me_user *u = p;
  free(u->name), free(u);
}

// list is one of the table's two keyed lists: entries or users.
typedef struct {
  me_set *index;
  void ***items;
  size_t *len, *cap;
  void *(*make)(const char *k, size_t n);
  void (*drop)(void *);
} list;

// find_or_add returns the item of key k in l, added (made by l.make) when
// absent, or NULL when out of memory (the call goes uncounted). Lookups
// share the read lock; only an addition takes the write lock.
static void *find_or_add(me_table *t, list l, const char *k, size_t n) {
  pthread_rwlock_rdlock(&t->mu);
  int i = me_set_get(l.index, k, n);
  void *it = i >= 0 ? (*l.items)[i] : NULL;
  pthread_rwlock_unlock(&t->mu);
  if (it) return it;
  pthread_rwlock_wrlock(&t->mu);
  i = me_set_get(l.index, k, n);
  if (i >= 0) {
    it = (*l.items)[i];
  } else if (grow(l.items, *l.len, l.cap) && (it = l.make(k, n))) {
    if (me_set_put(l.index, k, n, (int)*l.len)) {
      (*l.items)[(*l.len)++] = it;
    } else {
      l.drop(it), it = NULL;
    }
  }
  pthread_rwlock_unlock(&t->mu);
  return it;
}

void me_table_add(me_table *t, const me_str labels[ME_NLABELS], uint64_t in, uint64_t out, uint64_t nq,
                  uint64_t rows, uint64_t dur_us) {
  char k[ME_NLABELS * (ME_MAX_LABEL + 2)];
  list l = {&t->index, (void ***)&t->entries, &t->len, &t->cap, new_entry, free_entry};
  me_entry *e = find_or_add(t, l, k, key(labels, k));
  if (!e) return;
  me_values *v = &e->v;
  atomic_fetch_add_explicit(&v->calls, 1, memory_order_relaxed);
  if (in) atomic_fetch_add_explicit(&v->in, in, memory_order_relaxed);
  if (out) atomic_fetch_add_explicit(&v->out, out, memory_order_relaxed);
  if (nq) atomic_fetch_add_explicit(&v->nq, nq, memory_order_relaxed);
  if (rows) atomic_fetch_add_explicit(&v->rows, rows, memory_order_relaxed);
  atomic_fetch_add_explicit(&v->dur_count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&v->dur_sum_us, dur_us, memory_order_relaxed);
  int b = 0;
  while (b < ME_BUCKETS && dur_us > (uint64_t)1000 << b) b++;
  if (b < ME_BUCKETS) atomic_fetch_add_explicit(&v->bucket[b], 1, memory_order_relaxed);
}

void me_table_add_user(me_table *t, me_str user) {
  list l = {&t->user_index, (void ***)&t->users, &t->users_len, &t->users_cap, new_user, free_user};
  me_user *u = find_or_add(t, l, user.p, user.n);
  if (u) atomic_fetch_add_explicit(&u->calls, 1, memory_order_relaxed);
}

// --- the Prometheus text ------------------------------------------------------

typedef struct {
  char *b;
  size_t len, cap;
  int failed;
} buf;

static void put(buf *w, const char *s, size_t n) {
  if (w->failed) return;
  if (w->len + n > w->cap) {
    size_t c = w->cap ? w->cap * 2 : 1 << 16;
    while (c < w->len + n) c *= 2;
    char *b = realloc(w->b, c);
    if (!b) {
      w->failed = 1;
      return;
    }
    w->b = b, w->cap = c;
  }
  memcpy(w->b + w->len, s, n);
  w->len += n;
}

static void puts_(buf *w, const char *s) { put(w, s, strlen(s)); }

// escaped writes a label value as the text format escapes it.
static void escaped(buf *w, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\') puts_(w, "\\\\");
    else if (s[i] == '"') puts_(w, "\\\"");
    else if (s[i] == '\n') puts_(w, "\\n");
    else put(w, s + i, 1);
  }
}

static const char *names[ME_NLABELS] = {"api", "surface", "path", "db", "collection", "refused", "ok"};

// labels writes {api="…",…} of an entry's key, with le when given.
static void labels(buf *w, const me_entry *e, const char *le) {
  puts_(w, "{");
  size_t o = 0;
  for (int i = 0; i < ME_NLABELS; i++) {
    size_t n = (size_t)(unsigned char)e->key[o] << 8 | (unsigned char)e->key[o + 1];
    o += 2;
    if (i) puts_(w, ",");
    puts_(w, names[i]);
    puts_(w, "=\"");
    escaped(w, e->key + o, n);
    puts_(w, "\"");
    o += n;
  }
  if (le) {
    puts_(w, ",le=\"");
    puts_(w, le);
    puts_(w, "\"");
  }
  puts_(w, "} ");
}

static void value(buf *w, uint64_t v) {
  char s[32];
  int n = snprintf(s, sizeof(s), "%" PRIu64 "\n", v);
  put(w, s, (size_t)n);
}

static void counter(buf *w, me_table *t, const char *name, size_t off) {
  puts_(w, "# TYPE envoy_milvus_edge_");
  puts_(w, name);
  puts_(w, " counter\n");
  for (size_t i = 0; i < t->len; i++) {
    const me_entry *e = t->entries[i];
    uint64_t v = atomic_load_explicit((_Atomic uint64_t *)((const char *)&e->v + off), memory_order_relaxed);
    if (v == 0 && off != offsetof(me_values, calls)) continue;
    puts_(w, "envoy_milvus_edge_");
    puts_(w, name);
    labels(w, e, NULL);
    value(w, v);
  }
}

char *me_table_write(me_table *t, size_t *len) {
  buf w = {0};
  pthread_rwlock_rdlock(&t->mu);
  counter(&w, t, "calls", offsetof(me_values, calls));
  counter(&w, t, "call_request_bytes", offsetof(me_values, in));
  counter(&w, t, "call_response_bytes", offsetof(me_values, out));
  counter(&w, t, "call_nq", offsetof(me_values, nq));
  counter(&w, t, "call_rows", offsetof(me_values, rows));
  puts_(&w, "# TYPE envoy_milvus_edge_call_duration_us histogram\n");
  for (size_t i = 0; i < t->len; i++) {
    const me_entry *e = t->entries[i];
    uint64_t cum = 0;
    for (int b = 0; b < ME_BUCKETS; b++) {
      char le[32];
      snprintf(le, sizeof(le), "%" PRIu64, (uint64_t)1000 << b);
      cum += atomic_load_explicit(&e->v.bucket[b], memory_order_relaxed);
      puts_(&w, "envoy_milvus_edge_call_duration_us_bucket");
      labels(&w, e, le);
      value(&w, cum);
    }
    // count first: a call counted after it may show in the sum only.
    uint64_t count = atomic_load_explicit(&e->v.dur_count, memory_order_relaxed);
    puts_(&w, "envoy_milvus_edge_call_duration_us_bucket");
    labels(&w, e, "+Inf");
    value(&w, count < cum ? cum : count);
    puts_(&w, "envoy_milvus_edge_call_duration_us_sum");
    labels(&w, e, NULL);
    value(&w, atomic_load_explicit(&e->v.dur_sum_us, memory_order_relaxed));
    puts_(&w, "envoy_milvus_edge_call_duration_us_count");
    labels(&w, e, NULL);
    value(&w, count < cum ? cum : count);
  }
  puts_(&w, "# TYPE envoy_milvus_edge_call_users counter\n");
  for (size_t i = 0; i < t->users_len; i++) {
    const me_user *u = t->users[i];
    puts_(&w, "envoy_milvus_edge_call_users{user=\"");
    escaped(&w, u->name, u->len);
    puts_(&w, "\"} ");
    value(&w, atomic_load_explicit(&u->calls, memory_order_relaxed));
  }
  pthread_rwlock_unlock(&t->mu);
  if (w.failed) {
    free(w.b);
    return NULL;
  }
  *len = w.len;
  return w.b;
}
