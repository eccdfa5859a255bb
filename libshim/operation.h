// One MPI operation of a rank in flight, as the engine drives it.
//
// Every operation is started with non-blocking MPI calls and advanced by
// Progress() until it has an Outcome: the reply for the program, or why it
// failed. Point-to-point operations are in p2p_ops.cc, collectives in
// collective_op.cc; the engine (engine.h) makes them from requests.
#ifndef STDMPI_LIBSHIM_OPERATION_H_
#define STDMPI_LIBSHIM_OPERATION_H_

#include <mpi.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "peer_ledger.h"
#include "request.h"

namespace stdmpi {

// What a finished operation produced.
struct Outcome {
  bool ok = true;
  // ok: the whole reply for the program (reply.h).
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

// The status of the last completed receive (`@mpi status`).
struct LastStatus {
  bool valid = false;
  int source = 0;
  int tag = 0;
  int64_t bytes = 0;
};

// Messages a text receive took from MPI but could not answer with (they hold
// an LF): they stay first in line for the next receive or probe that matches
// them, as if never taken (docs/protocol.md, "Verbs").
class HeldMessages {
 public:
  struct Message {
    int64_t comm = 0;  // the communicator's id
    int source = 0;    // its rank there
    int tag = 0;
    std::string data;
  };
  void Hold(Message m) { held_.push_back(std::move(m)); }
  // The first held message that a receive on `comm` from `src` with `tag`
  // (either may be kAny) matches, or nullptr.
  const Message* Find(int64_t comm, int src, int tag) const;
  // Removes the message Find returned.
  Message Take(const Message* m);
  // Held messages from world rank `world_src` (`world_of` maps a held
  // message's communicator and source to its world rank).
  template <typename F>
  int64_t CountFrom(int world_src, F world_of) const {
    int64_t n = 0;
    for (const Message& m : held_) n += world_of(m.comm, m.source) == world_src ? 1 : 0;
    return n;
  }

 private:
  std::vector<Message> held_;
};

// A communicator as the shim keeps it (docs/protocol.md, "Communicators"):
// the user's, where messages travel with the user's tags and collectives run,
// and its twin among the shims (ctl: the agreement checks), the world rank of
// every member, and a key every member knows it by (the ledger counts each
// rank's collectives by key).
struct Comm {
  int64_t id = 0;   // the program's name for it on this rank (0: the world)
  int64_t key = 0;  // the same on every member, and unique among this rank's
  MPI_Comm user = MPI_COMM_WORLD;
  MPI_Comm ctl = MPI_COMM_NULL;
  int rank = 0, size = 1;
  std::vector<int> world;  // by rank in it: the world rank
  int64_t pending = 0;     // non-blocking requests on it not yet waited for
  bool owned = false;      // made by split or dup: freed by free, or at the end

