// The MPI side of a rank: turns requests into MPI operations on
// MPI_COMM_WORLD and finishes them without ever blocking the event loop.
//
// Start() makes one Operation (operation.h) from a request; the shim's poller
// (poller.h) calls Progress() while it is pending, spinning briefly, then
// sleeping. So a rank waiting for a message or a collective still notices its
// program dying, a signal, or a request to report what it waits for, and
// never pins a core for a long wait. Now and then Progress() also asks the
// peers the operation waits for whether they have finished (peer_ledger.h),
// and fails an operation that can never complete.
//
// Text and bytes travel as plain MPI_BYTE messages with the user's tag, numbers
// as plain MPI_DOUBLE / MPI_INT64_T (MPI_DOUBLE_INT / MPI_LONG_INT pairs for
// minloc/maxloc). The shims' own coordination (the agreement check of
// collective.h, the ledger) uses a private communicator.
#ifndef STDMPI_LIBSHIM_ENGINE_H_
#define STDMPI_LIBSHIM_ENGINE_H_

#include <mpi.h>
#include <sched.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nonblocking.h"
#include "operation.h"
#include "request.h"
#include "task_dispatch.h"

namespace stdmpi {

// This node's share of the job, as the shims of the node agree on it.
struct NodeInfo {
  int local_rank = 0, local_size = 1;
  int cpus = 1;               // cores this node's ranks may run on, together
  cpu_set_t mask{};           // those cores: the union of the ranks' affinity masks
  bool masks_differ = false;  // the ranks' masks differ: the launcher placed them
};

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // REQUIRES: MPI is initialized. Creates the private communicator of the
  // shims (collective over the world ranks not in `native_ranks`: native MPI
  // programs in the job take no part) and the user-defined ops, and learns
  // this node's ranks and cores (from each rank's `own_mask`, the cores it was
  // given before binding itself; nullptr: its affinity now). On failure
  // returns false.
  // `app_sizes`: in an MPMD job the rank count of each program, in world
  // rank order (communicator 1 is then this program's ranks; else the world).
  bool Init(int64_t max_payload, const std::vector<int>& native_ranks, const cpu_set_t* own_mask,
            const std::vector<int>& app_sizes, std::string* err);
  // Frees what Init created. REQUIRES: !busy().
  void Shutdown();

  int rank() const { return c_->rank; }
  int size() const { return c_->size; }
  const NodeInfo& node() const { return node_; }

  // Starts `req` (moved in: collectives send straight from its numbers).
  // `payload` holds the raw bytes of sendb / bcastb on the root. `req.text` and
  // `payload` must stay valid until the operation finished.
  // Returns true if the operation finished at once (take it with Take()).
  bool Start(Request req, std::string_view payload, bool errors_return);
  // A collective whose request failed on this rank in `errors return` mode
  // (operation.h, MakeFailedCollective).
  bool StartFailedCollective(Verb verb, int64_t comm, std::string error);
  // The communicators besides the world, for the request parser.
  const CommShapes* comm_shapes() const { return &c_->shapes; }
  // For --summary, --profile and --report (rank_summary.h): the world rank of
  // rank `r` of communicator `comm`, and the key every member of `comm`
  // knows it by; -1 if this rank has no such communicator.
  int WorldRankIn(int64_t comm, int r) const { return c_->WorldOf(comm, r); }
  int64_t CommKey(int64_t comm) const {
    auto it = c_->comms.find(comm);
    return it == c_->comms.end() ? -1 : it->second->key;
  }

  // Drives the pending operation. Returns true once it has finished.
  bool Progress();
  bool busy() const { return op_ != nullptr && !done_; }
  Outcome Take();

  // What the pending operation waits for, e.g. "recv from rank 0 tag 5".
  std::string Waiting() const;
  // Bytes the pending operation moves (to let big transfers poll longer).
  int64_t PendingBytes() const;
  // Abandons a pending receive or probe that has not matched a message yet
  // (its program is gone). Returns false if the operation cannot be abandoned.
  bool AbandonIfUnmatched();

  // Non-blocking requests (nonblocking.h) still under way: the shim advances
  // them on a timer while its program computes.
  bool background_under_way() const { return nb_->under_way(); }
  // Where recvb:shm=OFF puts its message (OpContext::shm_place).
  void set_shm_place(std::function<bool(int64_t, int64_t, char**, std::string*)> place) {
    c_->shm_place = std::move(place);
  }
  void ProgressBackground() { nb_->Progress(false); }
  // The program can make no more requests: its requests never waited for,
  // described ("" if none), and let go.
  std::string ForgetNonBlocking() { return nb_->Forget(); }

  // A task farm's link to the dispatcher (`@mpi task`); nullptr otherwise.
  void set_task_link(TaskLink* link) { task_ = link; }
  // The shims' own communicator (the task farm's messages).
  MPI_Comm ctl() const { return c_->ctl; }

  // Finished peers, questions and answers, the closing barrier.
  PeerLedger& ledger() { return c_->ledger; }

  // Sends to this rank itself are buffered: MPI_Send to self deadlocks above
  // the eager size until the rank posts the receive, which its program can
  // only do after the reply. So they are answered `ok` at once and complete
  // when the program receives them. Before MPI_Finalize: lets go of those
  // never received, and says so ("2 message(s) this rank sent to itself were
  // never received (tag 5, 7)"), or returns "".
  std::string DropUnreceivedSelfSends();

 private:
  // The reply to a request answered without communication (rank, size,
  // wtime, status, a send to self), or nullptr if it needs an operation.
  bool AnswerAtOnce(Comm& m, const Request& req, std::string_view payload, Outcome* out);
  std::unique_ptr<Operation> MakeOperation(Comm& m, Request&& req, std::string_view payload,
                                           bool errors_return);
  bool StartOp(std::unique_ptr<Operation> op);
  bool LearnNode(const cpu_set_t* own_mask, std::string* err);
  // A send to this rank itself (see DropUnreceivedSelfSends).
  void SendToSelf(Comm& m, std::string_view data, int tag, Outcome* out);
  // Communicator 1: this program's ranks in an MPMD job.
  bool MakeProgramComm(const std::vector<int>& app_sizes, std::string* err);
  // `free ID`.
  Outcome FreeComm(int64_t id);
  // Frees the sends to self that were received; returns the tags of the rest.
  std::vector<int> UnreceivedSelfSends();

  std::unique_ptr<OpContext> c_;
  std::unique_ptr<NonBlocking> nb_;
  TaskLink* task_ = nullptr;
  NodeInfo node_;
  std::unique_ptr<Operation> op_;
  bool done_ = false;
  struct SelfSend {
    std::string data;
    int tag;
    MPI_Request req;
  };
  std::vector<std::unique_ptr<SelfSend>> self_sends_;
  std::vector<std::string> dropped_;
  int64_t last_ledger_check_ms_ = 0;
  double op_started_ = 0;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_ENGINE_H_
