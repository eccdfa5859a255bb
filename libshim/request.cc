#include "request.h"

#include <algorithm>
#include <array>

#include "msgpack_numbers.h"
#include "numbers.h"
#include "reply.h"

namespace stdmpi {

namespace {

struct VerbInfo {
  const char* name;
  Verb verb;
  bool numeric;       // takes the :i64 / :f64 suffix
  const char* usage;  // shown with argument errors
};

constexpr std::array<VerbInfo, 41> kVerbs = {{
    {"rank", Verb::kRank, false, "@mpi rank"},
    {"size", Verb::kSize, false, "@mpi size"},
    {"wtime", Verb::kWtime, false, "@mpi wtime"},
    {"barrier", Verb::kBarrier, false, "@mpi barrier"},
    {"send", Verb::kSend, false, "@mpi send DEST TAG TEXT"},
    {"recv", Verb::kRecv, false, "@mpi recv SRC TAG"},
    {"sendrecv", Verb::kSendrecv, false, "@mpi sendrecv DEST SENDTAG SRC RECVTAG TEXT"},
    {"status", Verb::kStatus, false, "@mpi status"},
    {"probe", Verb::kProbe, false, "@mpi probe SRC TAG"},
    {"iprobe", Verb::kIprobe, false, "@mpi iprobe SRC TAG"},
    {"bcast", Verb::kBcast, false, "@mpi bcast ROOT [TEXT]"},
    {"reduce", Verb::kReduce, true, "@mpi reduce OP ROOT X ..."},
    {"allreduce", Verb::kAllreduce, true, "@mpi allreduce OP X ..."},
    {"scan", Verb::kScan, true, "@mpi scan OP X ..."},
    {"exscan", Verb::kExscan, true, "@mpi exscan OP X ..."},
    {"gather", Verb::kGather, true, "@mpi gather ROOT X ..."},
    {"allgather", Verb::kAllgather, true, "@mpi allgather X ..."},
    {"scatter", Verb::kScatter, true, "@mpi scatter ROOT [X ...]"},
    {"sendb", Verb::kSendb, false, "@mpi sendb DEST TAG N, then N raw bytes"},
    {"recvb", Verb::kRecvb, false, "@mpi recvb SRC TAG"},
    {"bcastb", Verb::kBcastb, false, "@mpi bcastb ROOT [N], then N raw bytes on the root"},
    {"errors", Verb::kErrors, false, "@mpi errors return|fatal"},
    {"abort", Verb::kAbort, false, "@mpi abort CODE [TEXT]"},
    {"gatherb", Verb::kGatherb, false, "@mpi gatherb ROOT N, then N raw bytes"},
    {"allgatherb", Verb::kAllgatherb, false, "@mpi allgatherb N, then N raw bytes"},
    {"scatterb", Verb::kScatterb, false,
     "@mpi scatterb ROOT N0 N1 ... (one count a rank, then their sum of raw bytes) on the "
     "root, @mpi scatterb ROOT elsewhere"},
    {"alltoallb", Verb::kAlltoallb, false,
     "@mpi alltoallb N0 N1 ... (one count a rank), then their sum of raw bytes"},
    {"sendrecvb", Verb::kSendrecvb, false,
     "@mpi sendrecvb DEST SENDTAG SRC RECVTAG N, then N raw bytes"},
    {"isend", Verb::kIsend, false, "@mpi isend DEST TAG TEXT"},
    {"isendb", Verb::kIsendb, false, "@mpi isendb DEST TAG N, then N raw bytes"},
    {"irecv", Verb::kIrecv, false, "@mpi irecv SRC TAG"},
    {"irecvb", Verb::kIrecvb, false, "@mpi irecvb SRC TAG"},
    {"wait", Verb::kWait, false, "@mpi wait ID"},
    {"test", Verb::kTest, false, "@mpi test ID"},
    {"waitany", Verb::kWaitany, false, "@mpi waitany ID [ID ...]"},
    {"waitall", Verb::kWaitall, false, "@mpi waitall ID [ID ...]"},
    {"split", Verb::kSplit, false, "@mpi split COLOR KEY (COLOR: a number >= 0, or none)"},
    {"dup", Verb::kDup, false, "@mpi dup"},
    {"free", Verb::kFree, false, "@mpi free ID"},
    {"task", Verb::kTask, false, "@mpi task, or @mpi task fail REASON"},
    {"taskinfo", Verb::kTaskInfo, false, "@mpi taskinfo"},
}};
static_assert(static_cast<size_t>(Verb::kTaskInfo) + 1 == kVerbs.size(),
              "kVerbs follows enum Verb");

const VerbInfo& InfoOf(Verb v) {
  return kVerbs[static_cast<size_t>(v)];
}

struct OpInfo {
  const char* name;
  Op op;
};

constexpr std::array<OpInfo, 12> kOps = {{
    {"sum", Op::kSum},
    {"prod", Op::kProd},
    {"min", Op::kMin},
    {"max", Op::kMax},
    {"land", Op::kLand},
    {"lor", Op::kLor},
    {"lxor", Op::kLxor},
    {"band", Op::kBand},
    {"bor", Op::kBor},
    {"bxor", Op::kBxor},
    {"minloc", Op::kMinloc},
    {"maxloc", Op::kMaxloc},
}};

// Walks the space-separated arguments of a request. Fields are separated by
// single spaces; TEXT is whatever follows the space after the last argument.
class Cursor {
 public:
  explicit Cursor(std::string_view rest, bool has_rest) : rest_(rest), has_rest_(has_rest) {}

