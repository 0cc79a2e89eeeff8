#include "labels.h"

#include <stdlib.h>
#include <string.h>

static const me_str other = {ME_OTHER, sizeof(ME_OTHER) - 1};

static size_t hash(const char *k, size_t n) {
  size_t h = 1469598103934665603ULL; // FNV-1a
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
  return h;
}

void me_set_init(me_set *s) { memset(s, 0, sizeof(*s)); }

void me_set_free(me_set *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->keys[i]);
  free(s->keys);
  free(s->lens);
  free(s->vals);
  memset(s, 0, sizeof(*s));
}

int me_set_get(const me_set *s, const char *k, size_t n) {
  if (s->cap == 0) return -1;
  for (size_t i = hash(k, n) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->keys[i] == NULL) return -1;
    if (s->lens[i] == n && memcmp(s->keys[i], k, n) == 0) return s->vals[i];
  }
}

static int grow(me_set *s) {
  me_set g = {0};
  g.cap = s->cap ? s->cap * 2 : 16;
  g.keys = calloc(g.cap, sizeof(char *));
  g.lens = calloc(g.cap, sizeof(size_t));
  g.vals = calloc(g.cap, sizeof(int));
  if (!g.keys || !g.lens || !g.vals) {
    free(g.keys), free(g.lens), free(g.vals);
    return 0;
  }
  for (size_t i = 0; i < s->cap; i++) {
    if (s->keys[i] == NULL) continue;
    size_t j = hash(s->keys[i], s->lens[i]) & (g.cap - 1);
    while (g.keys[j] != NULL) j = (j + 1) & (g.cap - 1);
    g.keys[j] = s->keys[i], g.lens[j] = s->lens[i], g.vals[j] = s->vals[i];
  }
  g.len = s->len;
  free(s->keys), free(s->lens), free(s->vals);
  *s = g;
  return 1;
}

int me_set_put(me_set *s, const char *k, size_t n, int v) {
  if ((s->len + 1) * 2 > s->cap && !grow(s)) return 0;
  size_t i = hash(k, n) & (s->cap - 1);
  for (; s->keys[i] != NULL; i = (i + 1) & (s->cap - 1)) {
    if (s->lens[i] == n && memcmp(s->keys[i], k, n) == 0) {
      s->vals[i] = v;
      return 1;
    }
  }
  char *c = malloc(n + 1);
  if (!c) return 0;
  memcpy(c, k, n);
  c[n] = 0;
  s->keys[i] = c, s->lens[i] = n, s->vals[i] = v;
  s->len++;
  return 1;
}

int me_label_value(me_str v) {
  if (v.n > ME_MAX_LABEL) return 0;
  const unsigned char *b = (const unsigned char *)v.p;
  for (size_t i = 0; i < v.n;) {
    unsigned c = b[i];
    size_t k;
    unsigned min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1, min = 0x80, c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2, min = 0x800, c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3, min = 0x10000, c &= 0x07;
    } else {
      return 0;
    }
    if (i + k >= v.n) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((b[i + j] & 0xC0) != 0x80) return 0;
      c = c << 6 | (b[i + j] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    i += k + 1;
  }
  return 1;
}

void me_caps_init(me_caps *c, long max_pairs, long max_users) {
  memset(c, 0, sizeof(*c));
  pthread_rwlock_init(&c->mu, NULL);
  c->max_pairs = max_pairs, c->max_users = max_users;
  me_set_init(&c->pairs), me_set_init(&c->dbs), me_set_init(&c->users);
}

void me_caps_set_max(me_caps *c, long max_pairs) {
  pthread_rwlock_wrlock(&c->mu);
  c->max_pairs = max_pairs;
  pthread_rwlock_unlock(&c->mu);
}

void me_caps_free(me_caps *c) {
  me_set_free(&c->pairs), me_set_free(&c->dbs), me_set_free(&c->users);
  pthread_rwlock_destroy(&c->mu);
}

// pair_key is db's length (2 bytes), db, then coll: one key per pair.
static size_t pair_key(me_str db, me_str coll, char *out) {
  out[0] = (char)(db.n >> 8), out[1] = (char)db.n;
  memcpy(out + 2, db.p, db.n);
  memcpy(out + 2 + db.n, coll.p, coll.n);
  return 2 + db.n + coll.n;
}

void me_collection_labels(me_caps *c, me_str db, me_str coll, me_str *out_db, me_str *out_coll) {
  if (db.n == 0 && coll.n == 0) {
    *out_db = db, *out_coll = coll;
    return;
  }
  if (!me_label_value(db) || !me_label_value(coll)) {
    *out_db = other, *out_coll = other;
    return;
  }
  char key[2 * ME_MAX_LABEL + 2];
  size_t n = pair_key(db, coll, key);
  *out_db = db, *out_coll = coll;
  pthread_rwlock_rdlock(&c->mu);
  int known = me_set_get(&c->pairs, key, n) >= 0;
  pthread_rwlock_unlock(&c->mu);
  if (known) return;
  pthread_rwlock_wrlock(&c->mu);
  if (me_set_get(&c->pairs, key, n) < 0) {
    if ((long)c->pairs.len < c->max_pairs && me_set_put(&c->pairs, key, n, 1) && me_set_put(&c->dbs, db.p, db.n, 1)) {
      // a new pair keeps its names
    } else if (me_set_get(&c->dbs, db.p, db.n) >= 0) {
      *out_coll = other;
    } else {
      *out_db = other, *out_coll = other;
    }
  }
  pthread_rwlock_unlock(&c->mu);
}

me_str me_user_label(me_caps *c, me_str user) {
  if (!me_label_value(user)) return other;
  pthread_rwlock_rdlock(&c->mu);
  int known = me_set_get(&c->users, user.p, user.n) >= 0;
  pthread_rwlock_unlock(&c->mu);
  if (known) return user;
  pthread_rwlock_wrlock(&c->mu);
  int ok = me_set_get(&c->users, user.p, user.n) >= 0 ||
           ((long)c->users.len < c->max_users && me_set_put(&c->users, user.p, user.n, 1));
  pthread_rwlock_unlock(&c->mu);
  return ok ? user : other;
}
