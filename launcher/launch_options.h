// stdmpirun's command line and the launch plan built from it.
//
// Pure logic: parsing, and turning options plus a few facts about the machine
// (root or not, cores, where mpirun and the shim are) into the exact argv of
// the underlying MPI launcher. The choice of launcher lives in BuildPlan alone.
#ifndef STDMPI_LAUNCHER_LAUNCH_OPTIONS_H_
#define STDMPI_LAUNCHER_LAUNCH_OPTIONS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "scheduler.h"

namespace stdmpi {

// One `-n N COMMAND ARGS...` of a possibly MPMD (`:`-separated) job.
struct AppContext {
  int np = 0;           // 0: not given
  bool native = false;  // a native MPI program, started by mpirun without a shim
  std::vector<std::string> command;
};

enum class LauncherChoice { kAuto, kMpirun, kSrun };

struct LaunchOptions {
  std::vector<AppContext> apps;
  LauncherChoice launcher = LauncherChoice::kAuto;
  bool dry_run = false;
  double timeout = 0;   // --timeout SECONDS: report, then end the job (0: none)
  std::string trace;    // --trace FILE: Chrome trace events of every request
  double trace_t0 = 0;  // the job's start, epoch seconds (set by main for --trace)
  bool tag_output = false;
  bool line_buffered = false;
  bool oversubscribe = false;
  bool quiet = false;
  bool help = false;
  bool version = false;
  int64_t max_line = 0;     // 0: the shim's default
  int64_t max_message = 0;  // 0: the shim's default
  int spin_us = -1;
  std::string bind_to;    // empty: the shim's default
  int cpus_per_rank = 0;  // 0: not given
  bool report_bindings = false;
  bool isolate = false;            // --isolate host
  bool net = false;                // --net: keep the host's network when isolated
  std::string image;               // --image ROOT[,LAYER...]
  std::vector<std::string> binds;  // --bind SRC[:DST]
  std::string pack;                // --pack LAYER.tar: keep what the run wrote
  std::string upper;               // where (set by main for --pack)
  // --mem-per-rank, --time-limit, --max-procs as given (checked), for the shims.
  std::vector<std::pair<std::string, std::string>> limits;
  std::string hostfile;
  std::string host;
  std::vector<std::pair<std::string, std::string>> mca;
  std::vector<std::string> exports;        // -x NAME[=VALUE]
  std::vector<std::string> launcher_args;  // --launcher-arg ARG, passed as is
};

// Parses argv[1..]. On failure returns false and sets *err (one line).
bool ParseLaunchArgs(const std::vector<std::string>& args, LaunchOptions* opts, std::string* err);

// What BuildPlan needs to know about this machine and environment.
struct Facts {
  bool root = false;
  int cores = 1;                  // cores this process may run on
  std::string mpirun = "mpirun";  // empty: not found
  std::string srun;               // empty: not found
  std::string shim = "stdmpi-shim";
  bool env_sets_pml = false;   // OMPI_MCA_pml is set in the environment
  bool env_sets_psec = false;  // PMIX_MCA_psec is set in the environment
  Scheduler scheduler;         // the batch system this runs under, if any
  // Programs may start before MPI_Init where that is safe (shim --start-early);
  // STDMPI_START_EARLY=0 turns it off.
  bool start_early = true;
};

struct Plan {
  std::vector<std::string> argv;  // the launcher command, argv[0] included
  // Variables to set for the launcher (srun hands its environment to the ranks).
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> warnings;  // one line each, without "stdmpirun: "
  std::string summary;                // how the launch was decided, for --dry-run
  int total_ranks = 0;                // 0 when the launcher decides (hostfile slots)
  bool local = true;                  // all ranks on this machine
  bool srun = false;                  // the launcher is srun
};

bool BuildPlan(const LaunchOptions& opts, const Facts& facts, Plan* plan, std::string* err);

// Quotes argv for a POSIX shell, for display (--dry-run); nothing is run by a shell.
std::string ShellQuote(const std::vector<std::string>& argv);

const char* LaunchUsage();

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_LAUNCH_OPTIONS_H_
