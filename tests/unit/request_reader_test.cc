#include "request_reader.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "options.h"

using namespace stdmpi;
using Kind = RequestReader::Kind;

namespace {

// A reader whose program has read every reply, unless `unread` says not.
struct Reader {
  size_t unread = 0;
  RequestReader r{1024, [this] { return unread; }};
  Reader() { r.set_context({1, 4, 1000}); }
  RequestReader::Event Feed(const std::string& bytes) {
    r.Append(bytes.data(), bytes.size());
    return r.Next();
  }
};

std::string Output(RequestReader& r) {
  std::string out;
  for (;;) {
    RequestReader::Event ev = r.Next();
    if (ev.kind == Kind::kNone) return out;
    REQUIRE(ev.kind == Kind::kOutput);
    out.append(ev.output);
  }
}

}  // namespace

TEST_CASE("output comes before the request that follows it, and the request is parsed") {
  Reader t;
  RequestReader::Event ev = t.Feed("hello\nworld\n@mpi send 2 7 hi there\n");
  REQUIRE(ev.kind == Kind::kOutput);
  CHECK(ev.output == "hello\nworld\n");
  ev = t.r.Next();
  REQUIRE(ev.kind == Kind::kRequest);
  CHECK(ev.request.verb == Verb::kSend);
  CHECK(ev.request.peer == 2);
  CHECK(ev.request.tag == 7);
  CHECK(ev.request.text == "hi there");
  CHECK(ev.payload.empty());
  CHECK(t.r.request_quoted() == "\"@mpi send 2 7 hi there\"");
  CHECK(t.r.Next().kind == Kind::kNone);
}

TEST_CASE("a byte request waits for its payload, which never shows as output") {
  Reader t;
  CHECK(t.Feed("@mpi sendb 0 1 5\nab").kind == Kind::kNone);
  CHECK(t.r.payload_pending());
  CHECK(t.r.payload_announced() == 5);
  CHECK(t.r.payload_remaining() == 3);
  RequestReader::Event ev = t.Feed("c\ndafter\n");
  REQUIRE(ev.kind == Kind::kRequest);
  CHECK(ev.request.verb == Verb::kSendb);
  CHECK(ev.payload == "abc\nd");
  CHECK_FALSE(t.r.payload_pending());
  CHECK(Output(t.r) == "after\n");
}

TEST_CASE("a request before the last reply was read ends the job, and its bytes are skipped") {
  Reader t;
  t.unread = 12;
  RequestReader::Event ev = t.Feed("@mpi sendb 0 1 4\nxxxxlater\n");
  REQUIRE(ev.kind == Kind::kEnd);
  CHECK(ev.code == kExitProtocol);
  CHECK(ev.message ==
        "the command made a request before reading the whole reply to its previous one (12 "
        "byte(s) unread): \"@mpi sendb 0 1 4\"\nstdmpi:   (read each reply, all of it, before "
        "the next request)");
  t.r.OutputOnly();
  CHECK(Output(t.r) == "later\n");
  // One byte left unread is one too many: a program that read a number but
  // not the LF after it would read that LF as its next reply.
  Reader u;
  u.unread = 1;
  ev = u.Feed("@mpi rank\n");
  REQUIRE(ev.kind == Kind::kEnd);
  CHECK(ev.code == kExitProtocol);
}

TEST_CASE("a bad request fails at once in fatal mode, and its announced bytes are dropped") {
  Reader t;
  RequestReader::Event ev = t.Feed("@mpi sendb 9 1 3\nabcnext\n");
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK(ev.failure.reason.find("DEST 9") != std::string::npos);
  CHECK_FALSE(ev.failure.collective.has_value());
  CHECK_FALSE(ev.failure.always_fatal);
  // The job ends; the payload never reaches the output.
  t.r.OutputOnly();
  CHECK(Output(t.r) == "next\n");
}

