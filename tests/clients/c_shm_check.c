/* Runs as every rank and checks the C bridge's use of the shared region
 * (stdmpi.h; docs/protocol.md, "Arrays through shared memory"). It prints one
 * line per result, which tests/integration/test_c_shm.py compares with what
 * it computes itself, checks every byte and number as well, and exits 1 on
 * any difference. Built with -Wall -Wextra -pedantic as C99.
 *
 *   c_shm_check checks    in a job of an even number of ranks (2, 4, ...)
 *   c_shm_check outside   outside stdmpirun: stdmpi_alloc is malloc
 *
 * stdmpi.h comes first: in strict C99 it asks for POSIX itself. */
#include <stdmpi.h>

#include <sys/stat.h>

static int failures;
#define CHECK(cond)                                                                           \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "c_shm_check: rank %d: %s:%d: %s\n", stdmpi_rank(), __FILE__, __LINE__, \
              #cond);                                                                         \
      failures++;                                                                             \
    }                                                                                         \
  } while (0)

static int rank, size;

/* CRC-32 as zlib.crc32 computes it. */
static uint32_t crc32_of(const void* data, size_t n) {
  static uint32_t table[256];
  if (table[1] == 0) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
  }
  const unsigned char* p = (const unsigned char*)data;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

/* The test's bytes: byte j of a payload with SEED is (31 j + SEED) mod 256. */
static void pattern(unsigned char* p, size_t n, int seed) {
  for (size_t j = 0; j < n; ++j) p[j] = (unsigned char)((j * 31 + (size_t)seed) & 0xff);
}
static int is_pattern(const void* data, size_t n, int seed) {
  const unsigned char* p = (const unsigned char*)data;
  for (size_t j = 0; j < n; ++j) {
    if (p[j] != (unsigned char)((j * 31 + (size_t)seed) & 0xff)) return 0;
  }
  return 1;
}
static unsigned char* make(size_t n, int seed) {
  unsigned char* p = (unsigned char*)malloc(n > 0 ? n : 1);
  pattern(p, n, seed);
  return p;
}

static const size_t kSizes[] = {1023, 1024, 1025, 1048576, 8000000};
enum { kNumSizes = 5 };

/* sendb/recvb both ways between the ranks of a pair (0-1, 2-3, ...): the
 * lower one sends from malloc'd memory and the upper one takes a copy
 * (stdmpi_recvb); then the upper one sends from stdmpi_alloc'd memory and the
 * lower one reads the bytes where they arrived (stdmpi_recvb_view). */
static void point_to_point(void) {
  int low = rank % 2 == 0, peer = rank ^ 1;
  for (int k = 0; k < kNumSizes; ++k) {
    size_t n = kSizes[k], got = 0;
    int up = 10 + k, down = 20 + k;
    if (low) {
      unsigned char* out = make(n, rank * 7 + k * 13);
      CHECK(stdmpi_sendb(peer, up, out, n) == 0);
      free(out);
      const void* in = stdmpi_recvb_view(peer, down, &got);
      CHECK(in != NULL && got == n && is_pattern(in, n, peer * 7 + k * 13));
      printf("rank %d recvb_view %zu from %d crc %08x\n", rank, got, peer,
             in ? (unsigned)crc32_of(in, got) : 0u);
    } else {
      char* in = (char*)stdmpi_recvb(peer, up, &got);
      CHECK(in != NULL && got == n && is_pattern(in, n, peer * 7 + k * 13) && in[n] == '\0');
      printf("rank %d recvb %zu from %d crc %08x\n", rank, got, peer,
             in ? (unsigned)crc32_of(in, got) : 0u);
      free(in);
      unsigned char* out = (unsigned char*)stdmpi_alloc(n);
      pattern(out, n, rank * 7 + k * 13);
      CHECK(stdmpi_sendb(peer, down, out, n) == 0);
      stdmpi_free(out);
    }
  }
  /* A non-blocking send of 1 MiB: its bytes may change once it answered. */
  size_t n = 1048576, got = 0;
  if (low) {
    unsigned char* out = make(n, 77);
    stdmpi_request_t id = stdmpi_isendb(peer, 30, out, n);
    CHECK(id > 0);
    memset(out, 0, n);
    char* ok = (char*)stdmpi_wait(id, NULL);
    CHECK(ok != NULL && strcmp(ok, "ok") == 0);
    free(ok);
    free(out);
  } else {
    char* in = (char*)stdmpi_recvb(peer, 30, &got);
    CHECK(in != NULL && got == n && is_pattern(in, n, 77));
    printf("rank %d isendb %zu from %d crc %08x\n", rank, got, peer,
           in ? (unsigned)crc32_of(in, got) : 0u);
    free(in);
  }
}

