// stdmpi-shim: one MPI rank that runs a command and relays its @mpi requests.
#include <fcntl.h>
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "options.h"
#include "shim.h"
#include "spawn.h"

int main(int argc, char** argv) {
  stdmpi::RecordInitialSignalDispositions();
  // A reader that went away shows up as a write error, not a dead shim.
  signal(SIGPIPE, SIG_IGN);
  // Pipes made later must not land on 0/1/2 if the shim was started without them.
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  stdmpi::ShimOptions opts;
  bool help = false;
  std::string err;
  if (!stdmpi::ParseShimArgs(args, &opts, &help, &err)) {
    std::fprintf(stderr, "stdmpi-shim: %s\n\n%s", err.c_str(), stdmpi::ShimUsage());
    return stdmpi::kExitUsage;
  }
  if (help) {
    std::fputs(stdmpi::ShimUsage(), stdout);
    return 0;
  }
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    std::fprintf(stderr, "stdmpi-shim: MPI_Init failed\n");
    return stdmpi::kExitInternal;
  }
  int code = stdmpi::RunShim(opts);
  MPI_Finalize();
  return code;
}
