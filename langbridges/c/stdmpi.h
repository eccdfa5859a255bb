/* stdmpi.h: the stdmpi line protocol from C and C++, with no MPI library.
 *
 *   #include <stdmpi.h>      (cc -I<prefix>/include prog.c; header only)
 *
 *   int rank = stdmpi_rank(), size = stdmpi_size();
 *   double part = ..., total;
 *   stdmpi_allreduce(&part, &total, 1, "sum");
 *   if (rank == 0) stdmpi_send(1, 7, "hello");
 *   if (rank == 1) { char* msg = stdmpi_recv(0, 7); ... free(msg); }
 *
 * Run it with `stdmpirun -n 4 ./prog`. Every function prints one "@mpi ..."
 * request on stdout (flushing it) and reads the reply on stdin; see
 * docs/protocol.md. Use the program's own printf for ordinary output as usual:
 * stdout is flushed before each request, so the order is kept.
 *
 * Errors: by default a failed request ends the whole job (the shim prints the
 * rank, the reason and the request). After stdmpi_errors(1), functions return
 * -1 (or NULL) instead and stdmpi_error() tells why.
 *
 * Numbers: the plain functions work on doubles (MPI_DOUBLE), the _i64 ones on
 * int64_t (MPI_INT64_T). OP is "sum" "prod" "min" "max" "land" "lor" "lxor",
 * for _i64 also "band" "bor" "bxor"; "minloc"/"maxloc" fill OUT with n
 * (value, rank) pairs: room for 2*n values. STDMPI_ANY is any source or tag.
 *
 * Memory: every pointer a function returns is malloc'd and yours to free();
 * byte results carry an extra NUL after their last byte, so text can be used
 * as a C string. Arrays you pass in stay yours.
 *
 * Bytes in collectives (any content, each rank's piece of its own size):
 *   size_t sizes[NRANKS], total;
 *   char* all = stdmpi_allgatherb(mine, len, sizes, &total);
 *   piece i is sizes[i] bytes at all + sizes[0] + ... + sizes[i-1]; free(all).
 * Also stdmpi_gatherb, stdmpi_scatterb, stdmpi_alltoallb, stdmpi_sendrecvb.
 *
 * Non-blocking messages: stdmpi_isend / _isendb / _irecv / _irecvb start one
 * and return its request id (stdmpi_request_t); stdmpi_wait(id, &n) gives the
 * result and frees the id (a malloc'd buffer: the text or bytes received, "ok"
 * for a send). stdmpi_test, stdmpi_waitany and stdmpi_waitall free nothing:
 * collect each result with stdmpi_wait, which then answers at once.
 *
 *   stdmpi_request_t r = stdmpi_irecv(0, 7), s = stdmpi_isend(0, 8, "ready");
 *   ... compute ...
 *   char* text = (char*)stdmpi_wait(r, NULL);  free(stdmpi_wait(s, NULL));
 *
 * Communicators: a stdmpi_comm_t holds a communicator's id, this rank's place
 * in it and its size. stdmpi_world() is the world; stdmpi_comm_split and
 * stdmpi_comm_dup make new ones, stdmpi_comm_free ends one. Every function
 * that sends, receives, reduces or names a rank has a variant ending in _c
 * that takes the communicator first; ranks and tags are then the
 * communicator's. The functions without _c work on the world, as ever.
 *
 *   stdmpi_comm_t half;
 *   stdmpi_comm_split(stdmpi_world(), rank % 2, rank, &half);
 *   stdmpi_allreduce_c(half, &part, &total, 1, "sum");
 *   if (half.rank == 0) stdmpi_send_c(half, 1, 5, "to rank 1 of my half");
 *   stdmpi_comm_free(&half);
 *
 * Task farms (stdmpirun --tasks FILE ./worker): stdmpi_task(&id, &text),
 * stdmpi_task_fail(fmt, ...), stdmpi_task_attempt(); see the end of this file.
 *
 * Not thread-safe: call it from one thread.
 */
#ifndef STDMPI_H_
#define STDMPI_H_

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STDMPI_ANY (-1)
/* A color for stdmpi_comm_split: this rank joins no new communicator. */
#define STDMPI_UNDEFINED (-32766)
/* The id of no communicator (what a split with STDMPI_UNDEFINED and
 * stdmpi_comm_free leave). */
#define STDMPI_COMM_NULL (-1)

/* A communicator: its id (0 the world, 1 the ranks of this program in an
 * MPMD job, 2... from split and dup), this rank in it, and its size. */
typedef struct {
  int64_t id;
  int rank;
  int size;
} stdmpi_comm_t;

/* A non-blocking request's id (from 1; -1 is a failed request). */
typedef int64_t stdmpi_request_t;

/* --- internals --------------------------------------------------------- */

typedef struct {
  char* line; /* the last reply line, NUL-terminated (no LF) */
  size_t cap;
  char error[512];
  int return_errors; /* after stdmpi_errors(1) */
  /* irecvb requests not yet waited for, ascending: their wait's reply is a
   * byte count and bytes, not a line. */
  int64_t* byte_reqs;
  size_t n_byte_reqs, cap_byte_reqs;
} stdmpi_state_t;

static inline stdmpi_state_t* stdmpi__state(void) {
  static stdmpi_state_t s;
  return &s;
}

static inline void stdmpi__die(const char* why) {
  fprintf(stderr, "stdmpi: rank %s: %s\n", getenv("STDMPI_RANK") ? getenv("STDMPI_RANK") : "?",
          why);
  exit(70);
}

/* A failure the bridge finds itself, handled as the shim's: -1 with the
 * reason in stdmpi_error() after stdmpi_errors(1), else the rank ends. */
static inline int stdmpi__fail(const char* why) {
  stdmpi_state_t* s = stdmpi__state();
  snprintf(s->error, sizeof s->error, "%s", why);
  if (s->return_errors) return -1;
  fflush(stdout);
  fprintf(stderr, "stdmpi: rank %s: %s\n", getenv("STDMPI_RANK") ? getenv("STDMPI_RANK") : "?",
          why);
  exit(1);
}

/* Sends a request (and a raw payload), reads the reply line into the state.
 * Returns 0, or -1 for an "@error" reply (reason in stdmpi_error()). */
