// One rank of a stdmpi job: the event loop between the user's program and MPI.
//
// A libuv loop owns the child's stdin (replies), stdout (requests and ordinary
// output), stderr, its exit and the shim's signals. The RequestReader turns
// stdout into output and requests; requests go to the Engine; while one is
// pending the Poller polls MPI, busily for a short budget, then sleeping (see
// poller.h), so the loop still sees the child die or a signal.
// docs/design.md follows one request through these units.
//
// Ending: a child that exits 0 ends its rank normally (MPI_Finalize). Anything
// else (a child that fails or is killed, a fatal request, `@mpi abort`, a
// launch failure) drains what the child printed, prints one message naming the
// rank and the reason, and ends the whole job through MPI_Abort with the status
// docs/protocol.md gives it ("Exit statuses").
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
