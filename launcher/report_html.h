// --report FILE: one self-contained HTML page of where a job's time went
// (job_profile.h): the summary table, each rank's timeline (computing or
// waiting in MPI), time per verb, the bytes each rank sent each other rank,
// and the most imbalanced collectives.
//
// Self-contained: inline CSS and SVG, no script, no font, no address of any
// network; a cluster's login node often has no browser and the page is
// copied to a laptop. Bounded: the timeline has a fixed number of buckets
// per row and at most kMaxRows rows (ranks beyond that are grouped), the
// matrix at most kMaxCells a side, so a job of thousands of ranks and
// millions of requests still gives a page of a few hundred KiB. Every text
// that came from the user's program or command line is HTML-escaped.
//
// Pure logic.
#ifndef STDMPI_LAUNCHER_REPORT_HTML_H_
#define STDMPI_LAUNCHER_REPORT_HTML_H_

#include <string>
#include <string_view>

#include "job_profile.h"

namespace stdmpi {

struct ReportInfo {
  std::string command;  // the job's command line, as the user would type it
  std::string started;  // when, in local time ("2026-11-30 14:05:09")
  int expected = 0;     // the job's ranks (0: those that left a part)
};

// `s` with & < > " ' escaped, control characters (but LF and TAB) as U+FFFD.
std::string HtmlEscape(std::string_view s);

std::string RenderReportHtml(const JobProfile& p, const ReportInfo& info);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_REPORT_HTML_H_
