/* Runs as every rank and checks the C bridge (stdmpi.h); exits 1 on any
 * difference. Built with -Wall -Wextra -pedantic as C99 and as C++. */
#include <math.h>
#include <stdmpi.h>

static int failures;
static stdmpi_comm_t freed; /* a communicator freed, for the errors checks */
#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      fprintf(stderr, "c_bridge_check: rank %d: %s:%d: %s\n", stdmpi_rank(), __FILE__, __LINE__, \
              #cond);                                                                            \
      failures++;                                                                                \
    }                                                                                            \
  } while (0)

/* The piece rank FROM gives rank TO (SALT tells tests apart): 0 to 5 bytes,
 * with an LF and a NUL in most. Returns its size. */
static size_t piece(int from, int to, int salt, unsigned char* buf) {
  size_t len = (size_t)((from + 2 * to + salt) % 6);
  for (size_t k = 0; k < len; ++k) {
    buf[k] = (unsigned char)(k == 0   ? '\n'
                             : k == 1 ? 0
                                      : 'a' + (from * 7 + to * 3 + salt + (int)k) % 26);
  }
  return len;
}

/* The pieces of ranks 0..n-1 for TO, one after the other, as they must
 * arrive; their sizes into SIZES. Returns the total. */
static size_t pieces_from_all(int n, int to, int salt, unsigned char* buf, size_t* sizes) {
  size_t total = 0;
  for (int r = 0; r < n; ++r) {
    sizes[r] = piece(r, to, salt, buf + total);
    total += sizes[r];
  }
  return total;
}

enum { kMaxRanks = 16 };

/* gatherb, allgatherb, scatterb, alltoallb, sendrecvb on COMM. */
static void check_byte_collectives(stdmpi_comm_t c) {
  unsigned char mine[8], want[8 * kMaxRanks], all[8 * kMaxRanks];
  size_t sizes[kMaxRanks], want_sizes[kMaxRanks], total = 99, n = 99;
  CHECK(c.size <= kMaxRanks);
  /* gatherb to the last rank: every piece there, in rank order. */
  size_t len = piece(c.rank, 0, 1, mine);
  size_t want_total = pieces_from_all(c.size, 0, 1, want, want_sizes);
  for (int i = 0; i < kMaxRanks; ++i) sizes[i] = 99;
  unsigned char* g = (unsigned char*)stdmpi_gatherb_c(c, mine, len, c.size - 1, sizes, &total);
  CHECK(g != NULL);
  if (g != NULL && c.rank == c.size - 1) {
    CHECK(total == want_total && memcmp(g, want, want_total) == 0 && g[total] == 0);
    CHECK(memcmp(sizes, want_sizes, sizeof(size_t) * (size_t)c.size) == 0);
  } else if (g != NULL) {
    CHECK(total == 0 && sizes[0] == 99); /* an empty result off the root */
  }
  free(g);
  /* allgatherb: the same on every rank; SIZES may be NULL. */
  total = 99;
  g = (unsigned char*)stdmpi_allgatherb_c(c, mine, len, sizes, &total);
  CHECK(g != NULL && total == want_total && memcmp(g, want, want_total) == 0);
  CHECK(memcmp(sizes, want_sizes, sizeof(size_t) * (size_t)c.size) == 0);
  free(g);
  g = (unsigned char*)stdmpi_allgatherb_c(c, "", 0, NULL, &total);
  CHECK(g != NULL && total == 0);
  free(g);
  /* scatterb from rank 0: rank i gets the i-th piece. */
  size_t total_out = 0;
  for (int r = 0; r < c.size; ++r) {
    sizes[r] = piece(0, r, 2, all + total_out);
    total_out += sizes[r];
  }
  unsigned char* s = (unsigned char*)stdmpi_scatterb_c(c, c.rank == 0 ? all : NULL,
                                                       c.rank == 0 ? sizes : NULL, 0, &n);
  len = piece(0, c.rank, 2, mine);
  CHECK(s != NULL && n == len && memcmp(s, mine, len) == 0);
  free(s);
  /* alltoallb: piece(me, i) goes to rank i; piece(i, me) arrives from it. */
  total_out = 0;
  for (int r = 0; r < c.size; ++r) {
    sizes[r] = piece(c.rank, r, 3, all + total_out);
    total_out += sizes[r];
  }
  size_t got_sizes[kMaxRanks];
  want_total = pieces_from_all(c.size, c.rank, 3, want, want_sizes);
  unsigned char* a = (unsigned char*)stdmpi_alltoallb_c(c, all, sizes, got_sizes, &total);
  CHECK(a != NULL && total == want_total && memcmp(a, want, want_total) == 0);
  CHECK(memcmp(got_sizes, want_sizes, sizeof(size_t) * (size_t)c.size) == 0);
  free(a);
  /* sendrecvb around the ring (to itself on one rank). */
  int next = (c.rank + 1) % c.size, prev = (c.rank + c.size - 1) % c.size;
  len = piece(c.rank, next, 4, mine);
  unsigned char* r = (unsigned char*)stdmpi_sendrecvb_c(c, next, 11, prev, 11, mine, len, &n);
  size_t want_len = piece(prev, c.rank, 4, want);
  CHECK(r != NULL && n == want_len && memcmp(r, want, want_len) == 0);
  free(r);
}

