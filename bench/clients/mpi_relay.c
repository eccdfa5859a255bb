/* mpi_relay: relay_client's measurements as a native C MPI program (the
 * competitor a stdio relay is compared with), run with mpirun -n 2.
 *
 *   mpi_relay pingpong ITER BYTES     prints "pingpong BYTES us_one_way"
 *   mpi_relay bcastreduce ITER        prints "bcastreduce us_per_round"
 *   mpi_relay allreduce ITER COUNT    prints "allreduce COUNT us"
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  if (argc < 3) MPI_Abort(MPI_COMM_WORLD, 64);
  const char* mode = argv[1];
  long iter = atol(argv[2]);
  long arg = argc > 3 ? atol(argv[3]) : 1;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  if (!strcmp(mode, "pingpong")) {
    size_t n = arg > 0 ? (size_t)arg : 1;
    char* b = calloc(n, 1);
    int peer = 1 - rank;
    for (long i = 0; i < iter; ++i) {
      if (rank == 0) {
        MPI_Send(b, (int)n, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
        MPI_Recv(b, (int)n, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        MPI_Recv(b, (int)n, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(b, (int)n, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
      }
    }
    if (rank == 0) printf("pingpong %zu %.3f\n", n, (MPI_Wtime() - t0) / iter / 2 * 1e6);
  } else if (!strcmp(mode, "bcastreduce")) {
    for (long i = 0; i < iter; ++i) {
      long v = i;
      MPI_Bcast(&v, 1, MPI_LONG, 0, MPI_COMM_WORLD);
      double x = rank + 0.5, s;
      MPI_Reduce(&x, &s, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    }
    if (rank == 0) printf("bcastreduce %.3f\n", (MPI_Wtime() - t0) / iter * 1e6);
  } else if (!strcmp(mode, "allreduce")) {
    double* x = malloc(sizeof(double) * (size_t)arg);
    double* y = malloc(sizeof(double) * (size_t)arg);
    for (long i = 0; i < arg; ++i) x[i] = i % 100 + 0.5;
    for (long i = 0; i < iter; ++i) {
      MPI_Allreduce(x, y, (int)arg, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
    if (rank == 0) printf("allreduce %ld %.3f\n", arg, (MPI_Wtime() - t0) / iter * 1e6);
  }
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
