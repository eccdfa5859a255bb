// --summary, --profile, --report: where a job's time went, from what its
// ranks wrote (libshim/rank_summary.h, libshim/trace.h).
//
// stdmpirun feeds the lines of every rank's part to a JobProfileBuilder, one
// part after the other, and aggregates as it reads: per rank its summary
// (exact totals, per verb, bytes to each peer), its timeline as a fixed
// number of buckets of time spent in MPI, and for every collective "site"
// (the k-th collective on a communicator, the same site on every member)
// when the first and the last rank arrived. Memory stays bounded by the
// buckets, the ranks and at most `max_sites` sites, however many events the
// parts hold. Then the text of --summary and --profile is formatted here;
// the page of --report in report_html.h.
//
// Pure logic: no files (main.cc and trace_merge.h read the parts).
#ifndef STDMPI_LAUNCHER_JOB_PROFILE_H_
#define STDMPI_LAUNCHER_JOB_PROFILE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

struct VerbTime {
  int64_t count = 0;
  double total = 0, max = 0;  // seconds
  double mean() const { return count > 0 ? total / static_cast<double>(count) : 0; }
};

struct RankProfile {
  int rank = 0;
  bool has_summary = false;  // its summary line was read
  std::string command;       // from its process_name event
  // From the summary (rank_summary.h).
  std::string host, status;               // status: "exit 0", "signal 9", "stopped", ...
  int code = -1;                          // the program's job status (-1: none)
  double start = -1, end = -1;            // the program's run, seconds from the job's start
  double init_begin = -1, init_end = -1;  // the rank's MPI_Init, the same way
  double user = 0, sys = 0;               // CPU seconds
  int64_t max_rss_kb = 0, requests = 0, sent = 0, received = 0;
  double mpi = 0;                         // seconds from requests to replies
  std::map<std::string, VerbTime> verbs;  // by verb
  std::map<int, int64_t> sent_to;         // bytes sent point to point, by world rank
  // From the events: seconds in MPI per timeline bucket.
  std::vector<float> busy;
  int64_t events = 0;
  std::string note;  // "123 later requests not traced (limit ...)"

  double wall() const { return start >= 0 && end >= start ? end - start : 0; }
  double cpu() const { return user + sys; }
  double init() const {
    return init_begin >= 0 && init_end > init_begin ? init_end - init_begin : 0;
  }
};

// One collective site: the `index`-th collective on the communicator whose
// members know it by `key` (0: the world, 1: the program's ranks in a
// multi-program job, others: made by split or dup).
struct CollectiveSite {
  std::string verb;
  int64_t key = 0, index = 0;
  int ranks = 0;               // ranks whose event was read
  double first = 0, last = 0;  // arrival (the request's start), seconds from the job's start
  int first_rank = -1, last_rank = -1;
  double spread() const { return last - first; }
};

struct JobProfile {
  double duration = 0;  // the timeline's span, seconds from the job's start
  int buckets = 0;
  std::vector<RankProfile> ranks;          // by rank: those that left a part
  std::vector<CollectiveSite> imbalanced;  // the largest spreads, largest first
  int64_t sites = 0;                       // collective sites compared
  bool sites_capped = false;               // more collectives than max_sites
  int64_t bad_lines = 0;                   // lines of no shape the shims write

  // `rank`'s profile, or nullptr.
  const RankProfile* Find(int rank) const;
};

class JobProfileBuilder {
 public:
  // `duration`: seconds from the job's start to its end, cut into `buckets`
  // for the timelines; `max_sites`: the most collective sites kept.
  JobProfileBuilder(double duration, int buckets, int64_t max_sites = int64_t{1} << 20);

  // One line of rank `rank`'s part. False (and counted) if it is not one of
  // the shapes the shims write; it is then left out.
  bool Feed(int rank, std::string_view line);

  // The profile, with the `top` most imbalanced collectives.
  JobProfile Finish(size_t top = 10);

 private:
  struct Site {
    double first = 1e300, last = -1e300;
    int32_t first_rank = -1, last_rank = -1, ranks = 0;
    uint16_t verb = 0;
  };
  RankProfile& Rank(int rank);
  void AddBusy(RankProfile& r, double begin, double dur);
  void AddSite(int rank, std::string_view site, std::string_view verb, double ts);

  double duration_;
  int buckets_;
  int64_t max_sites_, site_count_ = 0;
  bool capped_ = false;
  int64_t bad_ = 0;
  std::map<int, RankProfile> ranks_;
  std::map<int64_t, std::deque<Site>> sites_;  // by communicator key, by index - 1
  std::vector<std::string> verbs_;             // Site::verb indexes it
};

// a + b, held at the int64 limits instead of overflowing (sums of counts
// read from parts).
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

// Every rank's time per verb added up; the verbs by total time, the largest
// first (the --profile table and the report's chart).
std::vector<std::pair<std::string, VerbTime>> VerbsByTotal(const JobProfile& p);

// --- formatting --------------------------------------------------------------

// "850 us", "12.3 ms", "1.23 s", "2m03s", "1h02m".
std::string FormatDuration(double seconds);
// "999 B" up to 9999 bytes, then "12.3 KiB", "4.0 MiB", "1.5 GiB".
std::string FormatBytesShort(int64_t bytes);
// The median of `v` (0 if empty).
double Median(std::vector<double> v);
// "the world", "the program's ranks", "a split/dup communicator (key 5)".
std::string DescribeCommKey(int64_t key);

// --summary: a table, a row per rank of `expected` (0..n-1; ranks without a
// summary say so), then total and median rows; lines end in LF.
std::string FormatSummary(const JobProfile& p, int expected);
// --profile: MPI against computing per rank, time per verb and rank, the
// most imbalanced collectives.
std::string FormatProfile(const JobProfile& p, int expected);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_JOB_PROFILE_H_
