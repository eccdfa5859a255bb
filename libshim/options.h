// The shim's command line, and small parsing helpers shared with the launcher.
//
//   stdmpi-shim [OPTIONS] -- COMMAND [ARGS...]
//
// stdmpirun builds this command line for every rank; it is also usable by hand
// (`mpirun -n 2 stdmpi-shim -- python3 x.py`, or alone as a one-rank job).
#ifndef STDMPI_LIBSHIM_OPTIONS_H_
#define STDMPI_LIBSHIM_OPTIONS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "placement.h"

namespace stdmpi {

// Exit statuses of stdmpi itself (a child's own status is passed through).
inline constexpr int kExitUsage = 64;           // bad command line (sysexits EX_USAGE)
inline constexpr int kExitProtocol = 65;        // a malformed or impossible request (EX_DATAERR)
inline constexpr int kExitInternal = 70;        // MPI or system failure (EX_SOFTWARE)
inline constexpr int kExitCannotExecute = 126;  // as shells: found but cannot run
inline constexpr int kExitNotFound = 127;       // as shells: command not found

inline constexpr int64_t kDefaultMaxLine = int64_t{64} << 20;    // 64 MiB
inline constexpr int64_t kDefaultMaxMessage = int64_t{1} << 30;  // 1 GiB
// MPI counts are int: one message holds at most 2^31-1 bytes.
inline constexpr int64_t kLargestMessage = INT32_MAX;
// Shortest --max-line: a request line must fit, and be told from output.
inline constexpr int64_t kSmallestMaxLine = 64;

// One program of a multi-program job started by a launcher that runs the
// same command for every task (srun): `--apps 1:native,4 -- A... : B...`.
struct ShimApp {
  int np = 0;
  bool native = false;
  std::vector<std::string> command;
};

struct ShimOptions {
  bool tag_output = false;
  bool line_buffered = false;  // line-buffer the command's C stdio output
  // --output-filename DIR (absolute, from stdmpirun): each rank's output in
  // DIR/1/rank.N/stdout and stderr (output_files.h).
  std::string output_filename;
  bool timestamp_output = false;  // "[2026-11-30 14:05:09.123] " before each line
  bool merge_stderr = false;      // the program's stderr goes with its stdout
  int64_t max_line = kDefaultMaxLine;
  int64_t max_message = kDefaultMaxMessage;
  // Microseconds to poll MPI before sleeping while the child waits for a reply;
  // -1: the default (2000; see poller.h).
  int spin_us = -1;
  // World ranks that are native MPI programs (no shim) in this job.
  std::vector<int> native_ranks;
  std::vector<ShimApp> apps;  // empty: one program, `command`
  // A task farm (docs/tasks.md): the task file (absolute, from stdmpirun),
  // how often a failed task runs again, GNU parallel's joblog, and --resume
  // (1) or --resume-failed (2).
  std::string tasks_file;
  int retries = 0;
  std::string joblog;
  int resume = 0;
  std::string status_file;  // --status FILE: the farm's state as JSON, kept up to date
  // The rank count of each program of an MPMD job, in world rank order
  // (--app-sizes; with --apps, theirs). Empty: one program.
  std::vector<int> app_sizes;
  BindTo bind_to = BindTo::kCore;
  bool bind_to_given = false;
  int cpus_per_rank = 0;  // 0: not given (one core)
  bool report_bindings = false;
  bool quiet = false;  // no notices (stdmpirun -q, or it said it already)
  // Run the command in a light container (see init_main.cc): namespaces,
  // read-only /usr and /etc, private /tmp and /proc; `isolate_net` keeps the
  // host's network.
  bool isolate = false;
  bool isolate_net = false;
  // --image: the root filesystem, base first then layers (directories or
  // tarballs); --bind SRC[:DST] pairs.
  std::vector<std::string> image;
  std::vector<std::pair<std::string, std::string>> binds;
  std::string upper;         // --upper DIR: keep the image's writable layer in DIR/upper
  int64_t mem_per_rank = 0;  // bytes; 0: no limit
  double time_limit = 0;     // seconds; 0: no limit
  int max_procs = 0;         // 0: no limit
  std::string trace;         // --trace PREFIX: trace events to PREFIX.rank<N> (trace.h)
  double trace_t0 = 0;       // --trace-t0: the job's start, epoch seconds
  // --rank-summary PREFIX: this rank's summary (rank_summary.h) as the last
  // line of PREFIX.rank<N>, the --trace part if there is one (same PREFIX).
  std::string rank_summary;
  // --start-early: start the command before MPI_Init, placed from the
  // launcher's variables (LaunchPositionFromEnv), so that its start-up
  // overlaps MPI's. stdmpirun gives it when it runs mpirun with --bind-to
  // none, where every rank of a node starts with the same cores.
  bool start_early = false;
  std::vector<std::string> command;
};

// Where a task stands in the job, as the launcher says before MPI starts.
struct LaunchPosition {
  int rank = -1, size = 0, local_rank = -1, local_size = 0;
};

// Reads OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK and _LOCAL_SIZE (Open MPI's
// mpirun sets them for every task) through `get` (getenv, or a test's map).
// False, with *why, when one is missing or out of range.
bool LaunchPositionFromEnv(const char* (*get)(const char*), LaunchPosition* out, std::string* why);

// With --apps: makes opts->command the program of world rank `rank` and sets
// *native if it is a native MPI program. False (with *err) if the rank is
// beyond the ranks --apps names.
bool SelectApp(int rank, ShimOptions* opts, bool* native, std::string* err);

// The rank counts of the job's programs (ShimOptions::app_sizes, or those
// of --apps), and which program world rank `rank` runs (0 for one program).
std::vector<int> AppSizes(const ShimOptions& opts);
int AppNumOf(int rank, const std::vector<int>& sizes);

// Parses a rank list such as "0", "0,2" or "1-3,7" (sorted, no duplicates).
bool ParseRankList(std::string_view s, std::vector<int>* out);
// Formats a rank list compactly: {0,1,2,5} -> "0-2,5".
std::string FormatRankList(const std::vector<int>& ranks);

// Parses "65536", "64K", "64M", "1G", "64MiB", "1.5G" (binary multiples) into bytes.
bool ParseByteSize(std::string_view s, int64_t* out);
// "64 MiB", "1 GiB", "1000 bytes": for messages.
std::string FormatByteSize(int64_t n);

// "base.tar,layer1,layer2" into its parts; "SRC[:DST]" into a bind (DST
// defaults to SRC and must be absolute).
bool ParseImageList(std::string_view s, std::vector<std::string>* out, std::string* err);
bool ParseBind(std::string_view s, std::pair<std::string, std::string>* out, std::string* err);

// Parses the shim's arguments (argv[0] excluded). On failure returns false and
// sets *err. Sets *help if --help was given.
bool ParseShimArgs(const std::vector<std::string>& args, ShimOptions* opts, bool* help,
                   std::string* err);

// What options given together must agree on (stdmpirun's and the shim's
// parsers both check it): false with *err.
bool CheckShimOptionsTogether(const ShimOptions& s, std::string* err);

// With --apps: cuts opts->command into the programs' commands.
bool SplitAppCommands(ShimOptions* opts, std::string* err);

// The shim's --help, from the option table (option_table.h).
const std::string& ShimUsage();

// Appends `data` to `out`, starting every line with `prefix`. *at_line_start
// carries the state across calls (true before the first call).
void AppendPrefixed(std::string* out, std::string_view data, std::string_view prefix,
                    bool* at_line_start);
// Where a stream of output stands for its line prefixes (the tags).
struct PrefixState {
  bool line_start = true;  // the next byte starts a line
  bool drawn = false;      // bytes other than CR came since the last prefix
  bool after_cr = false;   // the last byte was a CR after something drawn
};

// As AppendPrefixed, and a line redrawn after a CR (a progress bar) gets the
// prefix again, so that each redraw says whose it is; a CR before an LF (a
// CRLF line) does not, even when the LF comes in the next piece.
void AppendPrefixedRedraws(std::string* out, std::string_view data, std::string_view prefix,
                           PrefixState* st);

// --timestamp-output's prefix for a line printed at `real_seconds` (since
// the epoch), in local time: "[2026-11-30 14:05:09.123] ".
std::string TimestampPrefix(double real_seconds);

// Joins argv for messages: `python3 -u "my script.py"` (quoted only for reading).
std::string DescribeCommand(const std::vector<std::string>& argv, size_t max = 200);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_OPTIONS_H_
