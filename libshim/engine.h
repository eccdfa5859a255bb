// The MPI side of a rank: turns parsed requests into MPI operations on
// MPI_COMM_WORLD and finishes them without ever blocking.
//
// Every operation is started with non-blocking MPI calls and driven by
// Progress(), which the shim's event loop calls while the operation is pending
// (spinning briefly, then sleeping; see shim.cc). So a rank waiting for a message
// or a collective still notices its child dying, a signal, or a request to report
// what it waits for, and never pins a core for a long wait.
//
// Text and bytes travel as plain MPI_BYTE messages with the user's tag, numbers
// as plain MPI_DOUBLE / MPI_INT64_T (MPI_DOUBLE_INT / MPI_LONG_INT pairs for
// minloc/maxloc). The shim's own coordination (the agreement check of
// collective.h, gather counts) uses a private communicator.
#ifndef STDMPI_LIBSHIM_ENGINE_H_
#define STDMPI_LIBSHIM_ENGINE_H_

#include <mpi.h>
#include <sched.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "request.h"

namespace stdmpi {

// What a finished operation produced.
struct Outcome {
  bool ok = true;
  // ok: the whole reply for the child (one line, or a header line + raw bytes).
  std::string reply;
  // !ok: the reason, phrased for the user.
  std::string error;
  // !ok and the job ends: false on the ranks that should stay quiet so that one
  // rank reports a disagreement all ranks detected.
  bool report = true;
  // !ok: ends the job even in `errors return` mode (an MPI request was left
  // pending that can never complete: a send or a collective to a finished rank).
  bool always_fatal = false;
};

// Why a rank can make no more requests (see Engine::MarkFinished).
enum class FinishReason { kExited = 0, kClosedStdout = 1 };

struct LastStatus {
  bool valid = false;
  int source = 0;
  int tag = 0;
  int64_t bytes = 0;
};

class Operation;

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
  bool Init(int64_t max_payload, const std::vector<int>& native_ranks, const cpu_set_t* own_mask,
            std::string* err);
  // Frees what Init created. REQUIRES: !busy().
  void Shutdown();

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  // Cores this node's ranks may run on, together.
  int node_cpus() const { return node_cpus_; }
  // The PUs this node's ranks may run on, together (the union of their
  // affinity masks), and whether their masks differ (the launcher placed them).
  const cpu_set_t& node_mask() const { return node_mask_; }
  bool masks_differ() const { return masks_differ_; }

  // Starts `req` (moved in: collectives send straight from its numbers).
  // `payload` holds the raw bytes of sendb / bcastb on the root. `req.text` and
  // `payload` must stay valid until the operation finished.
  // Returns true if the operation finished at once (take it with Take()).
  bool Start(Request req, std::string_view payload, bool errors_return);

  // A collective whose request failed to parse on this rank in `errors return`
  // mode: it still takes part in the agreement check, so that its peers learn of
  // the failure instead of waiting forever, and finishes with `error`.
  bool StartFailedCollective(Verb verb, std::string error);

  // Drives the pending operation. Returns true once it has finished.
  bool Progress();
  bool busy() const { return op_ != nullptr && !done_; }
  bool done() const { return op_ != nullptr && done_; }
  Outcome Take();

  // What the pending operation waits for, e.g. "recv from rank 0 tag 5".
  std::string Waiting() const;
  // Bytes the pending operation moves (to let big transfers poll longer).
  int64_t PendingBytes() const;
  // Abandons a pending receive or probe that has not matched a message yet
  // (its child is gone). Returns false if the operation cannot be abandoned.
  bool AbandonIfUnmatched();

  const LastStatus& last_status() const { return last_status_; }

  // Waits that can never end. A rank whose operation has waited a moment asks
  // the ranks it waits for (once per peer and job) whether they have finished.
  // A rank whose program can make no more requests (it exited 0, or closed its
  // stdout and still runs) answers every such question, now and later, with
  // how many messages it sent the asker and how many collectives it entered.
  // From that the waiting rank knows exactly when its wait can never end, and
  // fails the request instead of hanging the job (see Progress()).
  //
  // Marks this rank finished. REQUIRES: !busy().
  void MarkFinished(FinishReason why);
  // Answers the questions that arrived (a finished rank calls it now and then).
  void AnswerQueries();
  // The rank's end: waits, answering questions, until every shim got here;
  // only then may MPI_Finalize be called (no peer still needs an answer, and
  // no message of ours is still on its way). Call StartClosing() once, then
  // PollClosing() until it returns true. REQUIRES: MarkFinished() was called.
  void StartClosing();
  bool PollClosing();
  // MarkFinished() was called.
  bool finished() const { return finished_; }

  // Sends to this rank itself are buffered: MPI_Send to self deadlocks above
  // the eager size until the rank posts the receive, which its child can only
  // do after the reply. So they are answered `ok` at once and complete when
  // the child receives them. These are the tags of those not received yet.
  std::vector<int> UnreceivedSelfSends();
  // Lets go of unreceived sends to self (before MPI_Finalize).
  void DropSelfSends();

  // Internal state shared with operations.
  struct Context;

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1, node_cpus_ = 1;
  cpu_set_t node_mask_{};
  bool masks_differ_ = false;
  std::unique_ptr<Context> ctx_;
  std::unique_ptr<Operation> op_;
  bool done_ = false;
  LastStatus last_status_;
  struct SelfSend {
    std::string data;
    int tag;
    MPI_Request req;
  };
  std::vector<std::unique_ptr<SelfSend>> self_sends_;
  std::vector<std::string> dropped_;

  void ReceiveFinishedNotes();
  void AskPeers();
  bool finished_ = false;
  FinishReason why_ = FinishReason::kExited;
  std::vector<bool> asked_;               // by world rank: already asked whether it finished
  std::vector<MPI_Request> small_sends_;  // questions and answers still on their way
  std::vector<std::unique_ptr<std::array<int64_t, 4>>> answers_;
  MPI_Request closing_ = MPI_REQUEST_NULL;
  int64_t last_note_check_ms_ = 0;
  double op_started_ = 0;
};

// "MPI_Isend: MPI_ERR_TRUNCATE: message truncated" from an MPI error code.
std::string MpiErrorString(const char* call, int code);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_ENGINE_H_
