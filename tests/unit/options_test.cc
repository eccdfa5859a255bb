#include "options.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>

using namespace stdmpi;

TEST_CASE("byte sizes") {
  int64_t n;
  CHECK((ParseByteSize("65536", &n) && n == 65536));
  CHECK((ParseByteSize("64K", &n) && n == 65536));
  CHECK((ParseByteSize("64M", &n) && n == 64 << 20));
  CHECK((ParseByteSize("64MiB", &n) && n == 64 << 20));
  CHECK((ParseByteSize("1G", &n) && n == 1 << 30));
  CHECK((ParseByteSize("1.5k", &n) && n == 1536));
  CHECK((ParseByteSize("100B", &n) && n == 100));
  CHECK_FALSE(ParseByteSize("", &n));
  CHECK_FALSE(ParseByteSize("M", &n));
  CHECK_FALSE(ParseByteSize("10X", &n));
  CHECK_FALSE(ParseByteSize("-1", &n));
  CHECK_FALSE(ParseByteSize("10MBx", &n));
  CHECK(FormatByteSize(64 << 20) == "64 MiB");
  CHECK(FormatByteSize(1 << 30) == "1 GiB");
  CHECK(FormatByteSize(1024) == "1 KiB");
  CHECK(FormatByteSize(1000) == "1000 bytes");
}

TEST_CASE("shim arguments") {
  ShimOptions o;
  bool help;
  std::string err;
  REQUIRE(ParseShimArgs({"--tag-output", "--max-line", "1K", "--", "python3", "-u", "x.py"}, &o,
                        &help, &err));
  CHECK(o.tag_output);
  CHECK_FALSE(o.start_early);
  CHECK(o.max_line == 1024);
  CHECK(o.max_message == kDefaultMaxMessage);
  CHECK(o.command == std::vector<std::string>{"python3", "-u", "x.py"});

  ShimOptions e;
  REQUIRE(ParseShimArgs({"--start-early", "x"}, &e, &help, &err));
  CHECK(e.start_early);

  ShimOptions p;
  REQUIRE(ParseShimArgs({"bash", "--tag-output"}, &p, &help, &err));  // options of the command
  CHECK_FALSE(p.tag_output);
  CHECK(p.command == std::vector<std::string>{"bash", "--tag-output"});

  ShimOptions q;
  CHECK_FALSE(ParseShimArgs({"--max-line", "3G", "--", "x"}, &q, &help, &err));
  CHECK(err == "--max-line 3G: expected a size from 64 bytes to 2G-1 (e.g. 64M)");
  CHECK_FALSE(ParseShimArgs({"--bogus", "x"}, &q, &help, &err));
  CHECK(err == "unknown option --bogus");
  CHECK_FALSE(ParseShimArgs({"--"}, &q, &help, &err));
  CHECK(err == "no command given");
  CHECK_FALSE(ParseShimArgs({"--spin-us"}, &q, &help, &err));
  CHECK(err == "--spin-us needs a value");
  REQUIRE(ParseShimArgs({"--help"}, &q, &help, &err));
  CHECK(help);
}

TEST_CASE("prefixing lines across chunks") {
  std::string out;
  bool start = true;
  AppendPrefixed(&out, "a\nb", "[1] ", &start);
  CHECK(out == "[1] a\n[1] b");
  CHECK_FALSE(start);
  AppendPrefixed(&out, "c\n", "[1] ", &start);
  CHECK(out == "[1] a\n[1] bc\n");
  CHECK(start);
  AppendPrefixed(&out, "", "[1] ", &start);
  CHECK(out == "[1] a\n[1] bc\n");
}

TEST_CASE("commands are described readably") {
  CHECK(DescribeCommand({"python3", "-u", "my script.py"}) == "python3 -u \"my script.py\"");
  CHECK(DescribeCommand({"echo", ""}) == "echo \"\"");
  CHECK(DescribeCommand({"aaaaaaaaaa", "bbbbbbbbbb"}, 12) == "aaaaaaaaaa b...");
}

