#include "engine.h"

#include "clock.h"
#include "reply.h"

namespace stdmpi {

namespace {
// How long an operation waits before its rank asks its peers (most waits end
// within microseconds; a question is sent once per peer and job anyway).
constexpr double kAskAfter = 0.05;
// How often a pending operation looks at the ledger (not on every spin).
constexpr int64_t kLedgerEveryMs = 5;
}  // namespace

Engine::Engine() : c_(std::make_unique<OpContext>()), nb_(std::make_unique<NonBlocking>(*c_)) {
  c_->claimed_before = [nb = nb_.get()](const Operation* op, int64_t comm, int source, int tag) {
    return nb->ClaimedBefore(op, comm, source, tag);
  };
}
Engine::~Engine() = default;

bool Engine::Init(int64_t max_payload, const std::vector<int>& native_ranks,
                  const cpu_set_t* own_mask, const std::vector<int>& app_sizes, std::string* err) {
  OpContext& c = *c_;
  c.max_payload = max_payload;
  MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &c.size);
  std::vector<bool> native(static_cast<size_t>(c.size), false);
  for (int r : native_ranks) {
    if (r < 0 || r >= c.size) {
      *err = "--native-ranks names rank " + std::to_string(r) + " but the job has " +
             std::to_string(c.size) + " ranks";
      return false;
    }
    native[static_cast<size_t>(r)] = true;
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
  c.ledger.Init(c.ctl, c.rank, native);
  auto world = std::make_unique<Comm>();
  world->ctl = c.ctl;
  world->rank = c.rank;
  world->size = c.size;
  for (int r = 0; r < c.size; ++r) world->world.push_back(r);
  c.AddComm(std::move(world));
  if (!MakeProgramComm(app_sizes, err)) return false;
  if (!LearnNode(own_mask, err)) return false;
  // MPI_Wtime counts from its first call: make that the rank's start, so a
  // program's first `wtime` is not 0.
  MPI_Wtime();
  CreateF64LogicalOps(c);
  return true;
}

bool Engine::LearnNode(const cpu_set_t* own_mask, std::string* err) {
  MPI_Comm node;
  int rc = MPI_Comm_split_type(c_->ctl, MPI_COMM_TYPE_SHARED, c_->rank, MPI_INFO_NULL, &node);
  if (rc != MPI_SUCCESS) {
    *err = MpiErrorString("MPI_Comm_split_type", rc);
    return false;
  }
  MPI_Comm_rank(node, &node_.local_rank);
  MPI_Comm_size(node, &node_.local_size);
  // The cores this node's ranks may use between them: the union of their
  // affinity masks (one rank bound by the launcher sees only its own core;
  // under SLURM or a cgroup the union is the job's share of the node).
  cpu_set_t mine, all, common;
  CPU_ZERO(&mine);
  CPU_ZERO(&all);
  CPU_ZERO(&common);
  if (own_mask != nullptr) {
    mine = *own_mask;
  } else {
    sched_getaffinity(0, sizeof(mine), &mine);
  }
  static_assert(sizeof(cpu_set_t) % sizeof(uint64_t) == 0, "cpu_set_t as uint64 words");
  const int words = sizeof(cpu_set_t) / sizeof(uint64_t);
  MPI_Allreduce(&mine, &all, words, MPI_UINT64_T, MPI_BOR, node);
  MPI_Allreduce(&mine, &common, words, MPI_UINT64_T, MPI_BAND, node);
  node_.cpus = CPU_COUNT(&all) > 0 ? CPU_COUNT(&all) : 1;
  node_.mask = all;
  node_.masks_differ = !CPU_EQUAL(&common, &all);
  MPI_Comm_free(&node);
  return true;
}

bool Engine::MakeProgramComm(const std::vector<int>& app_sizes, std::string* err) {
  OpContext& c = *c_;
  auto m = std::make_unique<Comm>();
  m->id = 1;
  if (app_sizes.size() < 2) {
    // One program: its ranks are the world (the same communicator).
    *m = *c.comms.at(0);
    m->id = 1;
    c.AddComm(std::move(m));
    return true;
  }
  int first = 0;
  std::vector<int> members;
  for (int n : app_sizes) {
    if (c.rank >= first && c.rank < first + n) {
      for (int r = first; r < first + n; ++r) members.push_back(r);
    }
    first += n;
  }
  // Collective over the program's ranks only (a native program's ranks
  // take no part).
  MPI_Group world, group;
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  MPI_Group_incl(world, static_cast<int>(members.size()), members.data(), &group);
  int rc = MPI_Comm_create_group(MPI_COMM_WORLD, group, 0x5d2, &m->user);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_create_group(c.ctl, group, 0x5d3, &m->ctl);
  MPI_Group_free(&group);
  MPI_Group_free(&world);
  if (rc != MPI_SUCCESS) {
    *err = MpiErrorString("MPI_Comm_create_group (this program's ranks)", rc);
    return false;
  }
  m->key = 1;
  m->owned = true;
  *err = DescribeComm(m.get());
  c.AddComm(std::move(m));
  return err->empty();
}

Outcome Engine::FreeComm(int64_t id) {
  OpContext& c = *c_;
  Outcome o;
  o.ok = false;
  auto it = c.comms.find(id);
  if (id < 2 || it == c.comms.end()) {
    o.error = id < 2 ? "communicator " + std::to_string(id) + " (" +
                           (id == 0 ? "the world" : "this program's ranks") + ") cannot be freed"
                     : "communicator " + std::to_string(id) +
                           " does not exist on this rank (split and dup make them, free ends "
                           "them)";
    return o;
  }
  Comm& m = *it->second;
  if (m.pending > 0) {
    o.error = "communicator " + std::to_string(id) + " has " + std::to_string(m.pending) +
              " non-blocking request(s) not yet waited for: wait for them first";
    return o;
  }
  MPI_Comm_free(&m.user);
  MPI_Comm_free(&m.ctl);
  c.shapes.erase(id);
  c.comms.erase(it);
  o.ok = true;
  o.reply = OkReply();
  return o;
}

void Engine::Shutdown() {
  for (auto& [id, m] : c_->comms) {
    if (!m->owned) continue;
    if (m->user != MPI_COMM_NULL) MPI_Comm_free(&m->user);
    if (m->ctl != MPI_COMM_NULL) MPI_Comm_free(&m->ctl);
  }
  c_->comms.clear();
  op_.reset();
  FreeF64LogicalOps(*c_);
  if (c_->ctl != MPI_COMM_NULL) MPI_Comm_free(&c_->ctl);
}

bool Engine::AnswerAtOnce(Comm& m, const Request& req, std::string_view payload, Outcome* out) {
  OpContext& c = *c_;
  switch (req.verb) {
    case Verb::kRank:
      out->reply = IntReply(m.rank);
      return true;
    case Verb::kSize:
      out->reply = IntReply(m.size);
      return true;
    case Verb::kWtime:
      out->reply = F64Reply(MPI_Wtime());
      return true;
    case Verb::kStatus:
      if (!c.last_status.valid) {
        out->ok = false;
        out->error = "no receive has completed on this rank yet";
      } else {
        out->reply = StatusReply(c.last_status.source, c.last_status.tag, c.last_status.bytes);
      }
      return true;
    case Verb::kSend:
    case Verb::kSendb:
      if (req.peer != m.rank) return false;
      SendToSelf(m, req.verb == Verb::kSend ? req.text : payload, req.tag, out);
      return true;
    case Verb::kIsend:
    case Verb::kIsendb: {
      std::string_view data = req.verb == Verb::kIsend ? req.text : payload;
      if (req.peer != m.rank) {
        *out = nb_->Post(m, req, data);
        return true;
      }
      SendToSelf(m, data, req.tag, out);
      if (out->ok) *out = nb_->Post(m, req, data, true);
      return true;
    }
    case Verb::kIrecv:
    case Verb::kIrecvb:
      *out = nb_->Post(m, req, {});
      return true;
    case Verb::kTest:
      *out = nb_->Test(req.ids[0]);
      return true;
    case Verb::kFree:
      *out = FreeComm(req.comm);
      return true;
    case Verb::kTaskInfo:
      if (task_ == nullptr || task_->held == 0) {
        out->ok = false;
        out->error = task_ == nullptr ? "@mpi taskinfo is for task farms (stdmpirun --tasks FILE)"
                                      : "no item is held: ask for one with @mpi task";
      } else {
        out->reply = std::to_string(task_->held) + " " + std::to_string(task_->attempt) + "\n";
      }
      return true;
    case Verb::kTask:
      if (task_ != nullptr) return false;
      out->ok = false;
      out->error = "@mpi task is for task farms: start the job with stdmpirun --tasks FILE COMMAND";
      return true;
    case Verb::kErrors:
    case Verb::kAbort:
      out->ok = false;
      out->error = "internal error: errors/abort are handled by the shim";
      return true;
    default:
      return false;
  }
}

void Engine::SendToSelf(Comm& m, std::string_view data, int tag, Outcome* out) {
  auto s = std::make_unique<SelfSend>();
  s->data.assign(data);
  s->tag = tag;
  int rc = MPI_Isend(s->data.data(), static_cast<int>(s->data.size()), MPI_BYTE, m.rank, tag,
                     m.user, &s->req);
  if (rc != MPI_SUCCESS) {
    out->ok = false;
    out->error = MpiErrorString("MPI_Isend", rc);
    return;
  }
  self_sends_.push_back(std::move(s));
  out->reply = OkReply();
}

std::unique_ptr<Operation> Engine::MakeOperation(Comm& m, Request&& req, std::string_view payload,
                                                 bool errors_return) {
  OpContext& c = *c_;
  switch (req.verb) {
    case Verb::kSend:
      return MakeSend(c, m, req.peer, req.tag, req.text);
    case Verb::kSendb:
      return MakeSend(c, m, req.peer, req.tag, payload);
    case Verb::kRecv:
      return MakeRecv(c, m, RecvForm::kText, req.peer, req.tag, "recv");
    case Verb::kRecvb:
      return MakeRecv(c, m, RecvForm::kBytes, req.peer, req.tag, "recvb", false, req.shm_out);
    case Verb::kProbe:
      return MakeRecv(c, m, RecvForm::kProbe, req.peer, req.tag, "probe");
    case Verb::kIprobe:
      return MakeRecv(c, m, RecvForm::kIprobe, req.peer, req.tag, "iprobe");
    case Verb::kSendrecv:
    case Verb::kSendrecvb:
      return MakeSendrecv(c, m, req, payload);
    case Verb::kWait:
    case Verb::kWaitany:
    case Verb::kWaitall:
      return nb_->MakeWait(req);
    case Verb::kTask:
      return MakeTaskOp(c, m, *task_, req);
    default:
      break;
  }
  const bool sized_by_root =
      req.verb == Verb::kBcast || req.verb == Verb::kBcastb || req.verb == Verb::kScatter;
  if (sized_by_root && c.ledger.native(m.World(req.peer))) {
    // Every shim decides this alike, with no communication: none waits.
    Outcome o;
    o.ok = false;
    o.error = std::string(VerbName(req.verb)) + " root " + std::to_string(req.peer) +
              " is a native MPI rank: the other ranks cannot learn the size of what it "
              "sends; send it point to point instead";
    return MakeImmediate(c, std::move(o));
  }
  return MakeCollective(c, m, std::move(req), payload, !errors_return);
}

bool Engine::Start(Request req, std::string_view payload, bool errors_return) {
  // The parser checked that it exists (free's ID is the one to free).
  Comm& m = *c_->comms.at(TakesComm(req.verb) ? req.comm : 0);
  Outcome now;
  if (AnswerAtOnce(m, req, payload, &now)) return StartOp(MakeImmediate(*c_, std::move(now)));
  return StartOp(MakeOperation(m, std::move(req), payload, errors_return));
}

bool Engine::StartFailedCollective(Verb verb, int64_t comm, std::string error) {
  auto it = c_->comms.find(comm);
  if (it == c_->comms.end()) {
    // No such communicator: no peer waits for this rank in it.
    Outcome o;
    o.ok = false;
    o.error = std::move(error);
    return StartOp(MakeImmediate(*c_, std::move(o)));
  }
  return StartOp(MakeFailedCollective(*c_, *it->second, verb, std::move(error)));
}

bool Engine::StartOp(std::unique_ptr<Operation> op) {
  done_ = false;
  op_started_ = MonotonicSeconds();
  op_ = std::move(op);
  return Progress();
}

bool Engine::Progress() {
  if (op_ == nullptr) return false;
  // Requests posted before this one match first, as MPI orders receives.
  nb_->Progress(true);
  if (!done_) done_ = op_->Progress();
  if (!done_) {
    // Now and then (not on every spin of a short wait): has a peer this
    // operation waits for finished for good?
    const int64_t ms = CoarseMonotonicMs();
    if (ms - last_ledger_check_ms_ >= kLedgerEveryMs) {
      last_ledger_check_ms_ = ms;
      PeerLedger& ledger = c_->ledger;
      if (MonotonicSeconds() - op_started_ >= kAskAfter) {
        std::vector<int> peers;
        op_->WaitsOn(&peers);
        ledger.Ask(peers);
      }
      ledger.ReceiveAnswers();
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

std::string Engine::DropUnreceivedSelfSends() {
  std::vector<int> tags = UnreceivedSelfSends();
  if (tags.empty()) return "";
  std::string list;
  for (int t : tags) list += (list.empty() ? "" : ", ") + std::to_string(t);
  // The buffers must outlive the requests MPI still holds: keep them.
  for (auto& s : self_sends_) {
    MPI_Request_free(&s->req);
    dropped_.push_back(std::move(s->data));
  }
  self_sends_.clear();
  return std::to_string(tags.size()) +
         " message(s) this rank sent to itself were never received (tag " + list + ")";
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
