#include "demux.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

using namespace stdmpi;
using Kind = StdoutDemux::Kind;

namespace {

struct Got {
  Kind kind;
  std::string data;
  int64_t got = 0;
};

// Drains every item available now.
std::vector<Got> Drain(StdoutDemux& d) {
  std::vector<Got> out;
  for (;;) {
    StdoutDemux::Item it = d.Next();
    if (it.kind == Kind::kNone) return out;
    out.push_back({it.kind, std::string(it.data), it.got});
  }
}

}  // namespace

TEST_CASE("ordinary lines come out in runs, requests one at a time") {
  StdoutDemux d(1024);
  std::string in = "a\nb\n@mpi rank\nc\n@mpix no\n @mpi no\n";
  d.Append(in.data(), in.size());
  auto items = Drain(d);
  REQUIRE(items.size() == 3);
  CHECK(items[0].kind == Kind::kOutput);
  CHECK(items[0].data == "a\nb\n");
  CHECK(items[1].kind == Kind::kRequest);
  CHECK(items[1].data == "@mpi rank");
  CHECK(items[2].kind == Kind::kOutput);
  CHECK(items[2].data == "c\n@mpix no\n @mpi no\n");
}

TEST_CASE("lines split across reads, byte by byte") {
  StdoutDemux d(1024);
  std::string in = "hello\n@mpi size\nworld\n";
  std::vector<Got> all;
  for (char c : in) {
    d.Append(&c, 1);
    for (auto& g : Drain(d)) all.push_back(g);
  }
  REQUIRE(all.size() == 3);
  CHECK(all[0].data == "hello\n");
  CHECK(all[1].data == "@mpi size");
  CHECK(all[2].data == "world\n");
}

TEST_CASE("a last line without LF is still a line at EOF") {
  StdoutDemux d(1024);
  d.Append("x\nno newline", 12);
  auto items = Drain(d);
  REQUIRE(items.size() == 1);
  CHECK(items[0].data == "x\n");
  d.Finish();
  items = Drain(d);
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kOutput);
  CHECK(items[0].data == "no newline");

  StdoutDemux r(1024);
  r.Append("@mpi barrier", 12);
  CHECK(Drain(r).empty());
  r.Finish();
  items = Drain(r);
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kRequest);
}

TEST_CASE("payloads are delivered whole, with LF and NUL inside") {
  StdoutDemux d(1024);
  std::string in = "@mpi sendb 1 0 5\n";
  d.Append(in.data(), in.size());
  auto items = Drain(d);
  REQUIRE(items.size() == 1);
  d.ExpectPayload(5, false);
  d.Append("a\n", 2);
  CHECK(Drain(d).empty());
  d.Append(std::string("\0b\nafter\n", 9).data(), 9);
  items = Drain(d);
  REQUIRE(items.size() == 2);
  CHECK(items[0].kind == Kind::kPayload);
  CHECK(items[0].data == std::string("a\n\0b\n", 5));
  CHECK(items[1].data == "after\n");
}

TEST_CASE("a zero-byte payload and a large one") {
  StdoutDemux d(16);
  d.ExpectPayload(0, false);
  auto items = Drain(d);
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kPayload);
  CHECK(items[0].data.empty());

  std::string big(3 << 20, 'x');  // far longer than max_line: payloads are not lines
  d.ExpectPayload(static_cast<int64_t>(big.size()), false);
  for (size_t i = 0; i < big.size(); i += 65536) d.Append(big.data() + i, 65536);
  items = Drain(d);
  REQUIRE(items.size() == 1);
  CHECK(items[0].data.size() == big.size());
}

