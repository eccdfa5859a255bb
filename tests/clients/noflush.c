/* noflush: prints requests with printf and never flushes, as many programs
 * do. On a pipe, C stdio keeps them in its buffer: without --line-buffered
 * this rank would wait for replies forever. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char line[256];
  printf("@mpi allreduce sum 1\n");
  if (!fgets(line, sizeof line, stdin)) return 2;
  printf("sum %s", line);
  printf("@mpi barrier\n");
  if (!fgets(line, sizeof line, stdin)) return 2;
  printf("done\n");
  return 0;
}
