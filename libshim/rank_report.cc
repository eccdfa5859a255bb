#include "rank_report.h"

#include <cstdio>

#include "numbers.h"

namespace stdmpi {

namespace {
std::string Secs(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", s);
  return buf;
}
}  // namespace

std::string DescribeActivity(const Activity& a) {
  if (a.waiting) return "waiting in " + a.waiting_in + " for " + Secs(a.waited) + " s";
  if (a.program_ended) return "its program has ended; waiting for the job to end";
  if (a.payload_announced > 0) {
    return "reading the " + std::to_string(a.payload_announced) +
           " raw bytes its last request announced (" +
           std::to_string(a.payload_announced - a.payload_remaining) + " so far)";
  }
  if (a.reply_unread > 0) {
    return "its program has not read the reply to its last request (" +
           std::to_string(a.reply_unread) + " byte(s) unread, request made " +
           Secs(a.since_request) + " s ago)";
  }
  if (a.since_request >= 0) {
    return "its program is running; its last request was " + Secs(a.since_request) + " s ago";
  }
  return "its program is running and has made no request yet";
}

std::string LimitNote(const ShimOptions& opts, bool time_limit_hit, std::string_view cgroup_hit,
                      bool rlimits) {
  if (time_limit_hit) {
    std::string t;
    AppendF64(&t, opts.time_limit);
    return " after running into its time limit (--time-limit " + t + " s)";
  }
  if (cgroup_hit == "memory") {
    return " after running out of its memory limit (--mem-per-rank " +
           FormatByteSize(opts.mem_per_rank) + ")";
  }
  if (cgroup_hit == "processes") {
    return " after reaching its process limit (--max-procs " + std::to_string(opts.max_procs) + ")";
  }
  if (!rlimits) return "";
  std::string what;
  if (opts.mem_per_rank > 0)
    what = "an address-space limit of " + FormatByteSize(opts.mem_per_rank);
  if (opts.max_procs > 0) {
    what += (what.empty() ? "" : " and ") + std::string("a process limit of ") +
            std::to_string(opts.max_procs);
  }
  return " (it ran with " + what + " as rlimits: allocations or forks past them fail)";
}

}  // namespace stdmpi
