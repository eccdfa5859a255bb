// What happens when a request fails: decided here, and only here.
//
// A request can fail on this rank before it reaches MPI (a malformed line, a
// bad msgpack payload, a payload cut short), or in MPI (a message too large, a
// collective the ranks disagree on, a wait that can never end). In `errors
// fatal` mode (the default) a failure ends the job with one message; after
// `@mpi errors return` the program gets `@error REASON` and goes on, except
// where MPI was left holding a request that can never complete. A collective
// that failed on this rank alone still joins the agreement check
// (collective.h), so that its peers learn of the failure instead of waiting.
#ifndef STDMPI_LIBSHIM_FAILURE_H_
#define STDMPI_LIBSHIM_FAILURE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "request.h"

namespace stdmpi {

struct Failure {
  std::string reason;  // phrased for the user, e.g. "unknown verb \"allreduc\" ..."
  // The request named this collective and failed here before reaching MPI.
  std::optional<Verb> collective;
  // MPI holds a request of this rank that can never complete (a send or a
  // collective waiting for a finished rank): the job must end.
  bool always_fatal = false;
  // False on a rank that stays quiet because another reports the same
  // failure (every rank saw the same disagreement).
  bool report = true;
  int64_t comm = 0;  // the communicator of `collective`
};

enum class FailureAction {
  kReplyError,      // answer `@error REASON`; the program goes on
  kJoinCollective,  // take part in the agreement check, then answer `@error REASON`
  kEndJob,          // end the job (FatalRequestMessage says why)
};

FailureAction DecideFailure(const Failure& f, bool errors_return);

// The report of a failure that ends the job, after the rank's prefix
// ("stdmpi: rank 1 (python3 x.py): "), with its LFs; "" when !f.report.
// `request` is the failed request, quoted for messages.
std::string FatalRequestMessage(const Failure& f, std::string_view request);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_FAILURE_H_