static inline int stdmpi__request(const char* req, const void* payload, size_t n) {
  stdmpi_state_t* s = stdmpi__state();
  if (getenv("STDMPI_RANK") == NULL) {
    stdmpi__die(
        "not running as a stdmpi rank (STDMPI_RANK is not set): start the program "
        "with stdmpirun");
  }
  fflush(stdout);
  fputs(req, stdout);
  fputc('\n', stdout);
  if (payload != NULL && n > 0) fwrite(payload, 1, n, stdout);
  if (fflush(stdout) != 0) stdmpi__die("cannot write a request to stdout");
  size_t len = 0;
  int c;
  while ((c = getchar()) != EOF && c != '\n') {
    if (len + 1 >= s->cap) {
      s->cap = s->cap ? s->cap * 2 : 256;
      s->line = (char*)realloc(s->line, s->cap);
      if (s->line == NULL) stdmpi__die("out of memory");
    }
    s->line[len++] = (char)c;
  }
  if (c == EOF) stdmpi__die("stdin closed while waiting for a reply (the job is ending)");
  if (s->line == NULL) {
    s->cap = 256;
    s->line = (char*)malloc(s->cap);
  }
  s->line[len] = '\0';
  if (strncmp(s->line, "@error", 6) == 0) {
    snprintf(s->error, sizeof s->error, "%s", len > 7 ? s->line + 7 : "");
    return -1;
  }
  return 0;
}

/* A request line built with printf-style formatting. */
static inline int stdmpi__requestf(const void* payload, size_t n, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static inline int stdmpi__requestf(const void* payload, size_t n, const char* fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (need < (int)sizeof small) return stdmpi__request(small, payload, n);
  char* big = (char*)malloc((size_t)need + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)need + 1, fmt, ap);
  va_end(ap);
  int rc = stdmpi__request(big, payload, n);
  free(big);
  return rc;
}

/* strdup is not in strict ISO C. */
static inline char* stdmpi__strdup(const char* s) {
  size_t n = strlen(s) + 1;
  char* d = (char*)malloc(n);
  if (d == NULL) stdmpi__die("out of memory");
  return (char*)memcpy(d, s, n);
}

static inline const char* stdmpi__arg(int v, char* buf) {
  if (v == STDMPI_ANY) return "any";
  snprintf(buf, 16, "%d", v);
  return buf;
}

/* The verb on COMM: "VERB" on the world (the request as it always was),
 * "VERB:cID" on another communicator. BUF has room for 64 characters. */
static inline const char* stdmpi__on(const char* verb, stdmpi_comm_t comm, char* buf) {
  if (comm.id == 0) return verb;
  snprintf(buf, 64, "%s:c%" PRId64, verb, comm.id);
  return buf;
}

/* 0 if COMM can carry a request; else the failure (stdmpi__fail). */
static inline int stdmpi__usable(stdmpi_comm_t comm) {
  if (comm.id >= 0) return 0;
  return stdmpi__fail(
      "this rank has no such communicator (STDMPI_COMM_NULL: a split with "
      "STDMPI_UNDEFINED, or freed)");
}

/* A growing text, for request lines of unbounded length. */
typedef struct {
  char* s;
  size_t len, cap;
} stdmpi__buf_t;

static inline void stdmpi__addf(stdmpi__buf_t* b, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static inline void stdmpi__addf(stdmpi__buf_t* b, const char* fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (b->s != NULL && (size_t)need < b->cap - b->len) {
      b->len += (size_t)need;
      return;
    }
    b->cap = (b->cap + (size_t)need + 1) * 2;
    b->s = (char*)realloc(b->s, b->cap);
    if (b->s == NULL) stdmpi__die("out of memory");
  }
}

/* "@mpi VERB[ HEAD]" + " x1 x2 ..." for n doubles / int64s. */
static inline char* stdmpi__numbers_f64(const char* head, const double* x, int n) {
  size_t cap = strlen(head) + (size_t)n * 26 + 2, len = strlen(head);
  char* r = (char*)malloc(cap);
  memcpy(r, head, len);
  for (int i = 0; i < n; ++i) len += (size_t)snprintf(r + len, cap - len, " %.17g", x[i]);
  r[len] = '\0';
  return r;
}

/* Parses up to max numbers of the reply line; returns how many. */
static inline int stdmpi__parse_f64(double* out, int max) {
  char* p = stdmpi__state()->line;
  int k = 0;
  while (*p != '\0' && k < max) {
    char* end;
    out[k++] = strtod(p, &end);
    if (end == p) break;
    p = end;
  }
  return k;
}

static inline int stdmpi__is_loc(const char* op) {
  return strcmp(op, "minloc") == 0 || strcmp(op, "maxloc") == 0;
}

/* Reads COUNT raw bytes of a reply into a malloc'd buffer (one more byte, a
 * NUL, after them). */
static inline void* stdmpi__read_n(size_t count, size_t* n) {
  char* buf = (char*)malloc(count + 1);
  if (buf == NULL) stdmpi__die("out of memory");
  if (count > 0 && fread(buf, 1, count, stdin) != count) {
    stdmpi__die("stdin closed in the middle of a byte reply");
  }
  buf[count] = '\0';
  if (n != NULL) *n = count;
  return buf;
}

/* Reads the N raw bytes of a byte reply ("N" on the line) into a malloc'd
 * buffer. */
static inline void* stdmpi__read_bytes(size_t* n) {
  return stdmpi__read_n((size_t)strtoull(stdmpi__state()->line, NULL, 10), n);
}

/* A reply "N0 N1 ... N(k-1)" and then their sum of bytes: the sizes go to
 * SIZES (room for MAX; may be NULL), the bytes to a malloc'd buffer. */
static inline void* stdmpi__read_pieces(size_t* sizes, int max, size_t* total) {
  const char* p = stdmpi__state()->line;
  size_t sum = 0;
  for (int k = 0;; ++k) {
    char* end;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p) break;
    if (sizes != NULL && k < max) sizes[k] = (size_t)v;
    sum += (size_t)v;
    p = end;
  }
  return stdmpi__read_n(sum, total);
}

/* " N0 N1 ..." for COUNT sizes, added to B; returns their sum. */
static inline size_t stdmpi__add_sizes(stdmpi__buf_t* b, const size_t* sizes, int count) {
  size_t sum = 0;
  for (int i = 0; i < count; ++i) {
    stdmpi__addf(b, " %zu", sizes[i]);
    sum += sizes[i];
  }
  return sum;
}

