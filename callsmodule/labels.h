// Label values of the call counters: bounded sets, so that no client can
// grow Envoy's stats without bound (the same caps as the edge's metrics
// package: metrics/labels.go).
#ifndef MILVUS_EDGE_LABELS_H
#define MILVUS_EDGE_LABELS_H

#include <pthread.h>
#include <stddef.h>

// ME_OTHER stands for every value beyond a cap, or outside its known set
// (metrics.Other).
#define ME_OTHER "__other__"
// ME_MAX_LABEL is the longest value kept: Milvus names are at most 255.
#define ME_MAX_LABEL 255

typedef struct {
  const char *p;
  size_t n;
} me_str;

// me_set maps strings to ints (open addressing; entries are never removed).
typedef struct {
  char **keys;
  size_t *lens;
  int *vals;
  size_t cap, len;
} me_set;

void me_set_init(me_set *s);
void me_set_free(me_set *s);
// me_set_get returns the value of k, or -1.
int me_set_get(const me_set *s, const char *k, size_t n);
// me_set_put adds k (copied) with value v; it returns 0 when out of memory.
int me_set_put(me_set *s, const char *k, size_t n, int v);

// me_caps bounds the (db, collection) pairs and the users, as metrics'
// collections and users do: the first max pairs keep their names; later
// pairs become (db, ME_OTHER) when db has a pair, else (ME_OTHER, ME_OTHER);
// the pair ("", "") is always kept; past max users, ME_OTHER.
typedef struct {
  pthread_rwlock_t mu;
  long max_pairs, max_users;
  me_set pairs, dbs, users;
} me_caps;

void me_caps_init(me_caps *c, long max_pairs, long max_users);
void me_caps_free(me_caps *c);
// me_caps_set_max changes the cap on pairs; pairs already kept stay.
void me_caps_set_max(me_caps *c, long max_pairs);
void me_collection_labels(me_caps *c, me_str db, me_str coll, me_str *out_db, me_str *out_coll);
me_str me_user_label(me_caps *c, me_str user);

// me_label_value says v may be a label value: valid UTF-8, at most
// ME_MAX_LABEL bytes.
int me_label_value(me_str v);

#endif
