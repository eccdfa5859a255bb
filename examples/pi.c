/* Nilakantha's series for pi, split over the ranks of a stdmpi job (C).
 *   pi = 3 + 4/(2*3*4) - 4/(4*5*6) + 4/(6*7*8) - ...
 * Each rank sums its own contiguous block of the N terms, in order; one
 * allreduce adds the blocks.
 *   cc -O2 -I build/include examples/pi.c -o pi && stdmpirun -n 4 ./pi 1e8
 */
#include <stdmpi.h>
#include <time.h>

int main(int argc, char** argv) {
  long long n = argc > 1 ? (long long)atof(argv[1]) : 10000000LL;
  int rank = stdmpi_rank(), size = stdmpi_size();
  long long lo = 1 + n * rank / size, hi = 1 + n * (rank + 1) / size;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double partial = 0;
  for (long long k = lo; k < hi; ++k) {
    double d = 2.0 * (double)k;
    partial += (k & 1 ? 4.0 : -4.0) / (d * (d + 1.0) * (d + 2.0));
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double compute = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
  double sum = 0, slowest = 0;
  stdmpi_allreduce(&partial, &sum, 1, "sum");
  stdmpi_allreduce(&compute, &slowest, 1, "max");
  if (rank == 0) {
    printf("pi = %.17g  (%lld terms, %d ranks, compute %.3f s)\n", 3.0 + sum, n, size, slowest);
  }
  return 0;
}