TEST_CASE("a skipped payload is dropped as it streams and memory stays small") {
  StdoutDemux d(1024);
  d.Append("abc", 3);  // already buffered: part of the payload
  d.ExpectPayload(1 << 20, true);
  std::string chunk(65536, 'z');
  for (int i = 0; i < 15; ++i) {
    d.Append(chunk.data(), chunk.size());
    CHECK(d.buffered() < 1024);
  }
  CHECK(Drain(d).empty());
  std::string tail((1 << 20) - 3 - 15 * 65536, 'z');
  tail += "next\n";
  d.Append(tail.data(), tail.size());
  auto items = Drain(d);
  REQUIRE(items.size() == 2);
  CHECK(items[0].kind == Kind::kPayloadSkipped);
  CHECK(items[1].data == "next\n");
}

TEST_CASE("a payload cut short by EOF is reported") {
  StdoutDemux d(1024);
  d.ExpectPayload(10, false);
  d.Append("1234", 4);
  d.Finish();
  auto items = Drain(d);
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kPayloadTruncated);
  CHECK(items[0].got == 4);

  StdoutDemux s(1024);
  s.ExpectPayload(10, true);
  s.Append("12", 2);
  s.Finish();
  items = Drain(s);
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kPayloadTruncated);
  CHECK(items[0].got == 2);
}

TEST_CASE("over-long lines: output ends the job, a request is skipped to its end") {
  StdoutDemux d(8);
  d.Append("ok\n0123456789", 13);
  auto items = Drain(d);
  REQUIRE(items.size() == 2);
  CHECK(items[0].data == "ok\n");
  CHECK(items[1].kind == Kind::kOutputTooLong);
  CHECK(items[1].data == "0123456789");

  StdoutDemux r(8);
  r.Append("@mpi send 1 0 xxxxx", 19);
  items = Drain(r);
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kRequestTooLong);
  r.Append("yyyyyyyyyyyyyyyy", 16);  // rest of the long line: dropped
  CHECK(r.buffered() == 0);
  r.Append("zz\nnext\n", 8);
  items = Drain(r);
  REQUIRE(items.size() == 1);
  CHECK(items[0].data == "next\n");
}

TEST_CASE("a line of exactly max_line bytes is fine") {
  StdoutDemux d(8);
  d.Append("12345678\n", 9);
  auto items = Drain(d);
  REQUIRE(items.size() == 1);
  CHECK(items[0].data == "12345678\n");
}

TEST_CASE("a flood of output is compacted, not kept") {
  StdoutDemux d(1 << 16);
  std::string line(99, 'a');
  line += '\n';
  size_t total = 0;
  for (int i = 0; i < 20000; ++i) {
    d.Append(line.data(), line.size());
    for (auto& g : Drain(d)) total += g.data.size();
    REQUIRE(d.buffered() < line.size());
  }
  CHECK(total == 20000 * line.size());
}

TEST_CASE("a whole line over max_line is too long as well") {
  StdoutDemux d(8);
  std::string in = "ok\n0123456789\n@mpi send 1 0 xxxxx\nafter\n";
  d.Append(in.data(), in.size());
  auto items = Drain(d);
  REQUIRE(items.size() == 4);
  CHECK(items[0].data == "ok\n");
  CHECK(items[1].kind == Kind::kOutputTooLong);
  CHECK(items[1].data == "0123456789");
  CHECK(items[2].kind == Kind::kRequestTooLong);
  CHECK(items[3].data == "after\n");
}

