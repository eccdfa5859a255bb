// Drops Open MPI's boxed messages that only repeat what a shim already said.
//
// When a rank ends the job, its shim prints one message naming the rank and the
// reason, then calls MPI_Abort; mpirun follows with a 10-line box ("MPI_ABORT
// was invoked on rank 1 ... You may or may not see output from other
// processes"). mpirun's -q would hide that box, but it hides real launch errors
// too (e.g. "not enough slots" becomes a silent exit 1). So stdmpirun relays
// mpirun's stderr through this filter, which holds back the lines between two
// dashed rules and drops the box if it is one of the known repeats, and drops
// one known line of teardown noise. Under srun, once a shim has reported why it
// ends the job, srun's and slurmstepd's lines that only say the step was ended
// (task N: Exited with exit code 3 / Killed, STEP CANCELLED) are dropped too.
// A shim's report is known by the job's report mark (libshim/report_mark.h),
// which the filter takes off: a line that only looks like one (a program's, a
// shim's warning) passes and silences nothing.
// mpirun's box about a rank's process that died of a signal (a killed shim)
// becomes one line that names the rank. Everything else passes through
// unchanged and in order.
#ifndef STDMPI_LAUNCHER_BANNER_FILTER_H_
#define STDMPI_LAUNCHER_BANNER_FILTER_H_

#include <string>
#include <string_view>

namespace stdmpi {

class BannerFilter {
 public:
  // Feeds bytes; returns what may be written now.
  std::string Feed(std::string_view data);
  // End of input, or a box held too long: returns everything held back.
  std::string Flush();
  // True while lines are held back: a box, or the start of a line that may
  // become a rule or a marked report. What is held too long is not one of
  // those: call Flush.
  bool holding() const { return in_box_ || !partial_.empty(); }
  // The job is being ended on purpose (stdmpirun got SIGINT or SIGTERM and
  // said so): the launcher's teardown lines are repeats from now on.
  void JobEnding() { rank_reported_ = true; }
  // The mark before a shim's report (report_mark.h); "" (the default): no
  // line counts as one.
  void SetReportMark(std::string mark) { mark_ = std::move(mark); }
  // A shim's report has passed (marked, or JobEnding was called).
  bool reported() const { return rank_reported_; }

 private:
  static bool IsRule(std::string_view line);
  static bool IsRepeat(std::string_view box);
  // Open MPI's box about a rank's process killed by a signal, as one line of
  // ours; "" for any other box.
  static std::string DeadProcessLine(std::string_view box);
  bool IsNoiseLine(std::string_view line);
  // Takes the report mark off the start of `line`; true if it was there.
  bool TakeMark(std::string* line);
  // True while `partial_` may still become a line that starts with the mark.
  bool MayBeMarked() const;

  std::string partial_;  // a line without its LF yet
  std::string box_;      // lines of an open box, rules included
  bool in_box_ = false;
  int box_lines_ = 0;
  bool drop_aggregate_hint_ = false;  // the line after a dropped aggregate count
  bool rank_reported_ = false;        // a shim has said why it ends the job
  std::string mark_;
};

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_BANNER_FILTER_H_
