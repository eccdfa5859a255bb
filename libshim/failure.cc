#include "failure.h"

namespace stdmpi {

FailureAction DecideFailure(const Failure& f, bool errors_return) {
  if (!errors_return || f.always_fatal) return FailureAction::kEndJob;
  return f.collective ? FailureAction::kJoinCollective : FailureAction::kReplyError;
}

std::string FatalRequestMessage(const Failure& f, std::string_view request) {
  if (!f.report) return {};
  std::string msg = "request failed: " + f.reason + "\nstdmpi:   the request: ";
  msg.append(request);
  msg += "\n";
  if (!f.always_fatal) {
    msg +=
        "stdmpi:   (a failed request ends the job; after \"@mpi errors return\" it is "
        "answered \"@error REASON\" instead)\n";
  }
  return msg;
}

}  // namespace stdmpi
