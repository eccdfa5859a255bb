// Point-to-point operations: send, the receives (recv, recvb, probe, iprobe)
// and sendrecv. Text and bytes travel as plain MPI_BYTE messages with the
// user's tag on MPI_COMM_WORLD, so a native MPI rank can take part.
#include <cstring>

#include "clock.h"
#include "operation.h"
#include "reply.h"

namespace stdmpi {

std::string MpiErrorString(const char* call, int code) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) {
    return std::string(call) + " failed with MPI error " + std::to_string(code);
  }
  return std::string(call) + " failed: " + std::string(msg, static_cast<size_t>(len));
}

std::string PeerName(int rank) {
  return rank == kAny ? "any rank" : "rank " + std::to_string(rank);
}

std::string TagName(int tag) {
  return tag == kAny ? "any tag" : "tag " + std::to_string(tag);
}

bool Operation::Fail(std::string reason) {
  outcome.ok = false;
  outcome.error = std::move(reason);
  return true;
}

bool Operation::FailMpi(const char* call, int code) {
  return Fail(MpiErrorString(call, code));
}

bool Operation::Finish(std::string reply) {
  outcome.ok = true;
  outcome.reply = std::move(reply);
  return true;
}

int Operation::Test(MPI_Request* r, MPI_Status* st, const char* what) {
  int flag = 0;
  int rc = MPI_Test(r, &flag, st);
  if (rc != MPI_SUCCESS) {
    FailMpi(what, rc);
    return -1;
  }
  return flag ? 1 : 0;
}

namespace {

class ImmediateOp : public Operation {
 public:
  ImmediateOp(OpContext& c, Outcome o) : Operation(c, *c.comms.at(0)) { outcome = std::move(o); }
  bool Progress() override { return true; }
  std::string Waiting() const override { return "nothing"; }
};

class SendOp : public Operation {
 public:
  SendOp(OpContext& c, Comm& m, int dest, int tag, std::string_view data)
      : Operation(c, m), dest_(dest), tag_(tag), size_(static_cast<int64_t>(data.size())) {
    int rc =
        MPI_Isend(data.data(), static_cast<int>(data.size()), MPI_BYTE, dest, tag, m_.user, &req_);
    if (rc != MPI_SUCCESS) {
      FailMpi("MPI_Isend", rc);
      failed_ = true;
    } else {
      c_.ledger.CountSent(m_.World(dest));
    }
  }
  bool Progress() override {
    if (failed_) return true;
    int t = Test(&req_, MPI_STATUS_IGNORE, "MPI_Isend");
    if (t < 0) return true;
    return t == 1 && Finish(OkReply());
  }
  std::string Waiting() const override {
    return "send to rank " + std::to_string(dest_) + " " + TagName(tag_) + m_.On() + " (" +
           std::to_string(size_) + " bytes)";
  }
  int64_t Bytes() const override { return size_; }
  std::string Unreachable() override {
    const PeerLedger::Peer& p = c_.ledger.peer(m_.World(dest_));
    if (!p.finished || MonotonicSeconds() - p.since < PeerLedger::kInFlightGrace) return {};
    outcome.always_fatal = true;
    return Waiting() + " can never complete: " + c_.ledger.FinishedNote(m_.World(dest_)) +
           " without receiving it";
  }
  void WaitsOn(std::vector<int>* peers) const override { peers->push_back(m_.World(dest_)); }

 private:
  int dest_, tag_;
  int64_t size_;
  MPI_Request req_ = MPI_REQUEST_NULL;
  bool failed_ = false;
};

// A receive: MPI_Iprobe until a message matches, then MPI_Imrecv of exactly
// that message (so its size is known before a byte is received).
class RecvOp : public Operation {
 public:
  RecvOp(OpContext& c, Comm& m, RecvForm form, int src, int tag, const char* verb,
         bool background = false)
      : Operation(c, m), form_(form), src_(src), tag_(tag), verb_(verb), background_(background) {}

  // recvb:shm=OFF: the message is received straight into the shared region
  // at `off`, and the reply is its size alone.
  void set_shm_out(int64_t off) { shm_out_ = off; }

