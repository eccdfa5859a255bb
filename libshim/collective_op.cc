// Collective operations: the agreement check (collective.h), then the
// collective itself on MPI_COMM_WORLD.
#include <algorithm>
#include <cstring>

#include "collective.h"
#include "msgpack_numbers.h"
#include "operation.h"
#include "reply.h"

namespace stdmpi {

namespace {

// MPI has MPI_LAND/LOR/LXOR only for integer types; on doubles these give 1 or 0
// for "both/either/exactly one non-zero" (NaN counts as non-zero).
template <bool (*kOf)(bool, bool)>
void LogicalF64(void* in, void* inout, int* len, MPI_Datatype*) {
  const double* a = static_cast<const double*>(in);
  double* b = static_cast<double*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = kOf(a[i] != 0, b[i] != 0) ? 1 : 0;
}
bool And(bool a, bool b) {
  return a && b;
}
bool Or(bool a, bool b) {
  return a || b;
}
bool Xor(bool a, bool b) {
  return a != b;
}

MPI_Datatype ElementType(NumType t, Op op) {
  if (IsLocOp(op)) return t == NumType::kF64 ? MPI_DOUBLE_INT : MPI_LONG_INT;
  return t == NumType::kF64 ? MPI_DOUBLE : MPI_INT64_T;
}

MPI_Op MpiOp(Op op, NumType t, const OpContext& c) {
  const bool f = t == NumType::kF64;
  // In the order of enum Op (request.h).
  const MPI_Op ops[] = {MPI_OP_NULL,
                        MPI_SUM,
                        MPI_PROD,
                        MPI_MIN,
                        MPI_MAX,
                        f ? c.land_f64 : MPI_LAND,
                        f ? c.lor_f64 : MPI_LOR,
                        f ? c.lxor_f64 : MPI_LXOR,
                        MPI_BAND,
                        MPI_BOR,
                        MPI_BXOR,
                        MPI_MINLOC,
                        MPI_MAXLOC};
  static_assert(static_cast<int>(Op::kMaxloc) == 12, "ops[] follows enum Op");
  return ops[static_cast<size_t>(op)];
}

class CollectiveOp : public Operation {
 public:
  // A valid request, or (failed = true) the verb of one that failed locally.
  CollectiveOp(OpContext& c, Comm& m, Request&& r, std::string_view payload, bool fatal)
      : Operation(c, m), req_(std::move(r)), payload_(payload), fatal_(fatal) {}
  CollectiveOp(OpContext& c, Comm& m, Verb verb, std::string local_error)
      : Operation(c, m), local_error_(std::move(local_error)), failed_(true) {
    req_.verb = verb;
    fatal_ = false;
  }

  // Posts the agreement check.
  void Start();

  bool Progress() override {
    if (phase_ == Phase::kDone) return true;
    int t = AdvanceCheck();
    if (t == 0) return false;
    if (t > 0) AfterCheck();
    phase_ = Phase::kDone;
    return true;
  }

  std::string Waiting() const override;
  int64_t Bytes() const override {
    return static_cast<int64_t>(payload_.size() + req_.text.size() + req_.count() * 8);
  }
  std::string Unreachable() override;
  void WaitsOn(std::vector<int>* peers) const override {
    if (phase_ != Phase::kCheck) return;
    for (int r = 0; r < m_.size; ++r) peers->push_back(m_.World(r));
  }

 private:
  // kCheck: the agreement check runs (non-blocking, polled). kDone: the
  // collective ran (blocking, see AfterCheck) and the outcome is set.
  enum class Phase { kCheck, kDone };

  bool Called(int rc, const char* call) {
    if (rc != MPI_SUCCESS) FailMpi(call, rc);
    return rc == MPI_SUCCESS;
  }
  bool root() const { return req_.peer == m_.rank; }

  // 1: the check is complete, 0: not yet, -1: failed (outcome set).
  int AdvanceCheck();
  void AfterCheck();
  void RunBcast(int64_t count);
  void RunReduction();
  void RunReductionInPlace();
  bool CallReduction(const void* send, void* recv);
  bool NoResult() const;
  void RunGather();
  void RunScatter(int64_t count);
  void RunGatherBytes();
  void RunScatterBytes();
  void RunAlltoallBytes();
  void RunSplit();
  // In fatal mode every shim refuses alike: one reports it.
  void Refuse(std::string why) {
    Fail(std::move(why));
    outcome.report = !fatal_ || lowest_fatal_rank_ == m_.rank;
  }

