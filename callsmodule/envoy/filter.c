// The edge's call filter in Envoy (milvus_edge_calls, a dynamic module with
// no runtime of its own): for every call it reads the Milvus status of the
// response into Envoy's dynamic metadata (namespace milvus_edge.response:
// code, error_code, reason — the access log and the edge's traces read
// them), and, with the metrics on, counts the finished call in the module's
// own table (table.c: atomic adds, no Envoy stat touched per call), which
// the edge reads at each scrape from Envoy's admin (admin.c) and serves as
// its milvus_proxy_* metrics (metrics/envoystats.go). A per-call gRPC
// access-log entry and a Lua coroutine cost Envoy ~20 µs per call, and a
// labelled Envoy stat ~3 µs per increment; this costs a few callbacks.
// docs/metrics.md, "Cost".
//
// Config (the filter_config string, one setting per line, written by
// xds/envoyres/calls.go):
//   count 0|1                 count calls (metrics.enabled)
//   max_collections N         cap on (db, collection) label pairs
//   status_field METHOD N     a method whose response's status is field N (0: none)
//   path PATH                 a known request path, kept as a label value
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi.h"
#include "module.h"
#include "status.h"

// Names shared with the edge: internal/edgemeta (namespaces, keys).
#define NS_AUTHZ "envoy.filters.http.ext_authz"
#define NS_RESPONSE "milvus_edge.response"
#define REST_PREFIX "/v2/vectordb/"

typedef envoy_dynamic_module_type_module_buffer mbuf;
typedef envoy_dynamic_module_type_envoy_buffer ebuf;
typedef envoy_dynamic_module_type_http_filter_envoy_ptr fenv;
typedef envoy_dynamic_module_type_http_filter_module_ptr fmod;
typedef envoy_dynamic_module_type_http_filter_config_envoy_ptr cenv;
typedef envoy_dynamic_module_type_http_filter_config_module_ptr cmod;

#define MB(s) ((mbuf){(char *)(s), sizeof(s) - 1})

typedef struct {
  int count;
  me_set paths, status_fields;
} config;

typedef struct {
  config *cfg;
  struct timespec start;
  int done, got_body, status_read, field;
  int64_t code, error_code;
  size_t want, have;
  uint8_t small[64];
  uint8_t *buf; // small, or a larger prefix being gathered
} filter;

// milvus_edge_calls_module marks the file as this module, with the version
// of what it exchanges with the edge (its config, its labels, the admin
// path): the edge checks it at start (internal/app CheckCallsModule).
// Change both together.
const char milvus_edge_calls_module[] = "milvus-edge calls module 1";

envoy_dynamic_module_type_abi_version_module_ptr envoy_dynamic_module_on_program_init(void) {
  return envoy_dynamic_modules_abi_version;
}

// --- config --------------------------------------------------------------

// parse reads the config lines; it returns 0 on a line it does not know.
static int parse(config *c, const char *s, size_t n, long *max_collections) {
  for (size_t i = 0; i < n;) {
    size_t e = i;
    while (e < n && s[e] != '\n') e++;
    const char *l = s + i;
    size_t len = e - i;
    i = e + 1;
    if (len == 0) continue;
    const char *sp = memchr(l, ' ', len);
    if (!sp) return 0;
    size_t kl = (size_t)(sp - l);
    const char *v = sp + 1;
    size_t vl = len - kl - 1;
    char num[32] = {0};
    memcpy(num, v, vl < sizeof(num) - 1 ? vl : sizeof(num) - 1);
    if (kl == 5 && memcmp(l, "count", 5) == 0) {
      c->count = atoi(num);
    } else if (kl == 15 && memcmp(l, "max_collections", 15) == 0) {
      *max_collections = atol(num);
    } else if (kl == 4 && memcmp(l, "path", 4) == 0) {
      if (!me_set_put(&c->paths, v, vl, 1)) return 0;
    } else if (kl == 12 && memcmp(l, "status_field", 12) == 0) {
      const char *sp2 = memchr(v, ' ', vl);
      if (!sp2) return 0;
      if (!me_set_put(&c->status_fields, v, (size_t)(sp2 - v), atoi(sp2 + 1))) return 0;
    } else {
      return 0;
    }
  }
  return 1;
}

