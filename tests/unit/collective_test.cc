#include "collective.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <vector>

using namespace stdmpi;

namespace {

// Simulates the MAX allreduce of the check vectors of all ranks.
std::vector<CheckOutcome> RunCheck(const std::vector<CheckInput>& ins) {
  int64_t reduced[kCheckLen];
  for (int i = 0; i < kCheckLen; ++i) reduced[i] = INT64_MIN;
  for (const CheckInput& in : ins) {
    int64_t v[kCheckLen];
    MakeCheckVector(in, v);
    for (int i = 0; i < kCheckLen; ++i) reduced[i] = std::max(reduced[i], v[i]);
  }
  std::vector<CheckOutcome> out;
  for (const CheckInput& in : ins) out.push_back(ReadCheckVector(reduced, in));
  return out;
}

CheckInput In(int rank, Verb verb, int64_t count, Op op = Op::kSum, int root = 0) {
  CheckInput in;
  in.rank = rank;
  in.verb = verb;
  in.op = op;
  in.root = root;
  in.count = count;
  in.is_root = rank == root;
  return in;
}

}  // namespace

TEST_CASE("agreeing ranks pass and learn the count") {
  auto o = RunCheck(
      {In(0, Verb::kAllreduce, 3), In(1, Verb::kAllreduce, 3), In(2, Verb::kAllreduce, 3)});
  for (auto& r : o) {
    CHECK(r.ok);
    CHECK(r.count == 3);
    CHECK(r.lowest_fatal_rank == 0);
  }
}

TEST_CASE("only the root's count matters for bcast and scatter") {
  auto o = RunCheck({In(0, Verb::kBcast, 0, Op::kNone, 1), In(1, Verb::kBcast, 42, Op::kNone, 1),
                     In(2, Verb::kBcast, 7, Op::kNone, 1)});
  for (auto& r : o) {
    CHECK(r.ok);
    CHECK(r.count == 42);
  }
  // A text root and a byte-form receiver are the same operation.
  o = RunCheck({In(0, Verb::kBcast, 5, Op::kNone), In(1, Verb::kBcastb, 0, Op::kNone)});
  CHECK(o[1].ok);
  CHECK(o[1].count == 5);
  o = RunCheck({In(0, Verb::kScatter, 8, Op::kNone), In(1, Verb::kScatter, 0, Op::kNone)});
  CHECK(o[1].count == 8);
}

TEST_CASE("a count mismatch fails on every rank") {
  auto o = RunCheck({In(0, Verb::kAllreduce, 2), In(1, Verb::kAllreduce, 1)});
  CHECK_FALSE(o[0].ok);
  CHECK_FALSE(o[1].ok);
  CHECK(o[0].error ==
        "count mismatch in allreduce sum: this rank gave 2 numbers, the ranks gave between 1 and "
        "2");
  CHECK(o[1].min_count == 1);
  CHECK(o[1].max_count == 2);
}

TEST_CASE("different collectives, ops, types or roots are a mismatch") {
  auto o = RunCheck({In(0, Verb::kAllreduce, 1), In(1, Verb::kBcast, 1, Op::kNone)});
  CHECK(o[0].mismatch);
  CHECK(o[1].mismatch);
  o = RunCheck({In(0, Verb::kAllreduce, 1, Op::kSum), In(1, Verb::kAllreduce, 1, Op::kMax)});
  CHECK(o[0].mismatch);
  CheckInput a = In(0, Verb::kAllreduce, 1), b = In(1, Verb::kAllreduce, 1);
  b.type = NumType::kI64;
  CHECK(RunCheck({a, b})[0].mismatch);
  o = RunCheck({In(0, Verb::kReduce, 1, Op::kSum, 0), In(1, Verb::kReduce, 1, Op::kSum, 1)});
  CHECK(o[1].mismatch);
  CHECK(o[1].error.find("this rank called reduce sum with root 1") != std::string::npos);
  // The root does not matter for unrooted collectives.
  o = RunCheck({In(0, Verb::kAllreduce, 1, Op::kSum, 0), In(1, Verb::kAllreduce, 1, Op::kSum, 1)});
  CHECK(o[0].ok);
}

