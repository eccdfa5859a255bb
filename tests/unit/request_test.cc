#include "request.h"

#include <catch2/catch.hpp>
#include <iterator>
#include <string_view>
#include <utility>

using namespace stdmpi;

namespace {

ParseContext Ctx(int rank = 0, int size = 4, int64_t max_payload = 1 << 20) {
  ParseContext c;
  c.rank = rank;
  c.size = size;
  c.max_payload = max_payload;
  return c;
}

Request Parse(std::string_view line, const ParseContext& c = Ctx()) {
  Request r;
  ParseResult pr = ParseRequest(line, c, &r);
  INFO(line << " -> " << pr.error);
  REQUIRE(pr.ok);
  return r;
}

std::string Error(std::string_view line, const ParseContext& c = Ctx()) {
  Request r;
  ParseResult pr = ParseRequest(line, c, &r);
  INFO(line);
  REQUIRE_FALSE(pr.ok);
  return pr.error;
}

}  // namespace

TEST_CASE("which lines are requests") {
  CHECK(IsRequestLine("@mpi rank"));
  CHECK(IsRequestLine("@mpi"));
  CHECK(IsRequestLine("@mpi\r"));
  CHECK(IsRequestLine("@mpi "));
  CHECK_FALSE(IsRequestLine("@mpix rank"));
  CHECK_FALSE(IsRequestLine(" @mpi rank"));
  CHECK_FALSE(IsRequestLine("@mp"));
  CHECK_FALSE(IsRequestLine("@MPI rank"));
  CHECK_FALSE(IsRequestLine("@mpi\trank"));
  CHECK_FALSE(IsRequestLine("@mpi\rx"));
  CHECK_FALSE(IsRequestLine(""));
}

TEST_CASE("verbs without arguments") {
  for (auto [line, verb] : {std::pair{"@mpi rank", Verb::kRank},
                            {"@mpi size", Verb::kSize},
                            {"@mpi wtime", Verb::kWtime},
                            {"@mpi barrier", Verb::kBarrier},
                            {"@mpi status", Verb::kStatus}}) {
    CHECK(Parse(line).verb == verb);
  }
  CHECK(Parse("@mpi rank\r").verb == Verb::kRank);
  CHECK(Parse("@mpi rank  ").verb == Verb::kRank);  // trailing spaces are harmless
  CHECK(Error("@mpi rank 1") == "unexpected argument \"1\" (usage: @mpi rank)");
  CHECK(Error("@mpi") == "empty request: no verb after @mpi");
  CHECK(Error("@mpi ") == "empty request: no verb after @mpi");
  CHECK(Error("@mpi  rank") == "empty verb: fields are separated by single spaces");
}

TEST_CASE("send keeps TEXT byte for byte") {
  Request r = Parse("@mpi send 2 7 hello  world ");
  CHECK(r.verb == Verb::kSend);
  CHECK(r.peer == 2);
  CHECK(r.tag == 7);
  CHECK(r.text == "hello  world ");
  CHECK(Parse("@mpi send 1 0").text.empty());
  CHECK(Parse("@mpi send 1 0 ").text.empty());
  CHECK(Parse("@mpi send 1 0  x").text == " x");
  CHECK(Parse("@mpi send 1 0 a\rb\r").text == "a\rb");  // only the trailing CR goes
  CHECK(Parse(std::string_view("@mpi send 1 0 a\0b", 17)).text == std::string_view("a\0b", 3));
  CHECK(Parse("@mpi send 1 32767 x").tag == 32767);
}

TEST_CASE("rank and tag arguments") {
  CHECK(Error("@mpi send 4 0 x") == "DEST 4 out of range: ranks are 0..3");
  CHECK(Error("@mpi send 1 0 x", Ctx(0, 1)) == "DEST 1 out of range: the only rank is 0");
  CHECK(Error("@mpi send x 0 y") == "bad DEST \"x\": expected a rank (ranks are 0..3)");
  CHECK(Error("@mpi send any 0 y") == "bad DEST \"any\": expected a rank (ranks are 0..3)");
  CHECK(Error("@mpi send +1 0 y") == "bad DEST \"+1\": expected a rank (ranks are 0..3)");
  CHECK(Error("@mpi send 1 32768 y") == "bad TAG \"32768\": expected 0..32767");
  CHECK(Error("@mpi send 1 any y") == "bad TAG \"any\": expected 0..32767");
  CHECK(Error("@mpi send") == "missing DEST (usage: @mpi send DEST TAG TEXT)");
  CHECK(Error("@mpi send 1") == "missing TAG (usage: @mpi send DEST TAG TEXT)");
  Request r = Parse("@mpi recv any any");
  CHECK(r.peer == kAny);
  CHECK(r.tag == kAny);
  CHECK(Parse("@mpi recv 3 5").peer == 3);
  CHECK(Error("@mpi recv 0 x") == "bad TAG \"x\": expected 0..32767 or any");
  CHECK(Error("@mpi recv 0 1 2") == "unexpected argument \"2\" (usage: @mpi recv SRC TAG)");
  CHECK(Error("@mpi recv 9 1") == "SRC 9 out of range: ranks are 0..3");
  CHECK(Parse("@mpi probe any 3").verb == Verb::kProbe);
  CHECK(Parse("@mpi iprobe 1 any").verb == Verb::kIprobe);
  CHECK(Parse("@mpi recvb any any").verb == Verb::kRecvb);
}