  // The world rank of member `r` (kAny stays kAny).
  int World(int r) const { return r < 0 ? r : world[static_cast<size_t>(r)]; }
  // " on communicator 3", or "" for the world: for messages.
  std::string On() const { return id == 0 ? "" : " on communicator " + std::to_string(id); }
};

// What the operations of a rank share.
struct OpContext {
  MPI_Comm world = MPI_COMM_WORLD;
  MPI_Comm ctl = MPI_COMM_NULL;  // the shims' own traffic, never the user's tags
  // MPI has MPI_LAND/LOR/LXOR only for integer types: these are the f64 ones.
  MPI_Op land_f64 = MPI_OP_NULL, lor_f64 = MPI_OP_NULL, lxor_f64 = MPI_OP_NULL;
  int64_t max_payload = 0;
  int rank = 0, size = 1;
  LastStatus last_status;
  HeldMessages held;
  PeerLedger ledger;
  // By id: the world (0), this program's ranks (1) and what split and dup made.
  std::map<int64_t, std::unique_ptr<Comm>> comms;
  CommShapes shapes;  // the same, as the request parser checks ranks (no world)
  int64_t next_comm_id = 2;
  int64_t next_comm_key = 2;  // 0 is the world's key, 1 the program's
  // Whether a receive posted before `op` (an irecv still looking for its
  // message; every one of them when `op` is not pending itself) would match a
  // message from SOURCE with TAG on communicator COMM: it gets it first.
  std::function<bool(const class Operation* op, int64_t comm, int source, int tag)> claimed_before;
  // Where a received message of `n` bytes goes in the shared region at `off`
  // (*at; the region grown to hold it), or false with why (shm_region.h).
  std::function<bool(int64_t off, int64_t n, char** at, std::string* why)> shm_place;
  // The world rank of rank `r` of communicator `id`.
  int WorldOf(int64_t id, int r) const {
    auto it = comms.find(id);
    return it == comms.end() ? -1 : it->second->World(r);
  }
  // Takes a new communicator (its id, key and ranks set) into the tables.
  void AddComm(std::unique_ptr<Comm> m) {
    if (m->id != 0) shapes[m->id] = {m->rank, m->size};
    const int64_t id = m->id;
    comms[id] = std::move(m);
  }
};

// Fills in the rank, size and world ranks of a communicator whose `user`
// and `ctl` are set, and sets its error handler to return codes. Returns the
// failed call's message, or "".
std::string DescribeComm(Comm* m);

class Operation {
 public:
  Operation(OpContext& c, Comm& m) : c_(c), m_(m) {}
  virtual ~Operation() = default;
  // Advances the operation; returns true once it has finished (outcome set).
  virtual bool Progress() = 0;
  // What it waits for, e.g. "recv from rank 0 tag 5".
  virtual std::string Waiting() const = 0;
  // Bytes it moves (big transfers poll longer before sleeping).
  virtual int64_t Bytes() const { return 0; }
  // Gives up a receive or probe that has not matched a message yet; false if
  // the operation cannot be given up.
  virtual bool Abandon() { return false; }
  // Why the operation, still pending, can never complete (a peer it waits for
  // has finished), or "" while it still can. Sets always_fatal where needed.
  virtual std::string Unreachable() { return {}; }
  // The world ranks it waits for (to ask whether they finished).
  virtual void WaitsOn(std::vector<int>*) const {}
  // A receive that completed: the message it took (`@mpi status`).
  virtual LastStatus Received() const { return {}; }

  Outcome outcome;

 protected:
  bool Fail(std::string reason);
  bool FailMpi(const char* call, int code);
  bool Finish(std::string reply);
  // Tests one request: 1 done, 0 pending, -1 failed (outcome set).
  int Test(MPI_Request* r, MPI_Status* st, const char* what);

  OpContext& c_;
  Comm& m_;  // the communicator it runs on
};

// How a receive answers (recv, recvb, probe, iprobe).
enum class RecvForm { kText, kBytes, kProbe, kIprobe };

// Operations on communicator `m` (ranks and tags as the program gave them).
std::unique_ptr<Operation> MakeImmediate(OpContext& c, Outcome o);
std::unique_ptr<Operation> MakeSend(OpContext& c, Comm& m, int dest, int tag,
                                    std::string_view data);
// `background`: an irecv, whose wait sets `@mpi status`, not its completion.
// `shm_out` (recvb:shm=OFF): the message goes into the shared region there.
std::unique_ptr<Operation> MakeRecv(OpContext& c, Comm& m, RecvForm form, int src, int tag,
                                    const char* verb, bool background = false,
                                    int64_t shm_out = -1);
// sendrecv (TEXT) or sendrecvb (`payload`).
std::unique_ptr<Operation> MakeSendrecv(OpContext& c, Comm& m, const Request& r,
                                        std::string_view payload);
// A collective: `payload` holds bcastb's bytes on the root; `fatal`: this rank
// is in `errors fatal` mode (for the agreement check).
std::unique_ptr<Operation> MakeCollective(OpContext& c, Comm& m, Request&& r,
                                          std::string_view payload, bool fatal);
// A collective whose request failed on this rank in `errors return` mode: it
// takes part in the agreement check so its peers learn of the failure, and
// finishes with `error`.
std::unique_ptr<Operation> MakeFailedCollective(OpContext& c, Comm& m, Verb verb,
                                                std::string error);

class TaskLink;
// `@mpi task` of a task farm's worker (task_dispatch.h).
std::unique_ptr<Operation> MakeTaskOp(OpContext& c, Comm& world, TaskLink& link, const Request& r);

// The f64 versions of MPI_LAND, MPI_LOR and MPI_LXOR, in `c`.
void CreateF64LogicalOps(OpContext& c);
void FreeF64LogicalOps(OpContext& c);

// "MPI_Isend failed: MPI_ERR_TRUNCATE: message truncated" from an MPI error code.
std::string MpiErrorString(const char* call, int code);

// "rank 3" or "any rank"; "tag 5" or "any tag".
std::string PeerName(int rank);
std::string TagName(int tag);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_OPERATION_H_