  Request req_;
  std::string_view payload_;
  bool fatal_ = true;
  int lowest_fatal_rank_ = -1;  // from the agreement check
  std::string local_error_;
  bool failed_ = false;
  int64_t index_ = 0;  // this collective's number on this rank

  Phase phase_ = Phase::kCheck;
  CheckInput check_in_;
  std::vector<CheckStep> steps_;
  size_t step_ = 0;
  bool posted_ = false;
  MPI_Request check_reqs_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int64_t check_vec_[kCheckLen] = {};   // this rank's, MAXed with its peers' as they come
  int64_t check_out_[kCheckLen] = {};   // what the current step sends
  int64_t check_peer_[kCheckLen] = {};  // what it receives
  NumberBuffer send_, recv_;
};

void CollectiveOp::Start() {
  index_ = c_.ledger.EnterCollective(m_.key);
  CheckInput& in = check_in_;
  in.rank = m_.rank;
  in.verb = req_.verb;
  in.type = req_.type;
  in.op = req_.op;
  in.root = req_.peer;
  in.is_root = root();
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
  MakeCheckVector(in, check_vec_);
  int rank = 0, size = 1;
  int rc = MPI_Comm_rank(m_.ctl, &rank);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_size(m_.ctl, &size);
  if (rc != MPI_SUCCESS) {
    FailMpi("MPI_Comm_rank (agreement check)", rc);
    phase_ = Phase::kDone;
    return;
  }
  steps_ = CheckSchedule(rank, size);
}

// The steps of CheckSchedule, one after another, each polled.
int CollectiveOp::AdvanceCheck() {
  while (step_ < steps_.size()) {
    const CheckStep& s = steps_[step_];
    if (!posted_) {
      int rc = MPI_SUCCESS;
      if (s.recv_from >= 0) {
        rc = MPI_Irecv(check_peer_, kCheckLen, MPI_INT64_T, s.recv_from, kCheckTag, m_.ctl,
                       &check_reqs_[1]);
      }
      if (rc == MPI_SUCCESS && s.send_to >= 0) {
        std::memcpy(check_out_, check_vec_, sizeof check_out_);
        rc = MPI_Isend(check_out_, kCheckLen, MPI_INT64_T, s.send_to, kCheckTag, m_.ctl,
                       &check_reqs_[0]);
      }
      if (rc != MPI_SUCCESS) {
        FailMpi("MPI_Isend/MPI_Irecv (agreement check)", rc);
        return -1;
      }
      posted_ = true;
    }
    int done = 0;
    int rc = MPI_Testall(2, check_reqs_, &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) {
      FailMpi("MPI_Testall (agreement check)", rc);
      return -1;
    }
    if (!done) return 0;
    if (s.recv_from >= 0) {
      for (int i = 0; i < kCheckLen; ++i) check_vec_[i] = std::max(check_vec_[i], check_peer_[i]);
    }
    posted_ = false;
    ++step_;
  }
  return 1;
}

std::string CollectiveOp::Waiting() const {
  std::string s = VerbName(req_.verb);
  if (req_.type == NumType::kI64 && req_.verb != Verb::kBarrier) s += ":i64";
  if (req_.op != Op::kNone) s += std::string(" ") + OpName(req_.op);
  if (IsRooted(req_.verb)) s += " root " + std::to_string(req_.peer);
  s += m_.On();
  s += phase_ == Phase::kCheck ? ", waiting for every rank to reach it" : ", exchanging data";
  return s;
}

std::string CollectiveOp::Unreachable() {
  if (phase_ != Phase::kCheck) return {};
  const PeerLedger& ledger = c_.ledger;
  for (int r = 0; r < m_.size; ++r) {
    const PeerLedger::Peer& p = ledger.peer(m_.World(r));
    const int64_t entered = p.CollectivesIn(m_.key);
    if (!p.finished || entered >= index_) continue;
    // The agreement check stays posted: the job must end.
    outcome.always_fatal = true;
    // Every rank still waiting sees the same; the lowest of them reports it.
    for (int q = 0; q < m_.rank; ++q) {
      const int w = m_.World(q);
      if (!ledger.native(w) && !ledger.peer(w).finished) outcome.report = false;
    }
    return std::string(VerbName(req_.verb)) + m_.On() +
           " can never complete: " + ledger.FinishedNote(m_.World(r)) + " after " +
           std::to_string(entered) +
           " collective(s), without calling this one (this rank's collective number " +
           std::to_string(index_) + ")";
  }
  return {};
}

// The check passed on every shim (or failed alike on every one). The
// collective itself is one plain *blocking* MPI call on MPI_COMM_WORLD: MPI
// does not match a non-blocking collective with a blocking one, and a native
// MPI program in the job calls the blocking one. Every shim enters it right
// after its own check completes, so the wait is short; only a native rank that
// arrives late holds the shims in MPI.
void CollectiveOp::AfterCheck() {
  CheckOutcome o = ReadCheckVector(check_vec_, check_in_);
  if (failed_) {
    Fail(local_error_);
    return;
  }
  if (!o.ok) {
    Fail(o.error);
    // Every rank saw the same disagreement; in fatal mode only the lowest
    // fatal rank reports it, so the job ends with one message, not one a rank.
    outcome.report = !fatal_ || o.lowest_fatal_rank == m_.rank;
    return;
  }
  lowest_fatal_rank_ = o.lowest_fatal_rank;
  switch (req_.verb) {
    case Verb::kBarrier:
      if (Called(MPI_Barrier(m_.user), "MPI_Barrier")) Finish(OkReply());
      return;
    case Verb::kBcast:
    case Verb::kBcastb:
      RunBcast(o.count);
      return;
    case Verb::kReduce:
    case Verb::kAllreduce:
    case Verb::kScan:
    case Verb::kExscan:
      RunReduction();
      return;
    case Verb::kGather:
    case Verb::kAllgather:
      RunGather();
      return;
    case Verb::kScatter:
      RunScatter(o.count);
      return;
    case Verb::kGatherb:
    case Verb::kAllgatherb:
      RunGatherBytes();
      return;
    case Verb::kScatterb:
      RunScatterBytes();
      return;
    case Verb::kAlltoallb:
      RunAlltoallBytes();
      return;
    case Verb::kSplit:
    case Verb::kDup:
      RunSplit();
      return;
    default:
      Fail("internal error: not a collective");
  }
}

void CollectiveOp::RunBcast(int64_t count) {
  const bool bytes = req_.verb == Verb::kBcastb;
  const size_t n = static_cast<size_t>(count);
  std::string r;
  if (bytes) AppendBytesHeader(&r, count);
  const size_t offset = r.size();
  if (root()) {
    std::string_view src = bytes ? payload_ : req_.text;
    r.append(src);
  } else {
    r.resize(offset + n);
  }
  // The root sends from its copy in the reply, the others receive into theirs.
  if (!Called(MPI_Bcast(r.data() + offset, static_cast<int>(n), MPI_BYTE, req_.peer, m_.user),
              "MPI_Bcast")) {
    return;
  }
  if (bytes) {
    Finish(std::move(r));
    return;
  }
  if (!root() && std::memchr(r.data() + offset, '\n', n) != nullptr) {
    Fail("the broadcast from rank " + std::to_string(req_.peer) +
         " contains a newline, which a text reply cannot carry: use bcastb");
    return;
  }
  r.push_back('\n');
  Finish(std::move(r));
}

// The reduction's one MPI call, from `send` (MPI_IN_PLACE allowed) into
// `recv`; false once it failed (the outcome says why).
bool CollectiveOp::CallReduction(const void* send, void* recv) {
  const int n = static_cast<int>(req_.count());
  const MPI_Datatype dt = ElementType(req_.type, req_.op);
  const MPI_Op op = MpiOp(req_.op, req_.type, c_);
  int rc;
  const char* call;
  switch (req_.verb) {
    case Verb::kReduce:
      rc = MPI_Reduce(send, recv, n, dt, op, req_.peer, m_.user);
      call = "MPI_Reduce";
      break;
    case Verb::kAllreduce:
      rc = MPI_Allreduce(send, recv, n, dt, op, m_.user);
      call = "MPI_Allreduce";
      break;
    case Verb::kScan:
      rc = MPI_Scan(send, recv, n, dt, op, m_.user);
      call = "MPI_Scan";
      break;
    default:
      rc = MPI_Exscan(send, recv, n, dt, op, m_.user);
      call = "MPI_Exscan";
  }
  return Called(rc, call);
}

// No result on this rank: a reduce's other ranks, and exscan's rank 0.
bool CollectiveOp::NoResult() const {
  return (req_.verb == Verb::kReduce && !root()) || (req_.verb == Verb::kExscan && m_.rank == 0);
}

void CollectiveOp::RunReduction() {
  if (req_.shm_numbers) {
    RunReductionInPlace();
    return;
  }
  void* send = send_.SendData(req_, m_.rank);
  recv_.Resize(req_.type, req_.op, req_.count());
  if (!CallReduction(send, recv_.data())) return;
  Finish(NoResult() ? OkReply() : NumbersReply(recv_, req_));
}

// `:shm=OFF` (or OFF,OUT): the numbers lie in the shared region and the
// result goes there, at OUT, or in place (MPI_IN_PLACE): MPI reads and writes
// the program's memory, and the shim copies nothing either way.
void CollectiveOp::RunReductionInPlace() {
  char* at = const_cast<char*>(payload_.data());
  char* out = req_.shm_dest;
  // A reduce's other ranks only send: no MPI_IN_PLACE and no result there.
  const bool sends_only = req_.verb == Verb::kReduce && !root();
  const bool in_place = out == at && !sends_only;
  if (!CallReduction(in_place ? MPI_IN_PLACE : at, sends_only ? nullptr : out)) return;
  Finish(NoResult() ? OkReply() : IntReply(static_cast<int64_t>(payload_.size())));
}

// The reason every shim refuses a gather of `total` numbers, or "": over MPI's
// count, or over the message limit. With a native rank in the job only MPI's
// count refuses it: a native rank cannot learn of the limit and would wait in
// MPI_Gatherv for shims that refused (docs/bridges.md).
std::string GatherRefusal(int64_t total, const OpContext& c, const Request& req) {
  if (total > INT32_MAX) {
    return std::to_string(total) + " numbers are over MPI's count limit of 2^31 - 1";
  }
  if (c.ledger.any_native()) return "";
  return NumbersOverLimit(static_cast<uint64_t>(total), static_cast<uint64_t>(c.max_payload),
                          NumberBytes(req.op));
}

void CollectiveOp::RunGather() {
  // Counts first, over MPI_COMM_WORLD (one MPI_INT a rank), so that a native
  // rank can take part: MPI_Allgather of its count, then MPI_Gatherv (or
  // MPI_Allgatherv). Every rank learns the result's size before any number
  // moves, so a result over the limit is refused by all ranks in step.
  const bool all = req_.verb == Verb::kAllgather;
  const char* verb = all ? "allgather" : "gather";
  const MPI_Datatype dt = ElementType(req_.type, req_.op);
  int mine = static_cast<int>(req_.count());
  std::vector<int> counts(static_cast<size_t>(m_.size), 0), displs(counts.size(), 0);
  int rc = MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, m_.user);
  if (!Called(rc, "MPI_Allgather (counts)")) return;
  int64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    displs[i] = static_cast<int>(std::min<int64_t>(total, INT32_MAX));
    total += counts[i];
  }
  if (std::string over = GatherRefusal(total, c_, req_); !over.empty()) {
    Refuse(std::string(verb) + " refused: its " + over);
    return;
  }
  void* send = send_.SendData(req_, m_.rank);
  recv_.Resize(req_.type, req_.op, all || root() ? static_cast<size_t>(total) : 0);
  rc = all ? MPI_Allgatherv(send, mine, dt, recv_.data(), counts.data(), displs.data(), dt, m_.user)
           : MPI_Gatherv(send, mine, dt, recv_.data(), counts.data(), displs.data(), dt, req_.peer,
                         m_.user);
  if (!Called(rc, all ? "MPI_Allgatherv" : "MPI_Gatherv")) return;
  if (!all && !root()) {
    Finish(OkReply());
    return;
  }
  Finish(NumbersReply(recv_, req_));
}

