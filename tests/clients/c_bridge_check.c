/* Runs as every rank and checks the C bridge (stdmpi.h); exits 1 on any
 * difference. Built with -Wall -Wextra -pedantic as C99 and as C++. */
#include <math.h>
#include <stdmpi.h>

static int failures;
#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      fprintf(stderr, "c_bridge_check: rank %d: %s:%d: %s\n", stdmpi_rank(), __FILE__, __LINE__, \
              #cond);                                                                            \
      failures++;                                                                                \
    }                                                                                            \
  } while (0)

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
  CHECK(stdmpi_errors(1) == 0);
  CHECK(stdmpi_send(size + 3, 0, "x") == -1);
  CHECK(strstr(stdmpi_error(), "out of range") != NULL);
  printf("rank %d c bridge %s\n", rank, failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
