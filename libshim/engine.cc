#include "engine.h"

#include <sched.h>
#include <time.h>

#include <array>
#include <bit>
#include <cstring>
#include <vector>

#include "clock.h"
#include "collective.h"
#include "numbers.h"

namespace stdmpi {

static_assert(sizeof(long) == 8, "MPI_LONG_INT pairs carry int64 values");

struct Engine::Context {
  MPI_Comm world = MPI_COMM_WORLD;
  MPI_Comm ctl = MPI_COMM_NULL;  // the shims' own traffic, never the user's tags
  MPI_Op land_f64 = MPI_OP_NULL, lor_f64 = MPI_OP_NULL, lxor_f64 = MPI_OP_NULL;
  int64_t max_payload = 0;
  int rank = 0, size = 1;
  std::vector<bool> native;   // by world rank: a native MPI program, no shim
  std::vector<int> ctl_rank;  // by world rank: its rank in ctl, -1 for a native rank
  std::vector<int> world_of;  // by rank in ctl: its world rank
  LastStatus* last_status = nullptr;

  // What lets a rank tell a wait that can never end (Engine::MarkFinished).
  std::vector<int64_t> sent;      // by world rank: messages this rank sent it
  std::vector<int64_t> received;  // by world rank: messages this rank received from it
  int64_t collectives = 0;        // collectives this rank entered
  struct Peer {
    bool finished = false;
    FinishReason why = FinishReason::kExited;
    int64_t sent_to_me = 0;   // messages it sent this rank, all told
    int64_t collectives = 0;  // collectives it entered, all told
    double since = 0;         // when this rank learned it (monotonic seconds)
  };
  std::vector<Peer> peers;  // by world rank
  bool any_native = false;

  // A message the finished rank sent (eagerly) may still be on its way when
  // its note arrives through the other communicator; after this long it has
  // surely landed.
  static constexpr double kInFlightGrace = 2.0;

  std::string FinishedNote(int r) const {
    const Peer& p = peers[static_cast<size_t>(r)];
    if (!p.finished) return {};
    return "rank " + std::to_string(r) + "'s program " +
           (p.why == FinishReason::kExited
                ? "exited with status 0"
                : "closed its stdout (it still runs, but can make no more requests)");
  }
};

namespace {
// Point-to-point on ctl (no user message travels there).
constexpr int kFinishedTag = 1;  // a finished rank's answer: {rank, why, sent, collectives}
constexpr int kQueryTag = 2;     // "have you finished?"
// How long an operation waits before its rank asks its peers (most waits end
// within microseconds; a question is sent once per peer and job anyway).
constexpr double kAskAfter = 0.05;
}  // namespace

std::string MpiErrorString(const char* call, int code) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) {
    return std::string(call) + " failed with MPI error " + std::to_string(code);
  }
  return std::string(call) + " failed: " + std::string(msg, static_cast<size_t>(len));
}

namespace {

// MPI has MPI_LAND/LOR/LXOR only for integer types; on doubles these give 1 or 0
// for "both/either/exactly one non-zero" (NaN counts as non-zero).
void LandF64(void* in, void* inout, int* len, MPI_Datatype*) {
  const double* a = static_cast<const double*>(in);
  double* b = static_cast<double*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = (a[i] != 0 && b[i] != 0) ? 1 : 0;
}
void LorF64(void* in, void* inout, int* len, MPI_Datatype*) {
  const double* a = static_cast<const double*>(in);
  double* b = static_cast<double*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = (a[i] != 0 || b[i] != 0) ? 1 : 0;
}
void LxorF64(void* in, void* inout, int* len, MPI_Datatype*) {
  const double* a = static_cast<const double*>(in);
  double* b = static_cast<double*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = ((a[i] != 0) != (b[i] != 0)) ? 1 : 0;
}

struct F64Loc {
  double value;
  int rank;
};
struct I64Loc {
  long value;
  int rank;
};

bool IsLoc(Op op) {
  return op == Op::kMinloc || op == Op::kMaxloc;
}
bool IsLogical(Op op) {
  return op == Op::kLand || op == Op::kLor || op == Op::kLxor;
}

MPI_Datatype ElementType(NumType t, Op op) {
  if (IsLoc(op)) return t == NumType::kF64 ? MPI_DOUBLE_INT : MPI_LONG_INT;
  return t == NumType::kF64 ? MPI_DOUBLE : MPI_INT64_T;
}

MPI_Op MpiOp(Op op, NumType t, const Engine::Context& c) {
  bool f = t == NumType::kF64;
  switch (op) {
    case Op::kSum:
      return MPI_SUM;
    case Op::kProd:
      return MPI_PROD;
    case Op::kMin:
      return MPI_MIN;
    case Op::kMax:
      return MPI_MAX;
    case Op::kLand:
      return f ? c.land_f64 : MPI_LAND;
    case Op::kLor:
      return f ? c.lor_f64 : MPI_LOR;
    case Op::kLxor:
      return f ? c.lxor_f64 : MPI_LXOR;
    case Op::kBand:
      return MPI_BAND;
    case Op::kBor:
      return MPI_BOR;
    case Op::kBxor:
      return MPI_BXOR;
    case Op::kMinloc:
      return MPI_MINLOC;
    case Op::kMaxloc:
      return MPI_MAXLOC;
    case Op::kNone:
      break;
  }
  return MPI_OP_NULL;
}

// Numbers of one rank in the layout MPI wants for the element type: plain
// doubles/int64, or (value, rank) pairs for minloc/maxloc.
class NumberBuffer {
 public:
  NumberBuffer() = default;
  NumberBuffer(NumType t, Op op, size_t n) { Resize(t, op, n); }

  void Resize(NumType t, Op op, size_t n) {
    type_ = t;
    op_ = op;
    n_ = n;
    size_t elem = IsLoc(op) ? (t == NumType::kF64 ? sizeof(F64Loc) : sizeof(I64Loc)) : 8;
    bytes_.assign(n * elem, 0);
  }

