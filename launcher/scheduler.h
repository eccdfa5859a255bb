// Which batch system the job runs under, from the variables it sets.
//
// Pure logic: the caller passes the environment (and, for PBS and LSF, the
// lines of the node file the variables name). Detection lives here alone;
// BuildPlan turns it into the launcher command.
#ifndef STDMPI_LAUNCHER_SCHEDULER_H_
#define STDMPI_LAUNCHER_SCHEDULER_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

struct Scheduler {
  enum class Kind { kNone, kSlurm, kPbs, kLsf };
  Kind kind = Kind::kNone;
  std::string job_id;
  int slots = 0;          // tasks the allocation gives (0: unknown)
  int nodes = 0;          // hosts in the allocation (0: unknown)
  std::string hostfile;   // PBS/LSF: the node file the job names
  std::string host_list;  // PBS/LSF: its hosts and slots, "h1:4,h2:4" for mpirun --host
  std::string problem;    // why the allocation could not be read, if so

  const char* name() const;
};

// The variables DetectScheduler reads (main copies them from the environment).
const std::vector<std::string>& SchedulerVariables();

// `env`: name -> value of the variables above that are set. `nodefile`: the
// lines of PBS_NODEFILE or LSB_DJOB_HOSTFILE, if either is set and readable.
Scheduler DetectScheduler(const std::map<std::string, std::string>& env,
                          const std::vector<std::string>& nodefile);

// SLURM's "2(x3),1" (2 tasks on each of 3 nodes, then 1): 7; -1 if malformed.
int SumSlurmCounts(std::string_view s);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_SCHEDULER_H_