TEST_CASE("rank lists") {
  std::vector<int> r;
  REQUIRE(ParseRankList("0", &r));
  CHECK(r == std::vector<int>{0});
  REQUIRE(ParseRankList("5,1-3,2", &r));
  CHECK(r == std::vector<int>{1, 2, 3, 5});
  CHECK_FALSE(ParseRankList("", &r));
  CHECK_FALSE(ParseRankList("3-1", &r));
  CHECK_FALSE(ParseRankList("a", &r));
  CHECK_FALSE(ParseRankList("1,,2", &r));
  CHECK(FormatRankList({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8");
  CHECK(FormatRankList({}) == "");
  ShimOptions o;
  bool help;
  std::string err;
  REQUIRE(ParseShimArgs({"--native-ranks", "0,3", "--", "x"}, &o, &help, &err));
  CHECK(o.native_ranks == std::vector<int>{0, 3});
}

namespace {
std::map<std::string, std::string> g_env;
const char* FromMap(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}
}  // namespace

TEST_CASE("the launcher's variables give a task's place before MPI starts") {
  g_env = {{"OMPI_COMM_WORLD_RANK", "5"},
           {"OMPI_COMM_WORLD_SIZE", "8"},
           {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
           {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}};
  LaunchPosition p;
  std::string why;
  REQUIRE(LaunchPositionFromEnv(FromMap, &p, &why));
  CHECK(p.rank == 5);
  CHECK(p.size == 8);
  CHECK(p.local_rank == 1);
  CHECK(p.local_size == 4);

  g_env.erase("OMPI_COMM_WORLD_LOCAL_SIZE");
  CHECK_FALSE(LaunchPositionFromEnv(FromMap, &p, &why));
  CHECK(why == "OMPI_COMM_WORLD_LOCAL_SIZE is not set");
  g_env["OMPI_COMM_WORLD_LOCAL_SIZE"] = "4x";
  CHECK_FALSE(LaunchPositionFromEnv(FromMap, &p, &why));
  CHECK(why == "OMPI_COMM_WORLD_LOCAL_SIZE is not a count: 4x");
  g_env["OMPI_COMM_WORLD_LOCAL_SIZE"] = "0";
  CHECK_FALSE(LaunchPositionFromEnv(FromMap, &p, &why));
  CHECK(why == "OMPI_COMM_WORLD_LOCAL_SIZE is not a count: 0");
  g_env["OMPI_COMM_WORLD_LOCAL_SIZE"] = "1";  // local rank 1 of 1
  CHECK_FALSE(LaunchPositionFromEnv(FromMap, &p, &why));
  CHECK(why == "the launcher's rank 5 of 8, local 1 of 1 do not fit together");
  g_env["OMPI_COMM_WORLD_LOCAL_SIZE"] = "9";  // more on this node than in the job
  CHECK_FALSE(LaunchPositionFromEnv(FromMap, &p, &why));
}

TEST_CASE("the prefix of --timestamp-output is the local time to the millisecond") {
  const char* old = getenv("TZ");
  const std::string saved = old != nullptr ? old : "";
  setenv("TZ", "UTC", 1);
  tzset();
  CHECK(TimestampPrefix(1796047509.1234) == "[2026-11-30 14:05:09.123] ");
  CHECK(TimestampPrefix(1796047509.9996) == "[2026-11-30 14:05:10.000] ");  // rounds up a second
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  CHECK(TimestampPrefix(1796047509.0) == "[2026-11-30 15:05:09.000] ");
  if (old != nullptr) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

TEST_CASE("the output options are read and passed on to the shims") {
  ShimOptions s;
  std::string err;
  bool help = false;
  REQUIRE(ParseShimArgs({"--output-filename", "/x/out", "--timestamp-output",
                         "--merge-stderr-to-stdout", "--", "true"},
                        &s, &help, &err));
  CHECK(s.output_filename == "/x/out");
  CHECK(s.timestamp_output);
  CHECK(s.merge_stderr);
  CHECK_FALSE(ParseShimArgs({"--output-filename", "", "true"}, &s, &help, &err));
  CHECK(err == "--output-filename : expected a directory");
}

TEST_CASE("a tag is written again when a progress bar redraws its line") {
  auto run = [](std::vector<std::string> pieces) {
    std::string out;
    PrefixState st;
    for (const std::string& p : pieces) AppendPrefixedRedraws(&out, p, "[1] ", &st);
    return out;
  };
  CHECK(run({"load 5%\rload 6%\r", "load 7%\n"}) == "[1] load 5%\r[1] load 6%\r[1] load 7%\n");
  // A CRLF line keeps one tag, also when its LF comes in the next piece.
  CHECK(run({"dos line\r\n", "next\n"}) == "[1] dos line\r\n[1] next\n");
  CHECK(run({"dos line\r", "\nnext\n"}) == "[1] dos line\r\n[1] next\n");
  // A bare CR (NCL's "\n\r") is not a redraw; a piece without its end waits.
  CHECK(run({"one\n\rfatal\n"}) == "[1] one\n[1] \rfatal\n");
  CHECK(run({"50", "%\r", "60%"}) == "[1] 50%\r[1] 60%");
}
