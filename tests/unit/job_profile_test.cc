// --summary, --profile, --report: the rank's counts (rank_summary.h), the
// line reader (json_line.h), the aggregation and its text (job_profile.h),
// the page (report_html.h) and the reading of the parts (trace_merge.h).
#include "job_profile.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "json_line.h"
#include "rank_summary.h"
#include "report_html.h"
#include "request.h"
#include "trace.h"
#include "trace_merge.h"

using namespace stdmpi;

namespace {

Request Parse(const std::string& line, int rank = 0, int size = 4096) {
  static std::vector<std::string> keep;  // the request's text views into its line
  keep.push_back(line);
  Request req;
  ParseContext ctx;
  ctx.rank = rank;
  ctx.size = size;
  ParseResult pr = ParseRequest(keep.back(), ctx, &req);
  REQUIRE(pr.ok);
  return req;
}

std::vector<std::pair<std::string, std::string>> Members(std::string_view line, bool* ok) {
  std::vector<std::pair<std::string, std::string>> out;
  *ok = VisitJsonObject(
      line, [&out](std::string_view path, std::string_view raw) { out.emplace_back(path, raw); });
  return out;
}

// A request event as the shim writes it (trace.h), times in seconds.
std::string Event(const std::string& verb, double ts, double dur, int rank,
                  const std::string& site = "") {
  return TraceEvent(verb, ts * 1e6, dur * 1e6, rank, "@mpi " + verb, true, 3,
                    site.empty() ? "" : "\"site\":\"" + site + "\"");
}

// A summary line as the shim writes it, for a rank with the given facts.
std::string Summary(int rank, double start, double end, double mpi_each, int requests, int to = -1,
                    int64_t bytes = 0, int status = 0) {
  RankStats st;
  for (int i = 0; i < requests; ++i) {
    if (to >= 0 && i == 0) {
      st.Begin(Parse("@mpi sendb " + std::to_string(to) + " 1 " + std::to_string(bytes), rank),
               false, to, -1);
      st.End(mpi_each, true, "ok\n");
    } else {
      st.Begin(Parse("@mpi allreduce sum 1"), false, -1, 0);
      st.End(mpi_each, true, "4\n");
    }
  }
  ProgramFacts p;
  p.host = "node<1>";
  p.started = p.exited = true;
  p.start = start;
  p.end = end;
  p.user = 0.25;
  p.sys = 0.05;
  p.max_rss_kb = 2048;
  p.init_begin = 0.05;
  p.init_end = 0.05 + 0.1 * (rank + 1);
  p.wait_status = status << 8;
  return st.SummaryEvent(rank, p);
}

}  // namespace

TEST_CASE("the line reader: members by dotted path, values raw") {
  bool ok = false;
  auto m = Members(R"({"a":1,"b":{"c":"x\"y","d":[1,{"e":2}],"f":true},"g":null,"h":-1.5e3})", &ok);
  CHECK(ok);
  REQUIRE(m.size() == 5);
  CHECK(m[0] == std::pair<std::string, std::string>("a", "1"));
  CHECK(m[1] == std::pair<std::string, std::string>("b.c", R"("x\"y")"));
  CHECK(m[2] == std::pair<std::string, std::string>("b.f", "true"));  // the array skipped
  CHECK(m[3].first == "g");
  CHECK(m[4] == std::pair<std::string, std::string>("h", "-1.5e3"));
  CHECK(JsonNumber(m[4].second) == -1500);
  CHECK(JsonText(m[1].second) == "x\"y");
  CHECK(JsonText(R"("caf\u00e9 \ud83d\ude00 \ud800 \n")") ==
        "caf\xc3\xa9 \xf0\x9f\x98\x80 \xef\xbf\xbd \n");
  CHECK(JsonText("12") == "");
  CHECK(JsonNumber("\"1\"", -7) == -7);
}

TEST_CASE("the line reader refuses what is not one object") {
  bool ok = true;
  for (const char* bad : {"", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":01}",
                          "{\"a\":1.}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
                          "{\"a\":tru}", "{a:1}", "{\"a\":1 \"b\":2}", "{\"a\":\"unterminated}"}) {
    Members(bad, &ok);
    INFO(bad);
    CHECK_FALSE(ok);
  }
  // Nesting is bounded: a part is read, not trusted.
  std::string deep = "{\"a\":" + std::string(20, '[') + std::string(20, ']') + "}";
  Members(deep, &ok);
  CHECK_FALSE(ok);
  Members("  {\"a\":[[[]]]}\r", &ok);
  CHECK(ok);
}

