// Where a rank stands in the job and on its node, and how a rank started
// before MPI_Init (--start-early) learns it from the launcher. Pure logic but
// for the reading of the environment and the process's cores.
#ifndef STDMPI_LIBSHIM_POSITION_H_
#define STDMPI_LIBSHIM_POSITION_H_

#include <sched.h>

#include <string>

namespace stdmpi {

// Where a rank stands: from MPI once it runs, or from the launcher's
// variables when the program starts before MPI_Init (--start-early).
struct Position {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  cpu_set_t node_mask{};      // the cores this node's ranks may use between them
  bool masks_differ = false;  // the launcher bound the node's ranks differently
};

// --start-early: where this task stands before MPI_Init, from Open MPI's
// mpirun's variables (LaunchPositionFromEnv) and its own cores, which under
// mpirun --bind-to none are the node's. False when the variables are not there.
bool PositionFromLauncher(Position* where);

// A rank started early (`early`) against MPI's view of it: "" when they
// agree; else what differs, for the user. *fatal when the rank itself
// differs: the program runs as the wrong rank.
std::string CompareEarlyPosition(const Position& early, const Position& mpi, bool* fatal);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_POSITION_H_
