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
 * Memory: every pointer a function returns is malloc'd and yours to free()
 * (but stdmpi_alloc's, for stdmpi_free, and stdmpi_recvb_view's, the
 * bridge's); byte results carry an extra NUL after their last byte, so text
 * can be used as a C string. Arrays you pass in stay yours.
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
 * Shared memory (docs/protocol.md, "Arrays through shared memory"): under
 * stdmpirun each rank shares a memory region with its shim, and large
 * payloads go through it instead of the pipes, with nothing to change in the
 * calls: what a request sends when it is STDMPI_SHM_MIN_BYTES (default 1024)
 * bytes or more (sendb, isendb, bcastb, sendrecvb, gatherb, allgatherb,
 * scatterb, alltoallb; the 8-byte reductions allreduce, reduce, scan, exscan
 * but minloc/maxloc), and a reply whose size the request cannot know (recvb,
 * bcastb off the root, scatterb off the root, and the others when what they
 * send goes through the region). Arrays kept in the region are read and
 * written where they are, with no copy at all:
 *
 *   double* x = (double*)stdmpi_alloc(n * sizeof(double));
 *   ... fill x ...
 *   stdmpi_allreduce(x, x, n, "sum");   in place: MPI works on x itself
 *   stdmpi_sendb(1, 7, x, n * sizeof(double));   sent from x, not copied
 *   stdmpi_free(x);
 *
 *   void* stdmpi_alloc(size_t n)    n bytes in the region (page-aligned; a
 *                                   reduction's IN and OUT may both be such
 *                                   memory, the same pointer for in place);
 *                                   plain malloc where there is no region
 *                                   (outside stdmpirun) or it cannot grow.
 *   void stdmpi_free(void* p)       gives back memory from stdmpi_alloc (or
 *                                   malloc); the region never shrinks, later
 *                                   stdmpi_alloc calls reuse it.
 *   const void* stdmpi_recvb_view(int src, int tag, size_t* n)
 *                                   stdmpi_recvb with no copy: the bytes as
 *                                   they arrived, in the bridge's memory
 *                                   (not NUL-terminated), valid until the
 *                                   next stdmpi_ call; NULL on error.
 *   int stdmpi_shm_available(void)  1 if this rank uses the region, else 0.
 *   int64_t stdmpi_shm_offset(const void* p)  the region offset of memory
 *                                   from stdmpi_alloc (for `:shm=OFF`
 *                                   requests of one's own), else -1.
 *
 * The region needs POSIX (mmap, ftruncate, readlink). In strict ISO C
 * (-std=c99) include stdmpi.h before any system header (it then asks for
 * POSIX itself) or define _POSIX_C_SOURCE; else, or with STDMPI_NO_SHM
 * defined, it is left out and everything goes through the pipes.
 *
 * Not thread-safe: call it from one thread.
 */
#ifndef STDMPI_H_
#define STDMPI_H_

/* Strict ISO C hides POSIX: ask for it, if no system header came before. */
#if !defined(__cplusplus) && defined(__STRICT_ANSI__) && !defined(_FEATURES_H) &&    \
    !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && !defined(_GNU_SOURCE) && \
    !defined(_DEFAULT_SOURCE) && !defined(STDMPI_NO_SHM)
#define _POSIX_C_SOURCE 200809L
#define STDMPI__ASKED_POSIX 1
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* STDMPI__SHM: 1 where the shared region can be used (Linux, POSIX visible). */
#if defined(__linux__) && !defined(STDMPI_NO_SHM)
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__GLIBC__)
#if defined(__USE_XOPEN2K)
#define STDMPI__SHM 1
#endif
#elif defined(__cplusplus) || !defined(__STRICT_ANSI__) || defined(STDMPI__ASKED_POSIX) || \
    defined(_GNU_SOURCE) || defined(_DEFAULT_SOURCE) || defined(_XOPEN_SOURCE) ||          \
    (defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200112L)
#define STDMPI__SHM 1
#endif
#endif
#ifndef STDMPI__SHM
#define STDMPI__SHM 0
#endif

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

/* The sum of the sizes "N0 N1 ..." on the reply line (SIZES gets them, room
 * for MAX; may be NULL). */
static inline size_t stdmpi__line_sizes(size_t* sizes, int max) {
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
  return sum;
}

/* A reply "N0 N1 ... N(k-1)" and then their sum of bytes: the sizes go to
 * SIZES (room for MAX; may be NULL), the bytes to a malloc'd buffer. */
static inline void* stdmpi__read_pieces(size_t* sizes, int max, size_t* total) {
  return stdmpi__read_n(stdmpi__line_sizes(sizes, max), total);
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

/* --- the shared region ---------------------------------------------------
 *
 * The memory this rank shares with its shim (docs/protocol.md, "Arrays
 * through shared memory"): a request names bytes in it by offset instead of
 * sending them through the pipe, and the reply's bytes land in it. Its layout
 * is this header's: blocks that stdmpi_alloc hands out (page-aligned, each its
 * own mapping, so that they never move), and one scratch block for everything
 * else, copied in and out. A reply of unknown size may run past the scratch
 * block (the shim grows the region to hold it), so a request that expects one
 * first makes the scratch block the region's last: after an alloc it starts
 * anew at the end, and the old one is kept for later allocs. */

typedef struct {
  char* base;  /* the mapping (unused in the free list) */
  size_t off;  /* its offset in the region */
  size_t size; /* its bytes (whole pages) */
} stdmpi__span_t;

typedef struct {
  int tried;        /* looked for the region already */
  int fd;           /* its descriptor, or -1: no region */
  size_t min_bytes; /* STDMPI_SHM_MIN_BYTES */
  size_t page;
  char* map;              /* the scratch block's mapping (NULL: none yet) */
  size_t off;             /* its offset */
  size_t mapped;          /* its mapped bytes */
  int last;               /* it ends the region */
  stdmpi__span_t* blocks; /* stdmpi_alloc's, in use */
  size_t n_blocks, cap_blocks;
  stdmpi__span_t* spare; /* given back (and old scratch blocks), for alloc */
  size_t n_spare, cap_spare;
  char* view; /* stdmpi_recvb_view's buffer where there is no region */
  size_t view_cap;
} stdmpi__region_t;

static inline stdmpi__region_t* stdmpi__rg(void) {
  static stdmpi__region_t r;
  return &r;
}

static inline void stdmpi__spans_add(stdmpi__span_t** list, size_t* n, size_t* cap,
                                     stdmpi__span_t span) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    *list = (stdmpi__span_t*)realloc(*list, *cap * sizeof(stdmpi__span_t));
    if (*list == NULL) stdmpi__die("out of memory");
  }
  (*list)[(*n)++] = span;
}

