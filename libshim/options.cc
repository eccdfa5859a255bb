#include "options.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "numbers.h"
#include "option_table.h"

namespace stdmpi {

bool ParseByteSize(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  if (i == 0) return false;
  double v;
  if (!ParseF64(s.substr(0, i), &v) || !(v >= 0)) return false;
  std::string_view unit = s.substr(i);
  double mult = 1;
  if (!unit.empty()) {
    char u = unit[0];
    if (u == 'k' || u == 'K') {
      mult = 1024.0;
    } else if (u == 'm' || u == 'M') {
      mult = 1024.0 * 1024;
    } else if (u == 'g' || u == 'G') {
      mult = 1024.0 * 1024 * 1024;
    } else if (u != 'b' && u != 'B') {
      return false;
    }
    std::string_view rest = unit.substr(1);
    if (u != 'b' && u != 'B' && !rest.empty() && rest != "B" && rest != "iB" && rest != "b") {
      return false;
    }
    if ((u == 'b' || u == 'B') && !rest.empty()) return false;
  }
  double bytes = std::floor(v * mult);
  if (bytes > 9.0e18) return false;
  *out = static_cast<int64_t>(bytes);
  return true;
}

std::string FormatByteSize(int64_t n) {
  const int64_t kKi = 1024, kMi = kKi * 1024, kGi = kMi * 1024;
  if (n >= kGi && n % kGi == 0) return std::to_string(n / kGi) + " GiB";
  if (n >= kMi && n % kMi == 0) return std::to_string(n / kMi) + " MiB";
  if (n >= kKi && n % kKi == 0) return std::to_string(n / kKi) + " KiB";
  return std::to_string(n) + " bytes";
}

const std::string& ShimUsage() {
  static const std::string usage = [] {
    std::string u =
        "usage: stdmpi-shim [OPTIONS] -- COMMAND [ARGS...]\n"
        "\n"
        "One MPI rank of a stdmpi job: starts COMMAND with its stdin/stdout on pipes\n"
        "and relays the @mpi requests it prints into MPI (see docs/protocol.md).\n"
        "Normally started by stdmpirun; `mpirun -n 2 stdmpi-shim -- CMD` works too.\n"
        "\n"
        "options:\n";
    for (const OptionSpec& o : OptionTable()) {
      if ((static_cast<int>(o.scope) & static_cast<int>(Scope::kShim)) != 0) {
        u += OptionHelp(o, Scope::kShim);
      }
    }
    return u;
  }();
  return usage;
}

bool ParseRankList(std::string_view s, std::vector<int>* out) {
  out->clear();
  if (s.empty()) return false;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    std::string_view part =
        s.substr(start, comma == std::string_view::npos ? comma : comma - start);
    size_t dash = part.find('-');
    int64_t a, b;
    if (dash == std::string_view::npos) {
      if (!ParseCount(part, INT32_MAX, &a)) return false;
      b = a;
    } else if (!ParseCount(part.substr(0, dash), INT32_MAX, &a) ||
               !ParseCount(part.substr(dash + 1), INT32_MAX, &b) || b < a || b - a > 10000000) {
      return false;
    }
    for (int64_t r = a; r <= b; ++r) out->push_back(static_cast<int>(r));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return true;
}

std::string FormatRankList(const std::vector<int>& ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size();) {
    size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    if (!s.empty()) s += ',';
    s += std::to_string(ranks[i]);
    if (j > i) s += "-" + std::to_string(ranks[j]);
    i = j + 1;
  }
  return s;
}

bool ParseImageList(std::string_view s, std::vector<std::string>* out, std::string* err) {
  out->clear();
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string part(s.substr(start, comma - start));
    if (part.empty() || part.find(':') != std::string::npos ||
        part.find('\n') != std::string::npos) {
      *err = "--image " + std::string(s) +
             ": expected DIR or TARBALL, then ,LAYER... (paths without ':' or newlines)";
      return false;
    }
    out->push_back(part);
    start = comma + 1;
  }
  return true;
}

