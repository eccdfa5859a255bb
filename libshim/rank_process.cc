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
#include <vector>

#include "output_files.h"

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

namespace {

// A connection to stdmpirun's merger, opened with its "STREAM RANK" line; -1
// if it cannot be made.
int ConnectOutput(const sockaddr_un& addr, char stream, int rank, const std::string& mark) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  const std::string hello = std::string(1, stream) + " " + std::to_string(rank) + " " + mark + "\n";
  if (connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      write(s, hello.data(), hello.size()) != static_cast<ssize_t>(hello.size())) {
    close(s);
    return -1;
  }
  int size = 1 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  return s;
}

// Puts `fd` at `target` (the old descriptor there is kept open out of the
// way: mpirun's stdout is a pty, whose closing could hang up the rank).
void PutAt(int fd, int target) {
  fcntl(target, F_DUPFD_CLOEXEC, 10);
  dup2(fd, target);
  close(fd);
}

// A descriptor at 10 or above, close-on-exec, in place of `fd`.
int MoveUp(int fd) {
  int up = fcntl(fd, F_DUPFD_CLOEXEC, 10);
  close(fd);
  return up;
}

// The connections to the merger (streams 1, 2 or 3); false, with none left
// open, if one cannot be made (this shim runs on another host).
bool ConnectAll(const char* path, const std::string& streams, int rank, const std::string& mark,
                std::vector<int>* socks) {
  sockaddr_un addr{};
  size_t len = strlen(path);
  if (len >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, len + 1);
  for (char stream : streams) {
    int s = ConnectOutput(addr, stream, rank, mark);
    if (s < 0) {
      for (int o : *socks) close(o);
      socks->clear();
      return false;
    }
    socks->push_back(s);
  }
  return true;
}

}  // namespace

OutputFds RouteOutputToLauncher(const OutputRoute& r, std::string* warning) {
  OutputFds fds;
  const bool files = !r.output_dir.empty();
  const char* path = getenv("STDMPI_OUTPUT_SOCKET");
  std::vector<int> socks;
  // stdout; the program's stderr unless it goes with stdout; the shim's
  // messages on a connection of their own when the files take 1 and 2.
  const std::string streams = !files ? "12" : r.merge_stderr ? "13" : "123";
  const bool merged =
      path != nullptr && *path != '\0' && ConnectAll(path, streams, r.rank, r.mark, &socks);
  unsetenv("STDMPI_OUTPUT_SOCKET");
  if (merged) {
    PutAt(socks[0], 1);
    PutAt(socks.back(), 2);
    if (socks.size() == 3) fds.program_stderr = MoveUp(socks[1]);
  }
  if (merged || !files) {
    if (r.job_dir >= 0) close(r.job_dir);
    return fds;
  }
  // Another host: this rank's files, written here; its messages still go
  // through the launcher.
  if (r.job_dir < 0) {
    *warning = r.job_dir_error;
    return fds;
  }
  int out = CreateRankOutputFile(r.job_dir, r.output_dir, r.rank, "stdout", warning);
  int err = out < 0 || r.merge_stderr
                ? -1
                : CreateRankOutputFile(r.job_dir, r.output_dir, r.rank, "stderr", warning);
  close(r.job_dir);
  if (out < 0 || (!r.merge_stderr && err < 0)) {
    if (out >= 0) close(out);
    return fds;
  }
  PutAt(out, 1);
  if (err >= 0) fds.program_stderr = MoveUp(err);
  return fds;
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
