// libFuzzer target: a child's stdout stream, through the demultiplexer the
// shim uses, with byte-form requests announcing payloads.
//
// Checks: memory stays bounded by the line limit and the payload limit; the
// way the stream is cut into reads changes nothing; and when nothing was too
// long, dropped or cut short, the items put together are the stream itself.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "demux.h"
#include "fuzz_util.h"
#include "request.h"

using namespace stdmpi;

namespace {

struct Item {
  StdoutDemux::Kind kind;
  std::string data;
  int64_t got;
  bool operator==(const Item&) const = default;
};

constexpr int64_t kMaxPayload = 300;

// Feeds `in` in reads whose sizes come from `cuts` (0: all at once).
std::vector<Item> Run(const std::string& in, size_t max_line, const std::string& cuts) {
  StdoutDemux d(max_line);
  ParseContext ctx;
  ctx.size = 4;
  ctx.max_payload = kMaxPayload;
  std::vector<Item> items;
  auto drain = [&] {
    for (;;) {
      StdoutDemux::Item it = d.Next();
      if (it.kind == StdoutDemux::Kind::kNone) return;
      Item mine{it.kind, std::string(it.data), it.got};
      if (it.kind == StdoutDemux::Kind::kRequestTooLong ||
          it.kind == StdoutDemux::Kind::kOutputTooLong) {
        // Only the start of the line, for the message: how much of it was
        // read when the limit was passed depends on the reads.
        mine.data.resize(std::min(mine.data.size(), max_line));
      }
      if (it.kind == StdoutDemux::Kind::kOutput && !items.empty() &&
          items.back().kind == StdoutDemux::Kind::kOutput) {
        items.back().data += mine.data;  // how output is grouped depends on the reads
      } else {
        items.push_back(std::move(mine));
      }
      if (it.kind == StdoutDemux::Kind::kRequest) {
        Request req;
        ParseResult r = ParseRequest(items.back().data, ctx, &req);
        if (req.payload_bytes > 0) d.ExpectPayload(req.payload_bytes, !r.ok);
      }
    }
  };
  FeedAll(d, in, cuts, max_line + static_cast<size_t>(kMaxPayload), drain);
  return items;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t max_line = 8 + data[0] % 128;  // the shim accepts 64 and up
  size_t ncuts = data[1] % 8;
  if (size < 2 + ncuts) return 0;
  std::string cuts(reinterpret_cast<const char*>(data) + 2, ncuts);
  std::string in(reinterpret_cast<const char*>(data) + 2 + ncuts, size - 2 - ncuts);

  std::vector<Item> whole = Run(in, max_line, "");
  std::vector<Item> pieces = Run(in, max_line, cuts.empty() ? std::string(1, '\0') : cuts);
  Check(whole == pieces, "the reads' sizes change nothing");

  std::string back;
  for (const Item& it : whole) {
    switch (it.kind) {
      case StdoutDemux::Kind::kOutput:
        back += it.data;
        break;
      case StdoutDemux::Kind::kRequest:
        back += it.data + "\n";
        break;
      case StdoutDemux::Kind::kPayload:
        back += it.data;
        break;
      default:
        return 0;  // something was dropped: nothing to compare
    }
  }
  // A last line without LF comes out as a line; a request gets its LF back.
  if (back.size() == in.size() + 1 && !in.empty() && in.back() != '\n') back.pop_back();
  Check(back == in, "the items put together are the stream");
  return 0;
}
