#include "job_report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>

#include "clock.h"
#include "fsutil.h"
#include "job_profile.h"
#include "launch_options.h"
#include "report_html.h"
#include "trace_merge.h"

namespace stdmpi {

namespace {

// Buckets of each rank's timeline: a page of 64 ranks stays small, and on a
// screen 1000 pixels wide each is less than two pixels.
constexpr int kBuckets = 600;

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The job's command line, as the user would type it.
std::string JobCommand(const LaunchOptions& o) {
  std::string s = "stdmpirun";
  for (size_t i = 0; i < o.apps.size(); ++i) {
    const AppContext& a = o.apps[i];
    if (i > 0) s += " :";
    if (a.np > 0) s += " -n " + std::to_string(a.np);
    if (a.native) s += " --native";
    s += " " + ShellQuote(a.command);
  }
  return s;
}

std::string LocalTime(double epoch) {
  const time_t t = static_cast<time_t>(epoch);
  tm local{};
  char buf[64] = "";
  if (localtime_r(&t, &local) != nullptr)
    std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

// Writes `text` as `file`, created anew: into a new file next to it
// (O_EXCL, never through a link), renamed over it, so that a link a program
// put at that name is replaced, not followed, and no reader sees half a page.
bool WriteNewFile(const std::string& file, const std::string& text, std::string* err) {
  const std::string tmp = file + ".stdmpi-" + std::to_string(getpid()) + ".tmp";
  unlink(tmp.c_str());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && WriteFully(fd, text.data(), text.size());
  if (fd >= 0 && close(fd) != 0) ok = false;
  if (ok && rename(tmp.c_str(), file.c_str()) != 0) ok = false;
  if (!ok) {
    *err = "--report: cannot write " + file + ": " + std::strerror(errno);
    unlink(tmp.c_str());
  }
  return ok;
}

}  // namespace

bool WantsJobProfile(const LaunchOptions& o) {
  return o.summary || o.profile || !o.report_file.empty();
}

bool PrepareJobProfile(LaunchOptions* o, bool local, std::string* err) {
  if (!WantsJobProfile(*o)) return true;
  if (!o->report_file.empty()) {
    const std::string dir = DirOf(o->report_file);
    if (access(dir.c_str(), W_OK) != 0) {
      *err = "--report " + o->report_file + ": cannot write in " + dir + ": " + strerror(errno);
      return false;
    }
  }
  ShimOptions& s = o->shim;
  if (!s.trace.empty()) {
    s.rank_summary = s.trace;  // --trace FILE: its parts, its start
    return true;
  }
  const char* tmp = getenv("TMPDIR");
  char cwd[PATH_MAX];
  std::string base = tmp != nullptr && *tmp == '/' ? tmp : "/tmp";
  if (!local && getcwd(cwd, sizeof(cwd)) != nullptr && access(cwd, W_OK) == 0) base = cwd;
  std::string dir = base + (local ? "/stdmpirun-profile-XXXXXX" : "/.stdmpirun-profile-XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) {
    *err = "--summary, --profile, --report: cannot create a directory in " + base + ": " +
           strerror(errno) + " (set TMPDIR to a writable directory)";
    return false;
  }
  s.trace_t0 = RealSeconds();
  s.rank_summary = dir + "/part";
  if (o->profile || !o->report_file.empty()) s.trace = s.rank_summary;
  return true;
}

bool FinishJobProfile(const LaunchOptions& o, int total_ranks) {
  if (!WantsJobProfile(o) || o.shim.rank_summary.empty()) return true;
  JobProfileBuilder builder(RealSeconds() - o.shim.trace_t0, kBuckets);
  TraceMerge read;
  // With --trace its merge reads the parts next, and removes them.
  const bool private_dir = o.trace_file.empty();
  ReadTraceParts(
      o.shim.rank_summary, total_ranks, private_dir,
      [&builder](int rank, std::string_view line) { builder.Feed(rank, line); }, &read);
  if (private_dir) rmdir(DirOf(o.shim.rank_summary).c_str());
  const JobProfile p = builder.Finish(10);
  std::string text;
  if (o.summary) text += FormatSummary(p, total_ranks);
  if (o.profile) text += (text.empty() ? "" : "\n") + FormatProfile(p, total_ranks);
  std::fputs(text.c_str(), stderr);
  if (o.report_file.empty()) return true;
  ReportInfo info;
  info.command = JobCommand(o);
  info.started = LocalTime(o.shim.trace_t0);
  info.expected = total_ranks;
  std::string err;
  if (!WriteNewFile(o.report_file, RenderReportHtml(p, info), &err)) {
    std::fprintf(stderr, "stdmpirun: %s\n", err.c_str());
    return false;
  }
  if (!o.shim.quiet) {
    std::fprintf(stderr, "stdmpirun: report of %zu rank(s) in %s (open it in any browser)\n",
                 p.ranks.size(), o.report_file.c_str());
  }
  return true;
}

}  // namespace stdmpi