  // The send buffer for a request's numbers: the request's own vector, or for
  // minloc/maxloc this buffer filled with (value, rank) pairs.
  void* SendData(Request& req, int rank) {
    if (!IsLoc(req.op)) {
      return req.type == NumType::kF64 ? static_cast<void*>(req.f64.data())
                                       : static_cast<void*>(req.i64.data());
    }
    Resize(req.type, req.op, req.count());
    for (size_t i = 0; i < n_; ++i) {
      if (type_ == NumType::kF64) {
        reinterpret_cast<F64Loc*>(bytes_.data())[i] = {req.f64[i], rank};
      } else {
        reinterpret_cast<I64Loc*>(bytes_.data())[i] = {static_cast<long>(req.i64[i]), rank};
      }
    }
    return bytes_.data();
  }

  void* data() { return bytes_.data(); }
  size_t count() const { return n_; }

  // Appends the numbers (offset/count in elements) as a reply line's content.
  // Appends the numbers as a msgpack value (msgpack_numbers.h): every element
  // of the verb's type, minloc/maxloc ranks included.
  void AppendMsgpack(std::string* out, MsgpackForm form) const {
    const size_t elems = IsLoc(op_) ? 2 * n_ : n_;
    if (form == MsgpackForm::kBin && !IsLoc(op_) && !IsLogical(op_) &&
        std::endian::native == std::endian::little) {
      MsgpackWriter(out, 5).BinHeader(8 * n_);
      out->append(bytes_.data(), 8 * n_);  // already the bin's layout
      return;
    }
    MsgpackWriter w(out, MsgpackNumbersSize(form, elems));
    if (form == MsgpackForm::kArray) {
      w.ArrayHeader(elems);
    } else {
      w.BinHeader(8 * elems);
    }
    const bool f = type_ == NumType::kF64;
    auto put_f = [&](double v) { form == MsgpackForm::kArray ? w.F64(v) : w.F64Le(v); };
    auto put_i = [&](int64_t v) { form == MsgpackForm::kArray ? w.I64(v) : w.I64Le(v); };
    const char* p = bytes_.data();
    for (size_t i = 0; i < n_; ++i) {
      if (IsLoc(op_)) {
        if (f) {
          const F64Loc& e = reinterpret_cast<const F64Loc*>(p)[i];
          put_f(e.value);
          put_f(e.rank);
        } else {
          const I64Loc& e = reinterpret_cast<const I64Loc*>(p)[i];
          put_i(e.value);
          put_i(e.rank);
        }
        continue;
      }
      int64_t bits;
      std::memcpy(&bits, p + i * 8, 8);
      if (f) {
        double v = std::bit_cast<double>(bits);
        if (IsLogical(op_)) v = v != 0 ? 1 : 0;
        put_f(v);
      } else {
        put_i(IsLogical(op_) ? bits != 0 : bits);
      }
    }
  }

  void Append(std::string* out, size_t offset, size_t count) const {
    const char* p = bytes_.data();
    for (size_t i = offset; i < offset + count; ++i) {
      if (i > offset) out->push_back(' ');
      if (IsLoc(op_)) {
        if (type_ == NumType::kF64) {
          const F64Loc& e = reinterpret_cast<const F64Loc*>(p)[i];
          AppendF64(out, e.value);
          out->push_back(' ');
          AppendI64(out, e.rank);
        } else {
          const I64Loc& e = reinterpret_cast<const I64Loc*>(p)[i];
          AppendI64(out, e.value);
          out->push_back(' ');
          AppendI64(out, e.rank);
        }
      } else if (type_ == NumType::kF64) {
        double v;
        std::memcpy(&v, p + i * 8, 8);
        // A logical op over one rank leaves its input as is; answer 0/1 always.
        if (IsLogical(op_)) v = v != 0 ? 1 : 0;
        AppendF64(out, v);
      } else {
        int64_t v;
        std::memcpy(&v, p + i * 8, 8);
        if (IsLogical(op_)) v = v != 0 ? 1 : 0;
        AppendI64(out, v);
      }
    }
  }

 private:
  NumType type_ = NumType::kF64;
  Op op_ = Op::kNone;
  size_t n_ = 0;
  std::vector<char> bytes_;
};

}  // namespace

class Operation {
 public:
  explicit Operation(Engine::Context& c) : c_(c) {}
  virtual ~Operation() = default;
  // Advances the operation; returns true once it has finished (outcome set).
  virtual bool Progress() = 0;
  virtual std::string Waiting() const = 0;
  virtual int64_t Bytes() const { return 0; }
  virtual bool Abandon() { return false; }
  // Why the operation, still pending, can never complete (a peer it waits for
  // has finished), or "" while it still can. Sets always_fatal where needed.
  virtual std::string Unreachable() { return {}; }
  // The world ranks the operation waits for (to ask whether they finished).
  virtual void WaitsOn(std::vector<int>*) const {}

  Outcome outcome;

 protected:
  bool Fail(std::string reason) {
    outcome.ok = false;
    outcome.error = std::move(reason);
    return true;
  }
  bool FailMpi(const char* call, int code) { return Fail(MpiErrorString(call, code)); }
  bool Finish(std::string reply) {
    outcome.ok = true;
    outcome.reply = std::move(reply);
    return true;
  }
  // Tests one request: 1 done, 0 pending, -1 failed (outcome set).
  int Test(MPI_Request* r, MPI_Status* st, const char* what) {
    int flag = 0;
    int rc = MPI_Test(r, &flag, st);
    if (rc != MPI_SUCCESS) {
      FailMpi(what, rc);
      return -1;
    }
    return flag ? 1 : 0;
  }

  Engine::Context& c_;
};

