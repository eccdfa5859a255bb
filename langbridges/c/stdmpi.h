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

/* --- internals --------------------------------------------------------- */

typedef struct {
  char* line; /* the last reply line, NUL-terminated (no LF) */
  size_t cap;
  char error[512];
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

/* Reads the N raw bytes of a byte reply into a malloc'd buffer. */
static inline void* stdmpi__read_bytes(size_t* n) {
  size_t count = (size_t)strtoull(stdmpi__state()->line, NULL, 10);
  char* buf = (char*)malloc(count + 1);
  if (buf == NULL) stdmpi__die("out of memory");
  if (count > 0 && fread(buf, 1, count, stdin) != count) {
    stdmpi__die("stdin closed in the middle of a byte reply");
  }
  buf[count] = '\0';
  if (n != NULL) *n = count;
  return buf;
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
static inline int stdmpi__reduce8(const char* verb, const char* args, const void* in, void* out,
                                  int n, const char* op) {
  size_t bytes = (size_t)(n > 0 ? n : 0) * 8;
  unsigned char* payload = (unsigned char*)malloc(bytes + 5);
  if (payload == NULL) stdmpi__die("out of memory");
  payload[0] = 0xc6; /* bin 32 */
  for (int k = 0; k < 4; ++k) payload[1 + k] = (unsigned char)(bytes >> (8 * (3 - k)));
  if (bytes > 0) memcpy(payload + 5, in, bytes);
  if (!stdmpi__little_endian()) stdmpi__swap8(payload + 5, bytes / 8);
  int rc = stdmpi__requestf(payload, bytes + 5, "@mpi %s:msgpack %s %lu", verb, args,
                            (unsigned long)(bytes + 5));
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

/* 1: failed requests return -1 (reason in stdmpi_error()); 0: they end the job. */
static inline int stdmpi_errors(int return_errors) {
  return stdmpi__request(return_errors ? "@mpi errors return" : "@mpi errors fatal", NULL, 0);
}

/* Seconds since an arbitrary moment (MPI_Wtime); a negative value on error. */
static inline double stdmpi_wtime(void) {
  if (stdmpi__request("@mpi wtime", NULL, 0) != 0) return -1;
  return strtod(stdmpi__state()->line, NULL);
}

static inline int stdmpi_barrier(void) {
  return stdmpi__request("@mpi barrier", NULL, 0);
}

/* Sends one line of text (no LF in it). */
static inline int stdmpi_send(int dest, int tag, const char* text) {
  return stdmpi__requestf(NULL, 0, "@mpi send %d %d %s", dest, tag, text);
}

/* Receives the next matching text: a malloc'd string to free(), or NULL. */
static inline char* stdmpi_recv(int src, int tag) {
  char a[16], b[16];
  if (stdmpi__requestf(NULL, 0, "@mpi recv %s %s", stdmpi__arg(src, a), stdmpi__arg(tag, b)) != 0) {
    return NULL;
  }
  return stdmpi__strdup(stdmpi__state()->line);
}

/* Text both ways at once; the received text is malloc'd, or NULL. */
static inline char* stdmpi_sendrecv(int dest, int sendtag, int src, int recvtag, const char* text) {
  char a[16], b[16];
  if (stdmpi__requestf(NULL, 0, "@mpi sendrecv %d %d %s %s %s", dest, sendtag, stdmpi__arg(src, a),
                       stdmpi__arg(recvtag, b), text) != 0) {
    return NULL;
  }
  return stdmpi__strdup(stdmpi__state()->line);
}

/* Raw bytes: any content, any size up to the job's --max-message. */
static inline int stdmpi_sendb(int dest, int tag, const void* data, size_t n) {
  return stdmpi__requestf(data, n, "@mpi sendb %d %d %zu", dest, tag, n);
}

/* Receives raw bytes: a malloc'd buffer (NUL-terminated for convenience) of
 * *n bytes, or NULL. */
static inline void* stdmpi_recvb(int src, int tag, size_t* n) {
  char a[16], b[16];
  if (stdmpi__requestf(NULL, 0, "@mpi recvb %s %s", stdmpi__arg(src, a), stdmpi__arg(tag, b)) !=
      0) {
    return NULL;
  }
  return stdmpi__read_bytes(n);
}

/* Source, tag and size of the last completed receive. */
static inline int stdmpi_status(int* source, int* tag, long* bytes) {
  if (stdmpi__request("@mpi status", NULL, 0) != 0) return -1;
  return sscanf(stdmpi__state()->line, "%d %d %ld", source, tag, bytes) == 3 ? 0 : -1;
}

/* Waits for a matching message without receiving it. */
static inline int stdmpi_probe(int src, int tag, int* source, int* rtag, long* bytes) {
  char a[16], b[16];
  if (stdmpi__requestf(NULL, 0, "@mpi probe %s %s", stdmpi__arg(src, a), stdmpi__arg(tag, b)) !=
      0) {
    return -1;
  }
  return sscanf(stdmpi__state()->line, "%d %d %ld", source, rtag, bytes) == 3 ? 0 : -1;
}

/* 1 and the message's source, tag, size if one matches now; 0 if none; -1. */
static inline int stdmpi_iprobe(int src, int tag, int* source, int* rtag, long* bytes) {
  char a[16], b[16];
  if (stdmpi__requestf(NULL, 0, "@mpi iprobe %s %s", stdmpi__arg(src, a), stdmpi__arg(tag, b)) !=
      0) {
    return -1;
  }
  if (strcmp(stdmpi__state()->line, "none") == 0) return 0;
  return sscanf(stdmpi__state()->line, "%d %d %ld", source, rtag, bytes) == 3 ? 1 : -1;
}

/* The root's text on every rank (others pass NULL): malloc'd, or NULL. */
static inline char* stdmpi_bcast(int root, const char* text) {
  int rc = text != NULL && stdmpi_rank() == root
               ? stdmpi__requestf(NULL, 0, "@mpi bcast %d %s", root, text)
               : stdmpi__requestf(NULL, 0, "@mpi bcast %d", root);
  return rc == 0 ? stdmpi__strdup(stdmpi__state()->line) : NULL;
}

/* The root's bytes on every rank: malloc'd (*out_n bytes), or NULL. */
static inline void* stdmpi_bcastb(int root, const void* data, size_t n, size_t* out_n) {
  int rc = stdmpi_rank() == root ? stdmpi__requestf(data, n, "@mpi bcastb %d %zu", root, n)
                                 : stdmpi__requestf(NULL, 0, "@mpi bcastb %d", root);
  return rc == 0 ? stdmpi__read_bytes(out_n) : NULL;
}

/* Element-wise reductions of n numbers. OUT may be NULL where no result comes
 * (reduce off the root, exscan on rank 0). */
static inline int stdmpi_allreduce(const double* in, double* out, int n, const char* op) {
  return stdmpi__reduce8("allreduce", op, in, out, n, op);
}
static inline int stdmpi_allreduce_i64(const int64_t* in, int64_t* out, int n, const char* op) {
  return stdmpi__reduce8("allreduce:i64", op, in, out, n, op);
}
static inline int stdmpi_reduce(const double* in, double* out, int n, const char* op, int root) {
  char args[64];
  snprintf(args, sizeof args, "%s %d", op, root);
  return stdmpi__reduce8("reduce", args, in, out, n, op);
}
static inline int stdmpi_reduce_i64(const int64_t* in, int64_t* out, int n, const char* op,
                                    int root) {
  char args[64];
  snprintf(args, sizeof args, "%s %d", op, root);
  return stdmpi__reduce8("reduce:i64", args, in, out, n, op);
}
static inline int stdmpi_scan(const double* in, double* out, int n, const char* op) {
  return stdmpi__reduce8("scan", op, in, out, n, op);
}
static inline int stdmpi_exscan(const double* in, double* out, int n, const char* op) {
  return stdmpi__reduce8("exscan", op, in, out, n, op);
}

/* Gathers every rank's numbers (counts may differ) in rank order. On the
 * root (every rank for allgather): a malloc'd array of *total numbers; NULL
 * elsewhere, and on error. */
static inline double* stdmpi_gather(const double* in, int n, int root, int* total) {
  char head[64];
  snprintf(head, sizeof head, "@mpi gather %d", root);
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
static inline double* stdmpi_allgather(const double* in, int n, int* total) {
  char* req = stdmpi__numbers_f64("@mpi allgather", in, n);
  int rc = stdmpi__request(req, NULL, 0);
  free(req);
  if (rc != 0) return NULL;
  int cap = 1;
  for (char* p = stdmpi__state()->line; *p; ++p) cap += *p == ' ';
  double* out = (double*)malloc(sizeof(double) * (size_t)cap);
  *total = stdmpi__parse_f64(out, cap);
  return out;
}

/* The root gives size*k numbers (IN, n = size*k; others pass NULL, 0); every
 * rank gets its k into OUT (room for k). Returns k, or -1. */
static inline int stdmpi_scatter(const double* in, int n, double* out, int k, int root) {
  char head[64];
  snprintf(head, sizeof head, "@mpi scatter %d", root);
  char* req = stdmpi_rank() == root ? stdmpi__numbers_f64(head, in, n) : stdmpi__strdup(head);
  int rc = stdmpi__request(req, NULL, 0);
  free(req);
  if (rc != 0) return -1;
  return stdmpi__parse_f64(out, k);
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

#ifdef __cplusplus
}
#endif

#endif /* STDMPI_H_ */
