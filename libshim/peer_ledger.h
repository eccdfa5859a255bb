// Which peers have finished, and what they sent: how a rank tells a wait that
// can never end (docs/protocol.md, "When a program ends").
//
// A rank whose operation has waited a moment asks the ranks it waits for
// (once per peer and job) whether they have finished. A rank whose program can
// make no more requests (it exited 0, or closed its stdout and still runs)
// answers every such question, now and later, with how many messages it sent
// the asker and how many collectives it entered. From that the waiting rank
// knows exactly when its wait can never end, and fails the request instead of
// hanging the job. Questions and answers travel on the shims' own
// communicator, never with the user's tags; native MPI ranks take no part.
//
// The end: a finished shim stays until every shim has finished, answering
// questions meanwhile (an MPI_Ibarrier), and only then calls MPI_Finalize.
#ifndef STDMPI_LIBSHIM_PEER_LEDGER_H_
#define STDMPI_LIBSHIM_PEER_LEDGER_H_

#include <mpi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace stdmpi {

// Why a rank can make no more requests.
enum class FinishReason { kExited = 0, kClosedStdout = 1 };

class PeerLedger {
 public:
  struct Peer {
    bool finished = false;
    FinishReason why = FinishReason::kExited;
    int64_t sent_to_me = 0;  // messages it sent this rank, all told
    // Collectives it entered, by communicator key (see Comm in operation.h).
    std::map<int64_t, int64_t> collectives;
    double since = 0;  // when this rank learned it (monotonic seconds)
    int64_t CollectivesIn(int64_t key) const {
      auto it = collectives.find(key);
      return it == collectives.end() ? 0 : it->second;
    }
  };

  // A message a finished rank sent (eagerly) may still be on its way when
  // its answer arrives through the other communicator; after this long it has
  // surely landed.
  static constexpr double kInFlightGrace = 2.0;

  // `ctl`: the shims' communicator; `native`: by world rank, a native MPI
  // program (no shim).
  void Init(MPI_Comm ctl, int rank, const std::vector<bool>& native);

  // Counts, kept as the rank's operations happen.
  void CountSent(int dest) { ++sent_[static_cast<size_t>(dest)]; }
  void CountReceived(int src) { ++received_[static_cast<size_t>(src)]; }
  // Returns this collective's number on this rank (1, 2, ...) in the
  // communicator with this key (every member knows it by the same key).
  int64_t EnterCollective(int64_t key) { return ++collectives_[key]; }

  int size() const { return static_cast<int>(native_.size()); }
  bool native(int r) const { return native_[static_cast<size_t>(r)]; }
  bool any_native() const { return any_native_; }
  const Peer& peer(int r) const { return peers_[static_cast<size_t>(r)]; }
  // "rank 2's program exited with status 0", or "" if it has not finished.
  std::string FinishedNote(int r) const;
  // True if rank `r` (a shim) has finished and every message it sent this
  // rank has arrived, or has had time to; adds those not received to *left.
  bool NothingMoreFrom(int r, double now, int64_t* left) const;

  // Asks these world ranks whether they finished (each at most once a job).
  void Ask(const std::vector<int>& world_ranks);
  // Takes the answers that arrived.
  void ReceiveAnswers();

  // This rank's program can make no more requests; answers from now on.
  // REQUIRES: no operation of this rank is pending.
  void MarkFinished(FinishReason why);
  bool finished() const { return finished_; }
  // Answers the questions that arrived (a finished rank calls it now and then).
  void AnswerQueries();
  // The rank's end: StartClosing() once, then PollClosing() until it returns
  // true; then no peer still needs an answer, and no message of ours is still
  // on its way. REQUIRES: MarkFinished() was called.
  void StartClosing();
  bool PollClosing();

 private:
  MPI_Comm ctl_ = MPI_COMM_NULL;
  int rank_ = 0;
  std::vector<bool> native_;  // by world rank
  bool any_native_ = false;
  std::vector<int> ctl_rank_;               // by world rank: its rank in ctl, -1 for a native rank
  std::vector<int> world_of_;               // by rank in ctl: its world rank
  std::vector<int64_t> sent_;               // by world rank: messages this rank sent it
  std::vector<int64_t> received_;           // by world rank: messages this rank received from it
  std::map<int64_t, int64_t> collectives_;  // by communicator key: collectives entered
  std::vector<Peer> peers_;                 // by world rank
  std::vector<bool> asked_;                 // by world rank: already asked whether it finished
  bool finished_ = false;
  FinishReason why_ = FinishReason::kExited;
  std::vector<MPI_Request> small_sends_;  // questions and answers still on their way
  std::vector<std::unique_ptr<std::vector<int64_t>>> answers_;
  MPI_Request closing_ = MPI_REQUEST_NULL;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_PEER_LEDGER_H_
