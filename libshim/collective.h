// The agreement check that runs before every collective.
//
// MPI leaves a collective undefined (often: a hang) when ranks disagree on the
// operation, the root or the count, and a rank whose request was malformed in
// `errors return` mode would leave its peers waiting forever. So before a
// collective touches MPI_COMM_WORLD, the shims allreduce (MAX) a small vector of
// int64 over their own communicator. From the result every rank learns, the same
// way on every rank: whether some rank failed locally, whether all called the
// same collective, the count (all ranks' when they must agree, the root's when
// only the root's matters) and which rank should report a fatal disagreement.
//
// MAX gives both the maximum and (through negated entries) the minimum of a
// value, so one MAX reduction of kCheckLen int64 does all of it. The shims run
// it themselves with point-to-point messages (CheckSchedule): on 2 ranks one
// exchange, 0.2 us where MPI_Iallreduce's non-blocking schedule took 0.55 us
// (Open MPI 4.1, ob1/vader, measured). The world
// traffic of the collective itself stays a plain MPI operation, so a native MPI
// rank can take part in it.
#ifndef STDMPI_LIBSHIM_COLLECTIVE_H_
#define STDMPI_LIBSHIM_COLLECTIVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "request.h"

namespace stdmpi {

inline constexpr int kCheckLen = 6;
// The check's tag on the shims' communicator (the ledger uses 1 and 2, the
// task farm 7 and 8).
inline constexpr int kCheckTag = 16;

// How a rank's count enters the check.
enum class CountRule {
  kNone,      // no count (barrier)
  kSame,      // every rank gives a count and they must agree (allreduce, reduce, scans)
  kRootOnly,  // only the root's count matters; others learn it (bcast, scatter)
};

struct CheckInput {
  int rank = 0;
  Verb verb = Verb::kBarrier;
  NumType type = NumType::kF64;
  Op op = Op::kNone;
  int root = 0;
  int64_t count = 0;
  bool is_root = false;
  bool local_error = false;  // this rank's request failed; it takes part to free its peers
  bool fatal = true;         // this rank is in `errors fatal` mode
};

CountRule CountRuleOf(Verb v);
// True for the collectives with a root (bcast, reduce, gather, scatter and
// their byte forms).
bool IsRooted(Verb v);

// A number that identifies the collective as all ranks must agree on it: the
// verb (bcast and bcastb are one), the number type, the op and the root.
int64_t CollectiveSignature(Verb verb, NumType type, Op op, int root);

void MakeCheckVector(const CheckInput& in, int64_t out[kCheckLen]);

struct CheckOutcome {
  bool ok = false;
  int64_t count = 0;                     // the agreed count (kSame) or the root's (kRootOnly)
  int failed_rank = -1;                  // highest rank that failed locally, or -1
  bool mismatch = false;                 // ranks called different collectives
  int64_t min_count = 0, max_count = 0;  // kSame: the counts' range
  int lowest_fatal_rank = -1;            // lowest rank in `errors fatal` mode, or -1
  std::string error;                     // reason when !ok, phrased for the local rank
};

// Interprets the reduced vector; `in` is this rank's own input.
CheckOutcome ReadCheckVector(const int64_t reduced[kCheckLen], const CheckInput& in);

// One step of the check's MAX-allreduce on `rank` of `size`: send this rank's
// vector to `send_to` and receive a peer's from `recv_from` (-1: none), then
// take the elementwise MAX. Recursive doubling over the largest power of two
// p <= size; rank p+i first hands its vector to rank i and at the end gets
// the result from it. Each ordered pair of ranks exchanges at most one
// message per check, so checks that follow one another on a communicator,
// with one tag, match in order (MPI does not overtake on one source and tag).
struct CheckStep {
  int send_to = -1;
  int recv_from = -1;
};
std::vector<CheckStep> CheckSchedule(int rank, int size);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_COLLECTIVE_H_