/* isend, isendb, irecv, irecvb, wait, test, waitany, waitall on COMM. */
static void check_nonblocking(stdmpi_comm_t c) {
  int next = (c.rank + 1) % c.size, prev = (c.rank + c.size - 1) % c.size;
  char text[64], want[64];
  unsigned char bytes[8], want_bytes[8];
  snprintf(text, sizeof text, "nb  from %d", c.rank);
  snprintf(want, sizeof want, "nb  from %d", prev);
  size_t len = piece(c.rank, next, 5, bytes), want_len = piece(prev, c.rank, 5, want_bytes);
  stdmpi_request_t ids[4];
  ids[0] = stdmpi_irecv_c(c, prev, 20);
  ids[1] = stdmpi_irecvb_c(c, STDMPI_ANY, 21);
  ids[2] = stdmpi_isend_c(c, next, 20, text);
  ids[3] = stdmpi_isendb_c(c, next, 21, bytes, len);
  for (int i = 0; i < 4; ++i) CHECK(ids[i] > 0 && (i == 0 || ids[i] > ids[i - 1]));
  int t = stdmpi_test(ids[0]);
  CHECK(t == 0 || t == 1);
  int any = stdmpi_waitany(ids, 2);
  CHECK(any == 0 || any == 1);
  CHECK(stdmpi_test(ids[any]) == 1); /* completed, and not freed by waitany */
  CHECK(stdmpi_waitall(ids, 4) == 0);
  for (int i = 0; i < 4; ++i) CHECK(stdmpi_test(ids[i]) == 1);
  size_t n = 99;
  char* got = (char*)stdmpi_wait(ids[0], &n);
  CHECK(got != NULL && strcmp(got, want) == 0 && n == strlen(want));
  free(got);
  int src = -1, tag = -1;
  long blen = -1;
  CHECK(stdmpi_status(&src, &tag, &blen) == 0 && src == prev && tag == 20 &&
        blen == (long)strlen(want));
  unsigned char* gotb = (unsigned char*)stdmpi_wait(ids[1], &n);
  CHECK(gotb != NULL && n == want_len && memcmp(gotb, want_bytes, want_len) == 0);
  free(gotb);
  CHECK(stdmpi_status(&src, &tag, &blen) == 0 && src == prev && tag == 21 &&
        blen == (long)want_len);
  for (int i = 2; i < 4; ++i) {
    got = (char*)stdmpi_wait(ids[i], &n);
    CHECK(got != NULL && strcmp(got, "ok") == 0 && n == 2);
    free(got);
  }
  /* Receives match in the order they were posted: the irecv gets the first
   * message, the blocking recv after it the second. */
  CHECK(stdmpi_send_c(c, c.rank, 22, "first") == 0);
  CHECK(stdmpi_send_c(c, c.rank, 22, "second") == 0);
  stdmpi_request_t first = stdmpi_irecv_c(c, c.rank, 22);
  char* second = stdmpi_recv_c(c, c.rank, 22);
  CHECK(second != NULL && strcmp(second, "second") == 0);
  free(second);
  while ((t = stdmpi_test(first)) == 0) {
  }
  CHECK(t == 1);
  got = (char*)stdmpi_wait(first, NULL);
  CHECK(got != NULL && strcmp(got, "first") == 0);
  free(got);
  /* Bytes with an LF and a NUL to this rank itself, waited for alone. */
  stdmpi_request_t self = stdmpi_isendb_c(c, c.rank, 23, "a\nb\0c", 5);
  stdmpi_request_t selfr = stdmpi_irecvb_c(c, c.rank, 23);
  gotb = (unsigned char*)stdmpi_wait(selfr, &n);
  CHECK(gotb != NULL && n == 5 && memcmp(gotb, "a\nb\0c", 5) == 0);
  free(gotb);
  got = (char*)stdmpi_wait(self, NULL);
  CHECK(got != NULL && strcmp(got, "ok") == 0);
  free(got);
}

