// --summary, --profile and --report: what a rank learns of its requests and
// of its program while it runs, written once at its end as the last line of
// its trace part (trace.h): a metadata event
//
//   {"name":"stdmpi_summary","ph":"M","pid":R,"tid":R,"args":{...}}
//
// that trace viewers ignore and stdmpirun reads (launcher/job_profile.h).
// Counted here, per rank and without a cap, so the totals stay exact where
// the trace stops at kMaxTraceEvents: requests, the bytes of data they moved,
// the time spent from each request to its reply, per verb, and the bytes
// sent to each peer (the job's message matrix).
//
// Pure logic: the shim hands in each request before it starts and its reply
// when it ends, and the program's facts (rusage, wait status) at the end.
#ifndef STDMPI_LIBSHIM_RANK_SUMMARY_H_
#define STDMPI_LIBSHIM_RANK_SUMMARY_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "request.h"

namespace stdmpi {

// The bytes of data a request hands to MPI: its TEXT (send, isend, sendrecv;
// bcast on the root), its raw bytes (sendb, isendb, sendrecvb, the byte
// collectives, bcastb on the root), 8 bytes a number (16 for minloc/maxloc)
// of the numeric verbs. 0 for the verbs that move no data of the program's.
// `root`: this rank is the request's ROOT (only bcast's TEXT depends on it).
int64_t SentBytes(const Request& req, bool root);

// True for the verbs that send to one peer (send, sendb, isend, isendb,
// sendrecv, sendrecvb): the message matrix counts them.
bool SendsToPeer(Verb v);

// The bytes of data a reply brought the program: the TEXT of recv, sendrecv,
// bcast and the wait of an irecv (`bytes_reply`: false), the N bytes of a
// `N` LF header (recvb, bcastb, sendrecvb, scatterb, the wait of an irecvb:
// `bytes_reply` true for wait), the sum of a sizes header (gatherb,
// allgatherb, alltoallb), 8 a number of the numeric verbs; 0 for `ok`,
// `@error` and what carries no message.
int64_t ReceivedBytes(Verb verb, bool msgpack, bool bytes_reply, std::string_view reply);

struct VerbStats {
  int64_t count = 0;
  double total = 0, max = 0;  // seconds from request to reply
};

// What the shim knows of its program at the end.
struct ProgramFacts {
  std::string host;
  bool started = false;
  double start = -1, end = -1;  // seconds from the job's start (-1: unknown)
  // The rank's MPI_Init, seconds from the job's start: the program starts
  // meanwhile, and a request it makes before MPI is up waits for it.
  double init_begin = -1, init_end = -1;
  double user = 0, sys = 0;  // CPU seconds of the program and what it started
  int64_t max_rss_kb = 0;    // the largest resident set among them
  bool exited = false;       // its wait status is known
  int wait_status = 0;       // as waitpid gives it
  bool stopped = false;      // the job ended it (another rank failed, a signal)
};

class RankStats {
 public:
  // A request about to start. `root`: this rank is its ROOT; `to`: the world
  // rank a point-to-point send goes to (-1 otherwise); `site_key`: for a
  // collective, the key its communicator's members know it by (-1 otherwise).
  void Begin(const Request& req, bool root, int to, int64_t site_key);
  // A collective whose request failed here but still takes part (errors
  // return): it counts as its communicator's next collective.
  void BeginFailedCollective(Verb verb, int64_t site_key);
  // The request begun last ended after `seconds`, with `reply` if `ok`.
  void End(double seconds, bool ok, std::string_view reply);
  // The trace event's extra members for the request ended last: a
  // collective's site `"site":"KEY:N"` (the N-th collective of the
  // communicator known by KEY); "" otherwise.
  const std::string& extra_args() const { return extra_; }

  int64_t requests() const { return requests_; }
  int64_t sent() const { return sent_; }
  int64_t received() const { return received_; }
  double mpi_seconds() const { return mpi_; }
  const VerbStats& verb(Verb v) const { return verbs_[static_cast<size_t>(v)]; }

  // The summary line (without LF) of rank `rank`; `pending`: the seconds
  // the request begun last has waited so far, counted in as if it had ended
  // (-1: none is pending).
  std::string SummaryEvent(int rank, const ProgramFacts& p, double pending = -1) const;

 private:
  static constexpr size_t kVerbs = static_cast<size_t>(Verb::kTaskInfo) + 1;
  Verb verb_ = Verb::kRank;
  bool msgpack_ = false;
  bool irecvb_wait_ = false;  // the pending wait is for an irecvb
  int64_t pending_sent_ = 0;
  int pending_to_ = -1;
  std::string extra_;
  int64_t requests_ = 0, sent_ = 0, received_ = 0;
  double mpi_ = 0;
  VerbStats verbs_[kVerbs];
  std::map<int, int64_t> sent_to_;          // by world rank: bytes sent it point to point
  std::map<int64_t, int64_t> collectives_;  // by communicator key: collectives entered
  std::set<int64_t> irecvb_ids_;            // irecvb requests not yet waited for
};

// A running program's usage, from /proc (its process tree is walked by the
// shim): user and system seconds of a process and of its children it reaped,
// from /proc/PID/stat at `hz` ticks a second (false if malformed), and the
// peak resident set in KiB from /proc/PID/status (VmHWM; 0 if absent).
bool ParseProcStat(std::string_view stat, double hz, double* user, double* sys);
int64_t ParseVmHwm(std::string_view status);

// "exit 3", "signal 9", "not started", "stopped" (the job ended it first):
// what became of the program, for the summary.
std::string DescribeProgramEnd(const ProgramFacts& p);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_RANK_SUMMARY_H_