/* Reductions travel in the protocol's msgpack framing: a bin holding the
 * numbers as 8-byte little-endian values, i.e. the array as it is in memory,
 * exact and with no text conversion either way. The reply is the same form. */
static inline int stdmpi__little_endian(void) {
  const uint16_t one = 1;
  return *(const unsigned char*)&one == 1;
}
static inline void stdmpi__swap8(unsigned char* p, size_t count) {
  for (size_t i = 0; i < count; ++i, p += 8) {
    for (int k = 0; k < 4; ++k) {
      unsigned char t = p[k];
      p[k] = p[7 - k];
      p[7 - k] = t;
    }
  }
}

/* VERB is e.g. "allreduce:i64", ARGS e.g. "sum 0". OUT gets n numbers (2*n
 * for minloc/maxloc); it may be NULL where the reply is "ok". */
static inline int stdmpi__reduce8(stdmpi_comm_t comm, const char* verb, const char* args,
                                  const void* in, void* out, int n, const char* op) {
  if (stdmpi__usable(comm) != 0) return -1;
  char v[64];
  size_t bytes = (size_t)(n > 0 ? n : 0) * 8;
  unsigned char* payload = (unsigned char*)malloc(bytes + 5);
  if (payload == NULL) stdmpi__die("out of memory");
  payload[0] = 0xc6; /* bin 32 */
  for (int k = 0; k < 4; ++k) payload[1 + k] = (unsigned char)(bytes >> (8 * (3 - k)));
  if (bytes > 0) memcpy(payload + 5, in, bytes);
  if (!stdmpi__little_endian()) stdmpi__swap8(payload + 5, bytes / 8);
  int rc = stdmpi__requestf(payload, bytes + 5, "@mpi %s:msgpack %s %lu", stdmpi__on(verb, comm, v),
                            args, (unsigned long)(bytes + 5));
  free(payload);
  if (rc != 0) return -1;
  if (strcmp(stdmpi__state()->line, "ok") == 0) return 0;
  size_t got;
  unsigned char* reply = (unsigned char*)stdmpi__read_bytes(&got);
  size_t head = got > 0 && reply[0] == 0xc4 ? 2 : got > 0 && reply[0] == 0xc5 ? 3 : 5;
  size_t want = bytes * (stdmpi__is_loc(op) ? 2 : 1);
  if (got < head || got - head != want) stdmpi__die("a reduction's reply has the wrong size");
  if (out != NULL) {
    memcpy(out, reply + head, want);
    if (!stdmpi__little_endian()) stdmpi__swap8((unsigned char*)out, want / 8);
  }
  free(reply);
  return 0;
}

/* The irecvb requests not yet waited for (so that stdmpi_wait knows to read
 * bytes). Ids grow, so appending keeps the list sorted. */
static inline void stdmpi__remember_byte_req(int64_t id) {
  stdmpi_state_t* s = stdmpi__state();
  if (s->n_byte_reqs == s->cap_byte_reqs) {
    s->cap_byte_reqs = s->cap_byte_reqs ? s->cap_byte_reqs * 2 : 16;
    s->byte_reqs = (int64_t*)realloc(s->byte_reqs, s->cap_byte_reqs * sizeof(int64_t));
    if (s->byte_reqs == NULL) stdmpi__die("out of memory");
  }
  size_t i = s->n_byte_reqs;
  while (i > 0 && s->byte_reqs[i - 1] > id) --i;
  memmove(s->byte_reqs + i + 1, s->byte_reqs + i, (s->n_byte_reqs - i) * sizeof(int64_t));
  s->byte_reqs[i] = id;
  s->n_byte_reqs++;
}
/* 1 if ID is an irecvb not yet waited for (and forgets it), else 0. */
static inline int stdmpi__forget_byte_req(int64_t id) {
  stdmpi_state_t* s = stdmpi__state();
  size_t lo = 0, hi = s->n_byte_reqs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->byte_reqs[mid] < id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo == s->n_byte_reqs || s->byte_reqs[lo] != id) return 0;
  memmove(s->byte_reqs + lo, s->byte_reqs + lo + 1, (s->n_byte_reqs - lo - 1) * sizeof(int64_t));
  s->n_byte_reqs--;
  return 1;
}

/* The reply to isend, isendb, irecv, irecvb: the request's id, or -1. */
static inline stdmpi_request_t stdmpi__request_id(int rc) {
  if (rc != 0) return -1;
  return (stdmpi_request_t)strtoll(stdmpi__state()->line, NULL, 10);
}

/* "ID RANK SIZE" or "none" from split and dup. */
static inline int stdmpi__comm_reply(int rc, stdmpi_comm_t* out) {
  out->id = STDMPI_COMM_NULL;
  out->rank = -1;
  out->size = 0;
  if (rc != 0) return -1;
  const char* line = stdmpi__state()->line;
  if (strcmp(line, "none") == 0) return 0;
  if (sscanf(line, "%" SCNd64 " %d %d", &out->id, &out->rank, &out->size) != 3) {
    stdmpi__die("a communicator reply is not \"ID RANK SIZE\"");
  }
  return 0;
}

/* --- the API ----------------------------------------------------------------- */

/* The reason of the last failed request (after stdmpi_errors(1)). */
static inline const char* stdmpi_error(void) {
  return stdmpi__state()->error;
}

/* This rank and the number of ranks (from the environment: no request). */
static inline int stdmpi_rank(void) {
  const char* r = getenv("STDMPI_RANK");
  return r ? atoi(r) : 0;
}
static inline int stdmpi_size(void) {
  const char* s = getenv("STDMPI_SIZE");
  return s ? atoi(s) : 1;
}

/* The world: id 0, this rank, every rank (no request). */
static inline stdmpi_comm_t stdmpi_world(void) {
  stdmpi_comm_t c;
  c.id = 0;
  c.rank = stdmpi_rank();
  c.size = stdmpi_size();
  return c;
}

/* 1: failed requests return -1 (reason in stdmpi_error()); 0: they end the job. */
static inline int stdmpi_errors(int return_errors) {
  int rc = stdmpi__request(return_errors ? "@mpi errors return" : "@mpi errors fatal", NULL, 0);
  if (rc == 0) stdmpi__state()->return_errors = return_errors != 0;
  return rc;
}