/* split (two ways), dup, free, comm_get; every _c function on a split. */
static void check_communicators(void) {
  int rank = stdmpi_rank(), size = stdmpi_size();
  stdmpi_comm_t w = stdmpi_world(), prog, half, dup, none;
  CHECK(w.id == 0 && w.rank == rank && w.size == size);
  CHECK(stdmpi_comm_get(0, &prog) == 0 && prog.id == 0 && prog.rank == rank && prog.size == size);
  /* Communicator 1: the ranks of this program (the world in a job of one
   * program; in an MPMD job those with the same STDMPI_APPNUM). */
  const char* appnum = getenv("STDMPI_APPNUM");
  double app = appnum != NULL ? atof(appnum) : 0;
  int napps = 0, prank = 0, psize = 0;
  double* apps = stdmpi_allgather(&app, 1, &napps);
  CHECK(apps != NULL && napps == size);
  for (int r = 0; apps != NULL && r < napps; ++r) {
    if (apps[r] == app) {
      prank += r < rank;
      psize++;
    }
  }
  free(apps);
  CHECK(stdmpi_comm_get(1, &prog) == 0 && prog.id == 1 && prog.rank == prank && prog.size == psize);
  double ones = 1, count = 0;
  CHECK(stdmpi_allreduce_c(prog, &ones, &count, 1, "sum") == 0 && count == psize);
  CHECK(stdmpi_barrier_c(prog) == 0);
  /* Even and odd ranks, each half in reverse order (key -rank). */
  CHECK(stdmpi_comm_split(w, rank % 2, -rank, &half) == 0);
  int hsize = (size + (rank % 2 == 0 ? 1 : 0)) / 2;
  int hrank = (size - 1 - rank) / 2; /* ranks of my parity above me */
  CHECK(half.id >= 2 && half.size == hsize && half.rank == hrank);
  int top = rank % 2 == (size - 1) % 2 ? size - 1 : size - 2; /* my half's rank 0 */
  /* Reductions of world ranks within the half. */
  double me = rank, out[4] = {-1, -1, -1, -1}, want_sum = 0;
  for (int r = rank % 2; r < size; r += 2) want_sum += r;
  CHECK(stdmpi_allreduce_c(half, &me, out, 1, "sum") == 0 && out[0] == want_sum);
  int64_t mi = rank, mo = -1;
  CHECK(stdmpi_allreduce_i64_c(half, &mi, &mo, 1, "max") == 0 && mo == top);
  out[0] = -1;
  CHECK(stdmpi_reduce_c(half, &me, out, 1, "min", 0) == 0);
  CHECK(half.rank != 0 || out[0] == rank % 2);
  mo = -1;
  CHECK(stdmpi_reduce_i64_c(half, &mi, half.rank == 0 ? &mo : NULL, 1, "sum", 0) == 0);
  CHECK(half.rank != 0 || mo == (int64_t)want_sum);
  double one = 1;
  CHECK(stdmpi_scan_c(half, &one, out, 1, "sum") == 0 && out[0] == half.rank + 1);
  out[0] = -1;
  CHECK(stdmpi_exscan_c(half, &one, half.rank == 0 ? NULL : out, 1, "sum") == 0);
  CHECK(half.rank == 0 || out[0] == half.rank);
  CHECK(stdmpi_allreduce_c(half, &me, out, 1, "maxloc") == 0 && out[0] == top && out[1] == 0);
  /* Text and bytes from the half's root: half rank 0, world rank TOP. */
  char from[32];
  snprintf(from, sizeof from, " half root %d ", rank);
  char* b = stdmpi_bcast_c(half, 0, half.rank == 0 ? from : NULL);
  char want[32];
  snprintf(want, sizeof want, " half root %d ", top);
  CHECK(b != NULL && strcmp(b, want) == 0);
  free(b);
  size_t n = 0;
  void* bb = stdmpi_bcastb_c(half, 0, "x\ny", 3, &n);
  CHECK(bb != NULL && n == 3 && memcmp(bb, "x\ny", 3) == 0);
  free(bb);
  int total = 0;
  double* g = stdmpi_gather_c(half, &me, 1, 0, &total);
  CHECK(half.rank != 0 || (g != NULL && total == hsize && g[0] == top && g[hsize - 1] == rank % 2));
  CHECK(half.rank == 0 || g == NULL);
  free(g);
  g = stdmpi_allgather_c(half, &me, 1, &total);
  CHECK(g != NULL && total == hsize && g[half.rank] == rank);
  free(g);
  double parts[2 * kMaxRanks], mine[2] = {-1, -1};
  for (int i = 0; i < 2 * hsize; ++i) parts[i] = 100 + i;
  CHECK(stdmpi_scatter_c(half, half.rank == 0 ? parts : NULL, half.rank == 0 ? 2 * hsize : 0, mine,
                         2, 0) == 2);
  CHECK(mine[0] == 100 + 2 * half.rank && mine[1] == 101 + 2 * half.rank);
  /* Point to point, with the half's ranks. */
  int hnext = (half.rank + 1) % half.size, hprev = (half.rank + half.size - 1) % half.size;
  CHECK(stdmpi_send_c(half, hnext, 30, "to the next in my half") == 0);
  CHECK(stdmpi_sendb_c(half, hnext, 31, "b\n", 2) == 0);
  int src = -1, tag = -1;
  long len = -1;
  CHECK(stdmpi_probe_c(half, STDMPI_ANY, 30, &src, &tag, &len) == 0 && src == hprev && tag == 30 &&
        len == 22);
  char* m = stdmpi_recv_c(half, hprev, 30);
  CHECK(m != NULL && strcmp(m, "to the next in my half") == 0);
  free(m);
  CHECK(stdmpi_status(&src, &tag, &len) == 0 && src == hprev && tag == 30 && len == 22);
  int found; /* iprobe answers at once: the message may still be on its way */
  while ((found = stdmpi_iprobe_c(half, hprev, 31, &src, &tag, &len)) == 0) {
  }
  CHECK(found == 1 && src == hprev && tag == 31 && len == 2);
  void* rb = stdmpi_recvb_c(half, STDMPI_ANY, 31, &n);
  CHECK(rb != NULL && n == 2 && memcmp(rb, "b\n", 2) == 0);
  free(rb);
  CHECK(stdmpi_iprobe_c(half, STDMPI_ANY, 31, &src, &tag, &len) == 0); /* taken */
  snprintf(from, sizeof from, "ring %d", half.rank);
  snprintf(want, sizeof want, "ring %d", hprev);
  m = stdmpi_sendrecv_c(half, hnext, 32, hprev, 32, from);
  CHECK(m != NULL && strcmp(m, want) == 0);
  free(m);
  /* Bytes collectives and non-blocking messages on the half. */
  check_byte_collectives(half);
  check_nonblocking(half);
  CHECK(stdmpi_barrier_c(half) == 0);
  /* dup: the same ranks; its messages never meet the world's. */
  CHECK(stdmpi_comm_dup(w, &dup) == 0 && dup.id >= 2 && dup.id != half.id && dup.rank == rank &&
        dup.size == size);
  CHECK(stdmpi_send(rank, 40, "world") == 0);
  CHECK(stdmpi_send_c(dup, rank, 40, "dup") == 0);
  m = stdmpi_recv_c(dup, STDMPI_ANY, STDMPI_ANY);
  CHECK(m != NULL && strcmp(m, "dup") == 0);
  free(m);
  m = stdmpi_recv(rank, 40);
  CHECK(m != NULL && strcmp(m, "world") == 0);
  free(m);
  /* A split of a split; the odd ranks join none. */
  CHECK(stdmpi_comm_split(dup, rank % 2 ? STDMPI_UNDEFINED : 7, rank, &none) == 0);
  if (rank % 2) {
    CHECK(none.id == STDMPI_COMM_NULL && none.size == 0);
  } else {
    CHECK(none.id >= 2 && none.rank == rank / 2 && none.size == (size + 1) / 2);
    double sq = 1;
    CHECK(stdmpi_allreduce_c(none, &sq, out, 1, "sum") == 0 && out[0] == none.size);
    CHECK(stdmpi_comm_free(&none) == 0 && none.id == STDMPI_COMM_NULL);
  }
  CHECK(stdmpi_comm_free(&dup) == 0 && dup.id == STDMPI_COMM_NULL && dup.rank == -1);
  stdmpi_comm_t keep = half;
  CHECK(stdmpi_comm_free(&half) == 0 && half.id == STDMPI_COMM_NULL);
  CHECK(stdmpi_barrier() == 0);
  /* For the errors-returned checks: a freed communicator. */
  freed = keep;
}