TEST_CASE("a progress bar's CR sends the line's start at once, requests wait for their LF") {
  StdoutDemux d(1024);
  auto feed = [&](std::string s) {
    d.Append(s.data(), s.size());
    return Drain(d);
  };
  auto items = feed("a\nload 5%\rload 6%");
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kOutput);
  CHECK(items[0].data == "a\nload 5%\r");
  items = feed("\r\n@mpi barrier\n");
  REQUIRE(items.size() == 2);
  CHECK(items[0].data == "load 6%\r\n");
  CHECK(items[1].kind == Kind::kRequest);
  CHECK(items[1].data == "@mpi barrier");
  // A request whose CR came without its LF yet (CRLF split across reads),
  // and one whose text holds a CR, are held whole.
  CHECK(feed("@mpi barrier\r").empty());
  items = feed("\n@mpi send 1 0 a\rb");
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kRequest);
  CHECK(items[0].data == "@mpi barrier\r");
  items = feed("\n");
  REQUIRE(items.size() == 1);
  CHECK(items[0].data == "@mpi send 1 0 a\rb");
  // What follows a CR on the same line is never a request, whether the line
  // came whole or its start went out first.
  items = feed("x\r@mpi barrier\n@mpi rank\n");
  REQUIRE(items.size() == 2);
  CHECK(items[0].data == "x\r@mpi barrier\n");
  CHECK(items[1].kind == Kind::kRequest);
  items = feed("y\r");
  REQUIRE(items.size() == 1);
  CHECK(items[0].data == "y\r");
  items = feed("@mpi barrier\n@mpi rank\n");
  REQUIRE(items.size() == 2);
  CHECK(items[0].kind == Kind::kOutput);
  CHECK(items[0].data == "@mpi barrier\n");
  CHECK(items[1].kind == Kind::kRequest);
}

TEST_CASE("a progress bar fed byte by byte comes out whole, in order") {
  StdoutDemux d(16);  // far shorter than the bar: a CR starts a new piece
  const std::string in = "step 1 of 40\rstep 2 of 40\rstep 3 of 40\r\n@mpi rank\n";
  std::string out;
  std::vector<Kind> kinds;
  for (char c : in) {
    d.Append(&c, 1);
    for (const Got& g : Drain(d)) {
      kinds.push_back(g.kind);
      if (g.kind == Kind::kOutput) out += g.data;
    }
  }
  CHECK(out == "step 1 of 40\rstep 2 of 40\rstep 3 of 40\r\n");
  REQUIRE(!kinds.empty());
  CHECK(kinds.back() == Kind::kRequest);
  CHECK(std::count(kinds.begin(), kinds.end(), Kind::kOutput) == 4);
}

TEST_CASE("a bare CR at a line's start stays with its line") {
  StdoutDemux d(1024);
  auto feed = [&](std::string s) {
    d.Append(s.data(), s.size());
    return Drain(d);
  };
  auto items = feed("fatal: one\n\r");
  REQUIRE(items.size() == 1);
  CHECK(items[0].data == "fatal: one\n");
  items = feed("fatal: two\n\r");
  REQUIRE(items.size() == 1);
  CHECK(items[0].data == "\rfatal: two\n");
  items = feed("\r@mpi rank\n");  // not a request: it does not start the line
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kOutput);
  CHECK(items[0].data == "\r\r@mpi rank\n");
}

TEST_CASE("max_line counts a progress bar from its last CR") {
  std::string bar;
  for (int i = 1; i <= 50; ++i) {
    char piece[32];
    std::snprintf(piece, sizeof piece, "progress %3d%%\r", i * 2);
    bar += piece;
  }
  REQUIRE(bar.size() > 100);
  for (bool whole : {false, true}) {
    CAPTURE(whole);
    StdoutDemux d(100);
    std::string out;
    auto take = [&] {
      for (const Got& g : Drain(d)) {
        REQUIRE(g.kind == Kind::kOutput);
        out += g.data;
      }
    };
    std::string in = whole ? bar + "done\n" : bar;
    d.Append(in.data(), in.size());
    take();
    if (!whole) {
      d.Append("done\n", 5);
      take();
    }
    CHECK(out == bar + "done\n");
  }
  // A request line is still held whole, and too long past the limit.
  StdoutDemux d(100);
  std::string req = "@mpi send 1 0 " + std::string(60, 'a') + "\r" + std::string(60, 'b');
  d.Append(req.data(), req.size());
  auto items = Drain(d);
  REQUIRE(items.size() == 1);
  CHECK(items[0].kind == Kind::kRequestTooLong);
}
