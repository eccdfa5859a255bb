#include "collective.h"

namespace stdmpi {

namespace {

// "Does not take part" for a MAX reduction of a negated value.
constexpr int64_t kAbsent = INT64_MIN / 2;

enum Field { kErr = 0, kSig, kNegSig, kCount, kNegCount, kNegFatalRank };

std::string Describe(Verb verb, NumType type, Op op) {
  std::string s = VerbName(verb);
  if (type == NumType::kI64) s += ":i64";
  if (op != Op::kNone) {
    s += ' ';
    s += OpName(op);
  }
  return s;
}

}  // namespace

bool IsRooted(Verb v) {
  switch (v) {
    case Verb::kBcast:
    case Verb::kBcastb:
    case Verb::kReduce:
    case Verb::kGather:
    case Verb::kScatter:
    case Verb::kGatherb:
    case Verb::kScatterb:
      return true;
    default:
      return false;
  }
}

CountRule CountRuleOf(Verb v) {
  switch (v) {
    case Verb::kReduce:
    case Verb::kAllreduce:
    case Verb::kScan:
    case Verb::kExscan:
      return CountRule::kSame;
    case Verb::kBcast:
    case Verb::kBcastb:
    case Verb::kScatter:
      return CountRule::kRootOnly;
    default:
      return CountRule::kNone;  // barrier; gather/allgather exchange counts themselves
  }
}

int64_t CollectiveSignature(Verb verb, NumType type, Op op, int root) {
  if (verb == Verb::kBcastb) verb = Verb::kBcast;  // the same operation on the wire
  bool rooted = IsRooted(verb);
  bool numeric = verb != Verb::kBarrier && verb != Verb::kBcast;
  int64_t sig = static_cast<int64_t>(verb);
  sig = sig * 2 + (numeric && type == NumType::kI64 ? 1 : 0);
  sig = sig * 16 + static_cast<int64_t>(op);
  sig = sig * (int64_t{1} << 32) + (rooted ? root : 0);
  return sig;
}

void MakeCheckVector(const CheckInput& in, int64_t out[kCheckLen]) {
  int64_t sig = CollectiveSignature(in.verb, in.type, in.op, in.root);
  out[kErr] = in.local_error ? in.rank + 1 : 0;
  out[kSig] = in.local_error ? kAbsent : sig;
  out[kNegSig] = in.local_error ? kAbsent : -sig;
  bool counts = !in.local_error && (CountRuleOf(in.verb) == CountRule::kSame ||
                                    (CountRuleOf(in.verb) == CountRule::kRootOnly && in.is_root));
  out[kCount] = counts ? in.count : kAbsent;
  out[kNegCount] = counts ? -in.count : kAbsent;
  out[kNegFatalRank] = in.fatal ? -static_cast<int64_t>(in.rank) : kAbsent;
}

CheckOutcome ReadCheckVector(const int64_t r[kCheckLen], const CheckInput& in) {
  CheckOutcome o;
  o.failed_rank = r[kErr] > 0 ? static_cast<int>(r[kErr] - 1) : -1;
  o.lowest_fatal_rank = r[kNegFatalRank] == kAbsent ? -1 : static_cast<int>(-r[kNegFatalRank]);
  if (o.failed_rank >= 0) {
    o.error = "collective " + Describe(in.verb, in.type, in.op) + " abandoned: rank " +
              std::to_string(o.failed_rank) + " gave a bad request for it";
    return o;
  }
  if (r[kSig] != -r[kNegSig]) {
    o.mismatch = true;
    o.error =
        "ranks disagree on the collective: this rank called " + Describe(in.verb, in.type, in.op);
    if (IsRooted(in.verb)) {
      o.error += " with root " + std::to_string(in.root);
    }
    o.error += ", another rank a different collective, op, type or root at the same point";
    return o;
  }
  o.max_count = r[kCount];
  o.min_count = -r[kNegCount];
  o.count = o.max_count;
  if (CountRuleOf(in.verb) == CountRule::kSame && o.min_count != o.max_count) {
    o.error = "count mismatch in " + Describe(in.verb, in.type, in.op) + ": this rank gave " +
              std::to_string(in.count) + " numbers, the ranks gave between " +
              std::to_string(o.min_count) + " and " + std::to_string(o.max_count);
    return o;
  }
  o.ok = true;
  return o;
}

std::vector<CheckStep> CheckSchedule(int rank, int size) {
  std::vector<CheckStep> steps;
  int p = 1;
  while (p * 2 <= size) p *= 2;
  const int extra = size - p;  // ranks p .. size-1
  if (rank >= p) {
    steps.push_back({rank - p, -1});
    steps.push_back({-1, rank - p});
    return steps;
  }
  if (rank < extra) steps.push_back({-1, rank + p});
  for (int mask = 1; mask < p; mask <<= 1) steps.push_back({rank ^ mask, rank ^ mask});
  if (rank < extra) steps.push_back({rank + p, -1});
  return steps;
}

}  // namespace stdmpi
