// --summary, --profile and --report around the job: where the ranks write
// their parts before it, and what stdmpirun makes of them after it (the
// files; the logic is in job_profile.h and report_html.h).
#ifndef STDMPI_LAUNCHER_JOB_REPORT_H_
#define STDMPI_LAUNCHER_JOB_REPORT_H_

#include <string>

#include "option_table.h"

namespace stdmpi {

// True if --summary, --profile or --report was given.
bool WantsJobProfile(const LaunchOptions& o);

// Before the job, once BuildPlan said whether every rank runs on this
// machine (`local`): the ranks' parts. With --trace, its parts get the
// summaries too; else a private directory holds them: under $TMPDIR (or
// /tmp) when `local`, else in the working directory, which the ranks on the
// other hosts reach as well when it is shared, as a batch job's is. Sets
// opts->shim.rank_summary, and shim.trace for --profile and --report (their
// timelines and collectives come from the events), and the job's start.
// Checks that --report's directory exists. False with *err.
bool PrepareJobProfile(LaunchOptions* opts, bool local, std::string* err);

// After the job: reads the parts (and removes them and the private
// directory, unless --trace merges them next), prints --summary and
// --profile on stderr, writes --report. `total_ranks`: the job's ranks (0:
// unknown). Returns false if the report could not be written (said on
// stderr).
bool FinishJobProfile(const LaunchOptions& opts, int total_ranks);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_JOB_REPORT_H_