TEST_CASE("sendrecv") {
  Request r = Parse("@mpi sendrecv 1 2 any 4 a b");
  CHECK(r.peer == 1);
  CHECK(r.tag == 2);
  CHECK(r.peer2 == kAny);
  CHECK(r.tag2 == 4);
  CHECK(r.text == "a b");
  CHECK(Error("@mpi sendrecv 1 2 3") ==
        "missing RECVTAG (usage: @mpi sendrecv DEST SENDTAG SRC RECVTAG TEXT)");
}

TEST_CASE("numeric verbs: ops, types, numbers") {
  Request r = Parse("@mpi allreduce sum 1 2.5 -3");
  CHECK(r.verb == Verb::kAllreduce);
  CHECK(r.op == Op::kSum);
  CHECK(r.type == NumType::kF64);
  CHECK(r.f64 == std::vector<double>{1, 2.5, -3});
  r = Parse("@mpi allreduce:i64 bxor 5 6");
  CHECK(r.type == NumType::kI64);
  CHECK(r.op == Op::kBxor);
  CHECK(r.i64 == std::vector<int64_t>{5, 6});
  CHECK(Parse("@mpi allreduce:f64 max 1").type == NumType::kF64);
  r = Parse("@mpi reduce minloc 3 7");
  CHECK(r.verb == Verb::kReduce);
  CHECK(r.op == Op::kMinloc);
  CHECK(r.peer == 3);
  CHECK(r.f64 == std::vector<double>{7});
  for (const char* op : {"sum", "prod", "min", "max", "land", "lor", "lxor", "minloc", "maxloc"}) {
    CHECK(Parse(std::string("@mpi scan ") + op + " 1").verb == Verb::kScan);
    CHECK(Parse(std::string("@mpi exscan:i64 ") + op + " 1").verb == Verb::kExscan);
  }
  CHECK(Error("@mpi allreduce band 1") == "op band works on integers only: use allreduce:i64");
  CHECK(Error("@mpi reduce bor 0 1") == "op bor works on integers only: use reduce:i64");
  CHECK(Error("@mpi allreduce sum") == "no numbers given (usage: @mpi allreduce OP X ...)");
  CHECK(Error("@mpi allreduce") == "missing OP (usage: @mpi allreduce OP X ...)");
  CHECK(Error("@mpi allreduce avg 1") ==
        "unknown op \"avg\" (sum prod min max land lor lxor minloc maxloc; band bor bxor with "
        ":i64)");
  CHECK(Error("@mpi allreduce sum 1 x") == "not a number: \"x\"");
  CHECK(Error("@mpi allreduce:i64 sum 1.0") == "not an integer: \"1.0\"");
  CHECK(Error("@mpi allreduce:u8 sum 1") ==
        "unknown suffix \":u8\" (use :i64 or :f64, and :msgpack for the binary form)");
  CHECK(Error("@mpi recv:i64 0 0") ==
        "verb \"recv\" takes no suffix (\":i64\"): only the numeric verbs take :i64, :f64 and "
        ":msgpack");
  CHECK(Error("@mpi reduce sum 4 1") == "ROOT 4 out of range: ranks are 0..3");
}

TEST_CASE("gather, allgather, scatter") {
  Request r = Parse("@mpi gather 2 1 2 3");
  CHECK(r.peer == 2);
  CHECK(r.count() == 3);
  CHECK(Parse("@mpi allgather:i64 5").i64 == std::vector<int64_t>{5});
  r = Parse("@mpi scatter 0 1 2 3 4 5 6 7 8");
  CHECK(r.count() == 8);
  CHECK(Error("@mpi scatter 0 1 2 3") ==
        "scatter root gives 3 numbers, not a multiple of the 4 ranks");
  CHECK(Error("@mpi scatter 0") == "no numbers given (usage: @mpi scatter ROOT [X ...])");
  // Non-roots give no numbers, and whatever they give is ignored unread.
  CHECK(Parse("@mpi scatter 0", Ctx(1)).count() == 0);
  CHECK(Parse("@mpi scatter 0 junk", Ctx(1)).count() == 0);
}