void CollectiveOp::RunScatter(int64_t count) {
  const int k = static_cast<int>(count / m_.size);
  const MPI_Datatype dt = ElementType(req_.type, req_.op);
  void* send = root() ? send_.SendData(req_, m_.rank) : nullptr;
  recv_.Resize(req_.type, req_.op, static_cast<size_t>(k));
  if (!Called(MPI_Scatter(send, k, dt, recv_.data(), k, dt, req_.peer, m_.user), "MPI_Scatter")) {
    return;
  }
  Finish(NumbersReply(recv_, req_));
}

// The reason every shim refuses a byte collective whose largest result is
// `most` bytes, or "" (as GatherRefusal).
std::string BytesRefusal(int64_t most, const OpContext& c, const char* what) {
  if (most > INT32_MAX) {
    return std::string(what) + " of " + std::to_string(most) +
           " bytes is over MPI's count limit of 2^31 - 1";
  }
  if (c.ledger.any_native() || most <= c.max_payload) return "";
  return std::string(what) + " of " + std::to_string(most) + " bytes is over the limit of " +
         std::to_string(c.max_payload) +
         " bytes (raise it with stdmpirun --max-message, or send in pieces)";
}

// Byte offsets of pieces of these sizes, laid end to end; their sum.
int64_t Displacements(const std::vector<int>& sizes, std::vector<int>* displs) {
  int64_t total = 0;
  displs->assign(sizes.size(), 0);
  for (size_t i = 0; i < sizes.size(); ++i) {
    (*displs)[i] = static_cast<int>(std::min<int64_t>(total, INT32_MAX));
    total += sizes[i];
  }
  return total;
}

