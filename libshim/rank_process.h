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

// Where the program's stderr and the shim's own messages go (fd 1 is its
// stdout).
struct OutputFds {
  int program_stderr = 2;
  int messages = 2;
};

// What the shim knows for RouteOutputToLauncher.
struct OutputRoute {
  int rank = 0;
  std::string mark;           // the job's report mark (report_mark.h)
  std::string output_dir;     // --output-filename DIR, or ""
  int job_dir = -1;           // DIR/1, opened before the program started (output_files.h)
  std::string job_dir_error;  // why it could not be, if it could not
  bool merge_stderr = false;
};

// stdmpirun merges the output of the ranks on its machine line by line
// (launcher/output_merger.h): if $STDMPI_OUTPUT_SOCKET can be reached, this
// process's stdout and stderr become connections to it, each opened with a
// line "STREAM RANK MARK" (1: stdout, 2: stderr; with --output-filename,
// whose files take 1 and 2, the shim's own messages go apart on 3, and with
// --merge-stderr-to-stdout too there is no 2). Otherwise, with
// --output-filename, the shim writes its rank's files itself; a file it
// cannot create is said in *warning, and the output stays where it was.
// Closes r.job_dir.
OutputFds RouteOutputToLauncher(const OutputRoute& r, std::string* warning);

// Binds every thread of this process (MPI's included) to `cpus`.
void BindAllThreads(const cpu_set_t& cpus);

// The process's peak resident memory in KiB (VmHWM), or -1.
long PeakRssKiB();

// With STDMPI_REPORT_MEMORY set: a line with this shim's peak memory (for
// the tests and benchmarks that check it stays bounded); otherwise "".
std::string MemoryNote(int rank);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_RANK_PROCESS_H_
