// The Milvus status of a response, read from the first bytes of its body as
// they stream by: the status comes first in a Milvus response message, and
// "code" first in a REST v2 answer. Nothing is buffered or changed.
//
//   gRPC: the message's status (common.Status in field 1, or the message
//   itself when the method returns common.Status, or the method's own
//   status field); a compressed frame is not read.
//   REST v2: code from a body that starts {"code":N, and message as the
//   reason when the first 1 KiB holds it (Milvus's error answers are that
//   small).
#include "status.h"

#include <string.h>

// varint reads a protobuf varint at b[*i] before end; it returns 0 when the
// bytes end first.
static int varint(const uint8_t *b, size_t *i, size_t end, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; *i < end && shift < 64; shift += 7) {
    uint8_t c = b[(*i)++];
    x |= (uint64_t)(c & 0x7f) << shift;
    if (c < 0x80) {
      *v = x;
      return 1;
    }
  }
  return 0;
}

// skip moves *i past the value of a field of wire type wt.
static int skip(const uint8_t *b, size_t *i, size_t end, int wt) {
  uint64_t n;
  switch (wt) {
  case 0:
    return varint(b, i, end, &n);
  case 2:
    if (!varint(b, i, end, &n) || n > end - *i) return 0;
    *i += n;
    return 1;
  case 1:
    *i += 8;
    return *i <= end;
  case 5:
    *i += 4;
    return *i <= end;
  }
  return 0;
}

// status reads the common.Status in b[i..end): code, error_code, reason.
static int status(const uint8_t *b, size_t i, size_t end, me_status *st) {
  // The wire types of common.Status's fields 1 to 6.
  static const int wire[7] = {-1, 0, 2, 0, 0, 2, 2};
  st->code = st->error_code = 0;
  st->reason = NULL;
  st->reason_len = 0;
  while (i < end) {
    uint64_t key, v;
    if (!varint(b, &i, end, &key)) return 0;
    uint64_t f = key >> 3;
    int wt = (int)(key & 7);
    if (f >= 1 && f <= 6 && wire[f] != wt) return 0;
    if (f == 1 || f == 3) {
      if (!varint(b, &i, end, &v)) return 0;
      // int32 fields: a negative value is sign-extended to 64 bits.
      if (f == 1) st->error_code = (int64_t)v; else st->code = (int64_t)v;
    } else if (f == 2) {
      if (!varint(b, &i, end, &v) || v > end - i) return 0;
      st->reason = (const char *)b + i;
      st->reason_len = v;
      i += v;
    } else if (!skip(b, &i, end, wt) || i > end) {
      return 0;
    }
  }
  return 1;
}

