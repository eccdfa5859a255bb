#include "failure.h"

#include <catch2/catch.hpp>

using namespace stdmpi;

TEST_CASE("a failure ends the job in fatal mode, and whatever MPI cannot take back") {
  Failure plain{"bad", std::nullopt, false, true};
  Failure coll{"bad", Verb::kBcast, false, true};
  Failure stuck{"never", std::nullopt, true, true};
  CHECK(DecideFailure(plain, false) == FailureAction::kEndJob);
  CHECK(DecideFailure(coll, false) == FailureAction::kEndJob);
  CHECK(DecideFailure(stuck, false) == FailureAction::kEndJob);
  CHECK(DecideFailure(plain, true) == FailureAction::kReplyError);
  CHECK(DecideFailure(coll, true) == FailureAction::kJoinCollective);
  CHECK(DecideFailure(stuck, true) == FailureAction::kEndJob);
}

TEST_CASE("the report of a fatal failure names the request and the way out") {
  Failure f{"unknown verb \"x\"", std::nullopt, false, true};
  CHECK(FatalRequestMessage(f, "\"@mpi x\"") ==
        "request failed: unknown verb \"x\"\n"
        "stdmpi:   the request: \"@mpi x\"\n"
        "stdmpi:   (a failed request ends the job; after \"@mpi errors return\" it is "
        "answered \"@error REASON\" instead)\n");
  // Where errors-return would not help, it does not say it would.
  f.always_fatal = true;
  CHECK(FatalRequestMessage(f, "\"@mpi x\"") ==
        "request failed: unknown verb \"x\"\nstdmpi:   the request: \"@mpi x\"\n");
  f.report = false;
  CHECK(FatalRequestMessage(f, "\"@mpi x\"").empty());
}