#if STDMPI__SHM

/* The region, looked for on first use: the descriptor STDMPI_SHM_FD names, if
 * it is the shim's memfd; NULL where there is none (outside stdmpirun, or the
 * descriptor reused for something else): the pipes then. */
static inline stdmpi__region_t* stdmpi__region(void) {
  stdmpi__region_t* r = stdmpi__rg();
  if (r->tried) return r->fd >= 0 ? r : NULL;
  r->tried = 1;
  r->fd = -1;
  r->last = 1;
  r->min_bytes = 1024;
  const char* m = getenv("STDMPI_SHM_MIN_BYTES");
  if (m != NULL && *m != '\0') {
    char* end;
    unsigned long long v = strtoull(m, &end, 10);
    if (*end == '\0' && *m >= '0' && *m <= '9') {
      r->min_bytes = (size_t)v;
    } else {
      fprintf(stderr,
              "stdmpi: rank %s: warning: STDMPI_SHM_MIN_BYTES=\"%.40s\" is not a byte count; "
              "using 1024\n",
              getenv("STDMPI_RANK") ? getenv("STDMPI_RANK") : "?", m);
    }
  }
  const char* f = getenv("STDMPI_SHM_FD");
  if (getenv("STDMPI_RANK") == NULL || f == NULL || *f < '0' || *f > '9' || strlen(f) > 9) {
    return NULL;
  }
  for (const char* c = f; *c; ++c) {
    if (*c < '0' || *c > '9') return NULL;
  }
  char path[64], target[64];
  snprintf(path, sizeof path, "/proc/self/fd/%s", f);
  ssize_t len = readlink(path, target, sizeof target - 1);
  if (len < 0) return NULL;
  target[len] = '\0';
  if (strncmp(target, "/memfd:stdmpi-shm", 17) != 0) return NULL;
  long page = sysconf(_SC_PAGESIZE);
  r->page = page > 0 ? (size_t)page : 4096;
  r->fd = atoi(f);
  return r;
}

