#include "option_table.h"

#include <catch2/catch.hpp>

#include "launch_options.h"
#include "launch_parse.h"

using namespace stdmpi;

namespace {

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t sp = s.find(' ', start);
    if (sp == std::string::npos) sp = s.size();
    out.push_back(s.substr(start, sp - start));
    start = sp + 1;
  }
  return out;
}

std::string ShimError(std::vector<std::string> args) {
  ShimOptions s;
  bool help = false;
  std::string err;
  args.insert(args.end(), {"--", "x"});
  CHECK_FALSE(ParseShimArgs(args, &s, &help, &err));
  return err;
}

}  // namespace

TEST_CASE("every option is in the --help of each program that takes it") {
  for (const OptionSpec& o : OptionTable()) {
    INFO(o.names);
    const int scope = static_cast<int>(o.scope);
    const std::string line = OptionHelp(o);
    CHECK(line.rfind(std::string("  ") + o.names, 0) == 0);
    if (scope & static_cast<int>(Scope::kLauncher)) {
      CHECK(LaunchUsage().find(line) != std::string::npos);
    }
    if (scope & static_cast<int>(Scope::kShim)) {
      CHECK(ShimUsage().find(OptionHelp(o, Scope::kShim)) != std::string::npos);
    }
    if (!(scope & static_cast<int>(Scope::kShim))) {
      CHECK(ShimUsage().find(line) == std::string::npos);
    }
  }
  // Help columns: the text starts at column 24, or on the next line.
  CHECK(OptionHelp(*FindOption("--max-line", Scope::kShim)) ==
        "  --max-line SIZE       longest line a rank may print (default 64M); a longer\n"
        "                        line ends the job with a message\n");
  CHECK(OptionHelp(*FindOption("--image", Scope::kShim))
            .rfind("  --image ROOT[,LAYER...]\n                        run each", 0) == 0);
}

TEST_CASE("who takes which option") {
  CHECK(FindOption("--timeout", Scope::kLauncher) != nullptr);
  CHECK(FindOption("--timeout", Scope::kShim) == nullptr);
  CHECK(FindOption("--start-early", Scope::kShim) != nullptr);
  CHECK(FindOption("--start-early", Scope::kLauncher) == nullptr);
  CHECK(FindOption("-q", Scope::kShim) == FindOption("--quiet", Scope::kLauncher));
  CHECK(FindOption("--cpus-per-proc", Scope::kLauncher) ==
        FindOption("--cpus-per-rank", Scope::kShim));
  CHECK(FindOption("--mpirun-arg", Scope::kLauncher) ==
        FindOption("--launcher-arg", Scope::kLauncher));
  CHECK(FindOption("--bogus", Scope::kLauncher) == nullptr);
}

TEST_CASE("what stdmpirun passes on, the shim reads back the same") {
  LaunchOptions l;
  std::string err;
  REQUIRE(ParseLaunchArgs(
      Words("--bind-to socket --cpus-per-proc=2 --report-bindings --mem-per-rank 512M "
            "--time-limit 2.5 --max-procs 9 --image /a,/b.tar --bind /data --bind /x:/y --net "
            "--tag-output --line-buffered --max-line 1K --max-message=2M --spin-us 0 "
            "--trace /t/tr -q prog"),
      &l, &err));
  INFO(err);
  l.shim.trace_t0 = 1700000000.25;
  l.shim.native_ranks = {0, 2};
  l.shim.upper = "/tmp/up";
  std::vector<std::string> args = ShimArgsFor(l, l.shim);
  CHECK(args == Words("--bind-to package --cpus-per-rank 2 --report-bindings --mem-per-rank 512M "
                      "--time-limit 2.5 --max-procs 9 --image /a,/b.tar --bind /data "
                      "--bind /x:/y --upper /tmp/up --net --quiet --tag-output --line-buffered "
                      "--max-line 1024 --max-message 2097152 --spin-us 0 --native-ranks 0,2 "
                      "--trace /t/tr --trace-t0 1700000000.250000"));
  ShimOptions s;
  bool help = false;
  args.insert(args.end(), {"--", "prog"});
  REQUIRE(ParseShimArgs(args, &s, &help, &err));
  CHECK(s.bind_to == l.shim.bind_to);
  CHECK(s.bind_to_given);
  CHECK(s.cpus_per_rank == 2);
  CHECK(s.report_bindings);
  CHECK(s.mem_per_rank == 512 << 20);
  CHECK(s.time_limit == 2.5);
  CHECK(s.max_procs == 9);
  CHECK(s.image == std::vector<std::string>{"/a", "/b.tar"});
  CHECK(s.binds == l.shim.binds);
  CHECK(s.upper == "/tmp/up");
  CHECK(s.isolate);
  CHECK(s.isolate_net);
  CHECK(s.quiet);
  CHECK(s.tag_output);
  CHECK(s.line_buffered);
  CHECK(s.max_line == 1024);
  CHECK(s.max_message == 2 << 20);
  CHECK(s.spin_us == 0);
  CHECK(s.native_ranks == std::vector<int>{0, 2});
  CHECK(s.trace == "/t/tr");
  CHECK(s.trace_t0 == 1700000000.25);
  CHECK(s.command == std::vector<std::string>{"prog"});
}

