#include "banner_filter.h"

#include <algorithm>
#include <array>

namespace stdmpi {

namespace {

// A box longer than this is not one of Open MPI's: let it through.
constexpr int kMaxBoxLines = 40;

}  // namespace

bool BannerFilter::IsRule(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() < 60) return false;
  return line.find_first_not_of('-') == std::string_view::npos;
}

bool BannerFilter::IsRepeat(std::string_view box) {
  static constexpr std::array<std::string_view, 4> kRepeats = {
      // A shim ended the job with MPI_Abort after printing the reason.
      "MPI_ABORT was invoked on rank",
      // A shim exited non-zero after printing the reason.
      "terminated normally, but",
      "exited with non-zero status, thus causing",
      "mpirun has exited due to process rank",
  };
  for (std::string_view r : kRepeats) {
    if (box.find(r) != std::string_view::npos) return true;
  }
  return false;
}

std::string BannerFilter::DeadProcessLine(std::string_view box) {
  // "mpirun noticed that process rank 0 with PID 4121 on node vm exited on
  // signal 9 (Killed)." A rank's process died without a word: its shim (a
  // shim reports its program's death itself) or a native MPI rank.
  static constexpr std::string_view kNoticed = "noticed that process rank ";
  size_t at = box.find(kNoticed);
  if (at == std::string_view::npos) return {};
  std::string_view rest = box.substr(at + kNoticed.size());
  size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  size_t sig = line.find(" exited on signal ");
  if (sig == std::string_view::npos) return {};
  std::string rank(line.substr(0, line.find(' ')));
  std::string where;
  size_t node = line.find(" on node ");
  if (node != std::string_view::npos && node < sig) {
    where = " on " + std::string(line.substr(node + 9, sig - node - 9));
  }
  std::string signal(line.substr(sig + 18));
  while (!signal.empty() && (signal.back() == '.' || signal.back() == '\r')) signal.pop_back();
  return "stdmpirun: the process of rank " + rank + where +
         " (its stdmpi-shim, or the rank itself if it is a native MPI program) was killed by "
         "signal " +
         signal + "; ending the job\n";
}

bool BannerFilter::IsNoiseLine(std::string_view line) {
  auto has = [line](std::string_view s) { return line.find(s) != std::string_view::npos; };
  auto starts = [line](std::string_view s) { return line.substr(0, s.size()) == s; };
  // mpirun saying it passes on the SIGUSR1 that asks the ranks for a report.
  if (starts("mpirun: Forwarding signal ")) return true;
  // srun announcing that it waits for an aborted step to end: whatever ended
  // it is said by someone else, before or after (the two arrive in any order).
  if (starts("srun: Job step aborted: Waiting up to")) return true;
  if (rank_reported_) {
    // srun and slurmstepd tearing down the step a shim has ended. Their other
    // lines (Out Of Memory, a node failure, a time limit) pass.
    if (starts("srun: forcing job termination")) return true;
    if (starts("srun: launch/slurm: _step_signal: Terminating StepId=")) return true;
    if (starts("slurmstepd") && has("*** STEP ") && has(" CANCELLED AT ")) return true;
    if (starts("srun: error: ") && has(": task") &&
        (has(": Exited with exit code ") ||
         line.substr(line.size() >= 8 ? line.size() - 8 : 0) == ": Killed" ||
         has(": Terminated"))) {
      return true;
    }
  }
  // Open MPI 4.1 logs errors of its own help-message machinery when several
  // ranks end the job at the same moment and their messages cross during
  // teardown ("Data unpack would read past end of buffer", "Out of resource"
  // in show_help.c); each rank has already said why it ended.
  if (has("ORTE_ERROR_LOG:") && has("show_help.c")) return true;
  // mpirun's count of the MPI_ABORT boxes it did not print (dropped anyway).
  if (has("more process") && has("sent help message help-mpi-api.txt / mpi-abort")) {
    drop_aggregate_hint_ = true;
    return true;
  }
  if (drop_aggregate_hint_ && has("Set MCA parameter \"orte_base_help_aggregate\" to 0")) {
    drop_aggregate_hint_ = false;
    return true;
  }
  drop_aggregate_hint_ = false;
  return false;
}

bool BannerFilter::TakeMark(std::string* line) {
  if (mark_.empty() || line->compare(0, mark_.size(), mark_) != 0) return false;
  line->erase(0, mark_.size());
  return true;
}

bool BannerFilter::MayBeMarked() const {
  if (mark_.empty()) return false;
  size_t n = std::min(partial_.size(), mark_.size());
  return partial_.compare(0, n, mark_, 0, n) == 0;
}

std::string BannerFilter::Feed(std::string_view data) {
  std::string out;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      partial_.append(data);
      // Outside a box a partial line goes out at once, unless it may become
      // a rule or a shim's report (whose mark comes off whole).
      if (!in_box_ && partial_.find_first_not_of('-') != std::string::npos && !MayBeMarked()) {
        out.append(partial_);
        partial_.clear();
      }
      return out;
    }
    std::string line = partial_;
    line.append(data.substr(0, nl + 1));
    partial_.clear();
    data.remove_prefix(nl + 1);
    if (TakeMark(&line)) rank_reported_ = true;
    std::string_view body(line.data(), line.size() - 1);
    if (!in_box_) {
      if (IsNoiseLine(body)) continue;
      if (IsRule(body)) {
        in_box_ = true;
        box_ = line;
        box_lines_ = 1;
      } else {
        out.append(line);
      }
      continue;
    }
    box_.append(line);
    ++box_lines_;
    if (IsRule(body)) {
      std::string dead = DeadProcessLine(box_);
      if (!dead.empty()) {
        if (!rank_reported_) out.append(dead);
      } else if (!IsRepeat(box_)) {
        out.append(box_);
      }
      box_.clear();
      in_box_ = false;
      box_lines_ = 0;
    } else if (box_lines_ > kMaxBoxLines) {
      out.append(box_);
      box_.clear();
      in_box_ = false;
      box_lines_ = 0;
    }
  }
  return out;
}

std::string BannerFilter::Flush() {
  std::string out = box_;
  if (TakeMark(&partial_)) rank_reported_ = true;
  out.append(partial_);
  box_.clear();
  partial_.clear();
  in_box_ = false;
  box_lines_ = 0;
  return out;
}

}  // namespace stdmpi
