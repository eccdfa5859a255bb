// What a rank says about itself: the one-line answer to "what are you doing?"
// (SIGUSR1, stdmpirun's SIGQUIT and --timeout) and the note on a limit its
// program ran into. Pure logic: the shim gathers the facts, this words them.
#ifndef STDMPI_LIBSHIM_RANK_REPORT_H_
#define STDMPI_LIBSHIM_RANK_REPORT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "options.h"

namespace stdmpi {

struct Activity {
  bool waiting = false;    // an MPI operation is pending
  std::string waiting_in;  // ... what it waits for ("recv from rank 0 tag 5")
  double waited = 0;       // ... seconds so far
  bool program_ended = false;
  int64_t payload_announced = 0;  // raw bytes the last request announced
  int64_t payload_remaining = 0;  // ... still to come
  size_t reply_unread = 0;        // bytes of the last reply not read yet
  double since_request = -1;      // seconds since the last request; < 0: none yet
};

// "waiting in recv from rank 0 tag 5 for 12.3 s", "its program is running;
// its last request was 0.5 s ago", ... (after the rank's prefix, no LF).
std::string DescribeActivity(const Activity& a);

// Why a program that failed may have failed: " after running into its time
// limit (--time-limit 5 s)", " after running out of its memory limit
// (--mem-per-rank 64 MiB)", the rlimits it ran with, or "". `cgroup_hit` is
// what the rank's cgroup says (RankLimits::LimitHit()).
std::string LimitNote(const ShimOptions& opts, bool time_limit_hit, std::string_view cgroup_hit,
                      bool rlimits);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_RANK_REPORT_H_