/* The byte collectives, each with pieces above the threshold. */
static void byte_collectives(void) {
  size_t got = 0, sizes[64], total = 0;
  /* bcastb of 1 MiB from the last rank, and of 100 bytes (the pipes). */
  size_t bn[2] = {1048576, 100};
  for (int k = 0; k < 2; ++k) {
    unsigned char* data = rank == size - 1 ? make(bn[k], 100 + k) : NULL;
    char* b = (char*)stdmpi_bcastb(size - 1, data, rank == size - 1 ? bn[k] : 0, &got);
    CHECK(b != NULL && got == bn[k] && is_pattern(b, got, 100 + k));
    printf("rank %d bcastb %zu crc %08x\n", rank, got, b ? (unsigned)crc32_of(b, got) : 0u);
    free(b);
    free(data);
  }
  /* sendrecvb around the ring: from rank r, 1 MiB + r bytes. */
  {
    int to = (rank + 1) % size, from = (rank + size - 1) % size;
    unsigned char* data = make(1048576 + (size_t)rank, 200 + rank);
    char* b = (char*)stdmpi_sendrecvb(to, 3, from, 3, data, 1048576 + (size_t)rank, &got);
    CHECK(b != NULL && got == 1048576 + (size_t)from && is_pattern(b, got, 200 + from));
    printf("rank %d sendrecvb %zu from %d crc %08x\n", rank, got, from,
           b ? (unsigned)crc32_of(b, got) : 0u);
    free(b);
    free(data);
  }
  /* allgatherb and gatherb (root 1): rank r gives 1500 + 700 r bytes. */
  {
    size_t n = 1500 + 700 * (size_t)rank;
    unsigned char* data = make(n, 300 + rank);
    char* all = (char*)stdmpi_allgatherb(data, n, sizes, &total);
    CHECK(all != NULL);
    size_t at = 0;
    for (int r = 0; all != NULL && r < size; ++r) {
      CHECK(sizes[r] == 1500 + 700 * (size_t)r && is_pattern(all + at, sizes[r], 300 + r));
      at += sizes[r];
    }
    CHECK(at == total);
    printf("rank %d allgatherb %zu crc %08x\n", rank, total,
           all ? (unsigned)crc32_of(all, total) : 0u);
    free(all);
    free(data);
    data = make(n, 400 + rank);
    all = (char*)stdmpi_gatherb(data, n, 1, sizes, &total);
    CHECK(all != NULL);
    if (rank == 1) {
      at = 0;
      for (int r = 0; all != NULL && r < size; ++r) {
        CHECK(sizes[r] == 1500 + 700 * (size_t)r && is_pattern(all + at, sizes[r], 400 + r));
        at += sizes[r];
      }
      printf("rank %d gatherb %zu crc %08x\n", rank, total,
             all ? (unsigned)crc32_of(all, total) : 0u);
    } else {
      CHECK(total == 0);
    }
    free(all);
    free(data);
  }
  /* scatterb from rank 0: piece i is 1200 + 300 i bytes. */
  {
    unsigned char* data = NULL;
    size_t sum = 0;
    for (int i = 0; i < size; ++i) sizes[i] = 1200 + 300 * (size_t)i, sum += sizes[i];
    if (rank == 0) {
      data = (unsigned char*)malloc(sum);
      size_t at = 0;
      for (int i = 0; i < size; ++i) pattern(data + at, sizes[i], 500 + i), at += sizes[i];
    }
    char* mine = (char*)stdmpi_scatterb(data, rank == 0 ? sizes : NULL, 0, &got);
    CHECK(mine != NULL && got == 1200 + 300 * (size_t)rank && is_pattern(mine, got, 500 + rank));
    printf("rank %d scatterb %zu crc %08x\n", rank, got, mine ? (unsigned)crc32_of(mine, got) : 0u);
    free(mine);
    free(data);
  }
  /* alltoallb: the piece from r to i is 1000 + 100 r + 50 i bytes. */
  {
    size_t sum = 0, recv[64];
    for (int i = 0; i < size; ++i) sizes[i] = 1000 + 100 * (size_t)rank + 50 * (size_t)i;
    for (int i = 0; i < size; ++i) sum += sizes[i];
    unsigned char* data = (unsigned char*)malloc(sum);
    size_t at = 0;
    for (int i = 0; i < size; ++i) pattern(data + at, sizes[i], 600 + rank * 8 + i), at += sizes[i];
    char* all = (char*)stdmpi_alltoallb(data, sizes, recv, &total);
    CHECK(all != NULL);
    at = 0;
    for (int r = 0; all != NULL && r < size; ++r) {
      CHECK(recv[r] == 1000 + 100 * (size_t)r + 50 * (size_t)rank &&
            is_pattern(all + at, recv[r], 600 + r * 8 + rank));
      at += recv[r];
    }
    printf("rank %d alltoallb %zu crc %08x\n", rank, total,
           all ? (unsigned)crc32_of(all, total) : 0u);
    free(all);
    free(data);
  }
}

