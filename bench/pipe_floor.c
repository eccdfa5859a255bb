/* pipe_floor: the floor a stdio relay cannot beat. A parent and a child talk
 * over two pipes exactly as a rank talks to its shim: the child writes a
 * request line, the parent reads it and writes a reply line, the child reads
 * it. No MPI, no parsing.
 *
 *   pipe_floor ITER [BYTES]    prints "pipe_floor BYTES us_per_round_trip"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void xfer_write(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) exit(2);
    p += w;
    n -= (size_t)w;
  }
}

static void xfer_read(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) exit(3);
    p += r;
    n -= (size_t)r;
  }
}

int main(int argc, char** argv) {
  long iter = argc > 1 ? atol(argv[1]) : 100000;
  size_t n = argc > 2 ? (size_t)atol(argv[2]) : 8;
  int up[2], down[2];
  if (pipe(up) || pipe(down)) return 1;
  fcntl(up[0], F_SETPIPE_SZ, 1 << 20);
  fcntl(down[0], F_SETPIPE_SZ, 1 << 20);
  char* buf = malloc(n + 1);
  memset(buf, 'x', n);
  pid_t pid = fork();
  if (pid == 0) {  /* the "rank": request out, reply in */
    close(up[0]);
    close(down[1]);
    for (long i = 0; i < iter; ++i) {
      xfer_write(up[1], buf, n);
      xfer_read(down[0], buf, n);
    }
    _exit(0);
  }
  close(up[1]);
  close(down[0]);
  double t0 = now();
  for (long i = 0; i < iter; ++i) {  /* the "shim": read the request, answer */
    xfer_read(up[0], buf, n);
    xfer_write(down[1], buf, n);
  }
  double dt = now() - t0;
  waitpid(pid, NULL, 0);
  printf("pipe_floor %zu %.3f\n", n, dt / iter * 1e6);
  return 0;
}
