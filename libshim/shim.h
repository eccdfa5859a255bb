// One rank of a stdmpi job: the event loop between the user's program and MPI.
//
// A libuv loop owns the child's stdin (replies), stdout (requests and ordinary
// output), stderr, its exit and the shim's signals. Requests go to the Engine;
// while one is pending the loop polls MPI: busily for a short budget (a reply is
// usually a few microseconds away and the child, blocked on its stdin, leaves its
// core idle), then sleeping with a growing interval on a timerfd, so that a long
// wait costs almost no CPU and the loop still sees the child die or a signal.
//
// Ending: a child that exits 0 ends its rank normally (MPI_Finalize). Anything
// else (a child that fails or is killed, a fatal request, `@mpi abort`, a
// launch failure) drains what the child printed, prints one message naming the
// rank and the reason, and ends the whole job through MPI_Abort with the status
// PROTOCOL.md gives it.
#ifndef STDMPI_LIBSHIM_SHIM_H_
#define STDMPI_LIBSHIM_SHIM_H_

#include "options.h"

namespace stdmpi {

// Runs the rank: starts the command (before MPI_Init with opts.start_early),
// initializes MPI, relays, finalizes MPI. Returns the process's exit status when
// the rank ended normally; when the job must end, calls MPI_Abort and does not
// return.
int RunShim(const ShimOptions& opts);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_SHIM_H_
