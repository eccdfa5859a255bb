// libFuzzer target: a program's stdout, through the RequestReader the shim
// reads it with (demux, request parser, payloads, :msgpack decoding,
// lockstep), in errors-fatal or errors-return mode.
//
// Checks: the way the stream is cut into reads changes no event; memory stays
// bounded by the line and payload limits; no output line is a request; a
// request arrives with exactly the payload it announced; and after the job's
// end (a kEnd event) only output comes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "request_reader.h"

using namespace stdmpi;

namespace {

constexpr int64_t kMaxPayload = 300;

// One event, as text: equal events give equal strings.
std::string Describe(const RequestReader::Event& ev) {
  switch (ev.kind) {
    case RequestReader::Kind::kOutput:
      return "O" + std::string(ev.output);
    case RequestReader::Kind::kRequest: {
      std::string s = std::string("R") + VerbName(ev.request.verb) + "|" +
                      std::string(ev.request.text) + "|" + std::string(ev.payload) + "|";
      for (double v : ev.request.f64) s += std::to_string(v) + ",";
      for (int64_t v : ev.request.i64) s += std::to_string(v) + ",";
      return s;
    }
    case RequestReader::Kind::kFailed:
      return "F" + ev.failure.reason + "|" +
             (ev.failure.collective ? VerbName(*ev.failure.collective) : "");
    case RequestReader::Kind::kEnd:
      return "E" + ev.message.substr(0, 40);
    case RequestReader::Kind::kNone:
      break;
  }
  return "";
}

// Feeds `in` in reads whose sizes come from `cuts` (empty: all at once).
// `unread` says, request by request, whether the program left a reply unread.
std::vector<std::string> Run(const std::string& in, int64_t max_line, const std::string& cuts,
                             bool errors_return, const std::string& unread) {
  size_t requests = 0;
  RequestReader r(max_line, [&] {
    char u = unread.empty() ? 0 : unread[requests++ % unread.size()];
    return static_cast<size_t>(u == 'U' ? 3 : 0);
  });
  r.set_context({1, 4, kMaxPayload});
  r.set_errors_return(errors_return);
  std::vector<std::string> events;
  bool ended = false;
  auto drain = [&] {
    for (;;) {
      RequestReader::Event ev = r.Next();
      if (ev.kind == RequestReader::Kind::kNone) return;
      Check(
          !ended || ev.kind == RequestReader::Kind::kOutput || ev.kind == RequestReader::Kind::kEnd,
          "after the end only output comes");
      if (ev.kind == RequestReader::Kind::kOutput) {
        if (!events.empty() && events.back()[0] == 'O') {
          events.back() += std::string(ev.output);  // grouping depends on the reads
          continue;
        }
      }
      if (ev.kind == RequestReader::Kind::kRequest) {
        Check(static_cast<int64_t>(ev.payload.size()) ==
                  (ev.request.msgpack ? 0 : ev.request.payload_bytes),
              "a request arrives with the payload it announced");
      }
      if (ev.kind == RequestReader::Kind::kEnd) {
        ended = true;
        r.OutputOnly();
      }
      events.push_back(Describe(ev));
    }
  };
  FeedAll(r, in, cuts, static_cast<size_t>(max_line + kMaxPayload), drain);
  // No output line is a request. A line may come in pieces (its start up to
  // a CR first): the pieces together, as the grouped events hold them.
  for (const std::string& e : events) {
    if (e[0] != 'O') continue;
    std::string_view out(e);
    out.remove_prefix(1);
    for (size_t start = 0; start < out.size();) {
      size_t nl = out.find('\n', start);
      std::string_view line = out.substr(start, nl == std::string_view::npos ? nl : nl - start);
      Check(!IsRequestLine(line), "no output line is a request");
      if (nl == std::string_view::npos) break;
      start = nl + 1;
    }
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const int64_t max_line = 8 + data[0] % 128;
  const bool errors_return = data[1] & 1;
  const size_t ncuts = data[2] % 8, nunread = data[3] % 4;
  if (size < 4 + ncuts + nunread) return 0;
  const char* p = reinterpret_cast<const char*>(data) + 4;
  std::string cuts(p, ncuts);
  std::string unread(p + ncuts, nunread);
  std::string in(p + ncuts + nunread, size - 4 - ncuts - nunread);
  std::vector<std::string> whole = Run(in, max_line, "", errors_return, unread);
  std::vector<std::string> pieces =
      Run(in, max_line, cuts.empty() ? std::string(1, '\0') : cuts, errors_return, unread);
  Check(whole == pieces, "the reads' sizes change no event");
  return 0;
}