TEST_CASE("the bytes of data a request sends and its reply brings") {
  CHECK(SentBytes(Parse("@mpi send 1 5 hello"), false) == 5);
  CHECK(SentBytes(Parse("@mpi sendb 1 5 1000"), false) == 1000);
  CHECK(SentBytes(Parse("@mpi isend 1 5 abc"), false) == 3);
  CHECK(SentBytes(Parse("@mpi allreduce sum 1 2 3"), false) == 24);
  CHECK(SentBytes(Parse("@mpi allreduce minloc 1"), false) == 16);
  CHECK(SentBytes(Parse("@mpi bcast 0 some text"), true) == 9);
  CHECK(SentBytes(Parse("@mpi bcast 0 ignored", 1), false) == 0);
  CHECK(SentBytes(Parse("@mpi recv 0 5"), false) == 0);
  CHECK(SentBytes(Parse("@mpi barrier"), false) == 0);
  CHECK(SendsToPeer(Verb::kSendrecvb));
  CHECK_FALSE(SendsToPeer(Verb::kRecv));

  CHECK(ReceivedBytes(Verb::kRecv, false, false, "hello\n") == 5);
  CHECK(ReceivedBytes(Verb::kRecvb, false, false, "1000\n" + std::string(1000, 'x')) == 1000);
  CHECK(ReceivedBytes(Verb::kAllgatherb, false, false, "3 4\nabcdefg") == 7);
  CHECK(ReceivedBytes(Verb::kAllreduce, false, false, "6 12.5 -1\n") == 24);
  CHECK(ReceivedBytes(Verb::kAllreduce, false, false, "800\n") == 8);        // one number
  CHECK(ReceivedBytes(Verb::kAllreduce, true, false, "9\n123456789") == 9);  // :msgpack
  CHECK(ReceivedBytes(Verb::kReduce, false, false, "ok\n") == 0);
  CHECK(ReceivedBytes(Verb::kRecv, false, false, "@error no such rank\n") == 0);
  CHECK(ReceivedBytes(Verb::kWait, false, false, "text\n") == 4);
  CHECK(ReceivedBytes(Verb::kWait, false, true, "2\nab") == 2);
  CHECK(ReceivedBytes(Verb::kRank, false, false, "3\n") == 0);
}

TEST_CASE("a rank's counts: requests, bytes, time per verb, sites, the wait of an irecvb") {
  RankStats st;
  st.Begin(Parse("@mpi sendb 2 7 100"), false, 2, -1);
  st.End(0.5, true, "ok\n");
  CHECK(st.extra_args().empty());
  st.Begin(Parse("@mpi barrier"), false, -1, 0);
  st.End(0.25, true, "ok\n");
  CHECK(st.extra_args() == "\"site\":\"0:1\"");
  st.BeginFailedCollective(Verb::kAllreduce, 0);
  CHECK(st.extra_args() == "\"site\":\"0:2\"");
  st.End(0.125, false, "");
  st.Begin(Parse("@mpi irecvb 1 3"), false, -1, -1);
  st.End(0, true, "7\n");
  st.Begin(Parse("@mpi wait 7"), false, -1, -1);
  st.End(1, true, "3\nabc");
  CHECK(st.requests() == 5);
  CHECK(st.sent() == 100);
  CHECK(st.received() == 3);
  CHECK(st.mpi_seconds() == Approx(1.875));
  CHECK(st.verb(Verb::kSendb).count == 1);
  CHECK(st.verb(Verb::kWait).max == 1);
  ProgramFacts p;
  CHECK(DescribeProgramEnd(p) == "not started");
  p.started = true;
  CHECK(DescribeProgramEnd(p) == "unknown");
  p.exited = true;
  p.wait_status = 3 << 8;
  CHECK(DescribeProgramEnd(p) == "exit 3");
  p.wait_status = 9;
  CHECK(DescribeProgramEnd(p) == "signal 9");
  p.stopped = true;
  CHECK(DescribeProgramEnd(p) == "stopped");
  const std::string line = st.SummaryEvent(4, p);
  bool ok = false;
  Members(line, &ok);
  CHECK(ok);
  CHECK(line.find("\"sent_to\":{\"2\":100}") != std::string::npos);
  CHECK(line.find("\"code\":-1") != std::string::npos);  // stopped: no status of its own
}