/* Seconds since an arbitrary moment (MPI_Wtime); a negative value on error. */
static inline double stdmpi_wtime(void) {
  if (stdmpi__request("@mpi wtime", NULL, 0) != 0) return -1;
  return strtod(stdmpi__state()->line, NULL);
}

static inline int stdmpi_barrier_c(stdmpi_comm_t comm) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  return stdmpi__requestf(NULL, 0, "@mpi %s", stdmpi__on("barrier", comm, v));
}
static inline int stdmpi_barrier(void) {
  return stdmpi_barrier_c(stdmpi_world());
}

/* Sends one line of text (no LF in it). */
static inline int stdmpi_send_c(stdmpi_comm_t comm, int dest, int tag, const char* text) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  return stdmpi__requestf(NULL, 0, "@mpi %s %d %d %s", stdmpi__on("send", comm, v), dest, tag,
                          text);
}
static inline int stdmpi_send(int dest, int tag, const char* text) {
  return stdmpi_send_c(stdmpi_world(), dest, tag, text);
}

/* Receives the next matching text: a malloc'd string to free(), or NULL. */
static inline char* stdmpi_recv_c(stdmpi_comm_t comm, int src, int tag) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  if (stdmpi__requestf(NULL, 0, "@mpi %s %s %s", stdmpi__on("recv", comm, v), stdmpi__arg(src, a),
                       stdmpi__arg(tag, b)) != 0) {
    return NULL;
  }
  return stdmpi__strdup(stdmpi__state()->line);
}
static inline char* stdmpi_recv(int src, int tag) {
  return stdmpi_recv_c(stdmpi_world(), src, tag);
}

/* Text both ways at once; the received text is malloc'd, or NULL. */
static inline char* stdmpi_sendrecv_c(stdmpi_comm_t comm, int dest, int sendtag, int src,
                                      int recvtag, const char* text) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  if (stdmpi__requestf(NULL, 0, "@mpi %s %d %d %s %s %s", stdmpi__on("sendrecv", comm, v), dest,
                       sendtag, stdmpi__arg(src, a), stdmpi__arg(recvtag, b), text) != 0) {
    return NULL;
  }
  return stdmpi__strdup(stdmpi__state()->line);
}
static inline char* stdmpi_sendrecv(int dest, int sendtag, int src, int recvtag, const char* text) {
  return stdmpi_sendrecv_c(stdmpi_world(), dest, sendtag, src, recvtag, text);
}

/* Raw bytes: any content, any size up to the job's --max-message. */
static inline int stdmpi_sendb_c(stdmpi_comm_t comm, int dest, int tag, const void* data,
                                 size_t n) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  return stdmpi__requestf(data, n, "@mpi %s %d %d %zu", stdmpi__on("sendb", comm, v), dest, tag, n);
}
static inline int stdmpi_sendb(int dest, int tag, const void* data, size_t n) {
  return stdmpi_sendb_c(stdmpi_world(), dest, tag, data, n);
}

/* Receives raw bytes: a malloc'd buffer (NUL-terminated for convenience) of
 * *n bytes, or NULL. */
static inline void* stdmpi_recvb_c(stdmpi_comm_t comm, int src, int tag, size_t* n) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  if (stdmpi__requestf(NULL, 0, "@mpi %s %s %s", stdmpi__on("recvb", comm, v), stdmpi__arg(src, a),
                       stdmpi__arg(tag, b)) != 0) {
    return NULL;
  }
  return stdmpi__read_bytes(n);
}
static inline void* stdmpi_recvb(int src, int tag, size_t* n) {
  return stdmpi_recvb_c(stdmpi_world(), src, tag, n);
}

/* Sends N bytes to DEST and receives from SRC at once (no deadlock when two
 * ranks swap): the bytes received, malloc'd (*out_n of them), or NULL. */
static inline void* stdmpi_sendrecvb_c(stdmpi_comm_t comm, int dest, int sendtag, int src,
                                       int recvtag, const void* data, size_t n, size_t* out_n) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  if (stdmpi__requestf(data, n, "@mpi %s %d %d %s %s %zu", stdmpi__on("sendrecvb", comm, v), dest,
                       sendtag, stdmpi__arg(src, a), stdmpi__arg(recvtag, b), n) != 0) {
    return NULL;
  }
  return stdmpi__read_bytes(out_n);
}
static inline void* stdmpi_sendrecvb(int dest, int sendtag, int src, int recvtag, const void* data,
                                     size_t n, size_t* out_n) {
  return stdmpi_sendrecvb_c(stdmpi_world(), dest, sendtag, src, recvtag, data, n, out_n);
}

/* Source, tag and size of the last completed receive (for a non-blocking
 * receive: of its stdmpi_wait). SOURCE is a rank of the receive's
 * communicator. */
static inline int stdmpi_status(int* source, int* tag, long* bytes) {
  if (stdmpi__request("@mpi status", NULL, 0) != 0) return -1;
  return sscanf(stdmpi__state()->line, "%d %d %ld", source, tag, bytes) == 3 ? 0 : -1;
}

/* Waits for a matching message without receiving it. */
static inline int stdmpi_probe_c(stdmpi_comm_t comm, int src, int tag, int* source, int* rtag,
                                 long* bytes) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  if (stdmpi__requestf(NULL, 0, "@mpi %s %s %s", stdmpi__on("probe", comm, v), stdmpi__arg(src, a),
                       stdmpi__arg(tag, b)) != 0) {
    return -1;
  }
  return sscanf(stdmpi__state()->line, "%d %d %ld", source, rtag, bytes) == 3 ? 0 : -1;
}
static inline int stdmpi_probe(int src, int tag, int* source, int* rtag, long* bytes) {
  return stdmpi_probe_c(stdmpi_world(), src, tag, source, rtag, bytes);
}

/* 1 and the message's source, tag, size if one matches now; 0 if none; -1. */
static inline int stdmpi_iprobe_c(stdmpi_comm_t comm, int src, int tag, int* source, int* rtag,
                                  long* bytes) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  if (stdmpi__requestf(NULL, 0, "@mpi %s %s %s", stdmpi__on("iprobe", comm, v), stdmpi__arg(src, a),
                       stdmpi__arg(tag, b)) != 0) {
    return -1;
  }
  if (strcmp(stdmpi__state()->line, "none") == 0) return 0;
  return sscanf(stdmpi__state()->line, "%d %d %ld", source, rtag, bytes) == 3 ? 1 : -1;
}
static inline int stdmpi_iprobe(int src, int tag, int* source, int* rtag, long* bytes) {
  return stdmpi_iprobe_c(stdmpi_world(), src, tag, source, rtag, bytes);
}