bool ParseBind(std::string_view s, std::pair<std::string, std::string>* out, std::string* err) {
  size_t colon = s.find(':');
  out->first = std::string(s.substr(0, colon));
  out->second = colon == std::string_view::npos ? out->first : std::string(s.substr(colon + 1));
  if (out->first.empty() || out->second.empty() || out->second[0] != '/' ||
      s.find('\n') != std::string_view::npos) {
    *err = "--bind " + std::string(s) + ": expected SRC or SRC:DST, DST an absolute path";
    return false;
  }
  return true;
}

bool ParseShimArgs(const std::vector<std::string>& args, ShimOptions* opts, bool* help,
                   std::string* err) {
  *help = false;
  size_t i = 0;
  while (i < args.size()) {
    const std::string& a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-h" || a == "--help") {
      *help = true;
      return true;
    }
    if (a.empty() || a[0] != '-') break;  // the command starts here
    bool unknown = false;
    if (!TakeOption(args, &i, Scope::kShim, nullptr, opts, err, &unknown)) {
      if (unknown) *err = "unknown option " + a;
      return false;
    }
  }
  opts->command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (opts->command.empty()) {
    *err = "no command given";
    return false;
  }
  if (!CheckShimOptionsTogether(*opts, err)) return false;
  return opts->apps.empty() || SplitAppCommands(opts, err);
}

bool CheckShimOptionsTogether(const ShimOptions& s, std::string* err) {
  if (s.isolate_net && !s.isolate) {
    *err = "--net keeps the host's network inside a container: it needs --isolate host or --image";
    return false;
  }
  if (s.tasks_file.empty() && (s.retries > 0 || !s.joblog.empty() || s.resume != 0)) {
    *err = std::string(s.retries > 0       ? "--retries"
                       : !s.joblog.empty() ? "--joblog"
                       : s.resume == 1     ? "--resume"
                                           : "--resume-failed") +
           " is for task farms: it needs --tasks FILE";
    return false;
  }
  if (s.resume != 0 && s.joblog.empty()) {
    *err = std::string(s.resume == 1 ? "--resume" : "--resume-failed") +
           " reads the joblog of an earlier run: it needs --joblog FILE";
    return false;
  }
  if (!s.binds.empty() && s.image.empty()) {
    *err =
        "--bind shows a directory inside the container of --image: it needs --image (with "
        "--isolate host the host's directories are all there)";
    return false;
  }
  return true;
}

bool SplitAppCommands(ShimOptions* opts, std::string* err) {
  // The commands, one after the other, each as many words as --apps says.
  size_t at = 0;
  for (ShimApp& app : opts->apps) {
    if (at + app.command.size() > opts->command.size()) {
      at = opts->command.size() + 1;
      break;
    }
    std::copy_n(opts->command.begin() + static_cast<std::ptrdiff_t>(at), app.command.size(),
                app.command.begin());
    at += app.command.size();
  }
  if (at != opts->command.size()) {
    *err = "--apps counts the words of the commands, and they do not add up to the " +
           std::to_string(opts->command.size()) + " words given";
    return false;
  }
  return true;
}

bool LaunchPositionFromEnv(const char* (*get)(const char*), LaunchPosition* out, std::string* why) {
  struct Field {
    const char* name;
    int* value;
    int least;
  };
  LaunchPosition p;
  const Field fields[] = {{"OMPI_COMM_WORLD_RANK", &p.rank, 0},
                          {"OMPI_COMM_WORLD_SIZE", &p.size, 1},
                          {"OMPI_COMM_WORLD_LOCAL_RANK", &p.local_rank, 0},
                          {"OMPI_COMM_WORLD_LOCAL_SIZE", &p.local_size, 1}};
  for (const Field& f : fields) {
    const char* v = get(f.name);
    int64_t n;
    if (v == nullptr || !ParseCount(v, INT32_MAX, &n) || n < f.least) {
      *why = std::string(f.name) +
             (v == nullptr ? " is not set" : " is not a count: " + std::string(v));
      return false;
    }
    *f.value = static_cast<int>(n);
  }
  if (p.rank >= p.size || p.local_rank >= p.local_size || p.local_size > p.size) {
    *why = "the launcher's rank " + std::to_string(p.rank) + " of " + std::to_string(p.size) +
           ", local " + std::to_string(p.local_rank) + " of " + std::to_string(p.local_size) +
           " do not fit together";
    return false;
  }
  *out = p;
  return true;
}