TEST_CASE("a running program's usage from /proc") {
  double user = 0, sys = 0;
  // COMM may hold spaces and parentheses; utime..cstime are fields 14-17.
  REQUIRE(ParseProcStat("1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 1",
                        100, &user, &sys));
  CHECK(user == Approx(2.8));
  CHECK(sys == Approx(0.7));
  CHECK_FALSE(ParseProcStat("1234 (x) S 1 2", 100, &user, &sys));
  CHECK_FALSE(ParseProcStat("no parenthesis", 100, &user, &sys));
  CHECK(ParseVmHwm("Name:\tpython3\nVmPeak:\t  30000 kB\nVmHWM:\t   17920 kB\nVmRSS: 1 kB\n") ==
        17920);
  CHECK(ParseVmHwm("Name:\tkthreadd\n") == 0);
}

TEST_CASE("what the shim writes, stdmpirun reads: summaries, timelines, collective sites") {
  JobProfileBuilder b(10.0, 10);
  const std::string names = TraceProcessName(0, "python3 a.py");
  CHECK(b.Feed(0, names.substr(0, names.find('\n'))));
  CHECK(b.Feed(1,
               "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,"
               "\"args\":{\"name\":\"rank 1: Rscript <b>.R\"}}"));
  // Rank 0 waits 2.5 s from t = 1.5 s: bucket 1 gets 0.5 s, 2 and 3 a whole second.
  CHECK(b.Feed(0, Event("allreduce:i64", 1.5, 2.5, 0, "0:1")));
  CHECK(b.Feed(1, Event("allreduce", 3.9, 0.1, 1, "0:1")));
  CHECK(b.Feed(0, Event("barrier", 5.0, 0.2, 0, "0:2")));
  CHECK(b.Feed(1, Event("barrier", 5.1, 0.1, 1, "0:2")));
  CHECK(b.Feed(0, TraceStartupEvent("MPI_Init", 0, 1e5, 0)));
  CHECK(b.Feed(0, Summary(0, 0.5, 9.5, 1.0, 3, 1, 1234)));
  CHECK(b.Feed(1, Summary(1, 0.6, 9.0, 0.5, 2)));
  CHECK_FALSE(b.Feed(1, "{\"cut"));
  CHECK_FALSE(b.Feed(1, "{\"ph\":\"B\"}"));
  JobProfile p = b.Finish();
  CHECK(p.bad_lines == 2);
  REQUIRE(p.ranks.size() == 2);
  const RankProfile& r0 = p.ranks[0];
  CHECK(r0.has_summary);
  CHECK(r0.host == "node<1>");
  CHECK(r0.wall() == Approx(9.0));
  CHECK(r0.init() == Approx(0.1));
  CHECK(r0.requests == 3);
  CHECK(r0.sent == 1234 + 2 * 8);  // and two allreduces of one number
  CHECK(r0.sent_to.at(1) == 1234);
  CHECK(r0.verbs.at("allreduce").count == 2);
  CHECK(r0.verbs.at("sendb").total == Approx(1.0));
  CHECK(r0.status == "exit 0");
  CHECK(r0.events == 2);
  REQUIRE(r0.busy.size() == 10);
  CHECK(r0.busy[1] == Approx(0.5));
  CHECK(r0.busy[2] == Approx(1.0));
  CHECK(r0.busy[3] == Approx(1.0));
  CHECK(r0.busy[5] == Approx(0.2));
  CHECK(r0.command == "python3 a.py");
  CHECK(p.ranks[1].command == "Rscript <b>.R");
  // Site 0:1: rank 0 came at 1.5 s, rank 1 at 3.9 s; site 0:2 spread 0.1 s.
  CHECK(p.sites == 2);
  REQUIRE(p.imbalanced.size() == 2);
  CHECK(p.imbalanced[0].verb == "allreduce");
  CHECK(p.imbalanced[0].index == 1);
  CHECK(p.imbalanced[0].spread() == Approx(2.4));
  CHECK(p.imbalanced[0].last_rank == 1);
  CHECK(p.imbalanced[0].first_rank == 0);
  CHECK(p.imbalanced[1].spread() == Approx(0.1));
}

