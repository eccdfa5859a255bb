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
// value, so one MPI_MAX reduction of kCheckLen int64 does all of it. The world
// traffic of the collective itself stays a plain MPI operation, so a native MPI
// rank can take part in it.
#ifndef STDMPI_LIBSHIM_COLLECTIVE_H_
#define STDMPI_LIBSHIM_COLLECTIVE_H_

#include <cstdint>
#include <string>

#include "request.h"

namespace stdmpi {

inline constexpr int kCheckLen = 6;

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

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_COLLECTIVE_H_
