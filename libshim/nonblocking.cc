#include "nonblocking.h"

#include "reply.h"

namespace stdmpi {

namespace {

bool IsSend(Verb v) {
  return v == Verb::kIsend || v == Verb::kIsendb;
}

Outcome Failed(std::string why) {
  Outcome o;
  o.ok = false;
  o.error = std::move(why);
  return o;
}

}  // namespace

std::string NonBlocking::Pending::Describe() const {
  std::string s = op->Waiting();
  if (!done) return s + ", not completed";
  if (IsSend(verb)) return s + ", completed";
  return s + ", completed: its message was never read";
}

// wait, waitany, waitall: completes when its requests have.
class NonBlocking::WaitOp : public Operation {
 public:
  WaitOp(OpContext& c, Comm& world, NonBlocking& nb, Verb verb, std::vector<int64_t> ids)
      : Operation(c, world), nb_(nb), verb_(verb), ids_(std::move(ids)) {}

  bool Progress() override {
    nb_.Progress(true);
    if (verb_ == Verb::kWait) {
      if (!nb_.Find(ids_[0])->done) return false;
      outcome = nb_.Collect(ids_[0]);
      return true;
    }
    bool all = true;
    for (int64_t id : ids_) {
      const Pending* p = nb_.Find(id);
      if (verb_ == Verb::kWaitany && p->done) return Finish(IntReply(id));
      all = all && p->done;
    }
    return verb_ == Verb::kWaitall && all && Finish(OkReply());
  }

  std::string Waiting() const override {
    std::string s = VerbName(verb_);
    int open = 0;
    for (int64_t id : ids_) {
      const Pending* p = nb_.Find(id);
      if (p == nullptr || p->done) continue;
      if (open++ == 0) s += ": request " + std::to_string(id) + " (" + p->op->Waiting() + ")";
    }
    if (open > 1) s += " and " + std::to_string(open - 1) + " more";
    return s;
  }

  int64_t Bytes() const override {
    int64_t n = 0;
    for (int64_t id : ids_) {
      const Pending* p = nb_.Find(id);
      if (p != nullptr && !p->done) n += p->op->Bytes();
    }
    return n;
  }

  // The requests stay pending: Forget() reports them.
  bool Abandon() override { return true; }

  std::string Unreachable() override;

  void WaitsOn(std::vector<int>* peers) const override {
    for (int64_t id : ids_) {
      const Pending* p = nb_.Find(id);
      if (p != nullptr && !p->done) p->op->WaitsOn(peers);
    }
  }

