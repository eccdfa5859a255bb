// Non-blocking point-to-point (docs/protocol.md, "Non-blocking messages"):
// isend, isendb, irecv and irecvb answer at once with a request id; the
// operation goes on in the background while the program computes, and wait,
// test, waitany and waitall complete it.
//
// Background operations are the same Operation objects a blocking send or
// receive uses. They are advanced, in the order they were posted, before the
// program's current request on every poll, and by a timer while the program
// computes, so an irecv posted first matches first, as MPI orders receives.
// An irecv's message is taken from MPI as soon as it matches and kept until
// its wait; a received message's status becomes `@mpi status` at its wait.
//
// Memory stays bounded: at most kMaxPending requests, unfinished isends hold
// at most 4 x --max-message bytes, and while received messages not yet
// waited for hold that much, the timer stops matching new ones (a wait still
// matches: the program asked for it).
#ifndef STDMPI_LIBSHIM_NONBLOCKING_H_
#define STDMPI_LIBSHIM_NONBLOCKING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "operation.h"

namespace stdmpi {

class NonBlocking {
 public:
  static constexpr size_t kMaxPending = 65536;

  explicit NonBlocking(OpContext& c) : c_(c) {}
  NonBlocking(const NonBlocking&) = delete;
  NonBlocking& operator=(const NonBlocking&) = delete;

  // isend / isendb (`data`, copied) or irecv / irecvb: the reply (its id), or
  // why it cannot start (*out set). A send to this rank itself is posted by
  // the caller (`self_send`: already handed to MPI, done at once).
  Outcome Post(Comm& m, const Request& req, std::string_view data, bool self_send = false);
  // `test ID`: "1" or "0".
  Outcome Test(int64_t id);
  // The operation of `wait`, `waitany` or `waitall` (an immediate failure for
  // an unknown id).
  std::unique_ptr<Operation> MakeWait(const Request& req);

  // Advances every pending operation, oldest first. `matching`: receives may
  // take new messages even over the memory bound (the program waits).
  void Progress(bool matching);
  // Some operation is still under way (the timer keeps advancing them).
  bool under_way() const { return under_way_ > 0; }
  // The program can make no more requests: describes the requests never
  // waited for ("" if none) and lets go of them (an operation still under way
  // is kept, never freed, as MPI may still use its buffer).
  std::string Forget();
  // A receive posted before `op` (any, if `op` is not one of the requests)
  // still looks for a message and would match one from `source` with `tag`
  // on communicator `comm`: that receive is to get it first.
  bool ClaimedBefore(const Operation* op, int64_t comm, int source, int tag) const;

 private:
  struct Pending {
    int64_t id = 0;
    Verb verb = Verb::kIsend;
    Comm* comm = nullptr;   // counts it in comm->pending
    int peer = 0, tag = 0;  // as posted (kAny for `any`)
    std::string data;       // what an isend sends (the operation points into it)
    std::unique_ptr<Operation> op;
    bool done = false;
    std::string Describe() const;
  };
  class WaitOp;

  Pending* Find(int64_t id);
  // Frees request `id` (its wait came, or it failed).
  void Erase(int64_t id);
  void Advance(Pending& p);
  // The outcome of `wait ID` (the request is freed).
  Outcome Collect(int64_t id);
  // Unknown ids among `ids`, as the reason a wait fails, or "".
  std::string Unknown(const std::vector<int64_t>& ids);

  OpContext& c_;
  std::map<int64_t, std::unique_ptr<Pending>> pending_;  // by id: posting order
  int64_t next_id_ = 1;
  int64_t under_way_ = 0;
  int64_t send_bytes_ = 0;  // held by isends under way
  int64_t recv_bytes_ = 0;  // received by irecvs, not yet waited for
  std::vector<std::unique_ptr<Pending>> forgotten_;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_NONBLOCKING_H_