/* The region's size now, or -1. */
static inline int64_t stdmpi__region_size(stdmpi__region_t* r) {
  struct stat st;
  if (fstat(r->fd, &st) != 0) return -1;
  return (int64_t)st.st_size;
}

static inline size_t stdmpi__pages(stdmpi__region_t* r, size_t n) {
  return (n + r->page - 1) / r->page * r->page;
}

/* Grows the region to END bytes at least (never shrinks it). 0, or -1. */
static inline int stdmpi__region_grow(stdmpi__region_t* r, size_t end) {
  int64_t have = stdmpi__region_size(r);
  if (have < 0) return -1;
  if ((uint64_t)have >= (uint64_t)end) return 0;
  return ftruncate(r->fd, (off_t)end) == 0 ? 0 : -1;
}

/* Maps SIZE bytes at OFF as the scratch block (the old mapping goes). */
static inline int stdmpi__scratch_map(stdmpi__region_t* r, size_t off, size_t size) {
  void* p = MAP_FAILED;
#ifdef MREMAP_MAYMOVE
  if (r->map != NULL && off == r->off) p = mremap(r->map, r->mapped, size, MREMAP_MAYMOVE);
#endif
  if (p == MAP_FAILED) {
    if (r->map != NULL) munmap(r->map, r->mapped);
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, (off_t)off);
  }
  if (p == MAP_FAILED) {
    r->map = NULL;
    r->mapped = 0;
    return -1;
  }
  r->map = (char*)p;
  r->off = off;
  r->mapped = size;
  return 0;
}

/* The scratch block with room for N bytes, the region's last: grown (by half
 * again at least) or started anew at the end. NULL if the region cannot grow
 * or be mapped (the request then goes through the pipes). */
static inline char* stdmpi__scratch(stdmpi__region_t* r, size_t n) {
  if (r->map != NULL && r->last && n <= r->mapped) return r->map;
  size_t have = r->map != NULL && r->last ? r->mapped : 0, off;
  if (r->map != NULL && r->last) {
    off = r->off;
  } else {
    int64_t end = stdmpi__region_size(r);
    if (end < 0) return NULL;
    off = stdmpi__pages(r, (size_t)end);
  }
  size_t size = have + have / 2;
  if (size < n) size = n;
  if (size < ((size_t)1 << 20)) size = (size_t)1 << 20;
  size = stdmpi__pages(r, size);
  if (stdmpi__region_grow(r, off + size) != 0) return NULL;
  if (r->map != NULL && !r->last) {
    /* The old scratch block is free for allocs now. */
    stdmpi__span_t old = {NULL, r->off, r->mapped};
    stdmpi__spans_add(&r->spare, &r->n_spare, &r->cap_spare, old);
  }
  if (stdmpi__scratch_map(r, off, size) != 0) return NULL;
  r->last = 1;
  return r->map;
}

/* After a reply of N bytes at the scratch block's offset: where they are (the
 * shim grew the region if they did not fit the mapping). */