 private:
  NonBlocking& nb_;
  Verb verb_;
  std::vector<int64_t> ids_;
};

// A request that can never complete fails its wait (waitany: when all of its
// requests are so) and is freed if it can be given up (a receive that
// matched nothing); a send to a finished rank ends the job.
std::string NonBlocking::WaitOp::Unreachable() {
  std::string first;
  std::vector<int64_t> stuck;
  int open = 0;
  for (int64_t id : ids_) {
    Pending* p = nb_.Find(id);
    if (p == nullptr || p->done) continue;
    ++open;
    std::string why = p->op->Unreachable();
    if (why.empty()) continue;
    stuck.push_back(id);
    outcome.always_fatal = outcome.always_fatal || p->op->outcome.always_fatal;
    if (first.empty()) first = "request " + std::to_string(id) + ": " + why;
  }
  const bool fails = verb_ == Verb::kWaitany ? open > 0 && stuck.size() == static_cast<size_t>(open)
                                             : !stuck.empty();
  if (!fails) return {};
  for (int64_t id : stuck) {
    Pending* p = nb_.Find(id);
    if (p != nullptr && p->op->Abandon()) {
      --nb_.under_way_;
      nb_.Erase(id);
    }
  }
  return first;
}

NonBlocking::Pending* NonBlocking::Find(int64_t id) {
  auto it = pending_.find(id);
  return it == pending_.end() ? nullptr : it->second.get();
}

void NonBlocking::Erase(int64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  --it->second->comm->pending;
  pending_.erase(it);
}

Outcome NonBlocking::Post(Comm& m, const Request& req, std::string_view data, bool self_send) {
  if (pending_.size() >= kMaxPending) {
    return Failed(std::to_string(kMaxPending) +
                  " non-blocking requests are pending on this rank, the most it keeps: "
                  "complete some with wait first");
  }
  const bool send = IsSend(req.verb);
  const int64_t size = static_cast<int64_t>(data.size());
  if (send && !self_send && send_bytes_ + size > 4 * c_.max_payload) {
    return Failed("unfinished isends would hold " + std::to_string(send_bytes_ + size) +
                  " bytes, over 4 x --max-message (" + std::to_string(4 * c_.max_payload) +
                  " bytes): wait for some first");
  }
  auto p = std::make_unique<Pending>();
  p->id = next_id_++;
  p->verb = req.verb;
  p->comm = &m;
  p->peer = req.peer;
  p->tag = req.tag;
  ++m.pending;
  if (send && self_send) {
    Outcome ok;
    ok.reply = OkReply();
    p->op = MakeImmediate(c_, std::move(ok));
    p->done = true;
  } else if (send) {
    p->data.assign(data);
    p->op = MakeSend(c_, m, req.peer, req.tag, p->data);
    send_bytes_ += size;
  } else {
    const bool text = req.verb == Verb::kIrecv;
    p->op = MakeRecv(c_, m, text ? RecvForm::kText : RecvForm::kBytes, req.peer, req.tag,
                     text ? "irecv" : "irecvb", true);
  }
  Pending& posted = *p;
  pending_[p->id] = std::move(p);
  if (!posted.done) {
    ++under_way_;
    Advance(posted);
  }
  Outcome o;
  o.reply = IntReply(posted.id);
  return o;
}

void NonBlocking::Advance(Pending& p) {
  if (p.done) return;
  p.done = p.op->Progress();
  if (!p.done) return;
  --under_way_;
  if (IsSend(p.verb)) {
    send_bytes_ -= static_cast<int64_t>(p.data.size());
  } else {
    recv_bytes_ += p.op->Bytes();
  }
}

void NonBlocking::Progress(bool matching) {
  if (under_way_ == 0) return;
  const bool full = recv_bytes_ >= 4 * c_.max_payload;
  for (auto& [id, p] : pending_) {
    if (!matching && full && !IsSend(p->verb)) continue;
    Advance(*p);
  }
}

bool NonBlocking::ClaimedBefore(const Operation* op, int64_t comm, int source, int tag) const {
  for (const auto& [id, p] : pending_) {
    if (p->op.get() == op) return false;
    if (p->done || IsSend(p->verb) || p->comm->id != comm || p->op->Received().valid) continue;
    if ((p->peer == kAny || p->peer == source) && (p->tag == kAny || p->tag == tag)) return true;
  }
  return false;
}

std::string NonBlocking::Unknown(const std::vector<int64_t>& ids) {
  for (int64_t id : ids) {
    if (Find(id) != nullptr) continue;
    return "request " + std::to_string(id) +
           " is not pending on this rank (ids come from isend, isendb, irecv and irecvb; "
           "wait frees its id)";
  }
  return "";
}

Outcome NonBlocking::Test(int64_t id) {
  if (std::string why = Unknown({id}); !why.empty()) return Failed(why);
  Progress(true);
  Outcome o;
  o.reply = Find(id)->done ? "1\n" : "0\n";
  return o;
}

Outcome NonBlocking::Collect(int64_t id) {
  Pending* p = Find(id);
  Outcome o = std::move(p->op->outcome);
  if (!IsSend(p->verb)) {
    recv_bytes_ -= p->op->Bytes();
    if (LastStatus st = p->op->Received(); st.valid) c_.last_status = st;
  }
  Erase(id);
  return o;
}

std::unique_ptr<Operation> NonBlocking::MakeWait(const Request& req) {
  if (std::string why = Unknown(req.ids); !why.empty()) return MakeImmediate(c_, Failed(why));
  return std::make_unique<WaitOp>(c_, *c_.comms.at(0), *this, req.verb, req.ids);
}

std::string NonBlocking::Forget() {
  if (pending_.empty()) return "";
  std::string list;
  for (auto& [id, p] : pending_) {
    list += (list.empty() ? "request " : ", request ") + std::to_string(id) + " (" + p->Describe() +
            ")";
    --p->comm->pending;
    if (!p->done) forgotten_.push_back(std::move(p));
  }
  const size_t n = pending_.size();
  pending_.clear();
  under_way_ = 0;
  send_bytes_ = recv_bytes_ = 0;
  return std::to_string(n) + " non-blocking request(s) never waited for: " + list;
}

}  // namespace stdmpi