TEST_CASE("in errors-return mode a bad request is answered once its bytes went by") {
  Reader t;
  t.r.set_errors_return(true);
  CHECK(t.Feed("@mpi sendb 9 1 3\nab").kind == Kind::kNone);
  RequestReader::Event ev = t.Feed("cnext\n");
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK(ev.failure.reason.find("DEST 9") != std::string::npos);
  CHECK(Output(t.r) == "next\n");
  // A valid byte broadcast on its root: the request with its payload.
  CHECK(t.Feed("@mpi bcastb 1 4\nab").kind == Kind::kNone);
  ev = t.Feed("cd");
  REQUIRE(ev.kind == Kind::kRequest);
  CHECK(ev.payload == "abcd");
  // A bad root: no bytes can be expected, it fails at once.
  ev = t.Feed("@mpi bcastb 7 3\n");
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK(ev.failure.collective == Verb::kBcastb);
}

TEST_CASE("a bad collective names its verb so it can still join the agreement check") {
  Reader t;
  RequestReader::Event ev = t.Feed("@mpi allreduce sum x\n");
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK(ev.failure.collective == Verb::kAllreduce);
  ev = t.Feed("@mpi allreduc sum 1\n");
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK_FALSE(ev.failure.collective.has_value());
  CHECK(ev.failure.reason == "unknown verb \"allreduc\" (did you mean \"allreduce\"?)");
}

TEST_CASE("a :msgpack request arrives with its numbers decoded") {
  Reader t;
  t.r.KeepTraceInfo();
  // fixarray of 2: 1, 2.5 (float 64)
  const std::string value("\x92\x01\xcb\x40\x04\x00\x00\x00\x00\x00\x00", 11);
  RequestReader::Event ev =
      t.Feed("@mpi allreduce:msgpack sum " + std::to_string(value.size()) + "\n" + value);
  REQUIRE(ev.kind == Kind::kRequest);
  CHECK(ev.request.msgpack);
  CHECK(ev.request.f64 == std::vector<double>{1, 2.5});
  CHECK(ev.payload.empty());
  CHECK(t.r.trace_name() == "allreduce:msgpack");
  // A string among the numbers: a failed collective.
  ev = t.Feed("@mpi allreduce:i64:msgpack max 3\n\x91\xa1z");
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK(ev.failure.collective == Verb::kAllreduce);
  CHECK(t.r.trace_name() == "allreduce:i64:msgpack");
}

TEST_CASE("a payload cut short by the end of the stream fails the request") {
  Reader t;
  CHECK(t.Feed("@mpi sendb 0 1 10\nabc").kind == Kind::kNone);
  t.r.Finish();
  RequestReader::Event ev = t.r.Next();
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK(ev.failure.reason ==
        "the request announced raw bytes, but the command's stdout ended after 3 of them");
  CHECK_FALSE(t.r.payload_pending());
}

TEST_CASE("over-long lines: a request fails, output ends the job") {
  Reader t;
  std::string long_request = "@mpi bcast 0 " + std::string(2000, 'x') + "\n";
  RequestReader::Event ev = t.Feed(long_request);
  REQUIRE(ev.kind == Kind::kFailed);
  CHECK(ev.failure.reason ==
        "request line longer than the limit of 1 KiB (raise it with stdmpirun --max-line)");
  ev = t.Feed(std::string(2000, 'y'));
  REQUIRE(ev.kind == Kind::kEnd);
  CHECK(ev.code == kExitProtocol);
  CHECK(ev.message.rfind("an output line grew past the limit of 1 KiB", 0) == 0);
}

TEST_CASE("once the job ends only output passes, and requests are dropped unread") {
  Reader t;
  t.r.OutputOnly();
  const std::string stream = "a\n@mpi rank\n@mpi bogus\nb\n";
  t.r.Append(stream.data(), stream.size());
  t.r.Finish();
  CHECK(Output(t.r) == "a\nb\n");
}

TEST_CASE("the last line without LF is still a request") {
  Reader t;
  t.r.Append("@mpi size", 9);
  CHECK(t.r.Next().kind == Kind::kNone);
  t.r.Finish();
  RequestReader::Event ev = t.r.Next();
  REQUIRE(ev.kind == Kind::kRequest);
  CHECK(ev.request.verb == Verb::kSize);
}