static inline char* stdmpi__scratch_read(stdmpi__region_t* r, size_t n) {
  if (r->map != NULL && n <= r->mapped) return r->map;
  int64_t end = stdmpi__region_size(r);
  size_t size = end > 0 && (uint64_t)end > r->off ? (size_t)end - r->off : 0;
  if (size < n) size = n;
  if (stdmpi__scratch_map(r, r->off, stdmpi__pages(r, size)) != 0) {
    stdmpi__die("cannot map the shared region to read a reply");
  }
  return r->map;
}

/* The region offset of [p, p + n) if it lies in a block of stdmpi_alloc's,
 * else -1. */
static inline int64_t stdmpi__block_offset(const void* p, size_t n) {
  stdmpi__region_t* r = stdmpi__rg();
  uintptr_t a = (uintptr_t)p;
  if (p == NULL) return -1;
  for (size_t i = 0; i < r->n_blocks; ++i) {
    uintptr_t b = (uintptr_t)r->blocks[i].base;
    if (b <= a && a - b < r->blocks[i].size && n <= r->blocks[i].size - (a - b)) {
      return (int64_t)(r->blocks[i].off + (a - b));
    }
  }
  return -1;
}

#else /* no shared region: everything through the pipes */

static inline stdmpi__region_t* stdmpi__region(void) {
  return NULL;
}
static inline char* stdmpi__scratch(stdmpi__region_t* r, size_t n) {
  (void)r;
  (void)n;
  return NULL;
}
static inline char* stdmpi__scratch_read(stdmpi__region_t* r, size_t n) {
  (void)r;
  (void)n;
  return NULL;
}
static inline int64_t stdmpi__block_offset(const void* p, size_t n) {
  (void)p;
  (void)n;
  return -1;
}

#endif /* STDMPI__SHM */

/* Where a request's N bytes at DATA lie in the region: their own place if
 * they are in a block of stdmpi_alloc's, else the scratch block, copied
 * there, if they are worth it (STDMPI_SHM_MIN_BYTES or more). -1: send them
 * through the pipe. */
static inline int64_t stdmpi__put_shared(const void* data, size_t n) {
  stdmpi__region_t* r = stdmpi__region();
  if (r == NULL) return -1;
  int64_t at = stdmpi__block_offset(data, n);
  if (at >= 0 && n > 0) return at;
  if (n < r->min_bytes) return -1;
  char* p = stdmpi__scratch(r, n);
  if (p == NULL) return -1;
  /* memmove: DATA may be a view of the scratch block itself. */
  if (n > 0) memmove(p, data, n);
  return (int64_t)r->off;
}

/* Before a request whose reply's bytes go to the scratch block: its offset,
 * the block made the region's last (a reply may run past it); -1 if that
 * fails (then no byte may have been put there: see stdmpi__put_shared). */
static inline int64_t stdmpi__reply_place(void) {
  stdmpi__region_t* r = stdmpi__region();
  if (r == NULL || stdmpi__scratch(r, 0) == NULL) return -1;
  return (int64_t)r->off;
}

/* The verb on COMM with `:shm=OFF` (`:shm=OFF,OUT` where OUT >= 0 differs).
 * BUF has room for 128 characters. */
static inline const char* stdmpi__on_shm(const char* verb, stdmpi_comm_t comm, int64_t off,
                                         int64_t out, char* buf) {
  char v[64];
  const char* base = stdmpi__on(verb, comm, v);
  if (out < 0 || out == off) {
    snprintf(buf, 128, "%s:shm=%" PRId64, base, off);
  } else {
    snprintf(buf, 128, "%s:shm=%" PRId64 ",%" PRId64, base, off, out);
  }
  return buf;
}

/* The N bytes of a reply the shim put in the scratch block, copied into a
 * malloc'd buffer (one more byte, a NUL, after them). */
