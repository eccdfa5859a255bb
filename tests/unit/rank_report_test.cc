#include "rank_report.h"

#include <catch2/catch.hpp>

#include "poller.h"
#include "position.h"

using namespace stdmpi;

TEST_CASE("what a rank says it is doing") {
  Activity a;
  CHECK(DescribeActivity(a) == "its program is running and has made no request yet");
  a.since_request = 0.54;
  CHECK(DescribeActivity(a) == "its program is running; its last request was 0.5 s ago");
  a.reply_unread = 7;
  CHECK(DescribeActivity(a) ==
        "its program has not read the reply to its last request (7 byte(s) unread, request "
        "made 0.5 s ago)");
  a.payload_announced = 100;
  a.payload_remaining = 40;
  CHECK(DescribeActivity(a) == "reading the 100 raw bytes its last request announced (60 so far)");
  a.program_ended = true;
  CHECK(DescribeActivity(a) == "its program has ended; waiting for the job to end");
  a.waiting = true;
  a.waiting_in = "recv from rank 0 tag 5";
  a.waited = 12.34;
  CHECK(DescribeActivity(a) == "waiting in recv from rank 0 tag 5 for 12.3 s");
}

TEST_CASE("the note on a limit the program ran into") {
  ShimOptions o;
  o.time_limit = 1.5;
  o.mem_per_rank = 64 << 20;
  o.max_procs = 8;
  CHECK(LimitNote(o, true, "memory", false) ==
        " after running into its time limit (--time-limit 1.5 s)");
  CHECK(LimitNote(o, false, "memory", false) ==
        " after running out of its memory limit (--mem-per-rank 64 MiB)");
  CHECK(LimitNote(o, false, "processes", false) ==
        " after reaching its process limit (--max-procs 8)");
  CHECK(LimitNote(o, false, "", false) == "");
  CHECK(LimitNote(o, false, "", true) ==
        " (it ran with an address-space limit of 64 MiB and a process limit of 8 as rlimits: "
        "allocations or forks past them fail)");
}

TEST_CASE("an early start against MPI's view of the rank") {
  Position early, mpi;
  early.rank = mpi.rank = 2;
  early.size = mpi.size = 4;
  early.local_rank = mpi.local_rank = 0;
  early.local_size = mpi.local_size = 2;
  CPU_ZERO(&early.node_mask);
  CPU_SET(0, &early.node_mask);
  mpi.node_mask = early.node_mask;
  bool fatal = true;
  CHECK(CompareEarlyPosition(early, mpi, &fatal).empty());
  CHECK_FALSE(fatal);
  mpi.masks_differ = true;
  CHECK(CompareEarlyPosition(early, mpi, &fatal) ==
        "placed as local rank 0 of 2 with the launcher's cores, but MPI says local rank 0 of 2 "
        "with cores the launcher bound: ranks may share cores (STDMPI_START_EARLY=0 places them "
        "after MPI starts)");
  CHECK_FALSE(fatal);
  mpi.rank = 3;
  CHECK(CompareEarlyPosition(early, mpi, &fatal) ==
        "the command was started as rank 2 of 4 (from OMPI_COMM_WORLD_RANK/_SIZE) but MPI says "
        "rank 3 of 4; run with STDMPI_START_EARLY=0 and report this");
  CHECK(fatal);
}

TEST_CASE("a waiting rank sleeps longer the longer it waits, within 1 to 10 ms") {
  long ns = kFirstSleepNs;
  ns = NextSleepNs(ns, 0.0001);
  CHECK(ns == 20'000);
  for (int i = 0; i < 20; ++i) ns = NextSleepNs(ns, 0.001);
  CHECK(ns == 1'000'000);  // 5% of a short wait is under the 1 ms floor
  for (int i = 0; i < 20; ++i) ns = NextSleepNs(ns, 0.1);
  CHECK(ns == 5'000'000);  // 5% of 100 ms
  for (int i = 0; i < 20; ++i) ns = NextSleepNs(ns, 60);
  CHECK(ns == 10'000'000);  // the cap
}