TEST_CASE("bcast and byte forms") {
  Request r = Parse("@mpi bcast 1 some text");
  CHECK(r.peer == 1);
  CHECK(r.text == "some text");
  CHECK(Parse("@mpi bcast 0").text.empty());
  r = Parse("@mpi sendb 1 3 1000");
  CHECK(r.payload_bytes == 1000);
  CHECK(Parse("@mpi sendb 1 3 0").payload_bytes == 0);
  r = Parse("@mpi bcastb 0 12");  // root (rank 0): bytes follow
  CHECK(r.payload_bytes == 12);
  r = Parse("@mpi bcastb 0 12", Ctx(1));  // non-root: N ignored, no bytes follow
  CHECK(r.payload_bytes == 0);
  CHECK(Parse("@mpi bcastb 0", Ctx(1)).payload_bytes == 0);
  CHECK(Error("@mpi bcastb 0") ==
        "missing N (the root gives the byte count) (usage: @mpi bcastb ROOT [N], then N raw bytes "
        "on the root)");
  CHECK(Error("@mpi sendb 1 3 -1") == "bad byte count \"-1\": expected a number of bytes >= 0");
  CHECK(Error("@mpi sendb 1 3 1x") == "bad byte count \"1x\": expected a number of bytes >= 0");
}

TEST_CASE("text numbers count 8 bytes each against the message limit") {
  ParseContext c = Ctx(0, 4, 24);
  CHECK(Parse("@mpi allreduce sum 1 2 3", c).f64.size() == 3);
  CHECK(Error("@mpi allreduce sum 1 2 3 4", c) ==
        "4 numbers are 32 bytes for MPI, over the limit of 24 bytes (raise it with stdmpirun "
        "--max-message, or send in pieces)");
  CHECK(Error("@mpi gather:i64 0 1 2 3 4", c).rfind("4 numbers are 32 bytes", 0) == 0);
}

TEST_CASE("a bad byte request still says how many bytes follow") {
  Request r;
  ParseContext c = Ctx(0, 4, 100);
  ParseResult pr = ParseRequest("@mpi sendb 1 3 1000", c, &r);
  CHECK_FALSE(pr.ok);
  CHECK(pr.error ==
        "byte count 1000 over the limit of 100 bytes (raise it with stdmpirun --max-message, or "
        "send in pieces)");
  CHECK(r.payload_bytes == 1000);
  pr = ParseRequest("@mpi sendb 9 3 50", c, &r);
  CHECK(pr.error == "DEST 9 out of range: ranks are 0..3");
  CHECK(r.payload_bytes == 50);
  pr = ParseRequest("@mpi sendb 1 x 50", c, &r);
  CHECK(r.payload_bytes == 50);
  pr = ParseRequest("@mpi bcastb 0 500", c, &r);
  CHECK_FALSE(pr.ok);
  CHECK(r.payload_bytes == 500);
  CHECK(pr.verb_known);
  CHECK(IsCollective(r.verb));
}

TEST_CASE("errors and abort") {
  CHECK(Parse("@mpi errors return").errors_return);
  CHECK_FALSE(Parse("@mpi errors fatal").errors_return);
  CHECK(Error("@mpi errors") == "missing mode (usage: @mpi errors return|fatal)");
  CHECK(Error("@mpi errors soft") == "bad mode \"soft\" (usage: @mpi errors return|fatal)");
  Request r = Parse("@mpi abort 7 out of cheese");
  CHECK(r.abort_code == 7);
  CHECK(r.text == "out of cheese");
  CHECK(Parse("@mpi abort 0").abort_code == 0);
  CHECK(Parse("@mpi abort 255").abort_code == 255);
  CHECK(Error("@mpi abort 256") == "bad exit code \"256\": expected 0..255");
  CHECK(Error("@mpi abort -1") == "bad exit code \"-1\": expected 0..255");
}

TEST_CASE("unknown verbs suggest the nearest one") {
  CHECK(Error("@mpi allreduc sum 1") == "unknown verb \"allreduc\" (did you mean \"allreduce\"?)");
  CHECK(Error("@mpi Send 1 0 x") == "unknown verb \"Send\" (did you mean \"send\"?)");
  CHECK(Error("@mpi frobnicate") == "unknown verb \"frobnicate\"");
  Request r;
  ParseResult pr = ParseRequest("@mpi nope", Ctx(), &r);
  CHECK_FALSE(pr.verb_known);
}

TEST_CASE("verb names line up with the enum") {
  CHECK(std::string(VerbName(Verb::kRank)) == "rank");
  CHECK(std::string(VerbName(Verb::kAllreduce)) == "allreduce");
  CHECK(std::string(VerbName(Verb::kBcastb)) == "bcastb");
  CHECK(std::string(VerbName(Verb::kAbort)) == "abort");
  CHECK(std::string(OpName(Op::kMaxloc)) == "maxloc");
  CHECK(IsCollective(Verb::kBarrier));
  CHECK(IsCollective(Verb::kScatter));
  CHECK_FALSE(IsCollective(Verb::kSend));
  CHECK_FALSE(IsCollective(Verb::kSendrecv));
}

