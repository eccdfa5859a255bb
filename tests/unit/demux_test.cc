#include "demux.h"

#include <catch2/catch.hpp>
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