  bool Progress() override {
    if (phase_ == Phase::kProbe) return ProgressProbe();
    MPI_Status st;
    int t = Test(&req_, &st, "MPI_Imrecv");
    if (t <= 0) return t < 0;
    if (!background_) c_.last_status = Received();
    if (form_ == RecvForm::kText &&
        std::memchr(reply_.data(), '\n', static_cast<size_t>(bytes_)) != nullptr) {
      // Not consumed: the next receive or probe that matches it gets it.
      reply_.resize(static_cast<size_t>(bytes_));
      c_.held.Hold({m_.id, src_found_, tag_found_, std::move(reply_)});
      return FailHeldNewline();
    }
    return Finish(std::move(reply_));
  }

  std::string Waiting() const override {
    std::string s = std::string(verb_) + " from " + PeerName(src_) + " " + TagName(tag_) + m_.On();
    if (phase_ == Phase::kRecv) s += " (receiving " + std::to_string(bytes_) + " bytes)";
    return s;
  }
  int64_t Bytes() const override { return bytes_; }
  bool Abandon() override { return phase_ == Phase::kProbe; }
  LastStatus Received() const override { return {matched_, src_found_, tag_found_, bytes_}; }
  std::string Unreachable() override;
  void WaitsOn(std::vector<int>* peers) const override {
    if (phase_ != Phase::kProbe || form_ == RecvForm::kIprobe) return;
    if (src_ != kAny) {
      peers->push_back(m_.World(src_));
      return;
    }
    for (int r = 0; r < m_.size; ++r) peers->push_back(m_.World(r));
  }

 private:
  enum class Phase { kProbe, kRecv };

  bool ProgressProbe();
  // Answers from a held message, if one matches: true once finished.
  bool FromHeld();
  bool FailHeldNewline();
  // Starts receiving the message `st` describes: 1 receiving, 0 probe again,
  // -1 failed (outcome set).
  int Receive(const MPI_Status& st, int count);