namespace {

std::string PeerName(int rank) {
  return rank == kAny ? "any rank" : "rank " + std::to_string(rank);
}
std::string TagName(int tag) {
  return tag == kAny ? "any tag" : "tag " + std::to_string(tag);
}

class ImmediateOp : public Operation {
 public:
  ImmediateOp(Engine::Context& c, Outcome o) : Operation(c) { outcome = std::move(o); }
  bool Progress() override { return true; }
  std::string Waiting() const override { return "nothing"; }
};

class SendOp : public Operation {
 public:
  SendOp(Engine::Context& c, int dest, int tag, std::string_view data)
      : Operation(c), dest_(dest), tag_(tag), size_(static_cast<int64_t>(data.size())) {
    int rc =
        MPI_Isend(data.data(), static_cast<int>(data.size()), MPI_BYTE, dest, tag, c_.world, &req_);
    if (rc != MPI_SUCCESS) {
      FailMpi("MPI_Isend", rc);
      failed_ = true;
    } else {
      ++c_.sent[static_cast<size_t>(dest)];
    }
  }
  bool Progress() override {
    if (failed_) return true;
    int t = Test(&req_, MPI_STATUS_IGNORE, "MPI_Isend");
    if (t < 0) return true;
    return t == 1 && Finish("ok\n");
  }
  std::string Waiting() const override {
    return "send to rank " + std::to_string(dest_) + " " + TagName(tag_) + " (" +
           std::to_string(size_) + " bytes)";
  }
  int64_t Bytes() const override { return size_; }
  std::string Unreachable() override {
    const Engine::Context::Peer& p = c_.peers[static_cast<size_t>(dest_)];
    if (!p.finished || MonotonicSeconds() - p.since < Engine::Context::kInFlightGrace) {
      return {};
    }
    outcome.always_fatal = true;
    return "send to rank " + std::to_string(dest_) + " " + TagName(tag_) + " (" +
           std::to_string(size_) + " bytes) can never complete: " + c_.FinishedNote(dest_) +
           " without receiving it";
  }
  void WaitsOn(std::vector<int>* peers) const override { peers->push_back(dest_); }

 private:
  int dest_, tag_;
  int64_t size_;
  MPI_Request req_ = MPI_REQUEST_NULL;
  bool failed_ = false;
};

class RecvOp : public Operation {
 public:
  enum class Form { kText, kBytes, kProbe, kIprobe };

  RecvOp(Engine::Context& c, Form form, int src, int tag, const char* verb)
      : Operation(c), form_(form), src_(src), tag_(tag), verb_(verb) {}

  bool Progress() override {
    if (phase_ == Phase::kProbe) return ProgressProbe();
    MPI_Status st;
    int t = Test(&req_, &st, "MPI_Imrecv");
    if (t <= 0) return t < 0;
    *c_.last_status = {true, src_found_, tag_found_, bytes_};
    if (form_ == Form::kText) {
      if (std::memchr(reply_.data(), '\n', static_cast<size_t>(bytes_)) != nullptr) {
        return Fail("the message from rank " + std::to_string(src_found_) + " tag " +
                    std::to_string(tag_found_) + " (" + std::to_string(bytes_) +
                    " bytes) contains a newline, which a text reply cannot carry: receive it "
                    "with recvb");
      }
    }
    return Finish(std::move(reply_));
  }

  std::string Waiting() const override {
    std::string s = std::string(verb_) + " from " + PeerName(src_) + " " + TagName(tag_);
    if (phase_ == Phase::kRecv) s += " (receiving " + std::to_string(bytes_) + " bytes)";
    return s;
  }
  int64_t Bytes() const override { return bytes_; }
  bool Abandon() override { return phase_ == Phase::kProbe; }

  std::string Unreachable() override {
    if (phase_ != Phase::kProbe || form_ == Form::kIprobe) return {};
    const double now = MonotonicSeconds();
    if (first_probe_ == 0) first_probe_ = now;
    const std::string what = std::string(verb_) + " from " + PeerName(src_) + " " + TagName(tag_) +
                             " can never complete: ";
    if (src_ == c_.rank) {
      // Its program waits here, so it can send itself nothing more; a message
      // it sent itself before shows up in the first probes.
      if (now - first_probe_ < 0.5) return {};
      return what + "this rank sent itself no message with " + TagName(tag_) +
             ", and no other rank can send one in its place";
    }
    int64_t left = 0;
    if (src_ != kAny) {
      if (c_.native[static_cast<size_t>(src_)] || !NothingMoreFrom(src_, now, &left)) return {};
      std::string s = what + c_.FinishedNote(src_) + " without sending it";
      if (left > 0) {
        s += " (" + std::to_string(left) + " message(s) from it with another tag are unreceived)";
      }
      return s;
    }
    if (c_.any_native || c_.size == 1) return {};
    for (int r = 0; r < c_.size; ++r) {
      if (r != c_.rank && !NothingMoreFrom(r, now, &left)) return {};
    }
    std::string s = what + "every other rank's program has finished (" +
                    c_.FinishedNote(c_.rank == 0 ? 1 : 0) + ", ...)";
    if (left > 0) {
      s += "; " + std::to_string(left) + " message(s) with another tag are unreceived";
    }
    return s;
  }
  // True if rank `r` (a shim) has finished and every message it sent this
  // rank has arrived, or has had time to; adds those not received to *left.
  bool NothingMoreFrom(int r, double now, int64_t* left) const {
    const Engine::Context::Peer& p = c_.peers[static_cast<size_t>(r)];
    if (!p.finished) return false;
    int64_t l = p.sent_to_me - c_.received[static_cast<size_t>(r)];
    if (l > 0 && now - p.since < Engine::Context::kInFlightGrace) return false;
    *left += l;
    return true;
  }

  void WaitsOn(std::vector<int>* peers) const override {
    if (phase_ != Phase::kProbe || form_ == Form::kIprobe) return;
    if (src_ != kAny) {
      peers->push_back(src_);
      return;
    }
    for (int r = 0; r < c_.size; ++r) peers->push_back(r);
  }

 private:
  enum class Phase { kProbe, kRecv };