/* The root's text on every rank (others pass NULL): malloc'd, or NULL. */
static inline char* stdmpi_bcast_c(stdmpi_comm_t comm, int root, const char* text) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  const char* verb = stdmpi__on("bcast", comm, v);
  int rc = text != NULL && comm.rank == root
               ? stdmpi__requestf(NULL, 0, "@mpi %s %d %s", verb, root, text)
               : stdmpi__requestf(NULL, 0, "@mpi %s %d", verb, root);
  return rc == 0 ? stdmpi__strdup(stdmpi__state()->line) : NULL;
}
static inline char* stdmpi_bcast(int root, const char* text) {
  return stdmpi_bcast_c(stdmpi_world(), root, text);
}

/* The root's bytes on every rank: malloc'd (*out_n bytes), or NULL. */
static inline void* stdmpi_bcastb_c(stdmpi_comm_t comm, int root, const void* data, size_t n,
                                    size_t* out_n) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  const char* verb = stdmpi__on("bcastb", comm, v);
  int rc = comm.rank == root ? stdmpi__requestf(data, n, "@mpi %s %d %zu", verb, root, n)
                             : stdmpi__requestf(NULL, 0, "@mpi %s %d", verb, root);
  return rc == 0 ? stdmpi__read_bytes(out_n) : NULL;
}
static inline void* stdmpi_bcastb(int root, const void* data, size_t n, size_t* out_n) {
  return stdmpi_bcastb_c(stdmpi_world(), root, data, n, out_n);
}

/* Element-wise reductions of n numbers. OUT may be NULL where no result comes
 * (reduce off the root, exscan on rank 0). */
static inline int stdmpi_allreduce_c(stdmpi_comm_t comm, const double* in, double* out, int n,
                                     const char* op) {
  return stdmpi__reduce8(comm, "allreduce", op, in, out, n, op);
}
static inline int stdmpi_allreduce(const double* in, double* out, int n, const char* op) {
  return stdmpi_allreduce_c(stdmpi_world(), in, out, n, op);
}
static inline int stdmpi_allreduce_i64_c(stdmpi_comm_t comm, const int64_t* in, int64_t* out, int n,
                                         const char* op) {
  return stdmpi__reduce8(comm, "allreduce:i64", op, in, out, n, op);
}
static inline int stdmpi_allreduce_i64(const int64_t* in, int64_t* out, int n, const char* op) {
  return stdmpi_allreduce_i64_c(stdmpi_world(), in, out, n, op);
}
static inline int stdmpi_reduce_c(stdmpi_comm_t comm, const double* in, double* out, int n,
                                  const char* op, int root) {
  char args[64];
  snprintf(args, sizeof args, "%s %d", op, root);
  return stdmpi__reduce8(comm, "reduce", args, in, out, n, op);
}
static inline int stdmpi_reduce(const double* in, double* out, int n, const char* op, int root) {
  return stdmpi_reduce_c(stdmpi_world(), in, out, n, op, root);
}
static inline int stdmpi_reduce_i64_c(stdmpi_comm_t comm, const int64_t* in, int64_t* out, int n,
                                      const char* op, int root) {
  char args[64];
  snprintf(args, sizeof args, "%s %d", op, root);
  return stdmpi__reduce8(comm, "reduce:i64", args, in, out, n, op);
}
static inline int stdmpi_reduce_i64(const int64_t* in, int64_t* out, int n, const char* op,
                                    int root) {
  return stdmpi_reduce_i64_c(stdmpi_world(), in, out, n, op, root);
}
static inline int stdmpi_scan_c(stdmpi_comm_t comm, const double* in, double* out, int n,
                                const char* op) {
  return stdmpi__reduce8(comm, "scan", op, in, out, n, op);
}
static inline int stdmpi_scan(const double* in, double* out, int n, const char* op) {
  return stdmpi_scan_c(stdmpi_world(), in, out, n, op);
}
static inline int stdmpi_exscan_c(stdmpi_comm_t comm, const double* in, double* out, int n,
                                  const char* op) {
  return stdmpi__reduce8(comm, "exscan", op, in, out, n, op);
}
static inline int stdmpi_exscan(const double* in, double* out, int n, const char* op) {
  return stdmpi_exscan_c(stdmpi_world(), in, out, n, op);
}

/* Gathers every rank's numbers (counts may differ) in rank order. On the
 * root (every rank for allgather): a malloc'd array of *total numbers; NULL
 * elsewhere, and on error. */
static inline double* stdmpi_gather_c(stdmpi_comm_t comm, const double* in, int n, int root,
                                      int* total) {
  char head[128], v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  snprintf(head, sizeof head, "@mpi %s %d", stdmpi__on("gather", comm, v), root);
  char* req = stdmpi__numbers_f64(head, in, n);
  int rc = stdmpi__request(req, NULL, 0);
  free(req);
  if (rc != 0 || strcmp(stdmpi__state()->line, "ok") == 0) return NULL;
  int cap = 1;
  for (char* p = stdmpi__state()->line; *p; ++p) cap += *p == ' ';
  double* out = (double*)malloc(sizeof(double) * (size_t)cap);
  *total = stdmpi__parse_f64(out, cap);
  return out;
}
static inline double* stdmpi_gather(const double* in, int n, int root, int* total) {
  return stdmpi_gather_c(stdmpi_world(), in, n, root, total);
}
static inline double* stdmpi_allgather_c(stdmpi_comm_t comm, const double* in, int n, int* total) {
  char head[128], v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  snprintf(head, sizeof head, "@mpi %s", stdmpi__on("allgather", comm, v));
  char* req = stdmpi__numbers_f64(head, in, n);
  int rc = stdmpi__request(req, NULL, 0);
  free(req);
  if (rc != 0) return NULL;
  int cap = 1;
  for (char* p = stdmpi__state()->line; *p; ++p) cap += *p == ' ';
  double* out = (double*)malloc(sizeof(double) * (size_t)cap);
  *total = stdmpi__parse_f64(out, cap);
  return out;
}
static inline double* stdmpi_allgather(const double* in, int n, int* total) {
  return stdmpi_allgather_c(stdmpi_world(), in, n, total);
}