  RecvForm form_;
  int src_, tag_;
  const char* verb_;
  bool background_;
  int64_t shm_out_ = -1;
  bool matched_ = false;  // took a message (src_found_ ... describe it)
  Phase phase_ = Phase::kProbe;
  double first_probe_ = 0;
  int src_found_ = 0, tag_found_ = 0;
  int64_t bytes_ = 0;
  std::string reply_;
  MPI_Request req_ = MPI_REQUEST_NULL;
};

std::string RecvOp::Unreachable() {
  if (phase_ != Phase::kProbe || form_ == RecvForm::kIprobe) return {};
  const double now = MonotonicSeconds();
  if (first_probe_ == 0) first_probe_ = now;
  const PeerLedger& ledger = c_.ledger;
  const std::string what = std::string(verb_) + " from " + PeerName(src_) + " " + TagName(tag_) +
                           m_.On() + " can never complete: ";
  auto world_of = [this](int64_t comm, int r) { return c_.WorldOf(comm, r); };
  if (src_ == m_.rank || (src_ == kAny && m_.size == 1)) {
    // Its program waits here, so it can send itself nothing more; a message
    // it sent itself before shows up in the first probes. (In a
    // communicator of one rank, `any` is this rank.)
    if (now - first_probe_ < 0.5) return {};
    return what + "this rank sent itself no message with " + TagName(tag_) +
           ", and no other rank can send one in its place";
  }
  int64_t left = 0;
  if (src_ != kAny) {
    const int w = m_.World(src_);
    if (ledger.native(w) || !ledger.NothingMoreFrom(w, now, &left)) return {};
    left += c_.held.CountFrom(w, world_of);
    std::string s = what + ledger.FinishedNote(w) + " without sending it";
    if (left > 0) {
      s += " (" + std::to_string(left) + " message(s) from it with another tag are unreceived)";
    }
    return s;
  }
  if (ledger.any_native() || m_.size == 1) return {};
  for (int r = 0; r < m_.size; ++r) {
    const int w = m_.World(r);
    if (r != m_.rank && !ledger.NothingMoreFrom(w, now, &left)) return {};
    left += c_.held.CountFrom(w, world_of);
  }
  std::string s = what + "every other rank's program has finished (" +
                  ledger.FinishedNote(m_.World(m_.rank == 0 ? 1 : 0)) + ", ...)";
  if (left > 0) s += "; " + std::to_string(left) + " message(s) with another tag are unreceived";
  return s;
}

bool RecvOp::FailHeldNewline() {
  return Fail("the message from rank " + std::to_string(src_found_) + " tag " +
              std::to_string(tag_found_) + " (" + std::to_string(bytes_) +
              " bytes) contains a newline, which a text reply cannot carry; it stays first in "
              "line: receive it with recvb");
}

bool RecvOp::FromHeld() {
  const HeldMessages::Message* m = c_.held.Find(m_.id, src_, tag_);
  if (m == nullptr) return false;
  src_found_ = m->source;
  tag_found_ = m->tag;
  bytes_ = static_cast<int64_t>(m->data.size());
  matched_ = true;
  if (form_ == RecvForm::kProbe || form_ == RecvForm::kIprobe) {
    return Finish(StatusReply(src_found_, tag_found_, bytes_));
  }
  if (!background_) c_.last_status = Received();
  if (form_ == RecvForm::kText) return FailHeldNewline();
  AppendBytesHeader(&reply_, bytes_);
  reply_ += c_.held.Take(m).data;  // (:shm=OFF: the shim puts the bytes in the region)
  return Finish(std::move(reply_));
}

bool RecvOp::ProgressProbe() {
  if (FromHeld()) return true;
  int flag = 0;
  MPI_Status st;
  int rc = MPI_Iprobe(src_, tag_, m_.user, &flag, &st);
  if (rc != MPI_SUCCESS) return FailMpi("MPI_Iprobe", rc);
  if (!flag) return form_ == RecvForm::kIprobe && Finish(NoneReply());
  // It arrived after a receive posted earlier looked: that receive takes it
  // (on the next poll, which advances earlier requests first), as MPI
  // matches receives in the order they were posted.
  if (c_.claimed_before && c_.claimed_before(this, m_.id, st.MPI_SOURCE, st.MPI_TAG)) {
    return form_ == RecvForm::kIprobe && Finish(NoneReply());
  }
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  if (form_ == RecvForm::kProbe || form_ == RecvForm::kIprobe) {
    return Finish(StatusReply(st.MPI_SOURCE, st.MPI_TAG, count));
  }
  if (count > c_.max_payload) {
    return Fail("the message from rank " + std::to_string(st.MPI_SOURCE) + " tag " +
                std::to_string(st.MPI_TAG) + " has " + std::to_string(count) +
                " bytes, over the limit of " + std::to_string(c_.max_payload) +
                " (raise it with stdmpirun --max-message); it stays queued");
  }
  int started = Receive(st, count);
  if (started <= 0) return started < 0;
  return Progress();
}

int RecvOp::Receive(const MPI_Status& st, int count) {
  // Match exactly the message just seen: messages from one source with one
  // tag never overtake each other, and this process is single-threaded.
  MPI_Message msg;
  MPI_Status st2;
  int flag = 0;
  int rc = MPI_Improbe(st.MPI_SOURCE, st.MPI_TAG, m_.user, &flag, &msg, &st2);
  if (rc != MPI_SUCCESS) {
    FailMpi("MPI_Improbe", rc);
    return -1;
  }
  if (!flag) return 0;  // cannot happen single-threaded; probe again
  src_found_ = st.MPI_SOURCE;
  tag_found_ = st.MPI_TAG;
  bytes_ = count;
  matched_ = true;
  c_.ledger.CountReceived(m_.World(src_found_));
  size_t offset = 0;
  char* into = nullptr;
  if (form_ == RecvForm::kBytes && shm_out_ >= 0 && c_.shm_place) {
    // Straight into the region: the reply is "N" alone.
    std::string why;
    if (!c_.shm_place(shm_out_, count, &into, &why)) {
      // Received (it cannot stay queued once matched), and dropped.
      static char sink;
      MPI_Status ignored;
      std::string drop(static_cast<size_t>(count), '\0');
      MPI_Mrecv(drop.empty() ? &sink : drop.data(), count, MPI_BYTE, &msg, &ignored);
      Fail("the message from rank " + std::to_string(src_found_) + " tag " +
           std::to_string(tag_found_) + " (" + std::to_string(count) +
           " bytes) cannot be placed in the shared region, and is lost: " + why);
      return -1;
    }
    reply_ = std::to_string(count) + "\n";
  } else if (form_ == RecvForm::kBytes) {
    AppendBytesHeader(&reply_, count);
    offset = reply_.size();
    reply_.resize(offset + static_cast<size_t>(count));
  } else {
    reply_.resize(static_cast<size_t>(count) + 1);
    reply_[static_cast<size_t>(count)] = '\n';
  }
  if (into == nullptr) into = reply_.data() + offset;
  rc = MPI_Imrecv(into, count, MPI_BYTE, &msg, &req_);
  if (rc != MPI_SUCCESS) {
    FailMpi("MPI_Imrecv", rc);
    return -1;
  }
  phase_ = Phase::kRecv;
  return 1;
}

class SendrecvOp : public Operation {
 public:
  // sendrecv sends its TEXT, sendrecvb its `payload`.
  SendrecvOp(OpContext& c, Comm& m, const Request& r, std::string_view payload)
      : Operation(c, m),
        bytes_(r.verb == Verb::kSendrecvb),
        send_(c, m, r.peer, r.tag, bytes_ ? payload : r.text),
        recv_(c, m, bytes_ ? RecvForm::kBytes : RecvForm::kText, r.peer2, r.tag2,
              bytes_ ? "recvb" : "recv") {}

