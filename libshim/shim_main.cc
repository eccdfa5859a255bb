// stdmpi-shim: one MPI rank that runs a command and relays its @mpi requests.
#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <mpi.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "options.h"
#include "report_mark.h"
#include "shim.h"
#include "spawn.h"

namespace {

// This task's world rank before MPI_Init, from what the launcher set.
int RankFromEnvironment() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "PMI_RANK"}) {
    const char* v = getenv(name);
    if (v != nullptr && *v != '\0') return atoi(v);
  }
  return -1;
}

// stdmpi-shim --version: the libraries it runs on, as they say at run time
// (MPI_Get_library_version may be called before MPI_Init).
int PrintVersion() {
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "";
  int len = 0;
  if (MPI_Get_library_version(mpi, &len) != MPI_SUCCESS) len = 0;
  std::string lib(mpi, static_cast<size_t>(len));
  if (size_t nl = lib.find_first_of("\n,"); nl != std::string::npos) lib.resize(nl);
  const unsigned api = hwloc_get_api_version();
  std::printf("stdmpi-shim (stdmpi) %s\n", STDMPI_VERSION);
  std::printf("MPI library: %s\n", lib.empty() ? "(unknown)" : lib.c_str());
  std::printf("hwloc: %s (API %u.%u at run time)\n", STDMPI_HWLOC_VERSION, api >> 16,
              (api >> 8) & 0xff);
  std::printf("libuv: %s\n", uv_version_string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  stdmpi::RecordInitialSignalDispositions();
  // A reader that went away shows up as a write error, not a dead shim.
  signal(SIGPIPE, SIG_IGN);
  // Pipes made later must not land on 0/1/2 if the shim was started without them.
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") return PrintVersion();
  stdmpi::ShimOptions opts;
  bool help = false;
  std::string err;
  if (!stdmpi::ParseShimArgs(args, &opts, &help, &err)) {
    std::fprintf(stderr, "stdmpi-shim: %s\n\n%s", err.c_str(), stdmpi::ShimUsage().c_str());
    return stdmpi::kExitUsage;
  }
  if (help) {
    std::fputs(stdmpi::ShimUsage().c_str(), stdout);
    return 0;
  }
  if (!opts.apps.empty()) {
    bool native = false;
    int rank = RankFromEnvironment();
    if (rank < 0) {
      std::fprintf(stderr,
                   "stdmpi-shim: --apps needs the task's rank before MPI starts, and none of "
                   "OMPI_COMM_WORLD_RANK, PMIX_RANK, SLURM_PROCID is set (start it with mpirun "
                   "or srun)\n");
      return stdmpi::kExitUsage;
    }
    if (!stdmpi::SelectApp(rank, &opts, &native, &err)) {
      std::fprintf(stderr, "stdmpi-shim: %s\n", err.c_str());
      return stdmpi::kExitUsage;
    }
    if (native) {
      // A native MPI program is this rank itself: it calls MPI_Init, not us.
      std::vector<char*> cargv;
      for (std::string& s : opts.command) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      signal(SIGPIPE, SIG_DFL);  // as the launcher gave it
      stdmpi::TakeReportMark();  // the shims' own
      execvp(cargv[0], cargv.data());
      int e = errno;
      std::fprintf(stderr, "stdmpi-shim: rank %d: cannot run %s: %s\n", rank,
                   opts.command[0].c_str(), strerror(e));
      return e == ENOENT ? stdmpi::kExitNotFound : stdmpi::kExitCannotExecute;
    }
  }
  return stdmpi::RunShim(opts);
}