/* The numbers of the reductions: rank r gives, at i, */
static double f64_in(int r, long i) {
  return (r + 1) * 0.5 + (double)(i % 1000) * 0.25;
}
static int64_t i64_in(int r, long i) {
  return (int64_t)(r + 1) * 1000003 * (int64_t)(i + 1) + ((int64_t)r << 40);
}
/* and the sum over ranks lo..hi-1. */
static double f64_sum(int lo, int hi, long i) {
  double s = 0;
  for (int r = lo; r < hi; ++r) s += f64_in(r, i);
  return s;
}
static int64_t i64_sum(int lo, int hi, long i) {
  int64_t s = 0;
  for (int r = lo; r < hi; ++r) s += i64_in(r, i);
  return s;
}

/* "first last total" of a result (a total of doubles that are multiples of
 * 0.25 is exact in any order; of int64s, modulo 2^64). */
static void print_f64(const char* what, long n, const double* x) {
  double t = 0;
  for (long i = 0; i < n; ++i) t += x[i];
  printf("rank %d %s %ld first %.17g last %.17g total %.17g\n", rank, what, n, x[0], x[n - 1], t);
}
static void print_i64(const char* what, long n, const int64_t* x) {
  uint64_t t = 0;
  for (long i = 0; i < n; ++i) t += (uint64_t)x[i];
  printf("rank %d %s %ld first %" PRId64 " last %" PRId64 " total %" PRIu64 "\n", rank, what, n,
         x[0], x[n - 1], t);
}

static const long kCounts[] = {127, 128, 129, 131072, 1000000};
enum { kNumCounts = 5 };