// field finds top-level field f (length-delimited) of the message b[i..end).
static int field(const uint8_t *b, size_t i, size_t end, uint64_t f, size_t *fi, size_t *fend) {
  while (i < end) {
    uint64_t key, n;
    if (!varint(b, &i, end, &key)) return 0;
    if (key == f * 8 + 2) {
      if (!varint(b, &i, end, &n) || n > end - i) return 0;
      *fi = i;
      *fend = i + n;
      return 1;
    }
    if (!skip(b, &i, end, (int)(key & 7))) return 0;
  }
  return 0;
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

int me_grpc_status(const uint8_t *b, size_t n, int status_field, me_status *st, size_t *need) {
  if (n < 5) {
    *need = 5;
    return ME_NEED;
  }
  if (b[0] != 0) return ME_NONE; // compressed
  size_t stop = 5 + (((size_t)b[1] << 24) | ((size_t)b[2] << 16) | ((size_t)b[3] << 8) | b[4]);
  memset(st, 0, sizeof(*st) - sizeof(st->reason_buf));
  if (stop == 5) return ME_READ; // an empty message: a success
  size_t i = 5, avail = min_size(stop, n);
  uint64_t key, l;
  if (!varint(b, &i, avail, &key)) {
    *need = min_size(stop, n + 16);
    return ME_NEED;
  }
  size_t si = 0, send = 0;
  int have = 0;
  if (key == 10) {
    // field 1, length-delimited: the status of most responses
    if (!varint(b, &i, avail, &l)) {
      *need = min_size(stop, n + 16);
      return ME_NEED;
    }
    si = i, send = i + l, have = 1;
  } else if (key == 8 || key == 18 || key == 24 || key == 32 || key == 42 || key == 50) {
    // a field of common.Status: the response is the status itself
    si = 5, send = stop, have = 1;
  }
  if (have) {
    if (send > n) {
      *need = send;
      return ME_NEED;
    }
    int ok = status(b, si, send, st);
    if (ok && st->code == 0 && st->error_code == 0 && st->reason == NULL) return ME_READ;
    if (status_field < 0) return ME_ASK;
    if (status_field == 1) return ok ? ME_READ : ME_NONE;
  }
  if (status_field < 0) return ME_ASK;
  // Not a plain success: make sure the status is where it was looked for.
  if (status_field == 0) return ME_NONE; // the method's response has no status
  if (status_field == 1) return ME_NONE; // field 1 was not a status
  if (stop > n) {
    *need = stop;
    return ME_NEED;
  }
  if (!field(b, 5, stop, (uint64_t)status_field, &si, &send)) return ME_NONE;
  return status(b, si, send, st) ? ME_READ : ME_NONE;
}

// utf8 encodes a code point below 0x10000 into out; it returns its length.
static size_t utf8(unsigned c, char *out) {
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  out[0] = (char)(0xE0 | (c >> 12));
  out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[2] = (char)(0x80 | (c & 0x3F));
  return 3;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// json_string decodes the JSON string that starts at b[i] (after its quote)
// into st->reason_buf; a string cut by the end of b comes back cut.
static void json_string(const char *b, size_t i, size_t n, me_status *st) {
  size_t o = 0, cap = sizeof(st->reason_buf);
  while (i < n && o + 3 <= cap) {
    char c = b[i];
    if (c == '"') break;
    if (c != '\\') {
      st->reason_buf[o++] = c;
      i++;
      continue;
    }
    if (i + 1 >= n) break;
    char e = b[i + 1];
    if (e == 'u' && i + 5 < n && hexval(b[i + 2]) >= 0 && hexval(b[i + 3]) >= 0 && hexval(b[i + 4]) >= 0 && hexval(b[i + 5]) >= 0) {
      unsigned cp = (unsigned)(hexval(b[i + 2]) << 12 | hexval(b[i + 3]) << 8 | hexval(b[i + 4]) << 4 | hexval(b[i + 5]));
      o += utf8(cp, st->reason_buf + o);
      i += 6;
      continue;
    }
    switch (e) {
    case 'b': st->reason_buf[o++] = '\b'; break;
    case 'f': st->reason_buf[o++] = '\f'; break;
    case 'n': st->reason_buf[o++] = '\n'; break;
    case 'r': st->reason_buf[o++] = '\r'; break;
    case 't': st->reason_buf[o++] = '\t'; break;
    default: st->reason_buf[o++] = e;
    }
    i += 2;
  }
  st->reason = st->reason_buf;
  st->reason_len = o;
}

int me_rest_status(const char *b, size_t n, me_status *st) {
  static const char key[] = "\"code\"";
  size_t i = 0;
  memset(st, 0, sizeof(*st) - sizeof(st->reason_buf));
  while (i < n && space(b[i])) i++;
  if (i >= n || b[i++] != '{') return 0;
  while (i < n && space(b[i])) i++;
  if (n - i < sizeof(key) - 1 || memcmp(b + i, key, sizeof(key) - 1) != 0) return 0;
  i += sizeof(key) - 1;
  while (i < n && space(b[i])) i++;
  if (i >= n || b[i++] != ':') return 0;
  while (i < n && space(b[i])) i++;
  int neg = 0;
  if (i < n && b[i] == '-') neg = 1, i++;
  if (i >= n || b[i] < '0' || b[i] > '9') return 0;
  int64_t code = 0;
  while (i < n && b[i] >= '0' && b[i] <= '9' && code < ((int64_t)1 << 53)) code = code * 10 + (b[i++] - '0');
  st->code = neg ? -code : code;
  if (st->code == 0) return 1;
  // "message" : "…" anywhere in what was read
  static const char msg[] = "\"message\"";
  for (size_t j = i; j + sizeof(msg) - 1 <= n; j++) {
    if (memcmp(b + j, msg, sizeof(msg) - 1) != 0) continue;
    size_t k = j + sizeof(msg) - 1;
    while (k < n && space(b[k])) k++;
    if (k >= n || b[k] != ':') continue;
    k++;
    while (k < n && space(b[k])) k++;
    if (k >= n || b[k] != '"') continue;
    json_string(b, k + 1, n, st);
    break;
  }
  return 1;
}

size_t me_percent_decode(const char *in, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && o < cap; i++) {
    if (in[i] == '%' && i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
      out[o++] = (char)(hexval(in[i + 1]) << 4 | hexval(in[i + 2]));
      i += 2;
    } else {
      out[o++] = in[i];
    }
  }
  return o;
}