  // Takes the next field. Returns false if the line has no more fields.
  bool Next(std::string_view* field) {
    if (!has_rest_) return false;
    size_t sp = rest_.find(' ');
    if (sp == std::string_view::npos) {
      *field = rest_;
      rest_ = {};
      has_rest_ = false;
    } else {
      *field = rest_.substr(0, sp);
      rest_ = rest_.substr(sp + 1);
    }
    return true;
  }

  // Everything after the last field taken (TEXT). `present` is false when the
  // line ended right after that field (no separating space).
  std::string_view Text(bool* present) const {
    *present = has_rest_;
    return rest_;
  }

  // For verbs without TEXT: true if nothing but spaces remains.
  bool OnlySpacesLeft() const {
    return !has_rest_ || rest_.find_first_not_of(' ') == std::string_view::npos;
  }
  std::string_view Leftover() const {
    size_t i = rest_.find_first_not_of(' ');
    return i == std::string_view::npos ? std::string_view{} : rest_.substr(i);
  }

 private:
  std::string_view rest_;
  bool has_rest_;
};

std::string RankRange(int size) {
  if (size == 1) return "the only rank is 0";
  return "ranks are 0.." + std::to_string(size - 1);
}

class Parser {
 public:
  Parser(const ParseContext& ctx, Request* req, ParseResult* res, Cursor* cur, const VerbInfo& vi)
      : ctx_(ctx), req_(req), res_(res), cur_(cur), vi_(vi) {}

  bool Fail(std::string reason) {
    res_->error = std::move(reason);
    return false;
  }

  bool Missing(const char* what) {
    return Fail(std::string("missing ") + what + " (usage: " + vi_.usage + ")");
  }

  // A rank argument: 0..size-1, or `any` if allowed.
  bool Rank(const char* what, bool allow_any, int* out) {
    std::string_view f;
    if (!cur_->Next(&f)) return Missing(what);
    if (allow_any && f == "any") {
      *out = kAny;
      return true;
    }
    int64_t v;
    if (!ParseCount(f, INT32_MAX, &v)) {
      return Fail(std::string("bad ") + what + " " + QuoteForMessage(f, 40) + ": expected a rank" +
                  (allow_any ? " or any" : "") + " (" + RankRange(ctx_.size) + ")");
    }
    if (v >= ctx_.size) {
      return Fail(std::string(what) + " " + std::to_string(v) +
                  " out of range: " + RankRange(ctx_.size));
    }
    *out = static_cast<int>(v);
    return true;
  }

  bool Tag(const char* what, bool allow_any, int* out) {
    std::string_view f;
    if (!cur_->Next(&f)) return Missing(what);
    if (allow_any && f == "any") {
      *out = kAny;
      return true;
    }
    int64_t v;
    if (!ParseCount(f, kMaxTag, &v)) {
      return Fail(std::string("bad ") + what + " " + QuoteForMessage(f, 40) +
                  ": expected 0..32767" + (allow_any ? " or any" : ""));
    }
    *out = static_cast<int>(v);
    return true;
  }

  bool OpArg() {
    std::string_view f;
    if (!cur_->Next(&f)) return Missing("OP");
    for (const OpInfo& o : kOps) {
      if (f == o.name) {
        req_->op = o.op;
        bool bitwise = o.op == Op::kBand || o.op == Op::kBor || o.op == Op::kBxor;
        if (bitwise && req_->type != NumType::kI64) {
          return Fail(std::string("op ") + o.name + " works on integers only: use " + vi_.name +
                      ":i64");
        }
        return true;
      }
    }
    return Fail("unknown op " + QuoteForMessage(f, 40) +
                " (sum prod min max land lor lxor minloc maxloc; band bor bxor with :i64)");
  }