  bool Progress() override {
    if (!send_done_) send_done_ = send_.Progress();
    if (!recv_done_) recv_done_ = recv_.Progress();
    if (!send_done_ || !recv_done_) return false;
    if (!send_.outcome.ok) return Fail(send_.outcome.error);
    outcome = std::move(recv_.outcome);
    return true;
  }
  std::string Waiting() const override {
    std::string s = bytes_ ? "sendrecvb: " : "sendrecv: ";
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
    return why.empty() ? why : (bytes_ ? "sendrecvb: " : "sendrecv: ") + why;
  }
  void WaitsOn(std::vector<int>* peers) const override {
    if (!send_done_) send_.WaitsOn(peers);
    if (!recv_done_) recv_.WaitsOn(peers);
  }

 private:
  bool bytes_;
  SendOp send_;
  RecvOp recv_;
  bool send_done_ = false, recv_done_ = false;
};

}  // namespace

const HeldMessages::Message* HeldMessages::Find(int64_t comm, int src, int tag) const {
  for (const Message& m : held_) {
    if (m.comm != comm) continue;
    if ((src == kAny || m.source == src) && (tag == kAny || m.tag == tag)) return &m;
  }
  return nullptr;
}

HeldMessages::Message HeldMessages::Take(const Message* m) {
  auto it = held_.begin() + (m - held_.data());
  Message out = std::move(*it);
  held_.erase(it);
  return out;
}

std::unique_ptr<Operation> MakeImmediate(OpContext& c, Outcome o) {
  return std::make_unique<ImmediateOp>(c, std::move(o));
}

std::unique_ptr<Operation> MakeSend(OpContext& c, Comm& m, int dest, int tag,
                                    std::string_view data) {
  return std::make_unique<SendOp>(c, m, dest, tag, data);
}

std::unique_ptr<Operation> MakeRecv(OpContext& c, Comm& m, RecvForm form, int src, int tag,
                                    const char* verb, bool background, int64_t shm_out) {
  auto op = std::make_unique<RecvOp>(c, m, form, src, tag, verb, background);
  op->set_shm_out(shm_out);
  return op;
}

std::unique_ptr<Operation> MakeSendrecv(OpContext& c, Comm& m, const Request& r,
                                        std::string_view payload) {
  return std::make_unique<SendrecvOp>(c, m, r, payload);
}

}  // namespace stdmpi
