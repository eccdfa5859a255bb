/* relay_client: a C rank that times protocol round trips through its shim.
 *
 *   relay_client pingpong ITER BYTES   rank 0 <-> rank 1, text (BYTES <= 0: "x")
 *   relay_client pingpongb ITER BYTES  the same with sendb/recvb
 *   relay_client bcastreduce ITER      one bcast + one reduce per round
 *   relay_client allreduce ITER COUNT  allreduce of COUNT doubles (text)
 *   relay_client allreducemp ITER COUNT  the same in the msgpack bin form
 *   relay_client pingpongbshm ITER BYTES  sendb/recvb through the shared region:
 *                                   the bytes sent lie in it (stdmpi_alloc), the
 *                                   bytes received are read where they arrived
 *                                   (stdmpi_recvb_view): no copy on either side
 *   relay_client allreduceshm ITER COUNT  allreduce of COUNT doubles kept in the
 *                                   region (stdmpi_alloc), in place: no copy
 *
 * The shm modes speak through the C bridge (langbridges/c/stdmpi.h), the
 * others write the protocol themselves. Inputs are built before the clock
 * starts. Rank 0 prints "MODE us_per_iteration" (one way for ping-pong).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../langbridges/c/stdmpi.h"

static char* buf;
static size_t cap, len;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void put(const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, s, n);
    if (w <= 0) exit(2);
    s += w;
    n -= (size_t)w;
  }
}

static void fill(size_t want) {
  while (len < want) {
    if (cap < want + 65536) {
      cap = (want + 65536) * 2;
      buf = realloc(buf, cap);
    }
    ssize_t r = read(0, buf + len, cap - len);
    if (r <= 0) exit(3);
    len += (size_t)r;
  }
}

/* Reads one reply line; returns its length (the line stays at buf). */
static size_t line(void) {
  size_t scanned = 0;
  if (len == 0) fill(1);
  for (;;) {
    char* nl = memchr(buf + scanned, '\n', len - scanned);
    if (nl) return (size_t)(nl - buf);
    scanned = len;
    fill(len + 1);
  }
}

static void consume(size_t n) {
  memmove(buf, buf + n, len - n);
  len -= n;
}

static void request(const char* req, size_t n) {
  put(req, n);
  size_t l = line();
  if (l >= 6 && memcmp(buf, "@error", 6) == 0) {
    fprintf(stderr, "relay_client: %.*s\n", (int)l, buf);
    exit(4);
  }
  consume(l + 1);
}

static void request_bytes(const char* req, size_t n) {
  put(req, n);
  size_t l = line();
  size_t count = strtoull(buf, NULL, 10);
  consume(l + 1);
  fill(count);
  consume(count);
}

