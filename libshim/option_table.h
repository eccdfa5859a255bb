// The options of stdmpirun and of stdmpi-shim, in one table.
//
// Each row holds an option's names, its argument, who takes it (stdmpirun,
// the shim or both), its help text, how its value is checked and stored, and
// how stdmpirun passes it on to the shims. Both parsers, both --help texts and
// the shim's part of the launch command come from it, so an option shared by
// the two is checked by the same code with the same message everywhere.
//
// Why not CLI11 (Debian's libcli11-dev): stdmpirun must read mpirun's shapes,
// which are not CLI11's: single-dash long names and glued values (`-np 4`,
// `-n4`), per-program options between `:` separators of a multi-program job
// (only -n and --native after the first), a command whose own options follow
// it unparsed, `--mca KEY VALUE` with two values, and options passed through
// to the launcher as they are. Most of that would be written around CLI11 by
// hand; the table is smaller than the glue would be.
//
// Pure logic: parsing and formatting only.
#ifndef STDMPI_LIBSHIM_OPTION_TABLE_H_
#define STDMPI_LIBSHIM_OPTION_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "options.h"

namespace stdmpi {

// One `-n N COMMAND ARGS...` of a possibly MPMD (`:`-separated) job.
struct AppContext {
  int np = 0;           // 0: not given
  bool native = false;  // a native MPI program, started by mpirun without a shim
  std::vector<std::string> command;
};

enum class LauncherChoice { kAuto, kMpirun, kSrun };

// stdmpirun's command line.
struct LaunchOptions {
  std::vector<AppContext> apps;
  // The options every rank's shim gets (those stdmpirun passes on), as
  // checked by the same rows that check them in the shim.
  ShimOptions shim;
  // stdmpirun's own.
  LauncherChoice launcher = LauncherChoice::kAuto;
  bool dry_run = false;
  double timeout = 0;  // --timeout SECONDS: report, then end the job (0: none)
  bool oversubscribe = false;
  bool help = false;
  bool version = false;
  std::string pack;  // --pack LAYER.tar: keep what the run wrote
  // --trace FILE, made absolute (the shims get FILE with this job's token as
  // the prefix of their parts, in shim.trace).
  std::string trace_file;
  // --summary, --profile (on stderr after the job) and --report FILE.html
  // (made absolute): from the ranks' summaries and trace parts
  // (launcher/job_profile.h).
  bool summary = false;
  bool profile = false;
  std::string report_file;
  std::string hostfile;
  std::string host;
  std::vector<std::pair<std::string, std::string>> mca;
  std::vector<std::string> exports;        // -x NAME[=VALUE]
  std::vector<std::string> launcher_args;  // --launcher-arg ARG, passed as is
  // By row of the table: the value given for an option the shims get, as
  // given ("" when not given; a flag's name when given).
  std::vector<std::string> given;
};

enum class Scope : uint8_t { kLauncher = 1, kShim = 2, kBoth = 3 };

struct OptionSpec {
  // As --help shows them ("-q, --quiet"); the last name is the one passed on.
  const char* names;
  // Names that are accepted too but not shown ("--cpus-per-proc"), or "".
  const char* aliases;
  // The argument as --help shows it ("SIZE", "KEY VALUE"); "" for a flag.
  const char* arg;
  int nargs;  // 0, 1 or 2 values
  Scope scope;
  // Lines of help, without indentation, separated by LF.
  const char* help;
  // Checks the value(s) and stores them; false with *err. Null: stdmpirun's
  // loop over the programs reads it (-n, --native).
  bool (*set)(std::string_view name, const std::string* values, LaunchOptions* l, ShimOptions* s,
              std::string* err);
  // How stdmpirun passes it on to the shims: appends the shim's arguments
  // for what `s` holds (`given`: the value given, "" if none). Null: as
  // given, when given; for options stdmpirun does not pass on: never called.
  void (*pass_on)(const ShimOptions& s, const std::string& given, std::vector<std::string>* out);
  bool passed_on;  // stdmpirun passes it on (through pass_on, or as given)
  // The shim's --help, where stdmpirun's words do not fit it (null: `help`).
  const char* shim_help = nullptr;
};

// Every option, in the order stdmpirun passes them on.
const std::vector<OptionSpec>& OptionTable();

// The option's name that is passed on: the last of its names ("--version"
// of "-V, --version").
std::string_view CanonicalName(const OptionSpec& o);

// The row for `name` that `who` takes, or nullptr.
const OptionSpec* FindOption(std::string_view name, Scope who);

// Reads the option at args[*i] (and its values) for `who` into *l or *s,
// advancing *i past it. "--name=value" gives a value inline. Returns false
// with *err ("--max-line needs a value", "--max-line 3G: expected ...").
// Sets *unknown if args[*i] is no option of `who`'s.
bool TakeOption(const std::vector<std::string>& args, size_t* i, Scope who, LaunchOptions* l,
                ShimOptions* s, std::string* err, bool* unknown);

// The shim's arguments for what stdmpirun passes on, in table order: the
// options given to stdmpirun, and what it set in `s` (--quiet, --native-ranks,
// --upper, --trace-t0).
std::vector<std::string> ShimArgsFor(const LaunchOptions& l, const ShimOptions& s);

// One option's entry in a --help text: names and argument in a column of
// 24, then its help lines (for `who`: the shim's where they differ).
std::string OptionHelp(const OptionSpec& o, Scope who = Scope::kLauncher);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_OPTION_TABLE_H_