static void reductions(void) {
  for (int k = 0; k < kNumCounts; ++k) {
    long n = kCounts[k];
    double* x = (double*)malloc(sizeof(double) * (size_t)n);
    double* y = (double*)malloc(sizeof(double) * (size_t)n);
    int64_t* a = (int64_t*)malloc(sizeof(int64_t) * (size_t)n);
    int64_t* b = (int64_t*)malloc(sizeof(int64_t) * (size_t)n);
    for (long i = 0; i < n; ++i) x[i] = f64_in(rank, i), a[i] = i64_in(rank, i);
    CHECK(stdmpi_allreduce(x, y, (int)n, "sum") == 0);
    int good = 1;
    for (long i = 0; i < n; ++i) good &= y[i] == f64_sum(0, size, i);
    CHECK(good);
    print_f64("allreduce f64", n, y);
    CHECK(stdmpi_allreduce_i64(a, b, (int)n, "sum") == 0);
    good = 1;
    for (long i = 0; i < n; ++i) good &= b[i] == i64_sum(0, size, i);
    CHECK(good);
    print_i64("allreduce i64", n, b);
    /* In place, from malloc'd memory: copied to the region and back. */
    CHECK(stdmpi_allreduce(x, x, (int)n, "max") == 0);
    good = 1;
    for (long i = 0; i < n; ++i) good &= x[i] == f64_in(size - 1, i);
    CHECK(good);
    print_f64("allreduce max", n, x);
    free(x);
    free(y);
    free(a);
    free(b);
  }
  /* reduce, scan, exscan of 1000 numbers (8000 bytes); a result that does
   * not come leaves OUT as it was. */
  long n = 1000;
  double x[1000], y[1000];
  int64_t a[1000], b[1000];
  int root = size - 1, good = 1;
  for (long i = 0; i < n; ++i) x[i] = f64_in(rank, i), a[i] = i64_in(rank, i), y[i] = -1, b[i] = -1;
  CHECK(stdmpi_reduce(x, y, (int)n, "sum", root) == 0);
  for (long i = 0; i < n; ++i) good &= y[i] == (rank == root ? f64_sum(0, size, i) : -1);
  if (rank == root) print_f64("reduce f64", n, y);
  CHECK(stdmpi_reduce_i64(a, b, (int)n, "sum", root) == 0);
  for (long i = 0; i < n; ++i) good &= b[i] == (rank == root ? i64_sum(0, size, i) : -1);
  if (rank == root) print_i64("reduce i64", n, b);
  CHECK(good);
  CHECK(stdmpi_scan(x, y, (int)n, "sum") == 0);
  for (long i = 0; i < n; ++i) good &= y[i] == f64_sum(0, rank + 1, i);
  print_f64("scan f64", n, y);
  for (long i = 0; i < n; ++i) y[i] = -1;
  CHECK(stdmpi_exscan(x, y, (int)n, "sum") == 0);
  for (long i = 0; i < n; ++i) good &= y[i] == (rank == 0 ? -1 : f64_sum(0, rank, i));
  if (rank > 0) print_f64("exscan f64", n, y);
  CHECK(good);
  /* minloc has no :shm form: the pipes, whatever the size. */
  double loc[2000];
  for (long i = 0; i < n; ++i) x[i] = (double)((rank + i) % size);
  CHECK(stdmpi_allreduce(x, loc, (int)n, "minloc") == 0);
  for (long i = 0; i < n; ++i)
    good &= loc[2 * i] == 0 && loc[2 * i + 1] == (double)((size - i % size) % size);
  CHECK(good);
  printf("rank %d minloc %ld ok %d\n", rank, n, good);
}

/* Arrays in stdmpi_alloc'd memory, reduced where they are. */
static void allocated(void) {
  long n = 100000;
  size_t bytes = sizeof(double) * (size_t)n;
  double* a = (double*)stdmpi_alloc(bytes);
  double* b = (double*)stdmpi_alloc(bytes);
  int64_t* c = (int64_t*)stdmpi_alloc(bytes);
  double* small = (double*)stdmpi_alloc(16 * sizeof(double));
  CHECK(a != NULL && b != NULL && c != NULL && small != NULL);
  printf("rank %d alloc offsets %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", rank,
         stdmpi_shm_offset(a), stdmpi_shm_offset(b), stdmpi_shm_offset(c),
         stdmpi_shm_offset(small));
  for (long i = 0; i < n; ++i) a[i] = f64_in(rank, i), c[i] = i64_in(rank, i);
  int good = 1;
  CHECK(stdmpi_allreduce(a, b, (int)n, "sum") == 0); /* out of place */
  for (long i = 0; i < n; ++i) good &= b[i] == f64_sum(0, size, i) && a[i] == f64_in(rank, i);
  print_f64("alloc allreduce f64 out-of-place", n, b);
  /* From malloc'd memory into the region, and an exscan whose rank 0 gets
   * no result: its OUT stays as it was. */
  double* m = (double*)malloc(bytes);
  for (long i = 0; i < n; ++i) m[i] = f64_in(rank, i);
  CHECK(stdmpi_allreduce(m, b, (int)n, "max") == 0);
  for (long i = 0; i < n; ++i) good &= b[i] == f64_in(size - 1, i);
  print_f64("alloc allreduce max into-alloc", n, b);
  CHECK(stdmpi_exscan(m, b, (int)n, "sum") == 0);
  for (long i = 0; i < n; ++i)
    good &= b[i] == (rank == 0 ? f64_in(size - 1, i) : f64_sum(0, rank, i));
  print_f64("alloc exscan f64 into-alloc", n, b);
  free(m);
  CHECK(stdmpi_allreduce(a, a, (int)n, "sum") == 0); /* in place */
  for (long i = 0; i < n; ++i) good &= a[i] == f64_sum(0, size, i);
  print_f64("alloc allreduce f64 in-place", n, a);
  CHECK(stdmpi_allreduce_i64(c, c, (int)n, "sum") == 0);
  for (long i = 0; i < n; ++i) good &= c[i] == i64_sum(0, size, i);
  print_i64("alloc allreduce i64 in-place", n, c);
  for (long i = 0; i < 16; ++i) small[i] = f64_in(rank, i);
  CHECK(stdmpi_allreduce(small, small, 16, "sum") == 0); /* under the threshold, still named */
  for (long i = 0; i < 16; ++i) good &= small[i] == f64_sum(0, size, i);
  print_f64("alloc allreduce f64 small", 16, small);
  CHECK(good);
  /* Given back, the memory is used again. */
  int64_t at = stdmpi_shm_offset(b);
  stdmpi_free(b);
  double* again = (double*)stdmpi_alloc(bytes);
  CHECK(again != NULL && stdmpi_shm_offset(again) == at);
  printf("rank %d alloc reused %d\n", rank, again != NULL && stdmpi_shm_offset(again) == at);
  stdmpi_free(again);
  stdmpi_free(a);
  stdmpi_free(c);
  stdmpi_free(small);
}