/* The shm modes need the region: under stdmpirun, with a shim that makes one. */
static void need_region(const char* mode) {
  if (stdmpi_shm_available()) return;
  fprintf(stderr,
          "relay_client: %s needs the shared region (STDMPI_SHM_FD naming the shim's memfd): "
          "run it under stdmpirun\n",
          mode);
  exit(5);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: relay_client MODE ITER [BYTES|COUNT] (modes: see the source)\n");
    return 1;
  }
  if (getenv("STDMPI_RANK") == NULL) {
    fprintf(stderr,
            "relay_client: not a stdmpi rank (STDMPI_RANK is not set): run it under "
            "stdmpirun -n 2\n");
    return 1;
  }
  const char* mode = argv[1];
  long iter = atol(argv[2]);
  long arg = argc > 3 ? atol(argv[3]) : 0;
  int rank = atoi(getenv("STDMPI_RANK"));
  char req[256];
  double t0 = 0;
  if (!strcmp(mode, "pingpong") || !strcmp(mode, "pingpongb")) {
    int bytes = !strcmp(mode, "pingpongb");
    size_t n = arg > 0 ? (size_t)arg : 1;
    char* payload = malloc(n + 64);
    memset(payload, 'x', n);
    char* msg = malloc(n + 64);
    int peer = 1 - rank;
    int hl = bytes ? snprintf(msg, 64, "@mpi sendb %d 0 %zu\n", peer, n)
                   : snprintf(msg, 64, "@mpi send %d 0 ", peer);
    memcpy(msg + hl, payload, n);
    size_t ml = hl + n;
    if (!bytes) msg[ml++] = '\n';
    char rq[64];
    int rl = snprintf(rq, sizeof rq, bytes ? "@mpi recvb %d 0\n" : "@mpi recv %d 0\n", peer);
    request("@mpi barrier\n", 13);
    t0 = now();
    for (long i = 0; i < iter; ++i) {
      if (rank == 0) {
        request(msg, ml);
        if (bytes)
          request_bytes(rq, rl);
        else
          request(rq, rl);
      } else {
        if (bytes)
          request_bytes(rq, rl);
        else
          request(rq, rl);
        request(msg, ml);
      }
    }
    if (rank == 0) printf("%s %ld %.3f\n", mode, (long)n, (now() - t0) / iter / 2 * 1e6);
  } else if (!strcmp(mode, "bcastreduce")) {
    request("@mpi barrier\n", 13);
    t0 = now();
    for (long i = 0; i < iter; ++i) {
      int n = rank == 0 ? snprintf(req, sizeof req, "@mpi bcast 0 %ld\n", i)
                        : snprintf(req, sizeof req, "@mpi bcast 0\n");
      request(req, n);
      n = snprintf(req, sizeof req, "@mpi reduce sum 0 %d.5\n", rank);
      request(req, n);
    }
    if (rank == 0) printf("bcastreduce %.3f\n", (now() - t0) / iter * 1e6);
  } else if (!strcmp(mode, "bcast") || !strcmp(mode, "reduce")) {
    request("@mpi barrier\n", 13);
    t0 = now();
    for (long i = 0; i < iter; ++i) {
      int n = mode[0] == 'b' ? snprintf(req, sizeof req, "@mpi bcast 0 %ld\n", i)
                             : snprintf(req, sizeof req, "@mpi reduce sum 0 %d.5\n", rank);
      request(req, n);
    }
    if (rank == 0) printf("%s %.3f\n", mode, (now() - t0) / iter * 1e6);
  } else if (!strcmp(mode, "allreduce")) {
    long count = arg > 0 ? arg : 1;
    char* r = malloc(count * 8 + 64); /* " 99.5" per number at most */
    size_t n = (size_t)sprintf(r, "@mpi allreduce sum");
    for (long i = 0; i < count; ++i) n += (size_t)sprintf(r + n, " %ld.5", i % 100);
    r[n++] = '\n';
    request("@mpi barrier\n", 13);
    t0 = now();
    for (long i = 0; i < iter; ++i) request(r, n);
    if (rank == 0) printf("allreduce %ld %.3f\n", count, (now() - t0) / iter * 1e6);
  } else if (!strcmp(mode, "allreducemp")) {
    /* "@mpi allreduce:msgpack sum N" + bin 32 header + the doubles as they are. */
    long count = arg > 0 ? arg : 1;
    size_t bytes = (size_t)count * 8;
    char* r = malloc(bytes + 64);
    int hl = snprintf(r, 64, "@mpi allreduce:msgpack sum %zu\n", bytes + 5);
    unsigned char* p = (unsigned char*)r + hl;
    p[0] = 0xc6;
    for (int k = 0; k < 4; ++k) p[1 + k] = (unsigned char)(bytes >> (8 * (3 - k)));
    double* x = (double*)malloc(bytes);
    for (long i = 0; i < count; ++i) x[i] = (double)(i % 100) + 0.5;
    memcpy(p + 5, x, bytes);
    size_t n = (size_t)hl + 5 + bytes;
    request("@mpi barrier\n", 13);
    t0 = now();
    for (long i = 0; i < iter; ++i) request_bytes(r, n);
    if (rank == 0) printf("allreducemp %ld %.3f\n", count, (now() - t0) / iter * 1e6);
  } else if (!strcmp(mode, "pingpongbshm")) {
    need_region(mode);
    size_t n = arg > 0 ? (size_t)arg : 1, got = 0;
    char* payload = (char*)stdmpi_alloc(n); /* named where it is: not copied */
    memset(payload, 'x', n);
    int peer = 1 - rank;
    stdmpi_barrier();
    t0 = now();
    for (long i = 0; i < iter; ++i) {
      const char* in = NULL;
      if (rank == 0) {
        stdmpi_sendb(peer, 0, payload, n);
        in = (const char*)stdmpi_recvb_view(peer, 0, &got);
      } else {
        in = (const char*)stdmpi_recvb_view(peer, 0, &got);
        stdmpi_sendb(peer, 0, payload, n);
      }
      if (in == NULL || got != n || in[0] != 'x' || in[n - 1] != 'x') {
        fprintf(stderr, "relay_client: pingpongbshm received %zu bytes, not the %zu sent\n", got,
                n);
        return 4;
      }
    }
    if (rank == 0) printf("%s %zu %.3f\n", mode, n, (now() - t0) / iter / 2 * 1e6);
    stdmpi_free(payload);
  } else if (!strcmp(mode, "allreduceshm")) {
    need_region(mode);
    long count = arg > 0 ? arg : 1;
    double* x = (double*)stdmpi_alloc(sizeof(double) * (size_t)count);
    for (long i = 0; i < count; ++i) x[i] = (double)(i % 100) + 0.5;
    stdmpi_barrier();
    t0 = now();
    for (long i = 0; i < iter; ++i) stdmpi_allreduce(x, x, (int)count, "sum");
    if (rank == 0) printf("allreduceshm %ld %.3f\n", count, (now() - t0) / iter * 1e6);
    stdmpi_free(x);
  } else {
    fprintf(stderr, "relay_client: unknown mode \"%s\" (modes: see the source)\n", mode);
    return 1;
  }
  fflush(stdout);
  return 0;
}