TEST_CASE("a rank that failed locally frees its peers with its rank named") {
  CheckInput bad = In(1, Verb::kAllreduce, 0);
  bad.local_error = true;
  auto o = RunCheck({In(0, Verb::kAllreduce, 3), bad, In(2, Verb::kAllreduce, 3)});
  CHECK_FALSE(o[0].ok);
  CHECK(o[0].failed_rank == 1);
  CHECK(o[0].error == "collective allreduce sum abandoned: rank 1 gave a bad request for it");
  CHECK_FALSE(o[2].ok);
}

TEST_CASE("the lowest rank in fatal mode is the one that reports") {
  CheckInput r0 = In(0, Verb::kAllreduce, 1), r1 = In(1, Verb::kAllreduce, 2),
             r2 = In(2, Verb::kAllreduce, 1);
  r0.fatal = false;
  auto o = RunCheck({r0, r1, r2});
  CHECK(o[0].lowest_fatal_rank == 1);
  r1.fatal = false;
  r2.fatal = false;
  o = RunCheck({r0, r1, r2});
  CHECK(o[0].lowest_fatal_rank == -1);
}

TEST_CASE("signatures separate what must agree") {
  CHECK(CollectiveSignature(Verb::kBcast, NumType::kF64, Op::kNone, 3) ==
        CollectiveSignature(Verb::kBcastb, NumType::kI64, Op::kNone, 3));
  CHECK(CollectiveSignature(Verb::kBcast, NumType::kF64, Op::kNone, 3) !=
        CollectiveSignature(Verb::kBcast, NumType::kF64, Op::kNone, 2));
  CHECK(CollectiveSignature(Verb::kAllreduce, NumType::kF64, Op::kSum, 0) !=
        CollectiveSignature(Verb::kScan, NumType::kF64, Op::kSum, 0));
  CHECK(CountRuleOf(Verb::kGather) == CountRule::kNone);
  CHECK(CountRuleOf(Verb::kExscan) == CountRule::kSame);
}

// Runs every rank's CheckSchedule against the others, as MPI would: a send is
// queued when its step starts, a step ends once its message has come.
TEST_CASE("the check's schedule gives every rank the maximum, for any size") {
  for (int size = 1; size <= 37; ++size) {
    CAPTURE(size);
    std::vector<std::vector<CheckStep>> plan;
    std::vector<int64_t> value;
    for (int r = 0; r < size; ++r) {
      plan.push_back(CheckSchedule(r, size));
      value.push_back((r * 7919) % 101);  // the maximum is at no fixed rank
    }
    const int64_t want = *std::max_element(value.begin(), value.end());
    std::map<std::pair<int, int>, std::vector<int64_t>> wire;  // (from, to) -> queue
    std::map<std::pair<int, int>, int> sent;
    std::vector<size_t> step(static_cast<size_t>(size), 0);
    std::vector<bool> posted(static_cast<size_t>(size), false);
    for (bool moved = true; moved;) {
      moved = false;
      for (int r = 0; r < size; ++r) {
        const auto ur = static_cast<size_t>(r);
        if (step[ur] == plan[ur].size()) continue;
        const CheckStep& s = plan[ur][step[ur]];
        if (!posted[ur]) {
          if (s.send_to >= 0) {
            REQUIRE(s.send_to < size);
            REQUIRE(s.send_to != r);
            wire[{r, s.send_to}].push_back(value[ur]);
            ++sent[{r, s.send_to}];
          }
          posted[ur] = true;
          moved = true;
        }
        if (s.recv_from >= 0) {
          auto& q = wire[{s.recv_from, r}];
          if (q.empty()) continue;
          value[ur] = std::max(value[ur], q.front());
          q.erase(q.begin());
        }
        posted[ur] = false;
        ++step[ur];
        moved = true;
      }
    }
    for (int r = 0; r < size; ++r) {
      CAPTURE(r);
      CHECK(step[static_cast<size_t>(r)] == plan[static_cast<size_t>(r)].size());
      CHECK(value[static_cast<size_t>(r)] == want);
    }
    for (const auto& [pair, n] : sent) CHECK(n == 1);  // one message per ordered pair
    for (const auto& [pair, q] : wire) CHECK(q.empty());
  }
  CHECK(CheckSchedule(0, 1).empty());
  CHECK(CheckSchedule(1, 2).size() == 1);
}