// gatherb / allgatherb: as RunGather, with bytes. Every rank learns every
// size (MPI_Allgather of one MPI_INT a rank), so all refuse a result over the
// limit in step, then MPI_Gatherv (MPI_Allgatherv) moves the bytes.
void CollectiveOp::RunGatherBytes() {
  const bool all = req_.verb == Verb::kAllgatherb;
  int mine = static_cast<int>(payload_.size());
  std::vector<int> sizes(static_cast<size_t>(m_.size), 0), displs;
  if (!Called(MPI_Allgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, m_.user),
              "MPI_Allgather (byte counts)")) {
    return;
  }
  const int64_t total = Displacements(sizes, &displs);
  if (std::string over = BytesRefusal(total, c_, "its result"); !over.empty()) {
    Refuse(std::string(VerbName(req_.verb)) + " refused: " + over);
    return;
  }
  const bool receives = all || root();
  std::string r;
  if (receives) AppendSizesHeader(&r, sizes);
  const size_t offset = r.size();
  if (receives) r.resize(offset + static_cast<size_t>(total));
  const void* send = payload_.data();
  int rc = all ? MPI_Allgatherv(send, mine, MPI_BYTE, r.data() + offset, sizes.data(),
                                displs.data(), MPI_BYTE, m_.user)
               : MPI_Gatherv(send, mine, MPI_BYTE, r.data() + offset, sizes.data(), displs.data(),
                             MPI_BYTE, req_.peer, m_.user);
  if (!Called(rc, all ? "MPI_Allgatherv" : "MPI_Gatherv")) return;
  Finish(receives ? std::move(r) : OkReply());
}