static inline void* stdmpi__take_shared(size_t count, size_t* n) {
  char* buf = (char*)malloc(count + 1);
  if (buf == NULL) stdmpi__die("out of memory");
  const char* from = count > 0 ? stdmpi__scratch_read(stdmpi__rg(), count) : NULL;
  if (from != NULL) memcpy(buf, from, count);
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

/* The region offset of the 8-byte numbers [p, p + n) if they lie in a block
 * of stdmpi_alloc's, 8-aligned (as the :shm form wants), else -1. */
static inline int64_t stdmpi__numbers_offset(const void* p, size_t n) {
  int64_t at = stdmpi__block_offset(p, n);
  return at >= 0 && at % 8 == 0 ? at : -1;
}

/* A reduction through the shared region (`VERB:shm=X[,Y] ARGS N`): numbers
 * that lie in blocks of stdmpi_alloc's are named where they are (the same
 * block for IN and OUT: in place, MPI_IN_PLACE), others are copied to the
 * scratch block, IN before and OUT after. Returns 1 with the outcome in *RC
 * (0, or -1 for an "@error" reply), or 0: no region here, or not worth it
 * (use the pipe). */
static inline int stdmpi__reduce_shared(stdmpi_comm_t comm, const char* verb, const char* args,
                                        const void* in, void* out, int n, int* rc) {
  stdmpi__region_t* r = stdmpi__region();
  if (r == NULL || n <= 0) return 0;
  size_t bytes = (size_t)n * 8;
  int64_t x = stdmpi__numbers_offset(in, bytes);
  int64_t y = out != NULL ? stdmpi__numbers_offset(out, bytes) : -1;
  if (x < 0 && y < 0 && bytes < r->min_bytes) return 0;
  if (x >= 0 && y >= 0 && x != y && (x > y ? x - y : y - x) < (int64_t)bytes) {
    memmove(out, in, bytes); /* overlapping ranges: in place */
    x = y;
  }
  if (x < 0) {
    char* p = stdmpi__scratch(r, bytes);
    if (p == NULL) return 0;
    memmove(p, in, bytes); /* memmove: IN may be a view of the scratch block */
    x = (int64_t)r->off;
  }
  int copy_out = y < 0 && out != NULL;
  if (y < 0) {
    /* The result in the scratch block: in place if IN is there already. */
    if (x != (int64_t)r->off || r->map == NULL) {
      if (stdmpi__scratch(r, bytes) == NULL) return 0;
    }
    y = (int64_t)r->off;
  }
  char v[128];
  *rc =
      stdmpi__requestf(NULL, 0, "@mpi %s %s %zu", stdmpi__on_shm(verb, comm, x, y, v), args, bytes);
  if (*rc != 0 || strcmp(stdmpi__state()->line, "ok") == 0) return 1;
  if (strtoull(stdmpi__state()->line, NULL, 10) != (unsigned long long)bytes) {
    stdmpi__die("a reduction's reply through the shared region has the wrong size");
  }
  if (copy_out) memmove(out, r->map, bytes);
  return 1;
}

/* VERB is e.g. "allreduce:i64", ARGS e.g. "sum 0". OUT gets n numbers (2*n
 * for minloc/maxloc); it may be NULL where the reply is "ok". */
static inline int stdmpi__reduce8(stdmpi_comm_t comm, const char* verb, const char* args,
                                  const void* in, void* out, int n, const char* op) {
  if (stdmpi__usable(comm) != 0) return -1;
  int shared_rc;
  if (!stdmpi__is_loc(op) && stdmpi__reduce_shared(comm, verb, args, in, out, n, &shared_rc)) {
    return shared_rc;
  }
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

/* 1 if this rank has the shared region and uses it (under stdmpirun), else 0:
 * then everything goes through the pipes and stdmpi_alloc is malloc. */
static inline int stdmpi_shm_available(void) {
  return stdmpi__region() != NULL;
}

/* N bytes in the shared region, for arrays that requests then name where they
 * are (no copy): page-aligned, one mapping of their own, which never moves.
 * Where there is no region, or it cannot grow, plain malloc. Free it with
 * stdmpi_free. NULL only if malloc fails too. */
static inline void* stdmpi_alloc(size_t n) {
  stdmpi__region_t* r = stdmpi__region();
  if (r == NULL || n == 0) return malloc(n > 0 ? n : 1);
#if STDMPI__SHM
  stdmpi__span_t b = {NULL, 0, 0};
  size_t i = r->n_spare; /* the smallest piece given back that fits */
  for (size_t k = 0; k < r->n_spare; ++k) {
    if (r->spare[k].size >= n && (i == r->n_spare || r->spare[k].size < r->spare[i].size)) i = k;
  }
  if (i < r->n_spare) {
    b = r->spare[i];
    r->spare[i] = r->spare[--r->n_spare];
  } else {
    int64_t end = stdmpi__region_size(r);
    if (end < 0) return malloc(n);
    b.off = stdmpi__pages(r, (size_t)end);
    b.size = stdmpi__pages(r, n);
    if (stdmpi__region_grow(r, b.off + b.size) != 0) return malloc(n);
    r->last = 0; /* a reply past the scratch block would run into this */
  }
  void* p = mmap(NULL, b.size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, (off_t)b.off);
  if (p == MAP_FAILED) {
    stdmpi__spans_add(&r->spare, &r->n_spare, &r->cap_spare, b);
    return malloc(n);
  }
  b.base = (char*)p;
  stdmpi__spans_add(&r->blocks, &r->n_blocks, &r->cap_blocks, b);
  return p;
#else
  return malloc(n);
#endif
}

/* Gives back memory from stdmpi_alloc (the region keeps it for a later
 * stdmpi_alloc: it never shrinks), or from malloc. NULL is fine. */
static inline void stdmpi_free(void* p) {
  stdmpi__region_t* r = stdmpi__rg();
  if (p == NULL) return;
  for (size_t i = 0; i < r->n_blocks; ++i) {
    if (r->blocks[i].base == (char*)p) {
      stdmpi__span_t b = r->blocks[i];
      r->blocks[i] = r->blocks[--r->n_blocks];
#if STDMPI__SHM
      munmap(b.base, b.size);
#endif
      b.base = NULL;
      stdmpi__spans_add(&r->spare, &r->n_spare, &r->cap_spare, b);
      return;
    }
  }
  free(p);
}

/* The offset in the shared region of P, memory from stdmpi_alloc (or inside
 * it), for requests of one's own with `:shm=OFF`; -1 if P is not such memory
 * (or there is no region). */
static inline int64_t stdmpi_shm_offset(const void* p) {
  return stdmpi__block_offset(p, 0);
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
  char v[128];
  if (stdmpi__usable(comm) != 0) return -1;
  int64_t at = stdmpi__put_shared(data, n);
  if (at >= 0) {
    return stdmpi__requestf(NULL, 0, "@mpi %s %d %d %zu", stdmpi__on_shm("sendb", comm, at, -1, v),
                            dest, tag, n);
  }
  return stdmpi__requestf(data, n, "@mpi %s %d %d %zu", stdmpi__on("sendb", comm, v), dest, tag, n);
}
static inline int stdmpi_sendb(int dest, int tag, const void* data, size_t n) {
  return stdmpi_sendb_c(stdmpi_world(), dest, tag, data, n);
}

/* recvb's request: 1 with the reply's *COUNT bytes in the region's scratch
 * block, 0 with them still to read from stdin, -1 on error. */
static inline int stdmpi__recvb_ask(stdmpi_comm_t comm, int src, int tag, size_t* count) {
  char a[16], b[16], v[128];
  if (stdmpi__usable(comm) != 0) return -1;
  int64_t out = stdmpi__reply_place();
  const char* verb =
      out >= 0 ? stdmpi__on_shm("recvb", comm, out, -1, v) : stdmpi__on("recvb", comm, v);
  if (stdmpi__requestf(NULL, 0, "@mpi %s %s %s", verb, stdmpi__arg(src, a), stdmpi__arg(tag, b)) !=
      0) {
    return -1;
  }
  *count = (size_t)strtoull(stdmpi__state()->line, NULL, 10);
  return out >= 0;
}

/* Receives raw bytes: a malloc'd buffer (NUL-terminated for convenience) of
 * *n bytes, or NULL. */
static inline void* stdmpi_recvb_c(stdmpi_comm_t comm, int src, int tag, size_t* n) {
  size_t count = 0;
  int shared = stdmpi__recvb_ask(comm, src, tag, &count);
  if (shared < 0) return NULL;
  return shared ? stdmpi__take_shared(count, n) : stdmpi__read_n(count, n);
}
static inline void* stdmpi_recvb(int src, int tag, size_t* n) {
  return stdmpi_recvb_c(stdmpi_world(), src, tag, n);
}

/* stdmpi_recvb with no copy: the *n bytes received where the bridge holds
 * them (the shared region, or a buffer of the bridge's where there is none),
 * not NUL-terminated, valid until the next call of a stdmpi_ function. NULL
 * on error. */
static inline const void* stdmpi_recvb_view_c(stdmpi_comm_t comm, int src, int tag, size_t* n) {
  size_t count = 0;
  int shared = stdmpi__recvb_ask(comm, src, tag, &count);
  if (shared < 0) return NULL;
  if (n != NULL) *n = count;
  if (shared) return stdmpi__scratch_read(stdmpi__rg(), count);
  stdmpi__region_t* r = stdmpi__rg();
  if (count + 1 > r->view_cap) {
    free(r->view);
    r->view_cap = count + 1;
    r->view = (char*)malloc(r->view_cap);
    if (r->view == NULL) stdmpi__die("out of memory");
  }
  if (count > 0 && fread(r->view, 1, count, stdin) != count) {
    stdmpi__die("stdin closed in the middle of a byte reply");
  }
  return r->view;
}
static inline const void* stdmpi_recvb_view(int src, int tag, size_t* n) {
  return stdmpi_recvb_view_c(stdmpi_world(), src, tag, n);
}

/* Sends N bytes to DEST and receives from SRC at once (no deadlock when two
 * ranks swap): the bytes received, malloc'd (*out_n of them), or NULL. */
static inline void* stdmpi_sendrecvb_c(stdmpi_comm_t comm, int dest, int sendtag, int src,
                                       int recvtag, const void* data, size_t n, size_t* out_n) {
  char a[16], b[16], v[128];
  if (stdmpi__usable(comm) != 0) return NULL;
  int64_t at = stdmpi__put_shared(data, n), out = at >= 0 ? stdmpi__reply_place() : -1;
  if (out >= 0) {
    if (stdmpi__requestf(NULL, 0, "@mpi %s %d %d %s %s %zu",
                         stdmpi__on_shm("sendrecvb", comm, at, out, v), dest, sendtag,
                         stdmpi__arg(src, a), stdmpi__arg(recvtag, b), n) != 0) {
      return NULL;
    }
    return stdmpi__take_shared((size_t)strtoull(stdmpi__state()->line, NULL, 10), out_n);
  }
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
  char v[128];
  if (stdmpi__usable(comm) != 0) return NULL;
  /* The root's bytes through the region if they are worth it; the others'
   * reply (of a size they cannot know) there always. */
  int64_t at = comm.rank == root ? stdmpi__put_shared(data, n) : -1;
  int64_t out = comm.rank != root || at >= 0 ? stdmpi__reply_place() : -1;
  if (out >= 0) {
    int rc = comm.rank == root
                 ? stdmpi__requestf(NULL, 0, "@mpi %s %d %zu",
                                    stdmpi__on_shm("bcastb", comm, at, out, v), root, n)
                 : stdmpi__requestf(NULL, 0, "@mpi %s %d",
                                    stdmpi__on_shm("bcastb", comm, out, -1, v), root);
    if (rc != 0) return NULL;
    return stdmpi__take_shared((size_t)strtoull(stdmpi__state()->line, NULL, 10), out_n);
  }
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
  char v[128];
  if (stdmpi__usable(comm) != 0) return NULL;
  int64_t at = stdmpi__put_shared(data, n), out = at >= 0 ? stdmpi__reply_place() : -1;
  if (out >= 0) {
    if (stdmpi__requestf(NULL, 0, "@mpi %s %d %zu", stdmpi__on_shm("gatherb", comm, at, out, v),
                         root, n) != 0) {
      return NULL;
    }
    if (strcmp(stdmpi__state()->line, "ok") == 0) return stdmpi__read_n(0, total);
    return stdmpi__take_shared(stdmpi__line_sizes(sizes, comm.size), total);
  }
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
  char v[128];
  if (stdmpi__usable(comm) != 0) return NULL;
  int64_t at = stdmpi__put_shared(data, n), out = at >= 0 ? stdmpi__reply_place() : -1;
  if (out >= 0) {
    if (stdmpi__requestf(NULL, 0, "@mpi %s %zu", stdmpi__on_shm("allgatherb", comm, at, out, v),
                         n) != 0) {
      return NULL;
    }
    return stdmpi__take_shared(stdmpi__line_sizes(sizes, comm.size), total);
  }
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
  char v[128];
  if (stdmpi__usable(comm) != 0) return NULL;
  int give = comm.rank == root && sizes != NULL;
  size_t sum = 0;
  for (int i = 0; give && i < comm.size; ++i) sum += sizes[i];
  /* The root's pieces through the region if they are worth it; the others'
   * reply (of a size they cannot know) there always. */
  int64_t at = give ? stdmpi__put_shared(data, sum) : -1;
  int64_t out = !give || at >= 0 ? stdmpi__reply_place() : -1;
  stdmpi__buf_t line = {NULL, 0, 0};
  if (out >= 0) {
    stdmpi__addf(&line, "@mpi %s %d", stdmpi__on_shm("scatterb", comm, give ? at : out, out, v),
                 root);
  } else {
    stdmpi__addf(&line, "@mpi %s %d", stdmpi__on("scatterb", comm, v), root);
  }
  if (give) stdmpi__add_sizes(&line, sizes, comm.size);
  int rc = stdmpi__request(line.s, out >= 0 ? NULL : data, out >= 0 ? 0 : sum);
  free(line.s);
  if (rc != 0) return NULL;
  if (out >= 0) {
    return stdmpi__take_shared((size_t)strtoull(stdmpi__state()->line, NULL, 10), n);
  }
  return stdmpi__read_bytes(n);
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
  char v[128];
  if (stdmpi__usable(comm) != 0) return NULL;
  size_t sum = 0;
  for (int i = 0; sizes != NULL && i < comm.size; ++i) sum += sizes[i];
  int64_t at = sizes != NULL ? stdmpi__put_shared(data, sum) : -1;
  int64_t out = at >= 0 ? stdmpi__reply_place() : -1;
  stdmpi__buf_t line = {NULL, 0, 0};
  if (out >= 0) {
    stdmpi__addf(&line, "@mpi %s", stdmpi__on_shm("alltoallb", comm, at, out, v));
  } else {
    stdmpi__addf(&line, "@mpi %s", stdmpi__on("alltoallb", comm, v));
  }
  /* Without SIZES the shim refuses the request, on every rank. */
  if (sizes != NULL) stdmpi__add_sizes(&line, sizes, comm.size);
  int rc = stdmpi__request(line.s, out >= 0 ? NULL : data, out >= 0 ? 0 : sum);
  free(line.s);
  if (rc != 0) return NULL;
  if (out >= 0) return stdmpi__take_shared(stdmpi__line_sizes(recv_sizes, comm.size), total);
  return stdmpi__read_pieces(recv_sizes, comm.size, total);
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
  char v[128];
  if (stdmpi__usable(comm) != 0) return -1;
  /* The shim copies the bytes before it answers: the scratch block (or DATA)
   * may change right after. */
  int64_t at = stdmpi__put_shared(data, n);
  if (at >= 0) {
    return stdmpi__request_id(stdmpi__requestf(
        NULL, 0, "@mpi %s %d %d %zu", stdmpi__on_shm("isendb", comm, at, -1, v), dest, tag, n));
  }
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