  bool ProgressProbe() {
    int flag = 0;
    MPI_Status st;
    int rc = MPI_Iprobe(src_, tag_, c_.world, &flag, &st);
    if (rc != MPI_SUCCESS) return FailMpi("MPI_Iprobe", rc);
    if (!flag) return form_ == Form::kIprobe && Finish("none\n");
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    if (form_ == Form::kProbe || form_ == Form::kIprobe) {
      std::string r;
      AppendI64(&r, st.MPI_SOURCE);
      r.push_back(' ');
      AppendI64(&r, st.MPI_TAG);
      r.push_back(' ');
      AppendI64(&r, count);
      r.push_back('\n');
      return Finish(std::move(r));
    }
    if (count > c_.max_payload) {
      return Fail("the message from rank " + std::to_string(st.MPI_SOURCE) + " tag " +
                  std::to_string(st.MPI_TAG) + " has " + std::to_string(count) +
                  " bytes, over the limit of " + std::to_string(c_.max_payload) +
                  " (raise it with stdmpirun --max-message); it stays queued");
    }
    // Match exactly the message just seen: messages from one source with one
    // tag never overtake each other, and this process is single-threaded.
    MPI_Message msg;
    MPI_Status st2;
    rc = MPI_Improbe(st.MPI_SOURCE, st.MPI_TAG, c_.world, &flag, &msg, &st2);
    if (rc != MPI_SUCCESS) return FailMpi("MPI_Improbe", rc);
    if (!flag) return false;  // cannot happen single-threaded; probe again
    src_found_ = st.MPI_SOURCE;
    tag_found_ = st.MPI_TAG;
    bytes_ = count;
    ++c_.received[static_cast<size_t>(src_found_)];
    size_t offset = 0;
    if (form_ == Form::kBytes) {
      AppendI64(&reply_, count);
      reply_.push_back('\n');
      offset = reply_.size();
      reply_.resize(offset + static_cast<size_t>(count));
    } else {
      reply_.resize(static_cast<size_t>(count) + 1);
      reply_[static_cast<size_t>(count)] = '\n';
    }
    rc = MPI_Imrecv(reply_.data() + offset, count, MPI_BYTE, &msg, &req_);
    if (rc != MPI_SUCCESS) return FailMpi("MPI_Imrecv", rc);
    phase_ = Phase::kRecv;
    return Progress();
  }

  Form form_;
  int src_, tag_;
  const char* verb_;
  Phase phase_ = Phase::kProbe;
  double first_probe_ = 0;
  int src_found_ = 0, tag_found_ = 0;
  int64_t bytes_ = 0;
  std::string reply_;
  MPI_Request req_ = MPI_REQUEST_NULL;
};

class SendrecvOp : public Operation {
 public:
  SendrecvOp(Engine::Context& c, const Request& r)
      : Operation(c),
        send_(c, r.peer, r.tag, r.text),
        recv_(c, RecvOp::Form::kText, r.peer2, r.tag2, "sendrecv: recv") {}

  bool Progress() override {
    if (!send_done_) send_done_ = send_.Progress();
    if (!recv_done_) recv_done_ = recv_.Progress();
    if (!send_done_ || !recv_done_) return false;
    if (!send_.outcome.ok) return Fail(send_.outcome.error);
    outcome = std::move(recv_.outcome);
    return true;
  }
  std::string Waiting() const override {
    std::string s = "sendrecv: ";
    if (!send_done_) s += send_.Waiting();
    if (!send_done_ && !recv_done_) s += " and ";
    if (!recv_done_) s += recv_.Waiting();
    return s;
  }
  int64_t Bytes() const override { return send_.Bytes() + recv_.Bytes(); }
  std::string Unreachable() override {
    std::string why;
    if (!send_done_) why = send_.Unreachable();
    if (why.empty() && !recv_done_) why = recv_.Unreachable();
    outcome.always_fatal = !send_done_;  // its MPI_Isend stays pending
    return why.empty() ? why : "sendrecv: " + why;
  }
  void WaitsOn(std::vector<int>* peers) const override {
    if (!send_done_) send_.WaitsOn(peers);
    if (!recv_done_) recv_.WaitsOn(peers);
  }

 private:
  SendOp send_;
  RecvOp recv_;
  bool send_done_ = false, recv_done_ = false;
};

class CollectiveOp : public Operation {
 public:
  // A valid request, or (failed = true) the verb of one that failed locally.
  CollectiveOp(Engine::Context& c, Request&& r, std::string_view payload, bool fatal)
      : Operation(c), req_(std::move(r)), payload_(payload), fatal_(fatal) {}
  CollectiveOp(Engine::Context& c, Verb verb, std::string local_error)
      : Operation(c), local_error_(std::move(local_error)), failed_(true) {
    req_.verb = verb;
    fatal_ = false;
  }

  void Start() {
    index_ = ++c_.collectives;
    CheckInput& in = check_in_;
    in.rank = c_.rank;
    in.verb = req_.verb;
    in.type = req_.type;
    in.op = req_.op;
    in.root = req_.peer;
    in.is_root = req_.peer == c_.rank;
    in.local_error = failed_;
    in.fatal = fatal_;
    switch (req_.verb) {
      case Verb::kBcast:
        in.count = static_cast<int64_t>(req_.text.size());
        break;
      case Verb::kBcastb:
        in.count = static_cast<int64_t>(payload_.size());
        break;
      default:
        in.count = static_cast<int64_t>(req_.count());
    }
    MakeCheckVector(in, check_send_);
    int rc = MPI_Iallreduce(check_send_, check_recv_, kCheckLen, MPI_INT64_T, MPI_MAX, c_.ctl,
                            &mpi_req_);
    if (rc != MPI_SUCCESS) {
      FailMpi("MPI_Iallreduce (agreement check)", rc);
      phase_ = Phase::kDone;
    }
  }

