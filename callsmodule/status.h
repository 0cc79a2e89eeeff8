// The Milvus status of a response, read from the first bytes of its body:
// the C port of what the edge's Lua filter did (see status.c).
#ifndef MILVUS_EDGE_STATUS_H
#define MILVUS_EDGE_STATUS_H

#include <stddef.h>
#include <stdint.h>

// The largest prefix of a body the reader asks for: beyond it (a very long
// reason) the status is not read.
#define ME_STATUS_MAX (64 * 1024)

// A status read from a response. reason points into the bytes read (gRPC)
// or into reason_buf (REST, decoded).
typedef struct {
  int64_t code;
  int64_t error_code;
  const char *reason;
  size_t reason_len;
  char reason_buf[1024];
} me_status;

// Results of me_grpc_status.
enum {
  ME_READ = 0,   // *st holds the status
  ME_NEED = 1,   // give *need bytes of the body (from its start)
  ME_NONE = 2,   // there is no status to read (compressed, not a Milvus message)
  ME_ASK = 3,    // not a plain success: call again with the method's status_field
};

// me_grpc_status reads the status from b[0..n), the first bytes of a gRPC
// response body. status_field is where the method's response holds its
// status: 1 for most, another field number for the exceptions, 0 for
// responses without one, or -1 when not looked up yet (a plain success
// needs no lookup; anything else answers ME_ASK).
int me_grpc_status(const uint8_t *b, size_t n, int status_field, me_status *st, size_t *need);

// me_rest_status reads code and message from b[0..n), the first bytes of a
// REST v2 answer ({"code":N, ...}); it returns 0 when b does not start so.
int me_rest_status(const char *b, size_t n, me_status *st);

// me_percent_decode decodes grpc-message's %XX escapes into out (at most
// cap bytes); it returns the decoded length.
size_t me_percent_decode(const char *in, size_t n, char *out, size_t cap);

#endif
