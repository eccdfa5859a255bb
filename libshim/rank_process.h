// What the shim changes in its own process once MPI runs, and what it reads
// of it: each a fix for something measured, kept out of the event loop's way.
#ifndef STDMPI_LIBSHIM_RANK_PROCESS_H_
#define STDMPI_LIBSHIM_RANK_PROCESS_H_

#include <sched.h>

#include <string>

namespace stdmpi {

// Raises malloc's thresholds, so large requests (a payload, its numbers, the
// reply: megabytes each) reuse heap instead of faulting in fresh mmap pages.
// Only after MPI_Init (see rank_process.cc).
void KeepLargeBuffersOnHeap();

// Sets TCP_NODELAY on this process's TCP sockets (Open MPI's PMIx client).
void SendSmallTcpWritesAtOnce();

// stdmpirun merges the output of the ranks on its machine line by line
// (launcher/output_merger.h): if $STDMPI_OUTPUT_SOCKET can be reached, this
// process's stdout and stderr become two connections to it.
void RouteOutputToLauncher();

// Binds every thread of this process (MPI's included) to `cpus`.
void BindAllThreads(const cpu_set_t& cpus);

// The process's peak resident memory in KiB (VmHWM), or -1.
long PeakRssKiB();

// With STDMPI_REPORT_MEMORY set: a line with this shim's peak memory (for
// the tests and benchmarks that check it stays bounded); otherwise "".
std::string MemoryNote(int rank);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_RANK_PROCESS_H_