  bool Numbers() {
    if (req_->shm_numbers) return ShmCount();
    if (req_->msgpack) return MsgpackCount();
    bool present;
    std::string_view text = cur_->Text(&present);
    std::string err;
    bool ok = req_->type == NumType::kF64 ? ParseF64List(text, &req_->f64, &err)
                                          : ParseI64List(text, &req_->i64, &err);
    if (!ok) return Fail(err == "no numbers given" ? err + " (usage: " + vi_.usage + ")" : err);
    // Text numbers count as MPI carries them, as `:msgpack` ones do.
    std::string over = NumbersOverLimit(req_->count(), static_cast<uint64_t>(ctx_.max_payload),
                                        NumberBytes(req_->op));
    return over.empty() || Fail(over);
  }

  // `:msgpack`: the numbers' place holds N, the size of the msgpack value that
  // follows the line. N was already taken from the line's end (see Run).
  bool MsgpackCount() {
    int64_t n;
    if (!ByteCount(&n)) return false;
    return End() && PayloadWithinLimit(n);
  }

  // `:shm=OFF` on a reduction: the numbers' place holds N, the byte count of
  // the raw 8-byte numbers in the shared region.
  bool ShmCount() {
    if (req_->op == Op::kMinloc || req_->op == Op::kMaxloc) {
      return Fail(
          "minloc and maxloc take no :shm form (their reply pairs each value with a "
          "rank): use the text or :msgpack form");
    }
    for (int64_t off : {req_->shm_off, req_->shm_out}) {
      if (off % 8 != 0) {
        return Fail("offset " + std::to_string(off) +
                    " is not a multiple of 8 (the :shm form's numbers are 8-byte aligned)");
      }
    }
    int64_t n;
    if (!ByteCount(&n) || !End() || !PayloadWithinLimit(n)) return false;
    const int64_t in = req_->shm_off, out = req_->shm_out;
    if (in != out && in < out + n && out < in + n) {
      return Fail("the numbers at " + std::to_string(in) + " and the result at " +
                  std::to_string(out) + " overlap (" + std::to_string(n) +
                  " bytes each): give the same offset to reduce in place, or ranges apart");
    }
    if (n % 8 != 0) {
      return Fail("byte count " + std::to_string(n) +
                  " is no whole number of 8-byte numbers (the :shm form holds raw 8-byte "
                  "numbers)");
    }
    req_->shm_bytes = n;
    return true;
  }

  bool TextArg() {
    bool present;
    req_->text = cur_->Text(&present);
    return true;
  }

  // A text message obeys the message limit as a byte payload does (the
  // receiver refuses a larger one anyway: better to say so where it is sent).
  bool TextWithinLimit() {
    const int64_t size = static_cast<int64_t>(req_->text.size());
    if (size > ctx_.max_payload) {
      return Fail("message of " + std::to_string(size) + " bytes over the limit of " +
                  std::to_string(ctx_.max_payload) +
                  " bytes (raise it with stdmpirun --max-message, or send in pieces)");
    }
    return true;
  }

  bool ByteCount(int64_t* out) {
    std::string_view f;
    if (!cur_->Next(&f)) return Missing("N");
    int64_t v;
    if (!ParseCount(f, INT64_MAX / 2, &v)) {
      return Fail("bad byte count " + QuoteForMessage(f, 40) + ": expected a number of bytes >= 0");
    }
    *out = v;
    return true;
  }

  bool PayloadWithinLimit(int64_t n) {
    if (n > ctx_.max_payload) {
      return Fail("byte count " + std::to_string(n) + " over the limit of " +
                  std::to_string(ctx_.max_payload) +
                  " bytes (raise it with stdmpirun --max-message, or send in pieces)");
    }
    return true;
  }

  bool End() {
    if (cur_->OnlySpacesLeft()) return true;
    return Fail("unexpected argument " + QuoteForMessage(cur_->Leftover(), 40) +
                " (usage: " + vi_.usage + ")");
  }

  bool Run();

 private:
  // The verbs whose arguments need more than a chain of the steps above.
  bool Scatter();
  bool Sendb();
  bool Bcastb();
  bool RunNewer();
  bool Split();
  bool TaskArgs();
  bool Scatterb();
  bool Alltoallb();
  bool Ids(bool several);
  // Byte counts, one a rank: exactly `size` of them, into req.sizes.
  bool RankSizes();
  // Learns, before anything is checked, how many raw bytes follow the line,
  // so that even a bad request's bytes are skipped: the field `field` (from
  // 0), or with `sum_from` the sum of the fields from that one on.
  void PeekPayload(int field);
  void PeekPayloadSum(int sum_from);
  bool ErrorsMode();
  bool Abort();