  bool Progress() override {
    if (phase_ == Phase::kDone) return true;
    int t = Test(&mpi_req_, MPI_STATUS_IGNORE, "MPI_Iallreduce (agreement check)");
    if (t < 0) {
      phase_ = Phase::kDone;
      return true;
    }
    if (t == 0) return false;
    phase_ = Phase::kData;
    AfterCheck();
    phase_ = Phase::kDone;
    return true;
  }

  std::string Waiting() const override {
    std::string s = VerbName(req_.verb);
    if (req_.type == NumType::kI64 && req_.verb != Verb::kBarrier) s += ":i64";
    if (req_.op != Op::kNone) s += std::string(" ") + OpName(req_.op);
    switch (req_.verb) {
      case Verb::kBcast:
      case Verb::kBcastb:
      case Verb::kReduce:
      case Verb::kGather:
      case Verb::kScatter:
        s += " root " + std::to_string(req_.peer);
        break;
      default:
        break;
    }
    if (phase_ == Phase::kCheck) {
      s += ", waiting for every rank to reach it";
    } else {
      s += ", exchanging data";
    }
    return s;
  }

  int64_t Bytes() const override {
    return static_cast<int64_t>(payload_.size() + req_.text.size() + req_.count() * 8);
  }

  std::string Unreachable() override {
    if (phase_ != Phase::kCheck) return {};
    for (int r = 0; r < c_.size; ++r) {
      const Engine::Context::Peer& p = c_.peers[static_cast<size_t>(r)];
      if (!p.finished || p.collectives >= index_) continue;
      // The agreement check stays posted: the job must end.
      outcome.always_fatal = true;
      // Every rank still waiting sees the same; the lowest of them reports it.
      for (int q = 0; q < c_.rank; ++q) {
        if (!c_.native[static_cast<size_t>(q)] && !c_.peers[static_cast<size_t>(q)].finished) {
          outcome.report = false;
        }
      }
      std::string name = VerbName(req_.verb);
      return name + " can never complete: " + c_.FinishedNote(r) + " after " +
             std::to_string(p.collectives) +
             " collective(s), without calling this one (this "
             "rank's collective number " +
             std::to_string(index_) + ")";
    }
    return {};
  }
  void WaitsOn(std::vector<int>* peers) const override {
    if (phase_ != Phase::kCheck) return;
    for (int r = 0; r < c_.size; ++r) peers->push_back(r);
  }

 private:
  int64_t index_ = 0;
  // kCheck: the agreement check runs (non-blocking, polled). kData: the
  // collective itself runs (blocking, see AfterCheck). kDone: outcome set.
  enum class Phase { kCheck, kData, kDone };

  bool Called(int rc, const char* call) {
    if (rc != MPI_SUCCESS) FailMpi(call, rc);
    return rc == MPI_SUCCESS;
  }