TEST_CASE("malformed requests: each gets its exact reason") {
  // Ranks 0..3, --max-message 1M. The request, then the reason the child or
  // the job's stderr sees.
  const std::pair<std::string_view, std::string_view> table[] = {
      {"@mpi", "empty request: no verb after @mpi"},
      {"@mpi ", "empty request: no verb after @mpi"},
      {"@mpi foo", "unknown verb \"foo\""},
      {"@mpi allreduc sum 1", "unknown verb \"allreduc\" (did you mean \"allreduce\"?)"},
      {"@mpi RANK", "unknown verb \"RANK\""},
      {"@mpi rank 1", "unexpected argument \"1\" (usage: @mpi rank)"},
      {"@mpi size x", "unexpected argument \"x\" (usage: @mpi size)"},
      {"@mpi send", "missing DEST (usage: @mpi send DEST TAG TEXT)"},
      {"@mpi send 1", "missing TAG (usage: @mpi send DEST TAG TEXT)"},
      {"@mpi send x 0 hi", "bad DEST \"x\": expected a rank (ranks are 0..3)"},
      {"@mpi send 4 0 hi", "DEST 4 out of range: ranks are 0..3"},
      {"@mpi send -1 0 hi", "bad DEST \"-1\": expected a rank (ranks are 0..3)"},
      {"@mpi send any 0 hi", "bad DEST \"any\": expected a rank (ranks are 0..3)"},
      {"@mpi send 1 32768 hi", "bad TAG \"32768\": expected 0..32767"},
      {"@mpi send 1 -1 hi", "bad TAG \"-1\": expected 0..32767"},
      {"@mpi send 1 any hi", "bad TAG \"any\": expected 0..32767"},
      {"@mpi send 1 1.5 hi", "bad TAG \"1.5\": expected 0..32767"},
      {"@mpi send 1 0x10 hi", "bad TAG \"0x10\": expected 0..32767"},
      {"@mpi send 99999999999999999999 0 hi",
       "bad DEST \"99999999999999999999\": expected a rank (ranks are 0..3)"},
      {"@mpi recv", "missing SRC (usage: @mpi recv SRC TAG)"},
      {"@mpi recv 1", "missing TAG (usage: @mpi recv SRC TAG)"},
      {"@mpi recv 5 0", "SRC 5 out of range: ranks are 0..3"},
      {"@mpi recv 1 0 extra", "unexpected argument \"extra\" (usage: @mpi recv SRC TAG)"},
      {"@mpi recv all 0", "bad SRC \"all\": expected a rank or any (ranks are 0..3)"},
      {"@mpi sendrecv 1 0 1",
       "missing RECVTAG (usage: @mpi sendrecv DEST SENDTAG SRC RECVTAG TEXT)"},
      {"@mpi sendrecv 1 0 9 0 hi", "SRC 9 out of range: ranks are 0..3"},
      {"@mpi probe 1", "missing TAG (usage: @mpi probe SRC TAG)"},
      {"@mpi iprobe x any", "bad SRC \"x\": expected a rank or any (ranks are 0..3)"},
      {"@mpi bcast", "missing ROOT (usage: @mpi bcast ROOT [TEXT])"},
      {"@mpi bcast 7 hi", "ROOT 7 out of range: ranks are 0..3"},
      {"@mpi reduce", "missing OP (usage: @mpi reduce OP ROOT X ...)"},
      {"@mpi reduce sum", "missing ROOT (usage: @mpi reduce OP ROOT X ...)"},
      {"@mpi reduce sum 0", "no numbers given (usage: @mpi reduce OP ROOT X ...)"},
      {"@mpi reduce avg 0 1",
       "unknown op \"avg\" (sum prod min max land lor lxor minloc maxloc; band bor bxor with "
       ":i64)"},
      {"@mpi reduce sum 9 1", "ROOT 9 out of range: ranks are 0..3"},
      {"@mpi allreduce sum", "no numbers given (usage: @mpi allreduce OP X ...)"},
      {"@mpi allreduce sum 1 x", "not a number: \"x\""},
      {"@mpi allreduce sum 1,2", "not a number: \"1,2\""},
      {"@mpi allreduce band 1", "op band works on integers only: use allreduce:i64"},
      {"@mpi allreduce:i64 sum 1.5", "not an integer: \"1.5\""},
      {"@mpi allreduce:i64 sum 9223372036854775808",
       "integer out of the 64-bit range: \"9223372036854775808\""},
      {"@mpi allreduce:f32 sum 1",
       "unknown suffix \":f32\" (use :i64 or :f64, and :msgpack for the binary form)"},
      {"@mpi allreduce: sum 1",
       "unknown suffix \":\" (use :i64 or :f64, and :msgpack for the binary form)"},
      {"@mpi rank:i64",
       "verb \"rank\" takes no suffix (\":i64\"): only the numeric verbs take :i64, :f64 and "
       ":msgpack"},
      {"@mpi allreduce  sum 1",
       "unknown op \"\" (sum prod min max land lor lxor minloc maxloc; band bor bxor with :i64)"},
      {"@mpi scan", "missing OP (usage: @mpi scan OP X ...)"},
      {"@mpi exscan prod", "no numbers given (usage: @mpi exscan OP X ...)"},
      {"@mpi gather", "missing ROOT (usage: @mpi gather ROOT X ...)"},
      {"@mpi gather 0 x", "not a number: \"x\""},
      {"@mpi allgather", "no numbers given (usage: @mpi allgather X ...)"},
      {"@mpi scatter", "missing ROOT (usage: @mpi scatter ROOT [X ...])"},
      {"@mpi scatter 0 1 2 3", "scatter root gives 3 numbers, not a multiple of the 4 ranks"},
      {"@mpi scatter 0 x", "not a number: \"x\""},
      {"@mpi sendb 1 0", "missing N (usage: @mpi sendb DEST TAG N, then N raw bytes)"},
      {"@mpi sendb 1 0 -5", "bad byte count \"-5\": expected a number of bytes >= 0"},
      {"@mpi sendb 1 0 5x", "bad byte count \"5x\": expected a number of bytes >= 0"},
      {"@mpi sendb 1 0 2000000",
       "byte count 2000000 over the limit of 1048576 bytes (raise it with stdmpirun --max-message, "
       "or send in pieces)"},
      {"@mpi sendb 1 0 5 extra",
       "unexpected argument \"extra\" (usage: @mpi sendb DEST TAG N, then N raw bytes)"},
      {"@mpi recvb 1", "missing TAG (usage: @mpi recvb SRC TAG)"},
      {"@mpi bcastb 0",
       "missing N (the root gives the byte count) (usage: @mpi bcastb ROOT [N], then N raw bytes "
       "on the root)"},
      {"@mpi bcastb 0 -1", "bad byte count \"-1\": expected a number of bytes >= 0"},
      {"@mpi bcastb 0 99999999",
       "byte count 99999999 over the limit of 1048576 bytes (raise it with stdmpirun "
       "--max-message, or send in pieces)"},
      {"@mpi errors", "missing mode (usage: @mpi errors return|fatal)"},
      {"@mpi errors maybe", "bad mode \"maybe\" (usage: @mpi errors return|fatal)"},
      {"@mpi errors return now", "unexpected argument \"now\" (usage: @mpi errors return|fatal)"},
      {"@mpi abort", "missing CODE (usage: @mpi abort CODE [TEXT])"},
      {"@mpi abort x", "bad exit code \"x\": expected 0..255"},
      {"@mpi abort 256", "bad exit code \"256\": expected 0..255"},
      {"@mpi abort -1", "bad exit code \"-1\": expected 0..255"},
      {"@mpi wtime now", "unexpected argument \"now\" (usage: @mpi wtime)"},
      {"@mpi barrier 0", "unexpected argument \"0\" (usage: @mpi barrier)"},
      {"@mpi status 1", "unexpected argument \"1\" (usage: @mpi status)"},
      {"@mpi send\t1 0 hi", "unknown verb \"send\\x091\" (did you mean \"send\"?)"},
      {"@mpi reduce minloc 0", "no numbers given (usage: @mpi reduce OP ROOT X ...)"},
      {"@mpi allreduce:i64 land x", "not an integer: \"x\""},
      {"@mpi \xff\xfe", "unknown verb \"\\xff\\xfe\""},
  };
  static_assert(std::size(table) >= 50);
  for (const auto& [line, reason] : table) {
    INFO(line);
    CHECK(Error(line) == reason);
  }
}