/* The root gives size*k numbers (IN, n = size*k; others pass NULL, 0); every
 * rank gets its k into OUT (room for k). Returns k, or -1. */
static inline int stdmpi_scatter_c(stdmpi_comm_t comm, const double* in, int n, double* out, int k,
                                   int root) {
  char head[128], v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  snprintf(head, sizeof head, "@mpi %s %d", stdmpi__on("scatter", comm, v), root);
  char* req = comm.rank == root ? stdmpi__numbers_f64(head, in, n) : stdmpi__strdup(head);
  int rc = stdmpi__request(req, NULL, 0);
  free(req);
  if (rc != 0) return -1;
  return stdmpi__parse_f64(out, k);
}
static inline int stdmpi_scatter(const double* in, int n, double* out, int k, int root) {
  return stdmpi_scatter_c(stdmpi_world(), in, n, out, k, root);
}

/* --- bytes in collectives ------------------------------------------------ */

/* Gathers every rank's N bytes (each its own size, 0 too) on the root, in
 * rank order. The root gets a malloc'd buffer holding the pieces one after
 * the other, *total bytes in all, and SIZES (room for the communicator's
 * size, may be NULL) gets each piece's size. The other ranks get an empty
 * malloc'd buffer (*total 0, SIZES untouched), so that NULL means an error
 * on every rank. free() the result on every rank. */
static inline void* stdmpi_gatherb_c(stdmpi_comm_t comm, const void* data, size_t n, int root,
                                     size_t* sizes, size_t* total) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  if (stdmpi__requestf(data, n, "@mpi %s %d %zu", stdmpi__on("gatherb", comm, v), root, n) != 0) {
    return NULL;
  }
  if (strcmp(stdmpi__state()->line, "ok") == 0) return stdmpi__read_n(0, total);
  return stdmpi__read_pieces(sizes, comm.size, total);
}
static inline void* stdmpi_gatherb(const void* data, size_t n, int root, size_t* sizes,
                                   size_t* total) {
  return stdmpi_gatherb_c(stdmpi_world(), data, n, root, sizes, total);
}

/* What stdmpi_gatherb's root gets, on every rank: the pieces of every rank,
 * malloc'd, *total bytes; SIZES (room for the communicator's size, may be
 * NULL) gets each piece's size. NULL on error. */
static inline void* stdmpi_allgatherb_c(stdmpi_comm_t comm, const void* data, size_t n,
                                        size_t* sizes, size_t* total) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  if (stdmpi__requestf(data, n, "@mpi %s %zu", stdmpi__on("allgatherb", comm, v), n) != 0) {
    return NULL;
  }
  return stdmpi__read_pieces(sizes, comm.size, total);
}
static inline void* stdmpi_allgatherb(const void* data, size_t n, size_t* sizes, size_t* total) {
  return stdmpi_allgatherb_c(stdmpi_world(), data, n, sizes, total);
}

/* The root gives one piece a rank: DATA holds them one after the other and
 * SIZES (one entry a rank of the communicator) their sizes; the other ranks
 * pass NULL, NULL. Every rank gets its piece (rank i the i-th): malloc'd, *n
 * bytes, or NULL. */
static inline void* stdmpi_scatterb_c(stdmpi_comm_t comm, const void* data, const size_t* sizes,
                                      int root, size_t* n) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  stdmpi__buf_t line = {NULL, 0, 0};
  stdmpi__addf(&line, "@mpi %s %d", stdmpi__on("scatterb", comm, v), root);
  size_t sum = 0;
  if (comm.rank == root && sizes != NULL) sum = stdmpi__add_sizes(&line, sizes, comm.size);
  int rc = stdmpi__request(line.s, data, sum);
  free(line.s);
  return rc == 0 ? stdmpi__read_bytes(n) : NULL;
}
static inline void* stdmpi_scatterb(const void* data, const size_t* sizes, int root, size_t* n) {
  return stdmpi_scatterb_c(stdmpi_world(), data, sizes, root, n);
}

/* Every rank gives one piece for each rank: DATA holds them one after the
 * other (piece i for rank i), SIZES their sizes (one entry a rank). Returns
 * the pieces received from ranks 0, 1, ... one after the other, malloc'd,
 * *total bytes; RECV_SIZES (room for the communicator's size, may be NULL)
 * gets their sizes. NULL on error. */
static inline void* stdmpi_alltoallb_c(stdmpi_comm_t comm, const void* data, const size_t* sizes,
                                       size_t* recv_sizes, size_t* total) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return NULL;
  stdmpi__buf_t line = {NULL, 0, 0};
  stdmpi__addf(&line, "@mpi %s", stdmpi__on("alltoallb", comm, v));
  /* Without SIZES the shim refuses the request, on every rank. */
  size_t sum = sizes != NULL ? stdmpi__add_sizes(&line, sizes, comm.size) : 0;
  int rc = stdmpi__request(line.s, data, sum);
  free(line.s);
  return rc == 0 ? stdmpi__read_pieces(recv_sizes, comm.size, total) : NULL;
}
static inline void* stdmpi_alltoallb(const void* data, const size_t* sizes, size_t* recv_sizes,
                                     size_t* total) {
  return stdmpi_alltoallb_c(stdmpi_world(), data, sizes, recv_sizes, total);
}

/* --- non-blocking messages ----------------------------------------------- */

/* Start a send of text (no LF) or N bytes, or a receive of text or bytes;
 * each returns the request's id at once (-1 on error). Collect the result
 * with stdmpi_wait(id, ...). */