  // The check passed on every shim (or failed alike on every one). The
  // collective itself is one plain *blocking* MPI call on MPI_COMM_WORLD:
  // MPI does not match a non-blocking collective with a blocking one, and a
  // native MPI program in the job calls the blocking one. Every shim enters it
  // right after its own check completes, so the wait is short; only a native
  // rank that arrives late holds the shims in MPI.
  void AfterCheck() {
    CheckOutcome o = ReadCheckVector(check_recv_, check_in_);
    if (failed_) {
      Fail(local_error_);
      return;
    }
    if (!o.ok) {
      Fail(o.error);
      // Every rank saw the same disagreement; in fatal mode only the lowest
      // fatal rank reports it, so the job ends with one message, not one a rank.
      outcome.report = !fatal_ || o.lowest_fatal_rank == c_.rank;
      return;
    }
    const bool root = req_.peer == c_.rank;
    MPI_Datatype dt = ElementType(req_.type, req_.op);
    switch (req_.verb) {
      case Verb::kBarrier:
        if (Called(MPI_Barrier(c_.world), "MPI_Barrier")) Finish("ok\n");
        return;
      case Verb::kBcast:
      case Verb::kBcastb: {
        size_t n = static_cast<size_t>(o.count);
        if (root) {
          std::string_view src = req_.verb == Verb::kBcast ? req_.text : payload_;
          // The root's buffer is only read.
          if (!Called(MPI_Bcast(const_cast<char*>(src.data()), static_cast<int>(n), MPI_BYTE,
                                req_.peer, c_.world),
                      "MPI_Bcast")) {
            return;
          }
          std::string r;
          if (req_.verb == Verb::kBcastb) {
            AppendI64(&r, static_cast<int64_t>(n));
            r.push_back('\n');
          }
          r.append(src);
          if (req_.verb == Verb::kBcast) r.push_back('\n');
          Finish(std::move(r));
          return;
        }
        std::string r;
        if (req_.verb == Verb::kBcastb) {
          AppendI64(&r, o.count);
          r.push_back('\n');
        }
        size_t offset = r.size();
        r.resize(offset + n);
        if (!Called(
                MPI_Bcast(r.data() + offset, static_cast<int>(n), MPI_BYTE, req_.peer, c_.world),
                "MPI_Bcast")) {
          return;
        }
        if (req_.verb == Verb::kBcast) {
          if (std::memchr(r.data(), '\n', r.size()) != nullptr) {
            Fail("the broadcast from rank " + std::to_string(req_.peer) +
                 " contains a newline, which a text reply cannot carry: use bcastb");
            return;
          }
          r.push_back('\n');
        }
        Finish(std::move(r));
        return;
      }
      case Verb::kReduce:
      case Verb::kAllreduce:
      case Verb::kScan:
      case Verb::kExscan: {
        void* send = send_.SendData(req_, c_.rank);
        recv_.Resize(req_.type, req_.op, req_.count());
        int n = static_cast<int>(req_.count());
        MPI_Op op = MpiOp(req_.op, req_.type, c_);
        int rc;
        const char* call;
        switch (req_.verb) {
          case Verb::kReduce:
            rc = MPI_Reduce(send, recv_.data(), n, dt, op, req_.peer, c_.world);
            call = "MPI_Reduce";
            break;
          case Verb::kAllreduce:
            rc = MPI_Allreduce(send, recv_.data(), n, dt, op, c_.world);
            call = "MPI_Allreduce";
            break;
          case Verb::kScan:
            rc = MPI_Scan(send, recv_.data(), n, dt, op, c_.world);
            call = "MPI_Scan";
            break;
          default:
            rc = MPI_Exscan(send, recv_.data(), n, dt, op, c_.world);
            call = "MPI_Exscan";
        }
        if (!Called(rc, call)) return;
        if ((req_.verb == Verb::kReduce && !root) || (req_.verb == Verb::kExscan && c_.rank == 0)) {
          Finish("ok\n");
          return;
        }
        FinishNumbers();
        return;
      }
      case Verb::kGather:
      case Verb::kAllgather: {
        // Counts first, over MPI_COMM_WORLD (one MPI_INT a rank), so that a
        // native rank can take part: MPI_Gather of its count, then MPI_Gatherv.
        const bool all = req_.verb == Verb::kAllgather;
        int mine = static_cast<int>(req_.count());
        std::vector<int> counts(static_cast<size_t>(c_.size), 0), displs(counts.size(), 0);
        int rc =
            all ? MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, c_.world)
                : MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, req_.peer, c_.world);
        if (!Called(rc, all ? "MPI_Allgather (counts)" : "MPI_Gather (counts)")) return;
        int64_t total = 0;
        if (all || root) {
          for (size_t i = 0; i < counts.size(); ++i) {
            displs[i] = static_cast<int>(total);
            total += counts[i];
          }
          if (total > INT32_MAX) {
            // Still take part, with nothing to receive, so no rank waits.
            std::fill(counts.begin(), counts.end(), 0);
          }
        }
        void* send = send_.SendData(req_, c_.rank);
        recv_.Resize(req_.type, req_.op, static_cast<size_t>(total > INT32_MAX ? 0 : total));
        rc = all ? MPI_Allgatherv(send, mine, dt, recv_.data(), counts.data(), displs.data(), dt,
                                  c_.world)
                 : MPI_Gatherv(send, mine, dt, recv_.data(), counts.data(), displs.data(), dt,
                               req_.peer, c_.world);
        if (!Called(rc, all ? "MPI_Allgatherv" : "MPI_Gatherv")) return;
        if (total > INT32_MAX) {
          Fail("gather of " + std::to_string(total) + " numbers is over MPI's 2^31 limit");
          return;
        }
        if (!all && !root) {
          Finish("ok\n");
          return;
        }
        FinishNumbers();
        return;
      }
      case Verb::kScatter: {
        int k = static_cast<int>(o.count / c_.size);
        void* send = root ? send_.SendData(req_, c_.rank) : nullptr;
        recv_.Resize(req_.type, req_.op, static_cast<size_t>(k));
        if (!Called(MPI_Scatter(send, k, dt, recv_.data(), k, dt, req_.peer, c_.world),
                    "MPI_Scatter")) {
          return;
        }
        FinishNumbers();
        return;
      }
      default:
        Fail("internal error: not a collective");
    }
  }

  void FinishNumbers() {
    std::string r;
    if (req_.msgpack) {
      // `N` LF, then the msgpack value of N bytes, in the request's form.
      std::string value;
      recv_.AppendMsgpack(&value, req_.msgpack_form);
      AppendI64(&r, static_cast<int64_t>(value.size()));
      r.push_back('\n');
      r.append(value);
    } else {
      recv_.Append(&r, 0, recv_.count());
      r.push_back('\n');
    }
    Finish(std::move(r));
  }

  Request req_;
  std::string_view payload_;
  bool fatal_ = true;
  std::string local_error_;
  bool failed_ = false;

  Phase phase_ = Phase::kCheck;
  MPI_Request mpi_req_ = MPI_REQUEST_NULL;
  CheckInput check_in_;
  int64_t check_send_[kCheckLen] = {};
  int64_t check_recv_[kCheckLen] = {};
  NumberBuffer send_, recv_;
};

}  // namespace

Engine::Engine() : ctx_(std::make_unique<Context>()) {}
Engine::~Engine() = default;