// scatterb: the root's sizes go out first (MPI_Scatter of one MPI_INT a
// rank), then the pieces (MPI_Scatterv). The root's payload is within the
// limit, so every piece is.
void CollectiveOp::RunScatterBytes() {
  std::vector<int> sizes, displs;
  if (root()) {
    sizes.assign(req_.sizes.begin(), req_.sizes.end());
    Displacements(sizes, &displs);
  }
  int mine = 0;
  if (!Called(MPI_Scatter(sizes.data(), 1, MPI_INT, &mine, 1, MPI_INT, req_.peer, m_.user),
              "MPI_Scatter (byte counts)")) {
    return;
  }
  std::string r;
  AppendBytesHeader(&r, mine);
  const size_t offset = r.size();
  r.resize(offset + static_cast<size_t>(mine));
  if (!Called(MPI_Scatterv(payload_.data(), sizes.data(), displs.data(), MPI_BYTE,
                           r.data() + offset, mine, MPI_BYTE, req_.peer, m_.user),
              "MPI_Scatterv")) {
    return;
  }
  Finish(std::move(r));
}

// alltoallb: the sizes first (MPI_Alltoall of one MPI_INT a pair), then the
// bytes (MPI_Alltoallv). What a rank receives differs per rank: the shims
// learn the largest among themselves, so that all refuse one over the limit
// in step.
void CollectiveOp::RunAlltoallBytes() {
  std::vector<int> out(req_.sizes.begin(), req_.sizes.end()), in(out.size(), 0);
  std::vector<int> out_displs, in_displs;
  Displacements(out, &out_displs);
  if (!Called(MPI_Alltoall(out.data(), 1, MPI_INT, in.data(), 1, MPI_INT, m_.user),
              "MPI_Alltoall (byte counts)")) {
    return;
  }
  int64_t most = Displacements(in, &in_displs);
  if (!c_.ledger.any_native() &&
      !Called(MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_INT64_T, MPI_MAX, m_.ctl),
              "MPI_Allreduce (alltoallb sizes)")) {
    return;
  }
  if (std::string over = BytesRefusal(most, c_, "a rank's share"); !over.empty()) {
    Refuse("alltoallb refused: " + over);
    return;
  }
  std::string r;
  AppendSizesHeader(&r, in);
  const size_t offset = r.size();
  r.resize(offset + static_cast<size_t>(in_displs.empty() ? 0 : in_displs.back() + in.back()));
  if (!Called(MPI_Alltoallv(payload_.data(), out.data(), out_displs.data(), MPI_BYTE,
                            r.data() + offset, in.data(), in_displs.data(), MPI_BYTE, m_.user),
              "MPI_Alltoallv")) {
    return;
  }
  Finish(std::move(r));
}

