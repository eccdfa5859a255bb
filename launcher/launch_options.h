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

#include "option_table.h"
#include "scheduler.h"

namespace stdmpi {

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
  // The user's PATH and LD_LIBRARY_PATH (has_ld_path: the latter is set):
  // mpirun, started by its full path, puts its own directories in front of
  // both for the ranks; the shims put them back (STDMPI_PATH, ...). Empty
  // path: not set (nothing to restore).
  std::string path;
  std::string ld_path;
  bool has_ld_path = false;
  Scheduler scheduler;  // the batch system this runs under, if any
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

// stdmpirun --help, from the option table (option_table.h).
const std::string& LaunchUsage();

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_LAUNCH_OPTIONS_H_
