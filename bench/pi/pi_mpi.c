/* examples/pi.c's computation as a native MPI program (the competitor); built
 * with -DSERIAL it is the plain serial program. */
#include <stdio.h>
#include <stdlib.h>
#ifndef SERIAL
#include <mpi.h>
#endif

int main(int argc, char** argv) {
  int rank = 0, size = 1;
#ifndef SERIAL
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
#endif
  long long n = argc > 1 ? (long long)atof(argv[1]) : 10000000LL;
  long long lo = 1 + n * rank / size, hi = 1 + n * (rank + 1) / size;
  double partial = 0, total;
  for (long long k = lo; k < hi; ++k) {
    double d = 2.0 * (double)k;
    partial += ((k & 1) ? 4.0 : -4.0) / (d * (d + 1.0) * (d + 2.0));
  }
#ifndef SERIAL
  MPI_Allreduce(&partial, &total, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
  total = partial;
#endif
  if (rank == 0) printf("pi = %.17g  (%lld terms, %d ranks)\n", 3.0 + total, n, size);
#ifndef SERIAL
  MPI_Finalize();
#endif
  return 0;
}