// split / dup: the user's communicator and its twin among the shims are
// split alike (the same color and key order the shims alike in both), then
// the members agree on the new one's key: the largest next key among them,
// so that it is new to every member.
void CollectiveOp::RunSplit() {
  const bool dup = req_.verb == Verb::kDup;
  const int color = req_.color == kNoColor ? MPI_UNDEFINED : req_.color;
  auto n = std::make_unique<Comm>();
  int rc =
      dup ? MPI_Comm_dup(m_.user, &n->user) : MPI_Comm_split(m_.user, color, req_.key, &n->user);
  if (!Called(rc, dup ? "MPI_Comm_dup" : "MPI_Comm_split")) return;
  rc = dup ? MPI_Comm_dup(m_.ctl, &n->ctl) : MPI_Comm_split(m_.ctl, color, req_.key, &n->ctl);
  if (!Called(rc, dup ? "MPI_Comm_dup (shims)" : "MPI_Comm_split (shims)")) return;
  if (n->user == MPI_COMM_NULL) {
    Finish(NoneReply());
    return;
  }
  n->owned = true;
  if (std::string err = DescribeComm(n.get()); !err.empty()) {
    Fail(err);
    return;
  }
  int64_t key = c_.next_comm_key;
  if (!Called(MPI_Allreduce(MPI_IN_PLACE, &key, 1, MPI_INT64_T, MPI_MAX, n->ctl),
              "MPI_Allreduce (communicator key)")) {
    return;
  }
  c_.next_comm_key = key + 1;
  n->key = key;
  n->id = c_.next_comm_id++;
  std::string reply =
      std::to_string(n->id) + " " + std::to_string(n->rank) + " " + std::to_string(n->size) + "\n";
  c_.AddComm(std::move(n));
  Finish(std::move(reply));
}

}  // namespace

std::string DescribeComm(Comm* m) {
  MPI_Comm_set_errhandler(m->user, MPI_ERRORS_RETURN);
  if (m->ctl != MPI_COMM_NULL) MPI_Comm_set_errhandler(m->ctl, MPI_ERRORS_RETURN);
  MPI_Comm_rank(m->user, &m->rank);
  MPI_Comm_size(m->user, &m->size);
  MPI_Group group, world;
  MPI_Comm_group(m->user, &group);
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  std::vector<int> ranks(static_cast<size_t>(m->size));
  for (int r = 0; r < m->size; ++r) ranks[static_cast<size_t>(r)] = r;
  m->world.assign(ranks.size(), 0);
  int rc = MPI_Group_translate_ranks(group, m->size, ranks.data(), world, m->world.data());
  MPI_Group_free(&group);
  MPI_Group_free(&world);
  return rc == MPI_SUCCESS ? "" : MpiErrorString("MPI_Group_translate_ranks", rc);
}

void CreateF64LogicalOps(OpContext& c) {
  MPI_Op_create(LogicalF64<And>, 1, &c.land_f64);
  MPI_Op_create(LogicalF64<Or>, 1, &c.lor_f64);
  MPI_Op_create(LogicalF64<Xor>, 1, &c.lxor_f64);
}

void FreeF64LogicalOps(OpContext& c) {
  for (MPI_Op* op : {&c.land_f64, &c.lor_f64, &c.lxor_f64}) {
    if (*op != MPI_OP_NULL) MPI_Op_free(op);
  }
}

std::unique_ptr<Operation> MakeCollective(OpContext& c, Comm& m, Request&& r,
                                          std::string_view payload, bool fatal) {
  auto op = std::make_unique<CollectiveOp>(c, m, std::move(r), payload, fatal);
  op->Start();
  return op;
}

std::unique_ptr<Operation> MakeFailedCollective(OpContext& c, Comm& m, Verb verb,
                                                std::string error) {
  auto op = std::make_unique<CollectiveOp>(c, m, verb, std::move(error));
  op->Start();
  return op;
}

}  // namespace stdmpi
