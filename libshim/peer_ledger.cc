#include "peer_ledger.h"

#include "clock.h"

namespace stdmpi {

namespace {
// Point-to-point on the shims' communicator (no user message travels there).
// A finished rank's answer: {rank, why, sent, then (key, collectives) a communicator}.
constexpr int kFinishedTag = 1;
constexpr int kQueryTag = 2;  // "have you finished?"
}  // namespace

void PeerLedger::Init(MPI_Comm ctl, int rank, const std::vector<bool>& native) {
  ctl_ = ctl;
  rank_ = rank;
  native_ = native;
  const size_t n = native.size();
  ctl_rank_.assign(n, -1);
  world_of_.clear();
  any_native_ = false;
  for (size_t r = 0; r < n; ++r) {
    if (native[r]) {
      any_native_ = true;
      continue;
    }
    ctl_rank_[r] = static_cast<int>(world_of_.size());
    world_of_.push_back(static_cast<int>(r));
  }
  sent_.assign(n, 0);
  received_.assign(n, 0);
  peers_.assign(n, {});
  asked_.assign(n, false);
}

std::string PeerLedger::FinishedNote(int r) const {
  const Peer& p = peer(r);
  if (!p.finished) return {};
  return "rank " + std::to_string(r) + "'s program " +
         (p.why == FinishReason::kExited
              ? "exited with status 0"
              : "closed its stdout (it still runs, but can make no more requests)");
}

bool PeerLedger::NothingMoreFrom(int r, double now, int64_t* left) const {
  const Peer& p = peer(r);
  if (!p.finished) return false;
  int64_t l = p.sent_to_me - received_[static_cast<size_t>(r)];
  if (l > 0 && now - p.since < kInFlightGrace) return false;
  *left += l;
  return true;
}

void PeerLedger::Ask(const std::vector<int>& world_ranks) {
  static const int kQuestion = 0;
  for (int r : world_ranks) {
    if (r < 0 || r >= size() || r == rank_ || asked_[static_cast<size_t>(r)]) continue;
    int to = ctl_rank_[static_cast<size_t>(r)];
    if (to < 0) continue;  // a native rank cannot answer
    asked_[static_cast<size_t>(r)] = true;
    MPI_Request req;
    if (MPI_Isend(&kQuestion, 1, MPI_INT, to, kQueryTag, ctl_, &req) == MPI_SUCCESS) {
      small_sends_.push_back(req);
    }
  }
}

void PeerLedger::ReceiveAnswers() {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kFinishedTag, ctl_, &flag, &st) != MPI_SUCCESS || !flag) return;
    int n = 0;
    MPI_Get_count(&st, MPI_INT64_T, &n);
    std::vector<int64_t> note(static_cast<size_t>(n < 3 ? 3 : n), 0);
    if (MPI_Recv(note.data(), n, MPI_INT64_T, st.MPI_SOURCE, kFinishedTag, ctl_,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      return;
    }
    int64_t world = note[0];
    if (world < 0 || world >= size()) continue;
    Peer& p = peers_[static_cast<size_t>(world)];
    p.finished = true;
    p.why = note[1] == 1 ? FinishReason::kClosedStdout : FinishReason::kExited;
    p.sent_to_me = note[2];
    for (size_t i = 3; i + 1 < note.size(); i += 2) p.collectives[note[i]] = note[i + 1];
    p.since = MonotonicSeconds();
  }
}

void PeerLedger::MarkFinished(FinishReason why) {
  if (finished_) return;
  finished_ = true;
  why_ = why;
  AnswerQueries();
}

void PeerLedger::AnswerQueries() {
  if (!finished_) return;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kQueryTag, ctl_, &flag, &st) != MPI_SUCCESS || !flag) break;
    int question;
    MPI_Recv(&question, 1, MPI_INT, st.MPI_SOURCE, kQueryTag, ctl_, MPI_STATUS_IGNORE);
    if (st.MPI_SOURCE < 0 || st.MPI_SOURCE >= static_cast<int>(world_of_.size())) continue;
    const int world = world_of_[static_cast<size_t>(st.MPI_SOURCE)];
    auto answer = std::make_unique<std::vector<int64_t>>(
        std::vector<int64_t>{rank_, static_cast<int64_t>(why_), sent_[static_cast<size_t>(world)]});
    for (const auto& [key, count] : collectives_) answer->insert(answer->end(), {key, count});
    MPI_Request req;
    if (MPI_Isend(answer->data(), static_cast<int>(answer->size()), MPI_INT64_T, st.MPI_SOURCE,
                  kFinishedTag, ctl_, &req) == MPI_SUCCESS) {
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

void PeerLedger::StartClosing() {
  MPI_Ibarrier(ctl_, &closing_);
}

bool PeerLedger::PollClosing() {
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

}  // namespace stdmpi