TEST_CASE("the verb of a line too long to parse") {
  CHECK(VerbOfRequestLine("@mpi allreduce:i64 sum 1 2 3") == Verb::kAllreduce);
  CHECK(VerbOfRequestLine("@mpi bcast 0 abc") == Verb::kBcast);
  CHECK(VerbOfRequestLine("@mpi barrier ") == Verb::kBarrier);
  CHECK_FALSE(VerbOfRequestLine("@mpi exscan").has_value());  // "exscano..." for all it shows
  CHECK_FALSE(VerbOfRequestLine("@mpi allreduc sum").has_value());
  CHECK_FALSE(VerbOfRequestLine("@mpix allreduce").has_value());
  CHECK_FALSE(VerbOfRequestLine("@mpi").has_value());
}

TEST_CASE("a megabyte-long unknown verb is refused without a suggestion") {
  std::string line = "@mpi " + std::string(size_t{1} << 20, 'v');
  Request r;
  ParseResult p = ParseRequest(line, ParseContext{}, &r);
  CHECK_FALSE(p.ok);
  CHECK_FALSE(p.verb_known);
  CHECK(p.error.rfind("unknown verb \"vvvv", 0) == 0);
  CHECK(p.error.find("did you mean") == std::string::npos);
}

TEST_CASE("byte collectives: counts, roots and the bytes that follow") {
  Request r = Parse("@mpi gatherb 2 17");
  CHECK(r.verb == Verb::kGatherb);
  CHECK(r.peer == 2);
  CHECK(r.payload_bytes == 17);
  CHECK(Parse("@mpi allgatherb 0").payload_bytes == 0);
  r = Parse("@mpi scatterb 0 1 0 2 3");  // the root, 4 ranks
  CHECK(r.sizes == std::vector<int64_t>{1, 0, 2, 3});
  CHECK(r.payload_bytes == 6);
  r = Parse("@mpi scatterb 1");  // not the root: no counts
  CHECK(r.sizes.empty());
  CHECK(r.payload_bytes == 0);
  r = Parse("@mpi alltoallb 5 6 7 8 ");
  CHECK(r.sizes == std::vector<int64_t>{5, 6, 7, 8});
  CHECK(r.payload_bytes == 26);
  r = Parse("@mpi sendrecvb 1 2 any any 9");
  CHECK(r.peer == 1);
  CHECK(r.tag == 2);
  CHECK(r.peer2 == kAny);
  CHECK(r.tag2 == kAny);
  CHECK(r.payload_bytes == 9);
  for (Verb v : {Verb::kGatherb, Verb::kAllgatherb, Verb::kScatterb, Verb::kAlltoallb}) {
    CHECK(IsCollective(v));
  }
  CHECK_FALSE(IsCollective(Verb::kSendrecvb));
}