/* A reply line of the shim's, read as the bridge reads it (stdin). */
static void read_line(char* buf, size_t cap) {
  size_t len = 0;
  int ch;
  while ((ch = getchar()) != EOF && ch != '\n') {
    if (len + 1 < cap) buf[len++] = (char)ch;
  }
  buf[len] = '\0';
}

/* Requests written here, naming bytes past the region's end: the shim's
 * @error, and the rank goes on. */
static void raw(void) {
  if (!stdmpi_shm_available()) {
    printf("rank %d raw skipped\n", rank);
    return;
  }
  struct stat st;
  CHECK(fstat(atoi(getenv("STDMPI_SHM_FD")), &st) == 0);
  long long end = (long long)st.st_size;
  char reply[512];
  CHECK(stdmpi_errors(1) == 0);
  fflush(stdout);
  printf("@mpi sendb:shm=%lld %d 9 4096\n", end, rank);
  fflush(stdout);
  read_line(reply, sizeof reply);
  printf("rank %d raw sendb %lld: %s\n", rank, end, reply);
  end = (end + 7) / 8 * 8;
  printf("@mpi allreduce:shm=%lld sum 8\n", end);
  fflush(stdout);
  read_line(reply, sizeof reply);
  CHECK(strncmp(reply, "@error ", 7) == 0);
  printf("rank %d raw allreduce %lld: %s\n", rank, end, reply);
  CHECK(stdmpi_errors(0) == 0);
  /* In step: the next request gets its own reply. */
  CHECK(stdmpi_barrier() == 0);
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "outside") == 0) {
    char* p = (char*)stdmpi_alloc(100000);
    CHECK(p != NULL && !stdmpi_shm_available() && stdmpi_shm_offset(p) == -1);
    memset(p, 1, 100000);
    stdmpi_free(p);
    stdmpi_free(NULL);
    printf("outside ok %d\n", failures == 0);
    return failures == 0 ? 0 : 1;
  }
  if (argc != 2 || strcmp(argv[1], "checks") != 0) {
    fprintf(stderr, "usage: c_shm_check checks|outside\n");
    return 64;
  }
  rank = stdmpi_rank();
  size = stdmpi_size();
  if (size % 2 != 0 || size > 64) {
    fprintf(stderr, "c_shm_check: needs an even number of ranks (2..64), not %d\n", size);
    return 64;
  }
  printf("rank %d shm %d\n", rank, stdmpi_shm_available());
  point_to_point();
  byte_collectives();
  reductions();
  allocated();
  raw();
  if (failures == 0) printf("rank %d c shm ok\n", rank);
  fflush(stdout);
  return failures == 0 ? 0 : 1;
}