cmod envoy_dynamic_module_on_http_filter_config_new(cenv env, ebuf name, ebuf raw) {
  (void)env, (void)name;
  config *c = calloc(1, sizeof(config));
  if (!c) return NULL;
  me_set_init(&c->paths), me_set_init(&c->status_fields);
  long max_collections = 0;
  if (!parse(c, raw.ptr, raw.length, &max_collections)) {
    me_set_free(&c->paths), me_set_free(&c->status_fields);
    free(c);
    return NULL; // Envoy refuses the listener: the edge reports the NACK
  }
  me_caps_set_max(calls_caps(), max_collections);
  return c;
}

void envoy_dynamic_module_on_http_filter_config_destroy(cmod p) {
  config *c = (config *)p;
  me_set_free(&c->paths), me_set_free(&c->status_fields);
  free(c);
}

envoy_dynamic_module_type_http_filter_per_route_config_module_ptr
envoy_dynamic_module_on_http_filter_per_route_config_new(ebuf name, ebuf config) {
  (void)name, (void)config;
  return NULL;
}
void envoy_dynamic_module_on_http_filter_per_route_config_destroy(envoy_dynamic_module_type_http_filter_per_route_config_module_ptr p) {
  (void)p;
}

// --- the stream ------------------------------------------------------------

fmod envoy_dynamic_module_on_http_filter_new(cmod c, fenv env) {
  (void)env;
  filter *f = calloc(1, sizeof(filter));
  if (!f) return NULL;
  f->cfg = (config *)c;
  f->want = sizeof(f->small);
  f->buf = f->small;
  f->field = -1;
  clock_gettime(CLOCK_MONOTONIC, &f->start);
  return f;
}

void envoy_dynamic_module_on_http_filter_destroy(fmod m) {
  filter *f = (filter *)m;
  if (f->buf != f->small) free(f->buf);
  free(f);
}

static me_str meta_string(fenv env, mbuf key) {
  ebuf v = {0};
  if (!envoy_dynamic_module_callback_http_get_metadata_string(env, envoy_dynamic_module_type_metadata_source_Dynamic, MB(NS_AUTHZ), key, &v) || !v.ptr)
    return (me_str){"", 0};
  return (me_str){v.ptr, v.length};
}

static void set_status(filter *f, fenv env, const me_status *st) {
  f->status_read = 1;
  f->code = st->code, f->error_code = st->error_code;
  envoy_dynamic_module_callback_http_set_dynamic_metadata_number(env, MB(NS_RESPONSE), MB("code"), (double)st->code);
  if (st->error_code != 0)
    envoy_dynamic_module_callback_http_set_dynamic_metadata_number(env, MB(NS_RESPONSE), MB("error_code"), (double)st->error_code);
  if (st->reason_len > 0)
    envoy_dynamic_module_callback_http_set_dynamic_metadata_string(env, MB(NS_RESPONSE), MB("reason"), (mbuf){(char *)st->reason, st->reason_len});
}

// trailers_only reads the reason of a gRPC answer without a message (an
// error status in its headers: a denial, a failed login, Envoy's or
// Milvus's own gRPC errors) from grpc-message.
static void trailers_only(fenv env) {
  ebuf gs = {0}, m = {0};
  if (!envoy_dynamic_module_callback_http_get_header(env, envoy_dynamic_module_type_http_header_type_ResponseHeader, MB("grpc-status"), &gs, 0, NULL) ||
      !gs.ptr || (gs.length == 1 && gs.ptr[0] == '0'))
    return;
  if (!envoy_dynamic_module_callback_http_get_header(env, envoy_dynamic_module_type_http_header_type_ResponseHeader, MB("grpc-message"), &m, 0, NULL) || !m.ptr)
    return;
  char out[1024];
  size_t n = me_percent_decode(m.ptr, m.length, out, sizeof(out));
  envoy_dynamic_module_callback_http_set_dynamic_metadata_string(env, MB(NS_RESPONSE), MB("reason"), (mbuf){out, n});
}

// gather appends up to f->want bytes of data; it returns how many it took.
static size_t gather(filter *f, const uint8_t *data, size_t n) {
  size_t take = f->want > f->have ? f->want - f->have : 0;
  if (take > n) take = n;
  memcpy(f->buf + f->have, data, take);
  f->have += take;
  return take;
}