bool Engine::Init(int64_t max_payload, const std::vector<int>& native_ranks,
                  const cpu_set_t* own_mask, std::string* err) {
  Context& c = *ctx_;
  c.max_payload = max_payload;
  c.last_status = &last_status_;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  c.rank = rank_;
  c.size = size_;
  c.native.assign(static_cast<size_t>(size_), false);
  for (int r : native_ranks) {
    if (r < 0 || r >= size_) {
      *err = "--native-ranks names rank " + std::to_string(r) + " but the job has " +
             std::to_string(size_) + " ranks";
      return false;
    }
    c.native[static_cast<size_t>(r)] = true;
  }
  // Errors come back as codes and become error replies, not a crash.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  // The shims' own communicator: collective only over the shims, so native
  // ranks need not know about it.
  MPI_Group world_group, shim_group;
  MPI_Comm_group(MPI_COMM_WORLD, &world_group);
  std::vector<int> natives(native_ranks.begin(), native_ranks.end());
  MPI_Group_excl(world_group, static_cast<int>(natives.size()), natives.data(), &shim_group);
  int rc = MPI_Comm_create_group(MPI_COMM_WORLD, shim_group, 0x5d1, &c.ctl);
  MPI_Group_free(&shim_group);
  MPI_Group_free(&world_group);
  if (rc != MPI_SUCCESS) {
    *err = MpiErrorString("MPI_Comm_create_group", rc);
    return false;
  }
  MPI_Comm_set_errhandler(c.ctl, MPI_ERRORS_RETURN);
  c.ctl_rank.assign(static_cast<size_t>(size_), -1);
  c.world_of.clear();
  for (int r = 0; r < size_; ++r) {
    if (c.native[static_cast<size_t>(r)]) continue;
    c.ctl_rank[static_cast<size_t>(r)] = static_cast<int>(c.world_of.size());
    c.world_of.push_back(r);
  }
  c.any_native = !native_ranks.empty();
  c.sent.assign(static_cast<size_t>(size_), 0);
  c.received.assign(static_cast<size_t>(size_), 0);
  c.peers.assign(static_cast<size_t>(size_), {});
  asked_.assign(static_cast<size_t>(size_), false);
  MPI_Comm node;
  rc = MPI_Comm_split_type(c.ctl, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS) {
    *err = MpiErrorString("MPI_Comm_split_type", rc);
    return false;
  }
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  // The cores this node's ranks may use between them: the union of their
  // affinity masks (one rank bound by the launcher sees only its own core;
  // under SLURM or a cgroup the union is the job's share of the node).
  cpu_set_t mine, all;
  CPU_ZERO(&mine);
  CPU_ZERO(&all);
  if (own_mask != nullptr) {
    mine = *own_mask;
  } else {
    sched_getaffinity(0, sizeof(mine), &mine);
  }
  static_assert(sizeof(cpu_set_t) % sizeof(uint64_t) == 0, "cpu_set_t as uint64 words");
  MPI_Allreduce(&mine, &all, sizeof(cpu_set_t) / sizeof(uint64_t), MPI_UINT64_T, MPI_BOR, node);
  node_cpus_ = CPU_COUNT(&all) > 0 ? CPU_COUNT(&all) : 1;
  node_mask_ = all;
  cpu_set_t common;
  CPU_ZERO(&common);
  MPI_Allreduce(&mine, &common, sizeof(cpu_set_t) / sizeof(uint64_t), MPI_UINT64_T, MPI_BAND, node);
  masks_differ_ = !CPU_EQUAL(&common, &all);
  MPI_Comm_free(&node);
  // MPI_Wtime counts from its first call: make that the rank's start, so a
  // child's first `wtime` is not 0.
  MPI_Wtime();
  MPI_Op_create(LandF64, 1, &c.land_f64);
  MPI_Op_create(LorF64, 1, &c.lor_f64);
  MPI_Op_create(LxorF64, 1, &c.lxor_f64);
  return true;
}

void Engine::Shutdown() {
  Context& c = *ctx_;
  op_.reset();
  if (c.land_f64 != MPI_OP_NULL) MPI_Op_free(&c.land_f64);
  if (c.lor_f64 != MPI_OP_NULL) MPI_Op_free(&c.lor_f64);
  if (c.lxor_f64 != MPI_OP_NULL) MPI_Op_free(&c.lxor_f64);
  if (c.ctl != MPI_COMM_NULL) MPI_Comm_free(&c.ctl);
}

bool Engine::Start(Request req, std::string_view payload, bool errors_return) {
  Context& c = *ctx_;
  done_ = false;
  op_started_ = MonotonicSeconds();
  Outcome now;
  std::string r;
  switch (req.verb) {
    case Verb::kRank:
      AppendI64(&r, rank_);
      now.reply = r + "\n";
      break;
    case Verb::kSize:
      AppendI64(&r, size_);
      now.reply = r + "\n";
      break;
    case Verb::kWtime:
      AppendF64(&r, MPI_Wtime());
      now.reply = r + "\n";
      break;
    case Verb::kStatus:
      if (!last_status_.valid) {
        now.ok = false;
        now.error = "no receive has completed on this rank yet";
      } else {
        AppendI64(&r, last_status_.source);
        r.push_back(' ');
        AppendI64(&r, last_status_.tag);
        r.push_back(' ');
        AppendI64(&r, last_status_.bytes);
        now.reply = r + "\n";
      }
      break;
    case Verb::kSend:
    case Verb::kSendb: {
      std::string_view data = req.verb == Verb::kSend ? req.text : payload;
      if (req.peer != rank_) {
        op_ = std::make_unique<SendOp>(c, req.peer, req.tag, data);
        break;
      }
      auto s = std::make_unique<SelfSend>();
      s->data.assign(data);
      s->tag = req.tag;
      int rc = MPI_Isend(s->data.data(), static_cast<int>(s->data.size()), MPI_BYTE, rank_, req.tag,
                         c.world, &s->req);
      if (rc != MPI_SUCCESS) {
        now.ok = false;
        now.error = MpiErrorString("MPI_Isend", rc);
      } else {
        self_sends_.push_back(std::move(s));
        now.reply = "ok\n";
      }
      break;
    }
    case Verb::kRecv:
      op_ = std::make_unique<RecvOp>(c, RecvOp::Form::kText, req.peer, req.tag, "recv");
      break;
    case Verb::kRecvb:
      op_ = std::make_unique<RecvOp>(c, RecvOp::Form::kBytes, req.peer, req.tag, "recvb");
      break;
    case Verb::kProbe:
      op_ = std::make_unique<RecvOp>(c, RecvOp::Form::kProbe, req.peer, req.tag, "probe");
      break;
    case Verb::kIprobe:
      op_ = std::make_unique<RecvOp>(c, RecvOp::Form::kIprobe, req.peer, req.tag, "iprobe");
      break;
    case Verb::kSendrecv:
      op_ = std::make_unique<SendrecvOp>(c, req);
      break;
    case Verb::kErrors:
    case Verb::kAbort:
      now.ok = false;
      now.error = "internal error: errors/abort are handled by the shim";
      break;
    default: {
      bool sized_by_root =
          req.verb == Verb::kBcast || req.verb == Verb::kBcastb || req.verb == Verb::kScatter;
      if (sized_by_root && c.native[static_cast<size_t>(req.peer)]) {
        // Every shim decides this alike, with no communication: none waits.
        now.ok = false;
        now.error = std::string(VerbName(req.verb)) + " root " + std::to_string(req.peer) +
                    " is a native MPI rank: the other ranks cannot learn the size of what it "
                    "sends; send it point to point instead";
        break;
      }
      auto op = std::make_unique<CollectiveOp>(c, std::move(req), payload, !errors_return);
      op->Start();
      op_ = std::move(op);
    }
  }
  if (op_ == nullptr) op_ = std::make_unique<ImmediateOp>(c, std::move(now));
  return Progress();
}