static inline stdmpi_request_t stdmpi_isend_c(stdmpi_comm_t comm, int dest, int tag,
                                              const char* text) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  return stdmpi__request_id(
      stdmpi__requestf(NULL, 0, "@mpi %s %d %d %s", stdmpi__on("isend", comm, v), dest, tag, text));
}
static inline stdmpi_request_t stdmpi_isend(int dest, int tag, const char* text) {
  return stdmpi_isend_c(stdmpi_world(), dest, tag, text);
}
static inline stdmpi_request_t stdmpi_isendb_c(stdmpi_comm_t comm, int dest, int tag,
                                               const void* data, size_t n) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  return stdmpi__request_id(
      stdmpi__requestf(data, n, "@mpi %s %d %d %zu", stdmpi__on("isendb", comm, v), dest, tag, n));
}
static inline stdmpi_request_t stdmpi_isendb(int dest, int tag, const void* data, size_t n) {
  return stdmpi_isendb_c(stdmpi_world(), dest, tag, data, n);
}
static inline stdmpi_request_t stdmpi_irecv_c(stdmpi_comm_t comm, int src, int tag) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  return stdmpi__request_id(stdmpi__requestf(NULL, 0, "@mpi %s %s %s", stdmpi__on("irecv", comm, v),
                                             stdmpi__arg(src, a), stdmpi__arg(tag, b)));
}
static inline stdmpi_request_t stdmpi_irecv(int src, int tag) {
  return stdmpi_irecv_c(stdmpi_world(), src, tag);
}
static inline stdmpi_request_t stdmpi_irecvb_c(stdmpi_comm_t comm, int src, int tag) {
  char a[16], b[16], v[64];
  if (stdmpi__usable(comm) != 0) return -1;
  stdmpi_request_t id =
      stdmpi__request_id(stdmpi__requestf(NULL, 0, "@mpi %s %s %s", stdmpi__on("irecvb", comm, v),
                                          stdmpi__arg(src, a), stdmpi__arg(tag, b)));
  if (id > 0) stdmpi__remember_byte_req(id);
  return id;
}
static inline stdmpi_request_t stdmpi_irecvb(int src, int tag) {
  return stdmpi_irecvb_c(stdmpi_world(), src, tag);
}

/* Waits for request ID to complete and frees it. Returns its result,
 * malloc'd (free() it), *n bytes (N may be NULL) and NUL-terminated: the
 * text of an irecv, the bytes of an irecvb, "ok" for isend and isendb. NULL
 * on error: a receive that can never complete is freed then. stdmpi_status()
 * then describes the message received. */
static inline void* stdmpi_wait(stdmpi_request_t id, size_t* n) {
  int bytes = stdmpi__forget_byte_req(id);
  if (stdmpi__requestf(NULL, 0, "@mpi wait %" PRId64, id) != 0) {
    if (bytes) {
      /* Still pending after all (a failure that did not free it)? Then its
       * wait must still read bytes. The reason stays that of the wait. */
      char why[sizeof stdmpi__state()->error];
      memcpy(why, stdmpi__state()->error, sizeof why);
      if (stdmpi__requestf(NULL, 0, "@mpi test %" PRId64, id) == 0) stdmpi__remember_byte_req(id);
      memcpy(stdmpi__state()->error, why, sizeof why);
    }
    return NULL;
  }
  if (bytes) return stdmpi__read_bytes(n);
  char* text = stdmpi__strdup(stdmpi__state()->line);
  if (n != NULL) *n = strlen(text);
  return text;
}

/* 1 if request ID has completed (its stdmpi_wait then answers at once), 0 if
 * not yet, -1 on error. Frees nothing. */
static inline int stdmpi_test(stdmpi_request_t id) {
  if (stdmpi__requestf(NULL, 0, "@mpi test %" PRId64, id) != 0) return -1;
  return strcmp(stdmpi__state()->line, "1") == 0;
}

/* "@mpi VERB ID ID ..." */
static inline int stdmpi__ids_request(const char* verb, const stdmpi_request_t* ids, int count) {
  stdmpi__buf_t line = {NULL, 0, 0};
  stdmpi__addf(&line, "@mpi %s", verb);
  for (int i = 0; i < count; ++i) stdmpi__addf(&line, " %" PRId64, ids[i]);
  int rc = stdmpi__request(line.s, NULL, 0);
  free(line.s);
  return rc;
}

/* Waits until one of the COUNT requests in IDS has completed; returns its
 * index in IDS (as MPI_Waitany), or -1. Frees nothing: stdmpi_wait(ids[i])
 * gives its result. */
static inline int stdmpi_waitany(const stdmpi_request_t* ids, int count) {
  if (stdmpi__ids_request("waitany", ids, count) != 0) return -1;
  int64_t done = strtoll(stdmpi__state()->line, NULL, 10);
  for (int i = 0; i < count; ++i) {
    if (ids[i] == done) return i;
  }
  stdmpi__die("waitany replied with a request id that was not asked for");
  return -1;
}

/* Waits until all COUNT requests in IDS have completed: 0, or -1. Frees
 * nothing: collect each result with stdmpi_wait, which then answers at once. */
static inline int stdmpi_waitall(const stdmpi_request_t* ids, int count) {
  return stdmpi__ids_request("waitall", ids, count);
}

/* --- communicators ------------------------------------------------------- */

/* A collective of COMM: the ranks that give the same COLOR (>= 0) form a new
 * communicator, ordered by KEY, then by their rank in COMM. *NEWCOMM gets its
 * id, this rank in it and its size; with STDMPI_UNDEFINED (any negative
 * color) this rank joins none and *NEWCOMM's id is STDMPI_COMM_NULL. 0, or -1
 * (*NEWCOMM then STDMPI_COMM_NULL too). */
static inline int stdmpi_comm_split(stdmpi_comm_t comm, int color, int key,
                                    stdmpi_comm_t* newcomm) {
  char v[64], c[16];
  if (stdmpi__usable(comm) != 0) return stdmpi__comm_reply(-1, newcomm);
  if (color < 0) {
    snprintf(c, sizeof c, "none");
  } else {
    snprintf(c, sizeof c, "%d", color);
  }
  return stdmpi__comm_reply(
      stdmpi__requestf(NULL, 0, "@mpi %s %s %d", stdmpi__on("split", comm, v), c, key), newcomm);
}

/* A collective of COMM: a new communicator of the same ranks, whose messages
 * never meet COMM's. 0, or -1. */
static inline int stdmpi_comm_dup(stdmpi_comm_t comm, stdmpi_comm_t* newcomm) {
  char v[64];
  if (stdmpi__usable(comm) != 0) return stdmpi__comm_reply(-1, newcomm);
  return stdmpi__comm_reply(stdmpi__requestf(NULL, 0, "@mpi %s", stdmpi__on("dup", comm, v)),
                            newcomm);
}

/* This rank's own call (no collective): ends communicator *COMM and sets its
 * id to STDMPI_COMM_NULL. One with non-blocking requests not yet waited for
 * stays (an error); the world and id 1 are never freed. 0, or -1. */