TEST_CASE("collective sites stay within their budget") {
  JobProfileBuilder b(1.0, 4, 100);
  for (int k = 1; k <= 150; ++k) {
    b.Feed(0, Event("barrier", 0.001 * k, 0, 0, "0:" + std::to_string(k)));
    b.Feed(1, Event("barrier", 0.001 * k + (k == 42 ? 0.5 : 0), 0, 1, "0:" + std::to_string(k)));
  }
  b.Feed(0, Event("barrier", 0, 0, 0, "5:999999999999"));  // never allocated
  JobProfile p = b.Finish(3);
  CHECK(p.sites == 100);
  CHECK(p.sites_capped);
  REQUIRE(p.imbalanced.size() == 3);
  CHECK(p.imbalanced[0].index == 42);
  CHECK(p.imbalanced[0].last_rank == 1);
}

TEST_CASE("the --summary table: a row per rank, total and median, in units") {
  JobProfileBuilder b(2.0, 4);
  b.Feed(0, Summary(0, 0.1, 1.1, 0.25, 4, 1, 1000));
  b.Feed(1, Summary(1, 0.1, 1.6, 0.5, 2, -1, 0, 3));
  b.Feed(2, Summary(2, 0.2, 1.2, 0.001, 1));
  const std::string s = FormatSummary(b.Finish(), 4);
  INFO(s);
  // Rank 0 sent 1000 bytes to rank 1 and 8 a number in 3 allreduces; rank 1 exited 3.
  CHECK(
      s ==
      "stdmpirun: summary of 3 ranks (2.00 s job)\n"
      "    rank  host       wall       CPU  max RSS  requests    sent  received  in MPI  exit\n"
      "       0  node<1>  1.00 s  300.0 ms  2.0 MiB         4  1024 B      24 B  1.00 s  0\n"
      "       1  node<1>  1.50 s  300.0 ms  2.0 MiB         2    16 B      16 B  1.00 s  3\n"
      "       2  node<1>  1.00 s  300.0 ms  2.0 MiB         1     8 B       8 B  1.0 ms  0\n"
      "   total                   900.0 ms  6.0 MiB         7  1048 B      48 B  2.00 s  1 failed\n"
      "  median           1.00 s  300.0 ms  2.0 MiB         2    16 B      16 B  1.00 s\n"
      "  wall: the program's run; CPU: user + system time of the program and what it started;\n"
      "  sent, received: the data of its requests; in MPI: from each request to its reply\n"
      "  no summary from rank 3: killed before it ended, a native MPI program, or on a host "
      "that cannot write the part (give --trace FILE on a shared file system)\n");
  // One rank: no total and median rows.
  JobProfileBuilder one(1.0, 4);
  one.Feed(0, Summary(0, 0, 0.5, 0.1, 1));
  const std::string s1 = FormatSummary(one.Finish(), 1);
  CHECK(s1.find("summary of 1 rank (") != std::string::npos);
  CHECK(s1.find("total") == std::string::npos);
}

TEST_CASE("the --profile text: MPI against computing, verbs per rank, the late rank named") {
  JobProfileBuilder b(4.0, 8);
  b.Feed(0, Event("allreduce", 1.0, 2.0, 0, "0:1"));
  b.Feed(1, Event("allreduce", 2.9, 0.1, 1, "0:1"));
  b.Feed(0, Summary(0, 0, 4, 1.0, 2));
  b.Feed(1, Summary(1, 0, 4, 0.1, 2));
  const std::string s = FormatProfile(b.Finish(), 2);
  INFO(s);
  CHECK(s.find("  rank    wall    in MPI  computing  MPI %  MPI_Init\n"
               "     0  4.00 s    2.00 s     2.00 s    50%  100.0 ms\n"
               "     1  4.00 s  200.0 ms     3.80 s     5%  200.0 ms\n"
               "   all  8.00 s    2.20 s     5.80 s    28%  300.0 ms\n") != std::string::npos);
  CHECK(s.find("  allreduce   all      4    2.20 s  550.0 ms    1.00 s\n"
               "                0      2    2.00 s    1.00 s    1.00 s\n"
               "                1      2  200.0 ms  100.0 ms  100.0 ms\n") != std::string::npos);
  // Rank 0 came to the allreduce at 1.0 s, rank 1 at 2.9 s.
  CHECK(s.find("  spread  collective    on         ranks  last    first\n"
               "  1.90 s  allreduce #1  the world      2  rank 1  rank 0\n") != std::string::npos);
}

