#include "rank_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>

namespace stdmpi {

namespace {

// Calls `f` with each number named in directory `dir` (/proc/self/fd,
// /proc/self/task), the directory's own descriptor left out; false if it
// cannot be read.
bool ForEachNumberIn(const char* dir, const std::function<void(long)>& f) {
  DIR* d = opendir(dir);
  if (d == nullptr) return false;
  while (dirent* e = readdir(d)) {
    char* end;
    long n = strtol(e->d_name, &end, 10);
    if (*end == '\0' && end != e->d_name && n != dirfd(d)) f(n);
  }
  closedir(d);
  return true;
}

}  // namespace

// Large requests would otherwise each get fresh pages from mmap and fault
// every one of them in: on an allreduce of 10^6 doubles that was a third of
// the shim's time. Up to 32 MiB a buffer comes from the heap, and up to 64 MiB
// of freed heap is kept for the next request. (A sanitizer's allocator
// ignores this.) Only after MPI_Init: set before it, a node's first task
// crashed in MPI_Init now and then in the SLURM tests across namespace hosts
// (2 of 9 runs under load; 0 of 10 with this order).
void KeepLargeBuffersOnHeap() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

// Open MPI's PMIx client talks to its local server (mpirun's or orted's) over
// TCP on loopback without TCP_NODELAY. In MPI_Finalize it writes several small
// messages in a row and the server sends nothing back until it has them all:
// Nagle's algorithm holds the second one until the server's delayed ACK, 40 ms
// later (seen with strace: a 40 ms gap in a 45 ms MPI_Finalize, one rank or
// several). Setting TCP_NODELAY on this process's TCP sockets once MPI is up
// sends every message at once. It changes only when bytes leave, never what is
// sent, and the sockets of Open MPI's TCP transport have it set already.
void SendSmallTcpWritesAtOnce() {
  ForEachNumberIn("/proc/self/fd", [](long n) {
    const int fd = static_cast<int>(n);
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return;
    sockaddr_storage addr{};
    len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        (addr.ss_family != AF_INET && addr.ss_family != AF_INET6)) {
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  });
}

// The launcher's own descriptors stay open out of the way (mpirun's stdout is
// a pty, whose closing could hang up the rank); a shim on another host keeps
// writing through the launcher.
void RouteOutputToLauncher() {
  const char* path = getenv("STDMPI_OUTPUT_SOCKET");
  if (path == nullptr || *path == '\0') return;
  sockaddr_un addr{};
  size_t len = strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, len + 1);
  int socks[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    socks[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const char tag = i == 0 ? '1' : '2';
    if (socks[i] < 0 || connect(socks[i], reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        write(socks[i], &tag, 1) != 1) {
      for (int s : socks) {
        if (s >= 0) close(s);
      }
      return;
    }
    int size = 1 << 20;
    setsockopt(socks[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  for (int i = 0; i < 2; ++i) {
    fcntl(i + 1, F_DUPFD_CLOEXEC, 10);
    dup2(socks[i], i + 1);
    close(socks[i]);
  }
  unsetenv("STDMPI_OUTPUT_SOCKET");
}

void BindAllThreads(const cpu_set_t& cpus) {
  bool listed = ForEachNumberIn("/proc/self/task", [&cpus](long tid) {
    sched_setaffinity(static_cast<pid_t>(tid), sizeof(cpus), &cpus);
  });
  if (!listed) sched_setaffinity(0, sizeof(cpus), &cpus);
}

long PeakRssKiB() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  fclose(f);
  return kib;
}

std::string MemoryNote(int rank) {
  if (getenv("STDMPI_REPORT_MEMORY") == nullptr) return {};
  return "stdmpi: rank " + std::to_string(rank) +
         ": peak memory of the shim: " + std::to_string(PeakRssKiB()) + " KiB\n";
}

}  // namespace stdmpi