// grow makes room for f->want bytes.
static int grow(filter *f, size_t want) {
  uint8_t *b = malloc(want);
  if (!b) return 0;
  memcpy(b, f->buf, f->have);
  if (f->buf != f->small) free(f->buf);
  f->buf = b;
  f->want = want;
  return 1;
}

// read_chunk looks for the status in the body so far plus data; it sets
// f->done once the status is read or cannot be.
static void read_chunk(filter *f, fenv env, const uint8_t *data, size_t n) {
  size_t off = 0;
  me_status st;
  for (;;) {
    off += gather(f, data + off, n - off);
    if (f->have == 0) return;
    if (f->buf[0] > 1) { // not gRPC (a frame starts with its compression flag): REST's JSON
      if (f->want < 1024 && grow(f, 1024)) off += gather(f, data + off, n - off);
      if (me_rest_status((const char *)f->buf, f->have, &st)) set_status(f, env, &st);
      f->done = 1;
      return;
    }
    size_t need = 0;
    int r = me_grpc_status(f->buf, f->have, f->field, &st, &need);
    if (r == ME_ASK) {
      me_str api = meta_string(env, MB("api"));
      int v = api.n ? me_set_get(&f->cfg->status_fields, api.p, api.n) : -1;
      f->field = v < 0 ? 1 : v;
      r = me_grpc_status(f->buf, f->have, f->field, &st, &need);
    }
    if (r == ME_READ) {
      set_status(f, env, &st);
      f->done = 1;
      return;
    }
    if (r == ME_NONE || need <= f->have || need > ME_STATUS_MAX || (need > f->want && !grow(f, need))) {
      f->done = 1;
      return;
    }
    if (off >= n) return; // wait for more of the body
  }
}

envoy_dynamic_module_type_on_http_filter_response_body_status envoy_dynamic_module_on_http_filter_response_body(fenv env, fmod m, bool eos) {
  (void)eos;
  filter *f = (filter *)m;
  if (f->done) return envoy_dynamic_module_type_on_http_filter_response_body_status_Continue;
  size_t n = envoy_dynamic_module_callback_http_get_body_chunks_size(env, envoy_dynamic_module_type_http_body_type_ReceivedResponseBody);
  ebuf chunks[16];
  if (n == 0 || n > 16 || !envoy_dynamic_module_callback_http_get_body_chunks(env, envoy_dynamic_module_type_http_body_type_ReceivedResponseBody, chunks)) {
    if (n > 16) f->done = 1; // a body in that many slices: its start is not read
    return envoy_dynamic_module_type_on_http_filter_response_body_status_Continue;
  }
  for (size_t i = 0; i < n && !f->done; i++) {
    if (chunks[i].length == 0) continue;
    f->got_body = 1;
    read_chunk(f, env, (const uint8_t *)chunks[i].ptr, chunks[i].length);
  }
  return envoy_dynamic_module_type_on_http_filter_response_body_status_Continue;
}

envoy_dynamic_module_type_on_http_filter_response_headers_status envoy_dynamic_module_on_http_filter_response_headers(fenv env, fmod m, bool eos) {
  filter *f = (filter *)m;
  if (eos) {
    f->done = 1;
    trailers_only(env);
  }
  return envoy_dynamic_module_type_on_http_filter_response_headers_status_Continue;
}

envoy_dynamic_module_type_on_http_filter_response_trailers_status envoy_dynamic_module_on_http_filter_response_trailers(fenv env, fmod m) {
  filter *f = (filter *)m;
  if (!f->got_body && !f->done) trailers_only(env);
  f->done = 1;
  return envoy_dynamic_module_type_on_http_filter_response_trailers_status_Continue;
}

// --- counting ----------------------------------------------------------------

static uint64_t attr_int(fenv env, envoy_dynamic_module_type_attribute_id id, int *ok) {
  uint64_t v = 0;
  int got = envoy_dynamic_module_callback_http_filter_get_attribute_int(env, id, &v);
  if (ok) *ok = got;
  return got ? v : 0;
}

static int meta_number(fenv env, mbuf key, double *v) {
  return envoy_dynamic_module_callback_http_get_metadata_number(env, envoy_dynamic_module_type_metadata_source_Dynamic, MB(NS_AUTHZ), key, v);
}