TEST_CASE("formats: durations, bytes, medians") {
  CHECK(FormatDuration(0) == "0 s");
  CHECK(FormatDuration(0.000012) == "12 us");
  CHECK(FormatDuration(0.00000017) == "0.2 us");
  CHECK(FormatDuration(0.0000042) == "4.2 us");
  CHECK(FormatDuration(0.0123) == "12.3 ms");
  CHECK(FormatDuration(1.234) == "1.23 s");
  CHECK(FormatDuration(123) == "2m03s");
  CHECK(FormatDuration(7300) == "2h02m");
  CHECK(FormatDuration(-1) == "-");
  CHECK(FormatBytesShort(9999) == "9999 B");
  CHECK(FormatBytesShort(10240) == "10.0 KiB");
  CHECK(FormatBytesShort(int64_t{3} << 30) == "3.0 GiB");
  CHECK(Median({}) == 0);
  CHECK(Median({3, 1, 2}) == 2);
  CHECK(Median({4, 1, 3, 2}) == 2.5);
}

TEST_CASE("the report: one page, nothing from the network, the user's text escaped") {
  JobProfileBuilder b(2.0, 20);
  b.Feed(0, Event("sendb", 0.2, 0.5, 0));
  b.Feed(0, Summary(0, 0.1, 1.9, 0.5, 1, 1, 4096));
  b.Feed(1, Summary(1, 0.1, 1.9, 0.5, 1));
  ReportInfo info;
  info.command = "stdmpirun -n 2 python3 -c '<script>alert(1)</script>'";
  info.expected = 3;
  const std::string h = RenderReportHtml(b.Finish(), info);
  CHECK(h.find("<!DOCTYPE html>") == 0);
  CHECK(h.find("<script") == std::string::npos);
  CHECK(h.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(h.find("http") == std::string::npos);
  CHECK(h.find("node&lt;1&gt;") != std::string::npos);
  CHECK(h.find("title=\"rank 0 to rank 1: 4096 bytes\">4096 B</td>") != std::string::npos);
  CHECK(h.find("No summary from rank 2.") != std::string::npos);
  CHECK(HtmlEscape("a&b\"c'\x01") == "a&amp;b&quot;c&#39;\xef\xbf\xbd");
}

TEST_CASE("the report of a thousand ranks stays small: rows and cells grouped") {
  JobProfileBuilder b(100.0, 600);
  for (int r = 0; r < 1000; ++r) {
    for (int k = 0; k < 300; ++k) b.Feed(r, Event("recv", k * 0.3 + r * 1e-4, 0.1, r));
    b.Feed(r, Summary(r, 0, 99, 0.01, 3, (r + 1) % 1000, 100));
  }
  const std::string h = RenderReportHtml(b.Finish(), ReportInfo{});
  CHECK(h.size() < 3'000'000);
  size_t rows = 0;
  for (size_t at = h.find("<g><title>"); at != std::string::npos;
       at = h.find("<g><title>", at + 1)) {
    ++rows;
  }
  CHECK(rows == 63);  // groups of 16 ranks
  CHECK(h.find("ranks 0-15") != std::string::npos);
  CHECK(h.find("<th>992-999</th>") != std::string::npos);  // 32 ranks a cell
}

TEST_CASE("the parts are read in bounded pieces, links and cut-off lines left out") {
  char dir[] = "/tmp/stdmpi-profile-test-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string prefix = std::string(dir) + "/part";
  {
    std::ofstream(prefix + ".rank0") << "{\"a\":1}\n\n{\"b\":2}\n{\"cut";
    std::ofstream(prefix + ".rank1") << std::string(kMaxPartLine + 10, 'x') << "\n{\"c\":3}\n";
    std::ofstream(std::string(dir) + "/secret") << "{\"secret\":1}\n";
  }
  REQUIRE(symlink((std::string(dir) + "/secret").c_str(), (prefix + ".rank2").c_str()) == 0);
  std::vector<std::pair<int, std::string>> got;
  TraceMerge m;
  ReadTraceParts(
      prefix, 0, true, [&got](int r, std::string_view l) { got.emplace_back(r, std::string(l)); },
      &m);
  CHECK(got == std::vector<std::pair<int, std::string>>{
                   {0, "{\"a\":1}"}, {0, "{\"b\":2}"}, {1, "{\"c\":3}"}});
  CHECK(m.ranks == std::vector<int>{0, 1});
  CHECK(m.cut == 2);
  CHECK(access((prefix + ".rank0").c_str(), F_OK) != 0);  // removed
  CHECK(access((prefix + ".rank2").c_str(), F_OK) != 0);  // the link removed, not followed
  CHECK(access((std::string(dir) + "/secret").c_str(), F_OK) == 0);
  unlink((std::string(dir) + "/secret").c_str());
  rmdir(dir);
}
