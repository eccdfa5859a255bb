// Per-rank limits (--mem-per-rank, --max-procs): a cgroup of the rank's own
// where one can be made (cgroup v2 with a writable subtree, cgroup v1 as
// root), else rlimits. The command's supervisor (stdmpi-init) joins the
// cgroup, or sets the rlimits, before the command starts; afterwards the
// shim asks the cgroup whether a limit was hit, to say so.
#ifndef STDMPI_LIBSHIM_RANK_LIMITS_H_
#define STDMPI_LIBSHIM_RANK_LIMITS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "init_config.h"

namespace stdmpi {

class RankLimits {
 public:
  RankLimits() = default;
  RankLimits(const RankLimits&) = delete;
  RankLimits& operator=(const RankLimits&) = delete;
  ~RankLimits() { Remove(); }

  // Sets up the limits (0: none) for this process's next child: the cgroups
  // stdmpi-init joins, or the rlimits it sets, go into *init; *how gets a
  // short description.
  void Prepare(int64_t mem_bytes, int max_procs, int rank, InitConfig* init, std::string* how);
  // After the command ended: which limit it ran into, if the cgroup knows
  // ("memory", "processes"), else "".
  std::string LimitHit() const;
  // The limits are rlimits: the command sees failing allocations or forks,
  // and nobody can tell afterwards that a limit was the cause.
  bool uses_rlimits() const { return rlimits_; }
  // Removes the cgroups (they must be empty).
  void Remove();

 private:
  std::string mem_dir_, pids_dir_;  // cgroup v1 directories made
  std::string v2_dir_;              // cgroup v2 directory made
  bool rlimits_ = false;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_RANK_LIMITS_H_