TEST_CASE("bad byte collectives say why, and still how many bytes follow") {
  const std::string usage =
      " (usage: @mpi alltoallb N0 N1 ... (one count a rank), then their "
      "sum of raw bytes)";
  CHECK(Error("@mpi alltoallb 1 2 3") == "3 byte count(s) for 4 ranks: give one a rank" + usage);
  CHECK(Error("@mpi alltoallb 1 2 3 4 5") == "more byte counts than the 4 ranks" + usage);
  CHECK(Error("@mpi alltoallb 1 -2 3 4") ==
        "bad byte count \"-2\": expected a number of bytes >= 0" + usage);
  CHECK(Error("@mpi alltoallb") == "missing N0 N1 ... (one byte count a rank)" + usage);
  CHECK(Error("@mpi scatterb 0") ==
        "missing N0 N1 ... (the root gives one byte count a rank) (usage: @mpi scatterb ROOT N0 "
        "N1 ... (one count a rank, then their sum of raw bytes) on the root, @mpi scatterb ROOT "
        "elsewhere)");
  CHECK(Error("@mpi gatherb 0") == "missing N (usage: @mpi gatherb ROOT N, then N raw bytes)");
  Request r;
  ParseContext c = Ctx(0, 4, 100);
  ParseResult pr = ParseRequest("@mpi scatterb 1 10 20 30 40", c, &r);  // not the root
  CHECK(pr.error.rfind("only the root (rank 1) gives byte counts and bytes", 0) == 0);
  CHECK(r.payload_bytes == 100);
  pr = ParseRequest("@mpi alltoallb 50 50 50 50", c, &r);
  CHECK(pr.error ==
        "byte count 200 over the limit of 100 bytes (raise it with stdmpirun --max-message, or "
        "send in pieces)");
  CHECK(r.payload_bytes == 200);
  pr = ParseRequest("@mpi gatherb 7 30", c, &r);
  CHECK(pr.error == "ROOT 7 out of range: ranks are 0..3");
  CHECK(r.payload_bytes == 30);
  pr = ParseRequest("@mpi sendrecvb 9 1 0 1 40", c, &r);
  CHECK(r.payload_bytes == 40);
  pr = ParseRequest("@mpi sendrecvb 0 1 0 1", c, &r);  // no N: RECVTAG is no byte count
  CHECK(pr.error ==
        "missing N (usage: @mpi sendrecvb DEST SENDTAG SRC RECVTAG N, then N raw "
        "bytes)");
  CHECK(r.payload_bytes == 0);
}

TEST_CASE("non-blocking requests and their ids") {
  Request r = Parse("@mpi isend 3 7 hello there");
  CHECK(r.verb == Verb::kIsend);
  CHECK(r.text == "hello there");
  r = Parse("@mpi isendb 1 0 64");
  CHECK(r.payload_bytes == 64);
  r = Parse("@mpi irecv any any");
  CHECK(r.peer == kAny);
  CHECK(Parse("@mpi irecvb 2 5").verb == Verb::kIrecvb);
  CHECK(Parse("@mpi wait 12").ids == std::vector<int64_t>{12});
  CHECK(Parse("@mpi test 3").ids == std::vector<int64_t>{3});
  CHECK(Parse("@mpi waitall 1 2 3").ids == std::vector<int64_t>{1, 2, 3});
  CHECK(Parse("@mpi waitany 4 ").ids == std::vector<int64_t>{4});
  CHECK(Error("@mpi wait 1 2") == "unexpected argument \"2\" (usage: @mpi wait ID)");
  CHECK(Error("@mpi waitall") == "missing ID (usage: @mpi waitall ID [ID ...])");
  CHECK(Error("@mpi test -1") ==
        "bad request id \"-1\": expected a number that isend, isendb, irecv or irecvb replied");
  CHECK(Error("@mpi wait 0") ==
        "bad request id \"0\": expected a number that isend, isendb, irecv or irecvb replied");
  CHECK(Error("@mpi isend 4 0 x") == "DEST 4 out of range: ranks are 0..3");
  CHECK_FALSE(IsCollective(Verb::kWaitall));
}