static int has_prefix(me_str s, const char *p) {
  size_t n = strlen(p);
  return s.n >= n && memcmp(s.p, p, n) == 0;
}

// count adds the finished call to the module's table (table.c): its
// labels, then what it carried.
static void count(filter *f, fenv env) {
  config *c = f->cfg;
  me_str api = meta_string(env, MB("api")), surface = meta_string(env, MB("surface"));
  me_str db = meta_string(env, MB("db")), coll = meta_string(env, MB("collection"));
  me_str refused = meta_string(env, MB("refused")), user = meta_string(env, MB("user"));
  me_str path = {"", 0};
  ebuf p = {0};
  if (envoy_dynamic_module_callback_http_filter_get_attribute_string(env, envoy_dynamic_module_type_attribute_id_RequestUrlPath, &p) && p.ptr)
    path = (me_str){p.ptr, p.length};
  int rest = surface.n ? (surface.n == 4 && memcmp(surface.p, "rest", 4) == 0) : has_prefix(path, REST_PREFIX);
  if (!surface.n) surface = rest ? (me_str){"rest", 4} : (me_str){"grpc", 4};
  if (path.n && me_set_get(&c->paths, path.p, path.n) < 0) path = (me_str){"", 0};
  int has_grpc = 0;
  uint64_t http = attr_int(env, envoy_dynamic_module_type_attribute_id_ResponseCode, NULL);
  uint64_t grpc = attr_int(env, envoy_dynamic_module_type_attribute_id_ResponseGrpcStatus, &has_grpc);
  // Milvus's success (metrics/calls.go): nothing refused the call at the
  // edge, HTTP 200, grpc-status 0 for gRPC calls, Milvus code 0.
  int ok = refused.n == 0 && http == 200 && (rest || (has_grpc && grpc == 0)) && f->code == 0 && f->error_code == 0;
  static const me_str other = {ME_OTHER, sizeof(ME_OTHER) - 1};
  me_str labels[ME_NLABELS];
  labels[ME_API] = me_label_value(api) ? api : other;
  labels[ME_SURFACE] = surface;
  labels[ME_PATH] = path;
  me_collection_labels(calls_caps(), db, coll, &labels[ME_DB], &labels[ME_COLLECTION]);
  labels[ME_REFUSED] = me_label_value(refused) ? refused : other;
  labels[ME_OK] = ok ? (me_str){"true", 4} : (me_str){"false", 5};
  double nq = 0, rows = 0;
  meta_number(env, MB("nq"), &nq);
  meta_number(env, MB("num_rows"), &rows);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t us = (int64_t)(now.tv_sec - f->start.tv_sec) * 1000000 + (now.tv_nsec - f->start.tv_nsec) / 1000;
  me_table_add(calls_table(), labels, attr_int(env, envoy_dynamic_module_type_attribute_id_RequestSize, NULL),
               attr_int(env, envoy_dynamic_module_type_attribute_id_ResponseSize, NULL), nq > 0 ? (uint64_t)nq : 0,
               rows > 0 ? (uint64_t)rows : 0, us > 0 ? (uint64_t)us : 0);
  if (user.n) me_table_add_user(calls_table(), me_user_label(calls_caps(), user));
}

void envoy_dynamic_module_on_http_filter_stream_complete(fenv env, fmod m) {
  filter *f = (filter *)m;
  if (f->cfg->count) count(f, env);
}

// --- hooks the filter has no use for ------------------------------------------

