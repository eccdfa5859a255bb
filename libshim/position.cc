#include "position.h"

#include <stdlib.h>

#include "options.h"

namespace stdmpi {

bool PositionFromLauncher(Position* where) {
  LaunchPosition p;
  std::string why;
  if (!LaunchPositionFromEnv([](const char* name) -> const char* { return getenv(name); }, &p,
                             &why)) {
    return false;
  }
  where->rank = p.rank;
  where->size = p.size;
  where->local_rank = p.local_rank;
  where->local_size = p.local_size;
  CPU_ZERO(&where->node_mask);
  sched_getaffinity(0, sizeof(where->node_mask), &where->node_mask);
  where->masks_differ = false;
  return true;
}

std::string CompareEarlyPosition(const Position& early, const Position& mpi, bool* fatal) {
  *fatal = early.rank != mpi.rank || early.size != mpi.size;
  if (*fatal) {
    return "the command was started as rank " + std::to_string(early.rank) + " of " +
           std::to_string(early.size) + " (from OMPI_COMM_WORLD_RANK/_SIZE) but MPI says rank " +
           std::to_string(mpi.rank) + " of " + std::to_string(mpi.size) +
           "; run with STDMPI_START_EARLY=0 and report this";
  }
  if (early.local_rank == mpi.local_rank && early.local_size == mpi.local_size &&
      !mpi.masks_differ && CPU_EQUAL(&early.node_mask, &mpi.node_mask)) {
    return "";
  }
  return "placed as local rank " + std::to_string(early.local_rank) + " of " +
         std::to_string(early.local_size) + " with the launcher's cores, but MPI says local rank " +
         std::to_string(mpi.local_rank) + " of " + std::to_string(mpi.local_size) +
         (mpi.masks_differ ? " with cores the launcher bound" : "") +
         ": ranks may share cores (STDMPI_START_EARLY=0 places them after MPI starts)";
}

}  // namespace stdmpi