/* After stdmpi_errors(1): what fails returns -1 or NULL with the reason. */
static void check_errors_returned(void) {
  int rank = stdmpi_rank(), size = stdmpi_size();
  size_t n;
  CHECK(stdmpi_wait(12345678, &n) == NULL && strstr(stdmpi_error(), "request 12345678") != NULL);
  CHECK(stdmpi_test(12345678) == -1);
  stdmpi_request_t bad[2] = {12345678, 12345679};
  CHECK(stdmpi_waitany(bad, 2) == -1 && stdmpi_waitall(bad, 2) == -1);
  CHECK(stdmpi_isend(size + 1, 0, "x") == -1 && strstr(stdmpi_error(), "out of range") != NULL);
  /* A byte receive that can never complete fails its wait and is freed. */
  stdmpi_request_t r = stdmpi_irecvb(rank, 77);
  CHECK(r > 0);
  CHECK(stdmpi_wait(r, &n) == NULL && strstr(stdmpi_error(), "can never complete") != NULL);
  CHECK(stdmpi_test(r) == -1 && strstr(stdmpi_error(), "not pending") != NULL);
  /* A text irecv of a message with an LF fails; the message stays for recvb. */
  r = stdmpi_irecv(rank, 78);
  CHECK(stdmpi_sendb(rank, 78, "two\nlines", 9) == 0);
  CHECK(stdmpi_wait(r, NULL) == NULL && strstr(stdmpi_error(), "newline") != NULL);
  void* lf = stdmpi_recvb(rank, 78, &n);
  CHECK(lf != NULL && n == 9 && memcmp(lf, "two\nlines", 9) == 0);
  free(lf);
  /* Freed and absent communicators. */
  stdmpi_comm_t c = freed;
  CHECK(stdmpi_barrier_c(c) == -1 && strstr(stdmpi_error(), "does not exist") != NULL);
  CHECK(stdmpi_comm_free(&c) == -1 && c.id == freed.id);
  stdmpi_comm_t null_comm;
  null_comm.id = STDMPI_COMM_NULL;
  null_comm.rank = -1;
  null_comm.size = 0;
  CHECK(stdmpi_send_c(null_comm, 0, 0, "x") == -1 &&
        strstr(stdmpi_error(), "STDMPI_COMM_NULL") != NULL);
  CHECK(stdmpi_recv_c(null_comm, 0, 0) == NULL);
  CHECK(stdmpi_comm_get(999, &c) == -1 && strstr(stdmpi_error(), "communicator 999") != NULL);
  stdmpi_comm_t w = stdmpi_world();
  CHECK(stdmpi_comm_free(&w) == -1 && w.id == 0);
  /* A collective with a bad argument fails on every rank, in step. */
  size_t sizes[kMaxRanks] = {0};
  CHECK(stdmpi_alltoallb(NULL, NULL, NULL, &n) == NULL);
  CHECK(stdmpi_gatherb("x", 1, size + 5, sizes, &n) == NULL &&
        strstr(stdmpi_error(), "out of range") != NULL);
  CHECK(stdmpi_barrier() == 0);
}