bool Engine::StartFailedCollective(Verb verb, std::string error) {
  done_ = false;
  op_started_ = MonotonicSeconds();
  auto op = std::make_unique<CollectiveOp>(*ctx_, verb, std::move(error));
  op->Start();
  op_ = std::move(op);
  return Progress();
}

bool Engine::Progress() {
  if (op_ == nullptr) return false;
  if (!done_) done_ = op_->Progress();
  if (!done_) {
    // Now and then (not on every spin of a short wait): has a peer this
    // operation waits for finished for good?
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t ms = static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
    if (ms - last_note_check_ms_ >= 5) {
      last_note_check_ms_ = ms;
      if (MonotonicSeconds() - op_started_ >= kAskAfter) AskPeers();
      ReceiveFinishedNotes();
      std::string why = op_->Unreachable();
      if (!why.empty()) {
        op_->outcome.ok = false;
        op_->outcome.error = std::move(why);
        done_ = true;
      }
    }
  }
  if (done_ && !self_sends_.empty()) UnreceivedSelfSends();  // frees the received ones
  return done_;
}

void Engine::ReceiveFinishedNotes() {
  Context& c = *ctx_;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kFinishedTag, c.ctl, &flag, &st) != MPI_SUCCESS || !flag) return;
    int64_t note[4];
    if (MPI_Recv(note, 4, MPI_INT64_T, st.MPI_SOURCE, kFinishedTag, c.ctl, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS) {
      return;
    }
    int64_t world = note[0];
    if (world < 0 || world >= size_) continue;
    Context::Peer& p = c.peers[static_cast<size_t>(world)];
    p.finished = true;
    p.why = note[1] == 1 ? FinishReason::kClosedStdout : FinishReason::kExited;
    p.sent_to_me = note[2];
    p.collectives = note[3];
    p.since = MonotonicSeconds();
  }
}

void Engine::AskPeers() {
  Context& c = *ctx_;
  std::vector<int> peers;
  op_->WaitsOn(&peers);
  static const int kQuestion = 0;
  for (int r : peers) {
    if (r < 0 || r >= size_ || r == rank_ || asked_[static_cast<size_t>(r)]) continue;
    int to = c.ctl_rank[static_cast<size_t>(r)];
    if (to < 0) continue;  // a native rank cannot answer
    asked_[static_cast<size_t>(r)] = true;
    MPI_Request req;
    if (MPI_Isend(&kQuestion, 1, MPI_INT, to, kQueryTag, c.ctl, &req) == MPI_SUCCESS) {
      small_sends_.push_back(req);
    }
  }
}

void Engine::MarkFinished(FinishReason why) {
  if (finished_) return;
  finished_ = true;
  why_ = why;
  AnswerQueries();
}

void Engine::AnswerQueries() {
  Context& c = *ctx_;
  if (!finished_) return;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kQueryTag, c.ctl, &flag, &st) != MPI_SUCCESS || !flag) break;
    int question;
    MPI_Recv(&question, 1, MPI_INT, st.MPI_SOURCE, kQueryTag, c.ctl, MPI_STATUS_IGNORE);
    if (st.MPI_SOURCE < 0 || st.MPI_SOURCE >= static_cast<int>(c.world_of.size())) continue;
    const int world = c.world_of[static_cast<size_t>(st.MPI_SOURCE)];
    auto answer = std::make_unique<std::array<int64_t, 4>>(std::array<int64_t, 4>{
        rank_, static_cast<int64_t>(why_), c.sent[static_cast<size_t>(world)], c.collectives});
    MPI_Request req;
    if (MPI_Isend(answer->data(), 4, MPI_INT64_T, st.MPI_SOURCE, kFinishedTag, c.ctl, &req) ==
        MPI_SUCCESS) {
      small_sends_.push_back(req);
      answers_.push_back(std::move(answer));
    }
  }
  // Let go of what has gone out.
  for (auto it = small_sends_.begin(); it != small_sends_.end();) {
    int done = 0;
    MPI_Test(&*it, &done, MPI_STATUS_IGNORE);
    it = done ? small_sends_.erase(it) : it + 1;
  }
}

void Engine::StartClosing() {
  MPI_Ibarrier(ctx_->ctl, &closing_);
}

bool Engine::PollClosing() {
  AnswerQueries();
  if (closing_ != MPI_REQUEST_NULL) {
    int done = 0;
    if (MPI_Test(&closing_, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return true;
    if (!done) return false;
  }
  if (!small_sends_.empty()) return false;
  answers_.clear();
  return true;
}

std::vector<int> Engine::UnreceivedSelfSends() {
  std::vector<int> tags;
  for (auto it = self_sends_.begin(); it != self_sends_.end();) {
    int flag = 0;
    MPI_Test(&(*it)->req, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      it = self_sends_.erase(it);
    } else {
      tags.push_back((*it)->tag);
      ++it;
    }
  }
  return tags;
}

void Engine::DropSelfSends() {
  // The buffers must outlive the requests MPI still holds: keep them.
  for (auto& s : self_sends_) {
    MPI_Request_free(&s->req);
    dropped_.push_back(std::move(s->data));
  }
  self_sends_.clear();
}

Outcome Engine::Take() {
  Outcome o = std::move(op_->outcome);
  op_.reset();
  done_ = false;
  return o;
}

std::string Engine::Waiting() const {
  return op_ ? op_->Waiting() : "nothing";
}
int64_t Engine::PendingBytes() const {
  return op_ ? op_->Bytes() : 0;
}

bool Engine::AbandonIfUnmatched() {
  if (op_ == nullptr || done_) return true;
  if (!op_->Abandon()) return false;
  op_.reset();
  return true;
}

}  // namespace stdmpi