std::vector<int> AppSizes(const ShimOptions& opts) {
  if (opts.apps.empty()) return opts.app_sizes;
  std::vector<int> sizes;
  for (const ShimApp& app : opts.apps) sizes.push_back(app.np);
  return sizes;
}

int AppNumOf(int rank, const std::vector<int>& sizes) {
  int first = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (rank >= first && rank < first + sizes[i]) return static_cast<int>(i);
    first += sizes[i];
  }
  return 0;
}

bool SelectApp(int rank, ShimOptions* opts, bool* native, std::string* err) {
  *native = false;
  if (opts->apps.empty()) return true;
  int first = 0;
  for (ShimApp& app : opts->apps) {
    if (rank >= first && rank < first + app.np) {
      opts->command = app.command;
      *native = app.native;
      return true;
    }
    first += app.np;
  }
  *err = "rank " + std::to_string(rank) + " is beyond the " + std::to_string(first) +
         " ranks that --apps gives programs for";
  return false;
}

void AppendPrefixed(std::string* out, std::string_view data, std::string_view prefix,
                    bool* at_line_start) {
  while (!data.empty()) {
    if (*at_line_start) out->append(prefix);
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      out->append(data);
      *at_line_start = false;
      return;
    }
    out->append(data.substr(0, nl + 1));
    data.remove_prefix(nl + 1);
    *at_line_start = true;
  }
}

void AppendPrefixedRedraws(std::string* out, std::string_view data, std::string_view prefix,
                           PrefixState* st) {
  while (!data.empty()) {
    if (st->after_cr) {  // the byte after a drawn piece's CR: a redraw, unless CRLF
      st->after_cr = false;
      st->line_start = st->line_start || data.front() != '\n';
    }
    if (st->line_start) {
      out->append(prefix);
      st->line_start = false;
      st->drawn = false;
    }
    const size_t end = data.find_first_of("\r\n");
    if (end == std::string_view::npos) {
      out->append(data);
      st->drawn = true;
      return;
    }
    out->append(data.substr(0, end + 1));
    const bool drawn = st->drawn || end > 0;
    if (data[end] == '\n') {
      st->line_start = true;
    } else if (drawn) {
      st->after_cr = true;
    }
    st->drawn = false;
    data.remove_prefix(end + 1);
  }
}

std::string TimestampPrefix(double real_seconds) {
  time_t secs = static_cast<time_t>(real_seconds);
  long ms = std::lround((real_seconds - static_cast<double>(secs)) * 1000);
  if (ms >= 1000) {
    ++secs;
    ms -= 1000;
  }
  struct tm tm;
  localtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "[%04d-%02d-%02d %02d:%02d:%02d.%03ld] ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

std::string DescribeCommand(const std::vector<std::string>& argv, size_t max) {
  std::string s;
  for (const std::string& a : argv) {
    if (!s.empty()) s += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n\"'\\$`") == std::string::npos;
    if (plain) {
      s += a;
    } else {
      s += '"';
      for (char c : a) {
        if (c == '"' || c == '\\') s += '\\';
        s += c;
      }
      s += '"';
    }
    if (s.size() > max) {
      s.resize(max);
      s += "...";
      break;
    }
  }
  return s;
}

}  // namespace stdmpi