  const ParseContext& ctx_;
  Request* req_;
  ParseResult* res_;
  Cursor* cur_;
  const VerbInfo& vi_;
};

bool Parser::Run() {
  Request& r = *req_;
  if (r.msgpack) {
    // Learn N first, from the line's last field: even a request with a bad
    // ROOT or OP is followed by N bytes, which the reader must skip.
    Cursor peek = *cur_;
    std::string_view f, last;
    while (peek.Next(&f)) last = f;
    int64_t n;
    if (ParseCount(last, INT64_MAX / 2, &n)) r.payload_bytes = n;
  }
  switch (r.verb) {
    case Verb::kRank:
    case Verb::kSize:
    case Verb::kWtime:
    case Verb::kBarrier:
    case Verb::kStatus:
      return End();
    case Verb::kSend:
      return Rank("DEST", false, &r.peer) && Tag("TAG", false, &r.tag) && TextArg() &&
             TextWithinLimit();
    case Verb::kRecv:
    case Verb::kProbe:
    case Verb::kIprobe:
    case Verb::kRecvb:
      return Rank("SRC", true, &r.peer) && Tag("TAG", true, &r.tag) && End();
    case Verb::kSendrecv:
      return Rank("DEST", false, &r.peer) && Tag("SENDTAG", false, &r.tag) &&
             Rank("SRC", true, &r.peer2) && Tag("RECVTAG", true, &r.tag2) && TextArg() &&
             TextWithinLimit();
    case Verb::kSendb:
      return Sendb();
    case Verb::kBcast:  // only the root's text is sent
      return Rank("ROOT", false, &r.peer) && TextArg() &&
             (r.peer != ctx_.rank || TextWithinLimit());
    case Verb::kBcastb:
      return Bcastb();
    case Verb::kReduce:
      return OpArg() && Rank("ROOT", false, &r.peer) && Numbers();
    case Verb::kAllreduce:
    case Verb::kScan:
    case Verb::kExscan:
      return OpArg() && Numbers();
    case Verb::kGather:
      return Rank("ROOT", false, &r.peer) && Numbers();
    case Verb::kScatter:
      return Scatter();
    case Verb::kAllgather:
      return Numbers();
    case Verb::kErrors:
      return ErrorsMode();
    case Verb::kAbort:
      return Abort();
    default:
      return RunNewer();
  }
  return Fail("internal error: unhandled verb");
}

// The verbs of the byte collectives and the non-blocking calls.
bool Parser::RunNewer() {
  Request& r = *req_;
  switch (r.verb) {
    case Verb::kGatherb:
      PeekPayload(1);
      return Rank("ROOT", false, &r.peer) && ByteCount(&r.payload_bytes) && End() &&
             PayloadWithinLimit(r.payload_bytes);
    case Verb::kAllgatherb:
      PeekPayload(0);
      return ByteCount(&r.payload_bytes) && End() && PayloadWithinLimit(r.payload_bytes);
    case Verb::kScatterb:
      return Scatterb();
    case Verb::kAlltoallb:
      return Alltoallb();
    case Verb::kSendrecvb:
      PeekPayload(4);
      return Rank("DEST", false, &r.peer) && Tag("SENDTAG", false, &r.tag) &&
             Rank("SRC", true, &r.peer2) && Tag("RECVTAG", true, &r.tag2) &&
             ByteCount(&r.payload_bytes) && End() && PayloadWithinLimit(r.payload_bytes);
    case Verb::kIsend:
      return Rank("DEST", false, &r.peer) && Tag("TAG", false, &r.tag) && TextArg() &&
             TextWithinLimit();
    case Verb::kIsendb:
      return Sendb();
    case Verb::kIrecv:
    case Verb::kIrecvb:
      return Rank("SRC", true, &r.peer) && Tag("TAG", true, &r.tag) && End();
    case Verb::kWait:
    case Verb::kTest:
      return Ids(false);
    case Verb::kWaitany:
    case Verb::kWaitall:
      return Ids(true);
    case Verb::kSplit:
      return Split();
    case Verb::kTask:
      return TaskArgs();
    case Verb::kTaskInfo:
      return End();
    case Verb::kDup:
      return End();
    case Verb::kFree: {
      std::string_view f;
      if (!cur_->Next(&f)) return Missing("ID");
      if (!ParseCount(f, INT64_MAX / 2, &r.comm)) {
        return Fail("bad communicator id " + QuoteForMessage(f, 40) +
                    ": expected a number that split or dup replied");
      }
      return End();
    }
    default:
      return Fail("internal error: unhandled verb");
  }
}

bool Parser::Scatter() {
  Request& r = *req_;
  if (!Rank("ROOT", false, &r.peer)) return false;
  // Non-roots' numbers are ignored (their msgpack value only picks the
  // reply's form).
  if (r.msgpack) return Numbers();
  if (r.peer != ctx_.rank) return true;
  if (!Numbers()) return false;
  size_t n = r.count();
  if (n % static_cast<size_t>(ctx_.size) != 0) {
    return Fail("scatter root gives " + std::to_string(n) + " numbers, not a multiple of the " +
                std::to_string(ctx_.size) + " ranks");
  }
  return true;
}

bool Parser::Sendb() {
  Request& r = *req_;
  // Learn N first: even a request with a bad DEST is followed by N raw
  // bytes, which the reader must skip to stay in step with the child.
  Cursor peek = *cur_;
  std::string_view f;
  int64_t n;
  if (peek.Next(&f) && peek.Next(&f) && peek.Next(&f) && ParseCount(f, INT64_MAX / 2, &n)) {
    r.payload_bytes = n;
  }
  if (!Rank("DEST", false, &r.peer) || !Tag("TAG", false, &r.tag) || !ByteCount(&n)) {
    return false;
  }
  return End() && PayloadWithinLimit(n);
}

bool Parser::Bcastb() {
  Request& r = *req_;
  if (!Rank("ROOT", false, &r.peer)) return false;
  bool root = r.peer == ctx_.rank;
  if (cur_->OnlySpacesLeft()) {
    if (root) return Missing("N (the root gives the byte count)");
    return true;
  }
  int64_t n;
  if (!ByteCount(&n)) return false;
  if (!root) return End();  // non-roots' N is ignored, and no bytes follow
  r.payload_bytes = n;
  return End() && PayloadWithinLimit(n);
}

void Parser::PeekPayload(int field) {
  Cursor peek = *cur_;
  std::string_view f, want;
  for (int i = 0; peek.Next(&f); ++i) {
    if (i == field) want = f;
  }
  int64_t n;
  if (ParseCount(want, INT64_MAX / 2, &n)) req_->payload_bytes = n;
}

void Parser::PeekPayloadSum(int sum_from) {
  Cursor peek = *cur_;
  std::string_view f;
  int64_t sum = 0;
  for (int i = 0; peek.Next(&f); ++i) {
    int64_t n;
    if (i < sum_from || f.empty()) continue;  // trailing spaces
    // A field that is no count, or a sum past any limit: no bytes can be
    // expected, as with a sendb whose N is bad.
    if (!ParseCount(f, INT64_MAX / 4, &n) || sum > INT64_MAX / 4) return;
    sum += n;
  }
  req_->payload_bytes = sum;
}

bool Parser::RankSizes() {
  Request& r = *req_;
  std::string_view f;
  int64_t total = 0;
  while (cur_->Next(&f)) {
    if (f.empty() && cur_->OnlySpacesLeft()) break;  // trailing spaces
    int64_t n;
    if (!ParseCount(f, INT64_MAX / 4, &n)) {
      return Fail("bad byte count " + QuoteForMessage(f, 40) +
                  ": expected a number of bytes >= 0 (usage: " + vi_.usage + ")");
    }
    if (static_cast<int>(r.sizes.size()) == ctx_.size) {
      return Fail("more byte counts than the " + std::to_string(ctx_.size) +
                  " ranks (usage: " + vi_.usage + ")");
    }
    r.sizes.push_back(n);
    total = std::min(total + n, INT64_MAX / 2);  // n <= INT64_MAX / 4: no overflow
  }
  if (total > ctx_.max_payload) return PayloadWithinLimit(total);
  if (static_cast<int>(r.sizes.size()) != ctx_.size) {
    return Fail(std::to_string(r.sizes.size()) + " byte count(s) for " + std::to_string(ctx_.size) +
                " ranks: give one a rank (usage: " + vi_.usage + ")");
  }
  return true;
}

bool Parser::Split() {
  Request& r = *req_;
  std::string_view f;
  int64_t v;
  if (!cur_->Next(&f)) return Missing("COLOR");
  if (f == "none") {
    r.color = kNoColor;
  } else if (ParseCount(f, INT32_MAX, &v)) {
    r.color = static_cast<int>(v);
  } else {
    return Fail("bad COLOR " + QuoteForMessage(f, 40) +
                ": expected a number from 0 to 2147483647, or none");
  }
  if (!cur_->Next(&f)) return Missing("KEY");
  const bool negative = !f.empty() && f[0] == '-';
  if (!ParseCount(negative ? f.substr(1) : f, INT32_MAX, &v)) {
    return Fail("bad KEY " + QuoteForMessage(f, 40) +
                ": expected a whole number from -2147483647 to 2147483647");
  }
  r.key = static_cast<int>(negative ? -v : v);
  return End();
}

bool Parser::TaskArgs() {
  std::string_view f;
  if (!cur_->Next(&f) || (f.empty() && cur_->OnlySpacesLeft())) return true;
  if (f != "fail") {
    return Fail("unexpected argument " + QuoteForMessage(f, 40) + " (usage: " + vi_.usage + ")");
  }
  req_->task_failed = true;
  return TextArg();
}

bool Parser::Scatterb() {
  Request& r = *req_;
  PeekPayloadSum(1);  // whoever gives counts sends their bytes
  if (!Rank("ROOT", false, &r.peer)) return false;
  if (r.peer != ctx_.rank) {
    if (cur_->OnlySpacesLeft()) return true;
    return Fail("only the root (rank " + std::to_string(r.peer) +
                ") gives byte counts and bytes (usage: " + vi_.usage + ")");
  }
  if (cur_->OnlySpacesLeft()) return Missing("N0 N1 ... (the root gives one byte count a rank)");
  return RankSizes();
}

bool Parser::Alltoallb() {
  PeekPayloadSum(0);
  if (req_->payload_bytes == 0 && cur_->OnlySpacesLeft()) {
    return Missing("N0 N1 ... (one byte count a rank)");
  }
  return RankSizes();
}

bool Parser::Ids(bool several) {
  std::string_view f;
  if (!cur_->Next(&f)) return Missing("ID");
  do {
    int64_t id;
    if (!ParseCount(f, INT64_MAX / 2, &id) || id == 0) {
      return Fail("bad request id " + QuoteForMessage(f, 40) +
                  ": expected a number that isend, isendb, irecv or irecvb replied");
    }
    req_->ids.push_back(id);
  } while (several && cur_->Next(&f) && !(f.empty() && cur_->OnlySpacesLeft()));
  return End();
}

bool Parser::ErrorsMode() {
  std::string_view f;
  if (!cur_->Next(&f)) return Missing("mode");
  if (f == "return") {
    req_->errors_return = true;
  } else if (f == "fatal") {
    req_->errors_return = false;
  } else {
    return Fail("bad mode " + QuoteForMessage(f, 40) + " (usage: " + vi_.usage + ")");
  }
  return End();
}

bool Parser::Abort() {
  std::string_view f;
  if (!cur_->Next(&f)) return Missing("CODE");
  int64_t v;
  if (!ParseCount(f, 255, &v)) {
    return Fail("bad exit code " + QuoteForMessage(f, 40) + ": expected 0..255");
  }
  req_->abort_code = static_cast<int>(v);
  return TextArg();
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const char* VerbName(Verb v) {
  return InfoOf(v).name;
}

const char* OpName(Op op) {
  for (const OpInfo& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "none";
}

bool IsCollective(Verb v) {
  switch (v) {
    case Verb::kBarrier:
    case Verb::kBcast:
    case Verb::kBcastb:
    case Verb::kReduce:
    case Verb::kAllreduce:
    case Verb::kScan:
    case Verb::kExscan:
    case Verb::kGather:
    case Verb::kAllgather:
    case Verb::kScatter:
    case Verb::kGatherb:
    case Verb::kAllgatherb:
    case Verb::kScatterb:
    case Verb::kAlltoallb:
    case Verb::kSplit:
    case Verb::kDup:
      return true;
    default:
      return false;
  }
}

bool TakesComm(Verb v) {
  switch (v) {
    case Verb::kWtime:
    case Verb::kStatus:
    case Verb::kErrors:
    case Verb::kAbort:
    case Verb::kWait:
    case Verb::kTest:
    case Verb::kWaitany:
    case Verb::kWaitall:
    case Verb::kFree:
    case Verb::kTask:
    case Verb::kTaskInfo:
      return false;
    default:
      return true;
  }
}

ParseContext InComm(const ParseContext& ctx, int64_t comm) {
  if (comm == 0 || ctx.comms == nullptr) return ctx;
  auto it = ctx.comms->find(comm);
  if (it == ctx.comms->end()) return ctx;
  ParseContext c = ctx;
  c.rank = it->second.rank;
  c.size = it->second.size;
  return c;
}

bool TakesShm(Verb v) {
  switch (v) {
    case Verb::kSendb:
    case Verb::kIsendb:
    case Verb::kRecvb:
    case Verb::kBcastb:
    case Verb::kSendrecvb:
    case Verb::kGatherb:
    case Verb::kAllgatherb:
    case Verb::kScatterb:
    case Verb::kAlltoallb:
    case Verb::kReduce:
    case Verb::kAllreduce:
    case Verb::kScan:
    case Verb::kExscan:
      return true;
    default:
      return false;
  }
}

bool IsRequestLine(std::string_view line) {
  if (line.size() < 4 || line.compare(0, 4, "@mpi") != 0) return false;
  return line.size() == 4 || line[4] == ' ' || (line[4] == '\r' && line.size() == 5);
}

bool DecodeNumberPayload(std::string_view payload, const ParseContext& world_ctx, Request* req,
                         std::string* err) {
  const ParseContext ctx = InComm(world_ctx, req->comm);
  if (!DecodeMsgpackNumbers(payload, req->type == NumType::kI64, &req->f64, &req->i64,
                            &req->msgpack_form, err, static_cast<uint64_t>(ctx.max_payload),
                            NumberBytes(req->op))) {
    return false;
  }
  if (req->verb == Verb::kScatter && req->peer == ctx.rank &&
      req->count() % static_cast<size_t>(ctx.size) != 0) {
    *err = "scatter root gives " + std::to_string(req->count()) +
           " numbers, not a multiple of the " + std::to_string(ctx.size) + " ranks";
    return false;
  }
  return true;
}

std::optional<Verb> VerbOfRequestLine(std::string_view head) {
  if (!IsRequestLine(head.substr(0, 5)) || head.size() <= 5) return std::nullopt;
  std::string_view word = head.substr(5);
  size_t end = word.find_first_of(" :\r");
  if (end == std::string_view::npos) return std::nullopt;  // the word may go on
  word = word.substr(0, end);
  for (const VerbInfo& v : kVerbs) {
    if (word == v.name) return v.verb;
  }
  return std::nullopt;
}

size_t GluedRequest(std::string_view text) {
  for (size_t at = text.find("@mpi "); at != std::string_view::npos;
       at = text.find("@mpi ", at + 1)) {
    // A request itself; or " @mpi" after nothing but spaces on its line:
    // output by rule.
    const size_t nl = at == 0 ? std::string_view::npos : text.rfind('\n', at - 1);
    const size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
    if (text.substr(line_start, at - line_start).find_first_not_of(' ') == std::string_view::npos) {
      continue;
    }
    std::string_view rest = text.substr(at);
    size_t end = rest.find_first_of(" :\t\r\n", 5);
    std::string_view word = rest.substr(5, end == std::string_view::npos ? end : end - 5);
    for (const VerbInfo& v : kVerbs) {
      if (word == v.name) return at;
    }
  }
  return std::string_view::npos;
}

std::string UnknownVerbReason(std::string_view verb) {
  std::string reason = "unknown verb " + QuoteForMessage(verb, 40);
  // A suggestion only for what could be a misspelt verb: the distance of a
  // megabyte-long word would cost seconds and could never be below 3.
  if (verb.size() > 16) return reason;
  const char* best = nullptr;
  size_t best_d = 3;
  for (const VerbInfo& vi : kVerbs) {
    size_t d = EditDistance(verb, vi.name);
    if (d < best_d) {
      best_d = d;
      best = vi.name;
    }
  }
  if (best != nullptr) reason += std::string(" (did you mean \"") + best + "\"?)";
  return reason;
}

namespace {

// The communicator suffix `:cID`: sets req->comm, checks that it exists.
bool CommSuffix(std::string_view one, const VerbInfo& vi, const ParseContext& ctx, Request* req,
                bool* seen, std::string* err) {
  int64_t id;
  if (!ParseCount(one.substr(2), INT64_MAX / 2, &id)) {
    *err = "bad communicator suffix " + QuoteForMessage(one, 20) +
           ": expected :c and a number that split or dup replied";
    return false;
  }
  if (!TakesComm(vi.verb)) {
    *err = std::string("verb \"") + vi.name + "\" takes no communicator (" +
           QuoteForMessage(one, 20) + ")";
    return false;
  }
  if (*seen) {
    *err = "suffix :c given twice";
    return false;
  }
  *seen = true;
  if (id != 0 && (ctx.comms == nullptr || ctx.comms->count(id) == 0)) {
    *err = "communicator " + std::to_string(id) +
           " does not exist on this rank (split and dup make them, free ends them)";
    // A collective on it takes part in no agreement check (engine.h).
    req->comm = kNoComm;
    return false;
  }
  req->comm = id;
  return true;
}

// The shared-memory suffix `:shm=OFF`: sets req->shm_off.
bool ShmSuffix(std::string_view one, const VerbInfo& vi, Request* req, std::string* err) {
  if (!TakesShm(vi.verb)) {
    *err = std::string("verb \"") + vi.name + "\" takes no :shm suffix (the verbs that carry " +
           "bytes and the reductions do: sendb isendb recvb bcastb sendrecvb gatherb " +
           "allgatherb scatterb alltoallb reduce allreduce scan exscan)";
    return false;
  }
  if (req->shm()) {
    *err = "suffix :shm given twice";
    return false;
  }
  int64_t off, out;
  std::string_view offs = one.size() >= 5 ? one.substr(5) : std::string_view{};
  const size_t comma = offs.find(',');
  if (one.size() < 6 || one[4] != '=' || !ParseCount(offs.substr(0, comma), INT64_MAX / 4, &off) ||
      (comma != std::string_view::npos &&
       !ParseCount(offs.substr(comma + 1), INT64_MAX / 4, &out))) {
    *err = "bad shared-memory suffix " + QuoteForMessage(one, 30) +
           ": expected :shm=OFF or :shm=OFF,OUT (byte offsets in the shared region)";
    return false;
  }
  req->shm_off = off;
  req->shm_out = comma == std::string_view::npos ? off : out;
  req->shm_numbers = vi.numeric;
  return true;
}

// Suffixes, in any order, each at most once: a type (:f64, :i64), the
// framing (:msgpack or :shm=OFF) and a communicator (:cID).
bool TakeSuffixes(std::string_view suffix, const VerbInfo& vi, const ParseContext& ctx,
                  Request* req, std::string* err) {
  bool typed = false, comm_seen = false;
  while (!suffix.empty()) {
    size_t next = suffix.find(':', 1);
    std::string_view one = suffix.substr(0, next);
    suffix = next == std::string_view::npos ? std::string_view{} : suffix.substr(next);
    if (one.size() >= 2 && one[1] == 'c') {
      if (!CommSuffix(one, vi, ctx, req, &comm_seen, err)) return false;
      continue;
    }
    if (one.substr(0, 4) == ":shm") {
      if (!ShmSuffix(one, vi, req, err)) return false;
      if (req->msgpack) {
        *err = "suffixes :shm and :msgpack exclude each other (:shm's numbers are raw)";
        return false;
      }
      continue;
    }
    if (!vi.numeric) {
      *err = std::string("verb \"") + vi.name + "\" takes no suffix (" + QuoteForMessage(one, 20) +
             "): only the numeric verbs take :i64, :f64 and :msgpack";
      return false;
    }
    bool type_suffix = one == ":i64" || one == ":f64";
    if ((type_suffix && typed) || (one == ":msgpack" && req->msgpack)) {
      *err = "suffix " + QuoteForMessage(one, 20) + " given twice or with another type";
      return false;
    }
    if (one == ":i64") {
      req->type = NumType::kI64;
      typed = true;
    } else if (one == ":f64") {
      typed = true;
    } else if (one == ":msgpack") {
      if (req->shm()) {
        *err = "suffixes :shm and :msgpack exclude each other (:shm's numbers are raw)";
        return false;
      }
      req->msgpack = true;
    } else {
      *err = "unknown suffix " + QuoteForMessage(one, 20) +
             " (use :i64 or :f64, and :msgpack for the binary form)";
      return false;
    }
  }
  return true;
}

}  // namespace

ParseResult ParseRequest(std::string_view line, const ParseContext& ctx, Request* req) {
  ParseResult res;
  *req = Request{};
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!IsRequestLine(line)) {
    res.error = "not a request line";
    return res;
  }
  if (line.size() <= 5 || line[5] == ' ') {
    res.error = line.size() <= 5 ? "empty request: no verb after @mpi"
                                 : "empty verb: fields are separated by single spaces";
    return res;
  }
  std::string_view rest = line.substr(5);
  size_t sp = rest.find(' ');
  std::string_view word = rest.substr(0, sp);
  bool has_rest = sp != std::string_view::npos;
  rest = has_rest ? rest.substr(sp + 1) : std::string_view{};

  std::string_view name = word, suffix;
  size_t colon = word.find(':');
  if (colon != std::string_view::npos) {
    name = word.substr(0, colon);
    suffix = word.substr(colon);
  }
  const VerbInfo* vi = nullptr;
  for (const VerbInfo& v : kVerbs) {
    if (name == v.name) vi = &v;
  }
  if (vi == nullptr) {
    res.error = UnknownVerbReason(word);
    return res;
  }
  req->verb = vi->verb;
  res.verb_known = true;
  if (!TakeSuffixes(suffix, *vi, ctx, req, &res.error)) return res;
  Cursor cur(rest, has_rest);
  const ParseContext in_comm = InComm(ctx, req->comm);
  Parser p(in_comm, req, &res, &cur, *vi);
  res.ok = p.Run();
  if (req->shm()) {
    // Nothing follows the line: the bytes are in the shared region.
    if (!req->shm_numbers) req->shm_bytes = req->payload_bytes;
    req->payload_bytes = 0;
  }
  return res;
}

}  // namespace stdmpi
