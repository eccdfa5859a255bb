/* native_rank: a plain MPI program (mpicc) run as rank 0 of a stdmpi job whose
 * other ranks are scripts. It uses only ordinary MPI calls:
 *   - sends "hello R from native" (MPI_CHAR) to every other rank, tag 1;
 *   - receives one text from every other rank, tag 2 (probe, count, recv);
 *   - joins an MPI_Allreduce of 2 doubles (sum) and an MPI_Barrier;
 *   - joins a gather: MPI_Allgather of its count (MPI_INT), then MPI_Gatherv.
 * Prints "native ok" or exits 1 with what differed.
 *
 *   native_rank idle         only MPI_Init and MPI_Finalize
 *   native_rank send N TAG   sends N bytes to rank 1 with TAG (a message no
 *                            shim's --max-message limits on its way out),
 *                            then waits for rank 1's tag 9 before it ends
 *   native_rank gather N     roots one gather, giving N doubles (7.0); prints
 *                            "native gathered TOTAL" and the script ranks'
 *                            numbers
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size, bad = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc > 1 && strcmp(argv[1], "idle") == 0) {
    MPI_Finalize();
    return 0;
  }
  if (argc > 2 && strcmp(argv[1], "gather") == 0) {
    int mine = atoi(argv[2]), total = 0;
    int* counts = malloc(sizeof(int) * (size_t)size);
    int* displs = malloc(sizeof(int) * (size_t)size);
    MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0; r < size; ++r) {
      displs[r] = total;
      total += counts[r];
    }
    double* send = malloc(sizeof(double) * (size_t)(mine > 0 ? mine : 1));
    double* all = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    for (int i = 0; i < mine; ++i) send[i] = 7.0;
    MPI_Gatherv(send, mine, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    printf("native gathered %d:", total);
    for (int i = mine; i < total; ++i) printf(" %g", all[i]);
    printf("\n");
    free(send);
    free(all);
    free(counts);
    free(displs);
    MPI_Finalize();
    return 0;
  }
  if (argc > 3 && strcmp(argv[1], "send") == 0) {
    int n = atoi(argv[2]);
    char* buf = malloc((size_t)n + 1);
    memset(buf, 'x', (size_t)n);
    MPI_Send(buf, n, MPI_CHAR, 1, atoi(argv[3]), MPI_COMM_WORLD);
    char done[16];
    MPI_Recv(done, sizeof done, MPI_CHAR, 1, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    printf("native ok\n");
    free(buf);
    MPI_Finalize();
    return 0;
  }
  for (int r = 0; r < size; ++r) {
    if (r == rank) continue;
    char msg[64];
    snprintf(msg, sizeof msg, "hello %d from native", r);
    MPI_Send(msg, (int)strlen(msg), MPI_CHAR, r, 1, MPI_COMM_WORLD);
  }
  for (int i = 0; i < size - 1; ++i) {
    MPI_Status st;
    int n;
    MPI_Probe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &st);
    MPI_Get_count(&st, MPI_CHAR, &n);
    char* buf = calloc((size_t)n + 1, 1);
    MPI_Recv(buf, n, MPI_CHAR, st.MPI_SOURCE, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    char want[64];
    snprintf(want, sizeof want, "hello native from %d", st.MPI_SOURCE);
    if (strcmp(buf, want) != 0) {
      fprintf(stderr, "native: got \"%s\", want \"%s\"\n", buf, want);
      bad = 1;
    }
    free(buf);
  }
  double in[2] = {100.0, 0.5}, out[2];
  MPI_Allreduce(in, out, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  /* every script rank r gives (r, 0.5) */
  double want0 = 100.0;
  for (int r = 1; r < size; ++r) want0 += r;
  if (out[0] != want0 || out[1] != 0.5 * size) {
    fprintf(stderr, "native: allreduce gave %g %g, want %g %g\n", out[0], out[1], want0,
            0.5 * size);
    bad = 1;
  }
  MPI_Barrier(MPI_COMM_WORLD);
  /* A gather to rank 0: counts first, then the numbers. Rank r gives r numbers
   * equal to r; rank 0 (this program) gives one number, 7. */
  int mine = 1, *counts = malloc(sizeof(int) * (size_t)size),
      *displs = malloc(sizeof(int) * (size_t)size);
  MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    displs[r] = total;
    total += counts[r];
  }
  double seven = 7, *all = malloc(sizeof(double) * (size_t)total);
  MPI_Gatherv(&seven, 1, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  for (int r = 1; r < size; ++r) {
    for (int i = 0; i < counts[r]; ++i) {
      if (counts[r] != r || all[displs[r] + i] != r) bad = 1;
    }
  }
  if (all[0] != 7) bad = 1;
  MPI_Finalize();
  if (!bad) printf("native ok\n");
  return bad;
}
