// How stdmpirun tells a shim's report that ends the job from output that only
// looks like one.
//
// When a shim ends the job it says why ("stdmpi: rank 1 (python3 x.py): ...")
// and the launcher's teardown lines that follow are repeats, which stdmpirun
// drops (launcher/banner_filter.h). A program's own line that starts the same
// way, or a shim's warning, must not count as such a report: that would drop
// the one line that says a rank was killed. So stdmpirun makes a random mark
// for each job and gives it to the shims (STDMPI_REPORT_MARK, never passed on
// to a program); a shim puts it before its report, and stdmpirun takes it off
// again before the line is shown.
#ifndef STDMPI_LIBSHIM_REPORT_MARK_H_
#define STDMPI_LIBSHIM_REPORT_MARK_H_

#include <string>
#include <string_view>

namespace stdmpi {

inline constexpr char kReportMarkVariable[] = "STDMPI_REPORT_MARK";

// A new mark: "[stdmpi-report " + 16 random hex digits + "] ".
std::string NewReportMark();

// True if `mark` has NewReportMark's shape (what a shim accepts).
bool IsReportMark(std::string_view mark);

// The shim's side: the mark from the environment, which it then leaves (so no
// program started later sees it); "" if there is none or it is malformed.
std::string TakeReportMark();

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_REPORT_MARK_H_
