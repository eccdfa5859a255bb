#include "rank_summary.h"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>

#include "reply.h"
#include "spawn.h"
#include "trace.h"

namespace stdmpi {

namespace {

bool IsNumeric(Verb v) {
  switch (v) {
    case Verb::kReduce:
    case Verb::kAllreduce:
    case Verb::kScan:
    case Verb::kExscan:
    case Verb::kGather:
    case Verb::kAllgather:
    case Verb::kScatter:
      return true;
    default:
      return false;
  }
}

// The number a reply's first line starts with ("N" LF ...), or 0.
int64_t LeadingCount(std::string_view reply) {
  int64_t n = 0;
  for (char c : reply) {
    if (c < '0' || c > '9') break;
    n = n * 10 + (c - '0');
    if (n > (int64_t{1} << 50)) break;
  }
  return n;
}

// The sum of the numbers on a reply's first line ("N0 N1 ..." LF ...).
int64_t SumOfFirstLine(std::string_view reply) {
  int64_t sum = 0;
  size_t i = 0;
  while (i < reply.size() && reply[i] != '\n') {
    if (reply[i] == ' ') {
      ++i;
      continue;
    }
    sum += LeadingCount(reply.substr(i));
    while (i < reply.size() && reply[i] != ' ' && reply[i] != '\n') ++i;
  }
  return sum;
}

// The words on a reply's first line (the numbers of a numeric reply).
int64_t WordsOfFirstLine(std::string_view reply) {
  int64_t words = 0;
  bool in_word = false;
  for (char c : reply) {
    if (c == '\n') break;
    const bool space = c == ' ';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

std::string Fixed(double v) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.6f", v);
  return buf;
}

}  // namespace

bool SendsToPeer(Verb v) {
  return v == Verb::kSend || v == Verb::kSendb || v == Verb::kIsend || v == Verb::kIsendb ||
         v == Verb::kSendrecv || v == Verb::kSendrecvb;
}

int64_t SentBytes(const Request& req, bool root) {
  switch (req.verb) {
    case Verb::kSend:
    case Verb::kIsend:
    case Verb::kSendrecv:
      return static_cast<int64_t>(req.text.size());
    case Verb::kBcast:
      return root ? static_cast<int64_t>(req.text.size()) : 0;
    case Verb::kSendb:
    case Verb::kIsendb:
    case Verb::kSendrecvb:
    case Verb::kBcastb:
    case Verb::kGatherb:
    case Verb::kAllgatherb:
    case Verb::kScatterb:
    case Verb::kAlltoallb:
      return req.payload_bytes + req.shm_bytes;
    default:
      break;
  }
  if (!IsNumeric(req.verb)) return 0;
  return static_cast<int64_t>(req.count() * NumberBytes(req.op));
}

int64_t ReceivedBytes(Verb verb, bool msgpack, bool bytes_reply, std::string_view reply) {
  if (reply.empty() || reply == "ok\n" || reply.substr(0, 6) == "@error") return 0;
  switch (verb) {
    case Verb::kRecv:
    case Verb::kSendrecv:
    case Verb::kBcast:
      return static_cast<int64_t>(reply.size()) - 1;
    case Verb::kWait:
      return bytes_reply ? LeadingCount(reply) : static_cast<int64_t>(reply.size()) - 1;
    case Verb::kRecvb:
    case Verb::kBcastb:
    case Verb::kSendrecvb:
    case Verb::kScatterb:
      return LeadingCount(reply);
    case Verb::kGatherb:
    case Verb::kAllgatherb:
    case Verb::kAlltoallb:
      return SumOfFirstLine(reply);
    default:
      break;
  }
  if (!IsNumeric(verb)) return 0;
  // `N` LF and the bytes (:msgpack), or `N` alone (:shm): N bytes.
  const size_t nl = reply.find('\n');
  if (msgpack || (nl != std::string_view::npos && nl + 1 < reply.size())) {
    return LeadingCount(reply);
  }
  return WordsOfFirstLine(reply) * 8;
}

void RankStats::Begin(const Request& req, bool root, int to, int64_t site_key) {
  verb_ = req.verb;
  msgpack_ = req.msgpack;
  irecvb_wait_ = false;
  if (req.verb == Verb::kWait && !req.ids.empty()) {
    irecvb_wait_ = irecvb_ids_.erase(req.ids.front()) > 0;
  }
  pending_sent_ = SentBytes(req, root);
  pending_to_ = SendsToPeer(req.verb) ? to : -1;
  extra_.clear();
  if (site_key >= 0 && IsCollective(req.verb)) {
    extra_ = "\"site\":\"" + std::to_string(site_key) + ":" +
             std::to_string(++collectives_[site_key]) + "\"";
  }
}

void RankStats::BeginFailedCollective(Verb verb, int64_t site_key) {
  Request r;
  r.verb = verb;
  Begin(r, false, -1, site_key);
}

void RankStats::End(double seconds, bool ok, std::string_view reply) {
  ++requests_;
  mpi_ += seconds;
  VerbStats& v = verbs_[static_cast<size_t>(verb_)];
  ++v.count;
  v.total += seconds;
  if (seconds > v.max) v.max = seconds;
  if (!ok) return;
  // A shm reply's bytes went to the region; its line is all the pipe had.
  sent_ += pending_sent_;
  if (pending_to_ >= 0 && pending_sent_ > 0) sent_to_[pending_to_] += pending_sent_;
  received_ += ReceivedBytes(verb_, msgpack_, irecvb_wait_, reply);
  // irecvb answers with its id: its wait brings `N` LF and the bytes.
  if (verb_ == Verb::kIrecvb && irecvb_ids_.size() < 65536) {
    irecvb_ids_.insert(LeadingCount(reply));
  }
}

std::string RankStats::SummaryEvent(int rank, const ProgramFacts& p, double pending) const {
  const std::string r = std::to_string(rank);
  const bool waiting = pending >= 0;
  const double mpi = mpi_ + (waiting ? pending : 0);
  std::string a =
      "\"host\":" + JsonString(p.host) + ",\"start\":" + Fixed(p.start) +
      ",\"end\":" + Fixed(p.end) + ",\"init_begin\":" + Fixed(p.init_begin) +
      ",\"init_end\":" + Fixed(p.init_end) + ",\"user\":" + Fixed(p.user) +
      ",\"sys\":" + Fixed(p.sys) + ",\"max_rss_kb\":" + std::to_string(p.max_rss_kb) +
      ",\"requests\":" + std::to_string(requests_ + (waiting ? 1 : 0)) +
      ",\"sent\":" + std::to_string(sent_) + ",\"received\":" + std::to_string(received_) +
      ",\"mpi\":" + Fixed(mpi) + ",\"status\":" + JsonString(DescribeProgramEnd(p)) +
      ",\"code\":" + std::to_string(p.exited && !p.stopped ? JobStatusOf(p.wait_status) : -1);
  std::string verbs;
  for (size_t i = 0; i < kVerbs; ++i) {
    VerbStats v = verbs_[i];
    if (waiting && i == static_cast<size_t>(verb_)) {
      ++v.count;
      v.total += pending;
      v.max = std::max(v.max, pending);
    }
    if (v.count == 0) continue;
    verbs += std::string(verbs.empty() ? "" : ",") + "\"" + VerbName(static_cast<Verb>(i)) +
             "\":{\"n\":" + std::to_string(v.count) + ",\"t\":" + Fixed(v.total) +
             ",\"max\":" + Fixed(v.max) + "}";
  }
  std::string to;
  for (const auto& [peer, bytes] : sent_to_) {
    to += std::string(to.empty() ? "" : ",") + "\"" + std::to_string(peer) +
          "\":" + std::to_string(bytes);
  }
  return "{\"name\":\"stdmpi_summary\",\"ph\":\"M\",\"pid\":" + r + ",\"tid\":" + r +
         ",\"args\":{" + a + ",\"verbs\":{" + verbs + "},\"sent_to\":{" + to + "}}}";
}

bool ParseProcStat(std::string_view stat, double hz, double* user, double* sys) {
  // "PID (COMM) STATE PPID ...": COMM may hold anything, up to the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos || hz <= 0) return false;
  // After it: fields 3 (state) on; utime, stime, cutime, cstime are 14-17.
  std::string_view rest = stat.substr(close + 1);
  double ticks[4] = {0, 0, 0, 0};
  for (int field = 3; field <= 17; ++field) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const size_t end = rest.find(' ');
    const std::string_view word = rest.substr(0, end);
    if (word.empty()) return false;
    if (field >= 14) ticks[field - 14] = static_cast<double>(LeadingCount(word));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  *user = (ticks[0] + ticks[2]) / hz;
  *sys = (ticks[1] + ticks[3]) / hz;
  return true;
}

int64_t ParseVmHwm(std::string_view status) {
  const size_t at = status.find("\nVmHWM:");
  if (at == std::string_view::npos) return 0;
  std::string_view v = status.substr(at + 7);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  return LeadingCount(v);
}

std::string DescribeProgramEnd(const ProgramFacts& p) {
  if (!p.started) return "not started";
  if (p.stopped) return "stopped";
  if (!p.exited) return "unknown";
  if (WIFEXITED(p.wait_status)) return "exit " + std::to_string(WEXITSTATUS(p.wait_status));
  if (WIFSIGNALED(p.wait_status)) return "signal " + std::to_string(WTERMSIG(p.wait_status));
  return "unknown";
}

}  // namespace stdmpi