static inline int stdmpi_comm_free(stdmpi_comm_t* comm) {
  if (stdmpi__usable(*comm) != 0) return -1;
  if (stdmpi__requestf(NULL, 0, "@mpi free %" PRId64, comm->id) != 0) return -1;
  comm->id = STDMPI_COMM_NULL;
  comm->rank = -1;
  comm->size = 0;
  return 0;
}

/* The communicator with id ID as this rank has it (two requests: its rank
 * and size in it): 0 the world, 1 the ranks of this program (in an MPMD job,
 * `stdmpirun -n 1 A : -n 8 B`, B's eight; STDMPI_APPNUM says which program
 * this is), or one that split or dup made. 0, or -1. */
static inline int stdmpi_comm_get(int64_t id, stdmpi_comm_t* comm) {
  stdmpi_comm_t c;
  c.id = id;
  c.rank = -1;
  c.size = 0;
  char v[64];
  if (stdmpi__usable(c) != 0) return -1;
  if (stdmpi__requestf(NULL, 0, "@mpi %s", stdmpi__on("rank", c, v)) != 0) return -1;
  c.rank = atoi(stdmpi__state()->line);
  if (stdmpi__requestf(NULL, 0, "@mpi %s", stdmpi__on("size", c, v)) != 0) return -1;
  c.size = atoi(stdmpi__state()->line);
  *comm = c;
  return 0;
}

/* Ends the whole job with exit status code (0..255). Does not return. */
static inline void stdmpi_abort(int code, const char* text) {
  fflush(stdout);
  printf("@mpi abort %d %s\n", code, text ? text : "");
  fflush(stdout);
  while (getchar() != EOF) {
  } /* the shim ends the job and closes stdin */
  exit(code);
}

/* --- task farms: items for keep-alive workers ----------------------------
 *
 * In a job started with `stdmpirun --tasks FILE ./worker` each rank runs the
 * program once, and it works through FILE's lines item by item
 * (docs/tasks.md, "Keep-alive workers"):
 *
 *   int64_t id;
 *   const char* text;
 *   while (stdmpi_task(&id, &text) == 1) {
 *     int rc = regrid(text);
 *     if (rc != 0) stdmpi_task_fail("exit %d", rc);
 *   }
 *
 * Asking for the next item reports the one before as done, or as failed if
 * stdmpi_task_fail was called for it. */

typedef struct {
  int64_t held; /* the item this worker holds (0: none) */
  char* text;   /* its line (the bridge's; freed by the next stdmpi_task) */
  char* reason; /* why it failed (NULL: it did not) */
} stdmpi__task_t;

static inline stdmpi__task_t* stdmpi__task(void) {
  static stdmpi__task_t t;
  return &t;
}

/* Reports the item held (done, or failed after stdmpi_task_fail), then takes
 * the next one: returns 1 with its number in *id and its line in *text (the
 * bridge's memory, valid until the next stdmpi_task: copy it to keep it); 0
 * when no item is left for this worker; -1 when the request failed (after
 * stdmpi_errors(1): the reason in stdmpi_error()). id and text may be NULL. */
static inline int stdmpi_task(int64_t* id, const char** text) {
  stdmpi__task_t* t = stdmpi__task();
  int rc;
  if (t->held != 0 && t->reason != NULL) {
    rc = stdmpi__requestf(NULL, 0, "@mpi task fail %s", t->reason);
  } else {
    rc = stdmpi__request("@mpi task", NULL, 0);
  }
  t->held = 0;
  free(t->reason);
  t->reason = NULL;
  free(t->text);
  t->text = NULL;
  if (id != NULL) *id = 0;
  if (text != NULL) *text = NULL;
  if (rc != 0) return -1;
  const char* line = stdmpi__state()->line;
  if (strcmp(line, "end") == 0) return 0;
  const char* sp = strchr(line, ' ');
  char* end = NULL;
  long long n = strtoll(line, &end, 10);
  if (sp == NULL || end != sp || n <= 0) {
    char why[160];
    snprintf(why, sizeof why, "a reply to @mpi task that is neither \"ID TEXT\" nor \"end\": %.80s",
             line);
    return stdmpi__fail(why);
  }
  t->held = (int64_t)n;
  t->text = stdmpi__strdup(sp + 1);
  if (id != NULL) *id = t->held;
  if (text != NULL) *text = t->text;
  return 1;
}

/* The item held failed; the next stdmpi_task reports it. The reason is
 * printf-style, free text for the summary ("failed" if empty); "exit N" and
 * "signal N" also fill the joblog's Exitval and Signal columns. Newlines
 * become spaces. Returns 0; -1 if no item is held (a warning on stderr). */
static inline int stdmpi_task_fail(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static inline int stdmpi_task_fail(const char* fmt, ...) {
  stdmpi__task_t* t = stdmpi__task();
  if (t->held == 0) {
    fprintf(stderr, "stdmpi: rank %s: stdmpi_task_fail: no item is held (stdmpi_task gives one)\n",
            getenv("STDMPI_RANK") ? getenv("STDMPI_RANK") : "?");
    return -1;
  }
  char small[256];
  char* r = small;
  va_list ap;
  int need = 0;
  small[0] = '\0';
  if (fmt != NULL) {
    va_start(ap, fmt);
    need = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
  }
  if (need < 0) need = 0;
  if (need >= (int)sizeof small) {
    r = (char*)malloc((size_t)need + 1);
    if (r == NULL) stdmpi__die("out of memory");
    va_start(ap, fmt);
    vsnprintf(r, (size_t)need + 1, fmt, ap);
    va_end(ap);
  }
  int blank = 1;
  for (char* c = r; *c; ++c) {
    if (*c == '\n' || *c == '\r') *c = ' ';
    if (*c != ' ') blank = 0;
  }
  free(t->reason);
  t->reason = stdmpi__strdup(blank ? "failed" : r);
  if (r != small) free(r);
  return 0;
}

/* Which attempt of the item held this is: 1, then 2, 3 ... for the runs
 * --retries adds; -1 on error. */
static inline int stdmpi_task_attempt(void) {
  if (stdmpi__request("@mpi taskinfo", NULL, 0) != 0) return -1;
  const char* sp = strchr(stdmpi__state()->line, ' ');
  return sp != NULL ? atoi(sp + 1) : -1;
}

#ifdef __cplusplus
}
#endif

#endif /* STDMPI_H_ */