envoy_dynamic_module_type_on_http_filter_request_headers_status envoy_dynamic_module_on_http_filter_request_headers(fenv e, fmod m, bool eos) {
  (void)e, (void)m, (void)eos;
  return envoy_dynamic_module_type_on_http_filter_request_headers_status_Continue;
}
envoy_dynamic_module_type_on_http_filter_request_body_status envoy_dynamic_module_on_http_filter_request_body(fenv e, fmod m, bool eos) {
  (void)e, (void)m, (void)eos;
  return envoy_dynamic_module_type_on_http_filter_request_body_status_Continue;
}
envoy_dynamic_module_type_on_http_filter_request_trailers_status envoy_dynamic_module_on_http_filter_request_trailers(fenv e, fmod m) {
  (void)e, (void)m;
  return envoy_dynamic_module_type_on_http_filter_request_trailers_status_Continue;
}
envoy_dynamic_module_type_on_http_filter_local_reply_status envoy_dynamic_module_on_http_filter_local_reply(fenv e, fmod m, uint32_t code, ebuf details, bool reset) {
  (void)e, (void)m, (void)code, (void)details, (void)reset;
  return envoy_dynamic_module_type_on_http_filter_local_reply_status_Continue;
}
void envoy_dynamic_module_on_http_filter_scheduled(fenv e, fmod m, uint64_t id) { (void)e, (void)m, (void)id; }
void envoy_dynamic_module_on_http_filter_downstream_above_write_buffer_high_watermark(fenv e, fmod m) { (void)e, (void)m; }
void envoy_dynamic_module_on_http_filter_downstream_below_write_buffer_low_watermark(fenv e, fmod m) { (void)e, (void)m; }
void envoy_dynamic_module_on_http_filter_http_callout_done(fenv e, fmod m, uint64_t id, envoy_dynamic_module_type_http_callout_result r,
                                                          envoy_dynamic_module_type_envoy_http_header *h, size_t hs, ebuf *b, size_t bs) {
  (void)e, (void)m, (void)id, (void)r, (void)h, (void)hs, (void)b, (void)bs;
}
void envoy_dynamic_module_on_http_filter_http_stream_headers(fenv e, fmod m, uint64_t id, envoy_dynamic_module_type_envoy_http_header *h, size_t hs, bool end) {
  (void)e, (void)m, (void)id, (void)h, (void)hs, (void)end;
}
void envoy_dynamic_module_on_http_filter_http_stream_data(fenv e, fmod m, uint64_t id, const ebuf *d, size_t n, bool end) {
  (void)e, (void)m, (void)id, (void)d, (void)n, (void)end;
}
void envoy_dynamic_module_on_http_filter_http_stream_trailers(fenv e, fmod m, uint64_t id, envoy_dynamic_module_type_envoy_http_header *t, size_t n) {
  (void)e, (void)m, (void)id, (void)t, (void)n;
}
void envoy_dynamic_module_on_http_filter_http_stream_complete(fenv e, fmod m, uint64_t id) { (void)e, (void)m, (void)id; }
void envoy_dynamic_module_on_http_filter_http_stream_reset(fenv e, fmod m, uint64_t id, envoy_dynamic_module_type_http_stream_reset_reason r) {
  (void)e, (void)m, (void)id, (void)r;
}
void envoy_dynamic_module_on_http_filter_config_scheduled(cenv e, cmod m, uint64_t id) { (void)e, (void)m, (void)id; }
void envoy_dynamic_module_on_http_filter_config_http_callout_done(cenv e, cmod m, uint64_t id, envoy_dynamic_module_type_http_callout_result r,
                                                                 envoy_dynamic_module_type_envoy_http_header *h, size_t hs, ebuf *b, size_t bs) {
  (void)e, (void)m, (void)id, (void)r, (void)h, (void)hs, (void)b, (void)bs;
}
void envoy_dynamic_module_on_http_filter_config_http_stream_headers(cenv e, cmod m, uint64_t id, envoy_dynamic_module_type_envoy_http_header *h, size_t hs, bool end) {
  (void)e, (void)m, (void)id, (void)h, (void)hs, (void)end;
}
void envoy_dynamic_module_on_http_filter_config_http_stream_data(cenv e, cmod m, uint64_t id, const ebuf *d, size_t n, bool end) {
  (void)e, (void)m, (void)id, (void)d, (void)n, (void)end;
}
void envoy_dynamic_module_on_http_filter_config_http_stream_trailers(cenv e, cmod m, uint64_t id, envoy_dynamic_module_type_envoy_http_header *t, size_t n) {
  (void)e, (void)m, (void)id, (void)t, (void)n;
}
void envoy_dynamic_module_on_http_filter_config_http_stream_complete(cenv e, cmod m, uint64_t id) { (void)e, (void)m, (void)id; }
void envoy_dynamic_module_on_http_filter_config_http_stream_reset(cenv e, cmod m, uint64_t id, envoy_dynamic_module_type_http_stream_reset_reason r) {
  (void)e, (void)m, (void)id, (void)r;
}