int main(void) {
  int rank = stdmpi_rank(), size = stdmpi_size();
  double in[2] = {(double)rank, 0.5}, out[4] = {0, 0, 0, 0};
  CHECK(stdmpi_allreduce(in, out, 2, "sum") == 0);
  CHECK(out[0] == size * (size - 1) / 2.0 && out[1] == 0.5 * size);
  int64_t big[1] = {((int64_t)1 << 62) + rank}, bigout[1];
  CHECK(stdmpi_allreduce_i64(big, bigout, 1, "max") == 0);
  CHECK(bigout[0] == ((int64_t)1 << 62) + size - 1);
  double v = 10.0 - rank;
  CHECK(stdmpi_allreduce(&v, out, 1, "minloc") == 0);
  CHECK(out[0] == 10.0 - (size - 1) && out[1] == size - 1);
  double one = 1, pre = -1;
  CHECK(stdmpi_scan(&one, &pre, 1, "sum") == 0 && pre == rank + 1);
  pre = -1;
  CHECK(stdmpi_exscan(&one, rank == 0 ? NULL : &pre, 1, "sum") == 0);
  CHECK(rank == 0 || pre == rank);
  double red = -1;
  CHECK(stdmpi_reduce(&one, &red, 1, "sum", 0) == 0);
  CHECK(rank != 0 || red == size);
  /* A large reduction, exact: the numbers travel as raw doubles (msgpack bin). */
  enum { kBig = 100000 };
  double* many = (double*)malloc(sizeof(double) * kBig);
  double* sum = (double*)malloc(sizeof(double) * kBig);
  for (int i = 0; i < kBig; ++i) many[i] = i * 0.1 + rank;
  CHECK(stdmpi_allreduce(many, sum, kBig, "sum") == 0);
  int wrong = 0;
  for (int i = 0; i < kBig; ++i) {
    double want = 0;
    for (int r = 0; r < size; ++r) want += i * 0.1 + r;
    wrong += fabs(sum[i] - want) > 1e-9 * (fabs(want) + 1);
  }
  CHECK(wrong == 0);
  free(many);
  free(sum);
  char* b = stdmpi_bcast(0, rank == 0 ? "  hello from C  " : NULL);
  CHECK(b != NULL && strcmp(b, "  hello from C  ") == 0);
  free(b);
  unsigned char bytes[5] = {0, '\n', 255, 'x', 0};
  size_t n = 0;
  void* bb = stdmpi_bcastb(0, bytes, sizeof bytes, &n);
  CHECK(bb != NULL && n == 5 && memcmp(bb, bytes, 5) == 0);
  free(bb);
  if (size > 1) {
    if (rank == 0) {
      CHECK(stdmpi_send(1, 3, "text with spaces") == 0);
      CHECK(stdmpi_sendb(1, 4, bytes, sizeof bytes) == 0);
    } else if (rank == 1) {
      char* m = stdmpi_recv(0, 3);
      CHECK(m != NULL && strcmp(m, "text with spaces") == 0);
      free(m);
      int src, tag;
      long len;
      CHECK(stdmpi_status(&src, &tag, &len) == 0 && src == 0 && tag == 3 && len == 16);
      CHECK(stdmpi_probe(STDMPI_ANY, 4, &src, &tag, &len) == 0 && len == 5);
      void* r = stdmpi_recvb(0, STDMPI_ANY, &n);
      CHECK(r != NULL && n == 5 && memcmp(r, bytes, 5) == 0);
      free(r);
      CHECK(stdmpi_iprobe(0, 4, &src, &tag, &len) == 0); /* that one is taken */
    }
    char* got = stdmpi_sendrecv((rank + 1) % size, 9, (rank + size - 1) % size, 9, "ring");
    CHECK(got != NULL && strcmp(got, "ring") == 0);
    free(got);
  }
  int total = 0;
  double mine[2] = {(double)rank, (double)rank};
  double* all = stdmpi_allgather(mine, rank == 0 ? 1 : 2, &total);
  CHECK(all != NULL && total == 2 * size - 1 && all[total - 1] == size - 1);
  free(all);
  double* g = stdmpi_gather(mine, 1, 0, &total);
  CHECK(rank != 0 || (g != NULL && total == size));
  free(g);
  double parts[64], mypart[2];
  for (int i = 0; i < 2 * size && i < 64; ++i) parts[i] = i;
  CHECK(stdmpi_scatter(rank == 0 ? parts : NULL, rank == 0 ? 2 * size : 0, mypart, 2, 0) == 2);
  CHECK(mypart[0] == 2 * rank && mypart[1] == 2 * rank + 1);
  CHECK(stdmpi_wtime() >= 0);
  CHECK(stdmpi_barrier() == 0);
  check_byte_collectives(stdmpi_world());
  check_nonblocking(stdmpi_world());
  check_communicators();
  CHECK(stdmpi_errors(1) == 0);
  CHECK(stdmpi_send(size + 3, 0, "x") == -1);
  CHECK(strstr(stdmpi_error(), "out of range") != NULL);
  check_errors_returned();
  printf("rank %d c bridge %s\n", rank, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
