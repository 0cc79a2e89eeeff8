// The bootstrap extension half of the module: it serves the call counts the
// calls filter keeps (table.c) on Envoy's admin interface, GET
// /milvus_edge/calls, in the Prometheus text format; the edge reads them at
// each scrape of its GET /metrics (metrics/envoystats.go). The counts live
// in the module, not in Envoy's stats: a labelled Envoy stat costs ~3 µs per
// increment, an atomic add in the module's table a few ns. The bootstrap
// (envoy/bootstrap.yaml.tmpl) loads the module as this extension.
#include <stdlib.h>

#include "abi.h"
#include "module.h"

#define ADMIN_PATH "/milvus_edge/calls"

typedef envoy_dynamic_module_type_module_buffer mbuf;
typedef envoy_dynamic_module_type_envoy_buffer ebuf;
typedef envoy_dynamic_module_type_bootstrap_extension_config_envoy_ptr bcenv;
typedef envoy_dynamic_module_type_bootstrap_extension_config_module_ptr bcmod;
typedef envoy_dynamic_module_type_bootstrap_extension_envoy_ptr benv;
typedef envoy_dynamic_module_type_bootstrap_extension_module_ptr bmod;

#define MB(s) ((mbuf){(char *)(s), sizeof(s) - 1})

static pthread_once_t once = PTHREAD_ONCE_INIT;
static me_table table;
static me_caps caps;

static void init(void) {
  me_table_init(&table);
  me_caps_init(&caps, 0, ME_MAX_USERS);
}

me_table *calls_table(void) {
  pthread_once(&once, init);
  return &table;
}

me_caps *calls_caps(void) {
  pthread_once(&once, init);
  return &caps;
}

// The extension's config remembers Envoy's side, which registering the
// admin handler needs (on the main thread, once the server is up).
typedef struct {
  bcenv env;
} bconfig;

bcmod envoy_dynamic_module_on_bootstrap_extension_config_new(bcenv env, ebuf name, ebuf config) {
  (void)name, (void)config;
  bconfig *c = calloc(1, sizeof(bconfig));
  if (c) c->env = env;
  calls_table();
  // Nothing to wait for: Envoy holds its start until this.
  envoy_dynamic_module_callback_bootstrap_extension_config_signal_init_complete(env);
  return c;
}

void envoy_dynamic_module_on_bootstrap_extension_config_destroy(bcmod p) { free((void *)p); }

bmod envoy_dynamic_module_on_bootstrap_extension_new(bcmod c, benv env) {
  (void)env;
  return (bmod)c;
}

void envoy_dynamic_module_on_bootstrap_extension_server_initialized(benv env, bmod m) {
  (void)env;
  const bconfig *c = (const bconfig *)m;
  envoy_dynamic_module_callback_bootstrap_extension_register_admin_handler(
      c->env, MB(ADMIN_PATH), MB("milvus-edge: the calls the calls filter counted (Prometheus text)"), false, false);
}

uint32_t envoy_dynamic_module_on_bootstrap_extension_admin_request(bcenv env, bcmod m, ebuf method, ebuf path, ebuf body) {
  (void)m, (void)method, (void)path, (void)body;
  size_t n = 0;
  char *text = me_table_write(calls_table(), &n);
  if (!text) {
    envoy_dynamic_module_callback_bootstrap_extension_admin_set_response(env, MB("out of memory\n"));
    return 500;
  }
  envoy_dynamic_module_callback_bootstrap_extension_admin_set_response(env, (mbuf){text, n});
  free(text);
  return 200;
}

// --- hooks the extension has no use for -------------------------------------

void envoy_dynamic_module_on_bootstrap_extension_worker_thread_initialized(benv e, bmod m) { (void)e, (void)m; }
void envoy_dynamic_module_on_bootstrap_extension_drain_started(benv e, bmod m) { (void)e, (void)m; }
void envoy_dynamic_module_on_bootstrap_extension_shutdown(benv e, bmod m, envoy_dynamic_module_type_event_cb done, void *ctx) {
  (void)e, (void)m;
  if (done) done(ctx);
}
void envoy_dynamic_module_on_bootstrap_extension_destroy(bmod m) { (void)m; }
void envoy_dynamic_module_on_bootstrap_extension_config_scheduled(bcenv e, bcmod m, uint64_t id) { (void)e, (void)m, (void)id; }
void envoy_dynamic_module_on_bootstrap_extension_timer_fired(bcenv e, bcmod m, envoy_dynamic_module_type_bootstrap_extension_timer_module_ptr t) {
  (void)e, (void)m, (void)t;
}
void envoy_dynamic_module_on_bootstrap_extension_file_changed(bcenv e, bcmod m, ebuf path, uint32_t events) {
  (void)e, (void)m, (void)path, (void)events;
}
void envoy_dynamic_module_on_bootstrap_extension_cluster_add_or_update(bcenv e, bcmod m, ebuf name) { (void)e, (void)m, (void)name; }
void envoy_dynamic_module_on_bootstrap_extension_cluster_removal(bcenv e, bcmod m, ebuf name) { (void)e, (void)m, (void)name; }
void envoy_dynamic_module_on_bootstrap_extension_listener_add_or_update(bcenv e, bcmod m, ebuf name) { (void)e, (void)m, (void)name; }
void envoy_dynamic_module_on_bootstrap_extension_listener_removal(bcenv e, bcmod m, ebuf name) { (void)e, (void)m, (void)name; }
void envoy_dynamic_module_on_bootstrap_extension_http_callout_done(bcenv e, bcmod m, uint64_t id, envoy_dynamic_module_type_http_callout_result r,
                                                                   envoy_dynamic_module_type_envoy_http_header *h, size_t hs, ebuf *b, size_t bs) {
  (void)e, (void)m, (void)id, (void)r, (void)h, (void)hs, (void)b, (void)bs;
}