TEST_CASE("communicators: the :cID suffix, split, dup and free") {
  CommShapes comms = {{1, {0, 4}}, {2, {1, 2}}};
  ParseContext c = Ctx(3, 4);
  c.comms = &comms;
  Request r = Parse("@mpi allreduce:i64:c2 sum 1", c);
  CHECK(r.comm == 2);
  CHECK(r.type == NumType::kI64);
  CHECK(Parse("@mpi send:c2 1 0 x", c).peer == 1);  // ranks are the communicator's
  CHECK(Error("@mpi send:c2 2 0 x", c) == "DEST 2 out of range: ranks are 0..1");
  CHECK(Parse("@mpi rank:c0", c).comm == 0);
  CHECK(Parse("@mpi barrier:c1", c).comm == 1);
  Request bad;
  ParseResult pr = ParseRequest("@mpi barrier:c5", c, &bad);
  CHECK(pr.error ==
        "communicator 5 does not exist on this rank (split and dup make them, free ends them)");
  CHECK(pr.verb_known);
  CHECK(bad.comm == kNoComm);  // so that it joins no agreement check
  CHECK(Error("@mpi rank:c2:c1", c) == "suffix :c given twice");
  CHECK(Error("@mpi barrier:c0:c1", c) == "suffix :c given twice");
  CHECK(Error("@mpi wtime:c2", c) == "verb \"wtime\" takes no communicator (\":c2\")");
  CHECK(Error("@mpi wait:c2 1", c) == "verb \"wait\" takes no communicator (\":c2\")");
  CHECK(Error("@mpi barrier:c-1", c) ==
        "bad communicator suffix \":c-1\": expected :c and a number that split or dup replied");
  CHECK(Error("@mpi send:c2y 1 0 x", c) ==
        "bad communicator suffix \":c2y\": expected :c and a number that split or dup replied");
  // A scatter root's count is checked against the communicator's size.
  CHECK(Error("@mpi scatter:c2 1 1 2 3", c) ==
        "scatter root gives 3 numbers, not a multiple of the 2 ranks");
  r = Parse("@mpi split 3 -7", c);
  CHECK(r.color == 3);
  CHECK(r.key == -7);
  CHECK(Parse("@mpi split:c2 none 0", c).color == kNoColor);
  CHECK(Error("@mpi split -1 0", c) ==
        "bad COLOR \"-1\": expected a number from 0 to 2147483647, or none");
  CHECK(Error("@mpi split 1 x", c) ==
        "bad KEY \"x\": expected a whole number from -2147483647 to 2147483647");
  CHECK(Error("@mpi split 1 2147483648", c) ==
        "bad KEY \"2147483648\": expected a whole number from -2147483647 to 2147483647");
  CHECK(Error("@mpi split 1", c) ==
        "missing KEY (usage: @mpi split COLOR KEY (COLOR: a number >= 0, or none))");
  CHECK(Parse("@mpi dup:c1", c).verb == Verb::kDup);
  CHECK(Parse("@mpi free 2", c).comm == 2);
  CHECK(Error("@mpi free x", c) ==
        "bad communicator id \"x\": expected a number that split or dup replied");
  CHECK(IsCollective(Verb::kSplit));
  CHECK(IsCollective(Verb::kDup));
  CHECK_FALSE(IsCollective(Verb::kFree));
  CHECK(InComm(c, 2).rank == 1);
  CHECK(InComm(c, 2).size == 2);
  CHECK(InComm(c, 9).size == 4);
}

TEST_CASE("a request glued after output text is found, so the shim can warn") {
  CHECK(GluedRequest("50%@mpi barrier") == 3);
  CHECK(GluedRequest("abc@mpi allreduce:i64 sum 1") == 3);
  CHECK(GluedRequest("progress: 10 @mpi size\r") == 13);
  CHECK(GluedRequest("50%@mpi barrier\n") == 3);               // as output comes, with its LF
  CHECK(GluedRequest("@mpi rank") == std::string_view::npos);  // a request
  CHECK(GluedRequest("mail me @mpi please") == std::string_view::npos);  // no verb
  CHECK(GluedRequest("x@mpix rank") == std::string_view::npos);
  CHECK(GluedRequest("x@mpi rank") == 1);
  CHECK(GluedRequest(" @mpi rank") == std::string_view::npos);  // output by the protocol's rule
  CHECK(GluedRequest("  x @mpi rank") == 4);
  // Output comes in blocks of lines: each line is its own.
  CHECK(GluedRequest("hello\n @mpi rank\n") == std::string_view::npos);
  CHECK(GluedRequest("ok\nx@mpi barrier\nmore\n") == 4);
  CHECK(GluedRequest("x@mpi ranking\n") == std::string_view::npos);
  CHECK(GluedRequest("") == std::string_view::npos);
}

