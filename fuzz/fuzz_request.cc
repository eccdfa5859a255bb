// libFuzzer target: one request line, as a child may write it.
//
// Beyond "no crash, no sanitizer report", it checks what the shim relies on:
// a parsed request is within its bounds (ranks, tags, byte counts, its text a
// view into the line), a failed one says why, and every number it holds is
// printed in a form that reads back to exactly the same value.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "numbers.h"
#include "request.h"

using namespace stdmpi;

namespace {

bool ValidRank(int r, const ParseContext& c, bool any_ok) {
  return (r >= 0 && r < c.size) || (any_ok && r == kAny);
}
bool ValidTag(int t, bool any_ok) {
  return (t >= 0 && t <= kMaxTag) || (any_ok && t == kAny);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the job: 1..16 ranks, this rank, a small byte limit.
  ParseContext ctx;
  ctx.size = 1 + (data[0] & 15);
  ctx.rank = (data[0] >> 4) % ctx.size;
  ctx.max_payload = 1 << 20;
  std::string line(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The demux hands the parser one line: everything up to the first LF.
  line.resize(std::min(line.size(), line.find('\n')));
  Request req;
  ParseResult r = ParseRequest(line, ctx, &req);
  Check(r.ok || !r.error.empty(), "a failed request has a reason");
  Check(req.payload_bytes >= 0, "announced bytes are a count");
  // (A failed request may announce more: those bytes are skipped as they stream by.)
  if (!r.ok) return 0;
  Check(req.payload_bytes <= ctx.max_payload, "accepted bytes within --max-message");
  Check(r.verb_known, "a parsed request has a known verb");
  Check(IsRequestLine(line), "only request lines parse");
  if (!req.text.empty()) {
    Check(req.text.data() >= line.data() &&
              req.text.data() + req.text.size() <= line.data() + line.size(),
          "TEXT is a view into the line");
    Check(std::memchr(req.text.data(), '\n', req.text.size()) == nullptr, "TEXT holds no LF");
  }
  switch (req.verb) {
    case Verb::kSend:
    case Verb::kSendb:
      Check(ValidRank(req.peer, ctx, false) && ValidTag(req.tag, false), "send DEST TAG");
      break;
    case Verb::kRecv:
    case Verb::kRecvb:
    case Verb::kProbe:
    case Verb::kIprobe:
      Check(ValidRank(req.peer, ctx, true) && ValidTag(req.tag, true), "recv SRC TAG");
      break;
    case Verb::kSendrecv:
      Check(ValidRank(req.peer, ctx, false) && ValidTag(req.tag, false) &&
                ValidRank(req.peer2, ctx, true) && ValidTag(req.tag2, true),
            "sendrecv DEST SENDTAG SRC RECVTAG");
      break;
    case Verb::kBcast:
    case Verb::kBcastb:
    case Verb::kReduce:
    case Verb::kGather:
    case Verb::kScatter:
      Check(ValidRank(req.peer, ctx, false), "ROOT");
      break;
    default:
      break;
  }
  // Numbers survive the trip through a reply.
  for (double v : req.f64) {
    std::string s;
    AppendF64(&s, v);
    double back = 0;
    Check(ParseF64(s, &back), "a formatted f64 parses");
    Check((std::isnan(v) && std::isnan(back)) || std::memcmp(&v, &back, sizeof v) == 0,
          "f64 reads back to the same bits");
  }
  for (int64_t v : req.i64) {
    std::string s;
    AppendI64(&s, v);
    int64_t back = 0;
    Check(ParseI64(s, &back) == IntParse::kOk && back == v, "i64 reads back");
  }
  return 0;
}