TEST_CASE("nothing given, nothing passed on") {
  LaunchOptions l;
  std::string err;
  REQUIRE(ParseLaunchArgs({"-n", "2", "prog"}, &l, &err));
  CHECK(ShimArgsFor(l, l.shim).empty());
}

TEST_CASE("options that need another are refused alone, by both programs alike") {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--net"},
       "--net keeps the host's network inside a container: it needs --isolate host or --image"},
      {{"--bind", "/data"},
       "--bind shows a directory inside the container of --image: it needs --image (with "
       "--isolate host the host's directories are all there)"},
      {{"--isolate", "host", "--bind", "/data"},
       "--bind shows a directory inside the container of --image: it needs --image (with "
       "--isolate host the host's directories are all there)"},
  };
  for (const auto& [opts, message] : cases) {
    std::vector<std::string> args = opts;
    args.push_back("prog");
    LaunchOptions l;
    std::string err;
    CHECK_FALSE(ParseLaunchArgs(args, &l, &err));
    CHECK(err == message);
    ShimOptions s;
    bool help = false;
    err.clear();
    CHECK_FALSE(ParseShimArgs(args, &s, &help, &err));
    CHECK(err == message);
  }
  // Given with what they need, in either order.
  for (const std::vector<std::string>& ok :
       {std::vector<std::string>{"--net", "--isolate", "host", "prog"},
        std::vector<std::string>{"--bind", "/d", "--image", "/r", "--net", "prog"}}) {
    LaunchOptions l;
    std::string err;
    CHECK(ParseLaunchArgs(ok, &l, &err));
    CHECK(err.empty());
  }
}

TEST_CASE("a shared option is refused with the same words by both programs") {
  const std::vector<std::vector<std::string>> bad = {
      {"--max-line", "3G"},       {"--max-message", "0"},   {"--bind-to", "board"},
      {"--cpus-per-rank", "0"},   {"--isolate", "full"},    {"--image", "a:b"},
      {"--bind", "src:relative"}, {"--mem-per-rank", "1K"}, {"--time-limit", "-1"},
      {"--max-procs", "x"},       {"--spin-us", "-5"},      {"--trace", ""},
      {"--tag-output=yes"},       {"--max-line"},
  };
  for (const auto& args : bad) {
    INFO(args[0]);
    std::string shim = args.size() == 1 && args[0] == "--max-line" ? "" : ShimError(args);
    std::vector<std::string> with_command = args;
    with_command.push_back("x");
    std::string launch = LaunchParseError(with_command);
    if (!shim.empty()) CHECK(shim == launch);
    CHECK(!launch.empty());
  }
  CHECK(LaunchParseError({"--max-line"}) == "--max-line needs a value");
  // An image always runs isolated: "none" after it is refused (found by fuzz_options).
  CHECK(LaunchParseError({"--image", "/img", "--isolate", "none", "x"}) ==
        "--isolate none contradicts --image (a program in an image always runs isolated): drop "
        "one of them");
  CHECK(ShimError({"--image", "/img", "--isolate", "none"}) ==
        LaunchParseError({"--image", "/img", "--isolate", "none", "x"}));
  CHECK(LaunchParseError({"--tag-output=yes", "x"}) == "--tag-output takes no value");
  CHECK(LaunchParseError({"--mca", "btl"}) ==
        "--mca needs a KEY and a VALUE, e.g. --mca btl tcp,self");
  CHECK(LaunchParseError({"--mca=btl", "tcp", "x"}) ==
        "--mca needs a KEY and a VALUE, e.g. --mca btl tcp,self");
  CHECK(LaunchParseError({"--timeout", "0", "x"}) == "--timeout 0: expected seconds > 0");
  CHECK(ShimError({"--timeout", "5"}) == "unknown option --timeout");
  CHECK(ShimError({"--trace-t0", "x"}) == "--trace-t0 x: expected seconds since the epoch");
  CHECK(ShimError({"--native-ranks", "3-1"}) ==
        "--native-ranks 3-1: expected ranks such as 0 or 0,2-3");
}