TEST_CASE("the shared-memory form: :shm=OFF and :shm=OFF,OUT") {
  // Bytes: nothing follows the line; their count moves to shm_bytes.
  Request r = Parse("@mpi sendb:shm=4096 1 7 100");
  CHECK(r.shm_off == 4096);
  CHECK(r.shm_out == 4096);
  CHECK(r.shm_bytes == 100);
  CHECK(r.payload_bytes == 0);
  CHECK_FALSE(r.shm_numbers);
  r = Parse("@mpi recvb:shm=0 any any");
  CHECK(r.shm());
  CHECK(r.shm_bytes == 0);
  r = Parse("@mpi gatherb:shm=8,64 0 5");
  CHECK(r.shm_off == 8);
  CHECK(r.shm_out == 64);
  CHECK(r.shm_bytes == 5);
  CHECK(Parse("@mpi scatterb:shm=0 0 1 2 3 4").shm_bytes == 10);
  CHECK(Parse("@mpi bcastb:shm=0 0 9", Ctx(0)).shm_bytes == 9);
  CHECK(Parse("@mpi bcastb:shm=0 0", Ctx(1)).shm_bytes == 0);
  // Numbers: N is their byte count, 8 a number; suffixes in any order.
  r = Parse("@mpi allreduce:i64:shm=16:c0 max 80");
  CHECK(r.shm_numbers);
  CHECK(r.type == NumType::kI64);
  CHECK(r.count() == 10);
  CHECK(r.payload_bytes == 0);
  CHECK(Parse("@mpi reduce:shm=0,800 sum 2 800").count() == 100);
  CHECK(Parse("@mpi exscan:shm=0 prod 0").count() == 0);
  // A request without the suffix is not of this form.
  CHECK_FALSE(Parse("@mpi sendb 1 7 100").shm());
  CHECK(Parse("@mpi sendb 1 7 100").payload_bytes == 100);

  CHECK(Error("@mpi allreduce:shm=4 sum 8") ==
        "offset 4 is not a multiple of 8 (the :shm form's numbers are 8-byte aligned)");
  CHECK(Error("@mpi allreduce:shm=0,12 sum 8") ==
        "offset 12 is not a multiple of 8 (the :shm form's numbers are 8-byte aligned)");
  CHECK(Error("@mpi allreduce:shm=0 sum 12") ==
        "byte count 12 is no whole number of 8-byte numbers (the :shm form holds raw 8-byte "
        "numbers)");
  CHECK(Error("@mpi allreduce:shm=0,8 sum 16") ==
        "the numbers at 0 and the result at 8 overlap (16 bytes each): give the same offset to "
        "reduce in place, or ranges apart");
  CHECK(Parse("@mpi allreduce:shm=0,16 sum 16").shm_out == 16);  // adjacent: fine
  CHECK(Error("@mpi allreduce:shm=0 minloc 16") ==
        "minloc and maxloc take no :shm form (their reply pairs each value with a rank): use "
        "the text or :msgpack form");
  CHECK(Error("@mpi allreduce:shm=0:msgpack sum 8") ==
        "suffixes :shm and :msgpack exclude each other (:shm's numbers are raw)");
  CHECK(Error("@mpi allreduce:msgpack:shm=0 sum 8") ==
        "suffixes :shm and :msgpack exclude each other (:shm's numbers are raw)");
  CHECK(Error("@mpi sendb:shm=0:shm=8 1 0 5") == "suffix :shm given twice");
  for (const char* bad :
       {"@mpi sendb:shm 1 0 5", "@mpi sendb:shm= 1 0 5", "@mpi sendb:shm=x 1 0 5",
        "@mpi sendb:shm=-1 1 0 5", "@mpi sendb:shm=1, 1 0 5", "@mpi sendb:shmx=1 1 0 5"}) {
    INFO(bad);
    CHECK(Error(bad).rfind("bad shared-memory suffix ", 0) == 0);
  }
  CHECK(Error("@mpi send:shm=0 1 0 hi") ==
        "verb \"send\" takes no :shm suffix (the verbs that carry bytes and the reductions do: "
        "sendb isendb recvb bcastb sendrecvb gatherb allgatherb scatterb alltoallb reduce "
        "allreduce scan exscan)");
  CHECK(Error("@mpi irecvb:shm=0 1 0").rfind("verb \"irecvb\" takes no :shm suffix", 0) == 0);
  CHECK(Error("@mpi gather:shm=0 0 8").rfind("verb \"gather\" takes no :shm suffix", 0) == 0);
  CHECK(Error("@mpi sendb:shm=0 1 0 2000000") ==
        "byte count 2000000 over the limit of 1048576 bytes (raise it with stdmpirun "
        "--max-message, or send in pieces)");
  // A bad request of this form announces no bytes on the pipe.
  Request bad;
  ParseRequest("@mpi sendb:shm=0 9 0 5", Ctx(), &bad);
  CHECK(bad.payload_bytes == 0);
  CHECK(TakesShm(Verb::kAllreduce));
  CHECK_FALSE(TakesShm(Verb::kGather));
}
