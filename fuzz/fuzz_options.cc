// libFuzzer target: a command line for stdmpirun and one for the shim (the
// input's NUL-separated words).
//
// Beyond "no crash, no sanitizer report", it checks the promise of the one
// option table: what stdmpirun accepts and passes on to the shims, the shim
// accepts too, and reads back to the same settings; a refused command line
// always says why.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "launch_options.h"
#include "option_table.h"
#include "options.h"

using namespace stdmpi;

namespace {

// The settings a shim acts on, in one string (for comparing two parses).
std::string Settings(const ShimOptions& s) {
  std::string out;
  auto add = [&out](const std::string& v) { out += v + "|"; };
  add(std::to_string(s.tag_output) + std::to_string(s.line_buffered) +
      std::to_string(s.report_bindings) + std::to_string(s.quiet) + std::to_string(s.isolate) +
      std::to_string(s.isolate_net) + std::to_string(s.start_early));
  add(std::to_string(s.max_line) + " " + std::to_string(s.max_message) + " " +
      std::to_string(s.spin_us) + " " + std::to_string(s.cpus_per_rank) + " " +
      std::to_string(s.mem_per_rank) + " " + std::to_string(s.time_limit) + " " +
      std::to_string(s.max_procs));
  add(std::to_string(static_cast<int>(s.bind_to)) + std::to_string(s.bind_to_given));
  for (const std::string& i : s.image) add("image " + i);
  for (const auto& [from, to] : s.binds) add("bind " + from + ":" + to);
  for (int r : s.native_ranks) add("native " + std::to_string(r));
  add(s.upper);
  add(s.trace);
  add(s.rank_summary);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size && args.size() <= 64; ++i) {
    if (data[i] == 0) {
      args.emplace_back();
    } else {
      args.back() += static_cast<char>(data[i]);
    }
  }
  std::string err;
  LaunchOptions lo;
  if (!ParseLaunchArgs(args, &lo, &err)) {
    Check(!err.empty(), "a refused stdmpirun command line says why");
  } else if (!lo.help && !lo.version && !lo.apps.empty()) {
    std::vector<std::string> shim_args = ShimArgsFor(lo, lo.shim);
    shim_args.insert(shim_args.end(), {"--", "prog"});
    ShimOptions so;
    bool help = false;
    std::string serr;
    Check(ParseShimArgs(shim_args, &so, &help, &serr), "the shim takes what stdmpirun passes on");
    Check(!help, "stdmpirun never passes --help on");
    Check(Settings(so) == Settings(lo.shim), "the shim reads back stdmpirun's settings");
  }
  ShimOptions direct;
  bool help = false;
  err.clear();
  if (!ParseShimArgs(args, &direct, &help, &err)) {
    Check(!err.empty(), "a refused shim command line says why");
  }
  return 0;
}
