#include "options.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "numbers.h"

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

const char* ShimUsage() {
  return "usage: stdmpi-shim [OPTIONS] -- COMMAND [ARGS...]\n"
         "\n"
         "One MPI rank of a stdmpi job: starts COMMAND with its stdin/stdout on pipes\n"
         "and relays the @mpi requests it prints into MPI (see docs/protocol.md).\n"
         "Normally started by stdmpirun; `mpirun -n 2 stdmpi-shim -- CMD` works too.\n"
         "\n"
         "options:\n"
         "  --tag-output          prefix each forwarded output line with [RANK]\n"
         "  --line-buffered       make the command's C stdio output line-buffered\n"
         "  --max-line BYTES      longest stdout line (default 64M)\n"
         "  --max-message BYTES   largest message or byte payload (default 1G)\n"
         "  --spin-us N           poll MPI N microseconds before sleeping (default: auto)\n"
         "  --native-ranks LIST   these world ranks are native MPI programs (no shim)\n"
         "  --bind-to WHAT        core (default when the node's ranks fit its cores),\n"
         "                        l3cache, numa, package or none\n"
         "  --cpus-per-rank N     cores for each rank (and its thread count)\n"
         "  --report-bindings     print where each rank runs\n"
         "  --quiet               no notices\n"
         "  --isolate none|host   run the command in a light container (host: new\n"
         "                        namespaces, /usr and /etc read-only, private /tmp)\n"
         "  --net                 ... but keep the host's network\n"
         "  --image ROOT[,LAYER]  run the command in this root filesystem (directories or\n"
         "                        tarballs, overlaid with a throwaway upper layer)\n"
         "  --bind SRC[:DST]      make SRC visible at DST in the image\n"
         "  --upper DIR           keep the image's writable layer in DIR/upper\n"
         "  --mem-per-rank SIZE   memory limit of the command (cgroup, else rlimit)\n"
         "  --time-limit SECONDS  end the job when the command runs longer\n"
         "  --max-procs N         processes and threads the command may have\n"
         "  --trace PREFIX        write each request as a trace event to PREFIX.rank<N>\n"
         "  --trace-t0 SECONDS    the job's start (epoch seconds) for the trace's times\n"
         "  --start-early         start COMMAND before MPI_Init, placed by mpirun's\n"
         "                        OMPI_COMM_WORLD_LOCAL_RANK/_SIZE (only right when\n"
         "                        mpirun binds nothing: --bind-to none)\n"
         "  --apps SPEC           several programs, for launchers that start one command\n"
         "                        everywhere (srun): RANKS:WORDS[:native],... e.g.\n"
         "                        --apps 1:1:native,4:2 -- ./solver python3 w.py runs\n"
         "                        ./solver on rank 0 (exec'd as is, an MPI program) and\n"
         "                        \"python3 w.py\" under the shim on ranks 1-4\n"
         "  -h, --help            this text\n";
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
  auto value = [&](const std::string& name, std::string* v) {
    if (i + 1 >= args.size()) {
      *err = name + " needs a value";
      return false;
    }
    *v = args[++i];
    return true;
  };
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string v;
    if (a == "--") {
      ++i;
      break;
    } else if (a == "-h" || a == "--help") {
      *help = true;
      return true;
    } else if (a == "--start-early") {
      opts->start_early = true;
    } else if (a == "--tag-output") {
      opts->tag_output = true;
    } else if (a == "--line-buffered") {
      opts->line_buffered = true;
    } else if (a == "--max-line" || a == "--max-message") {
      if (!value(a, &v)) return false;
      int64_t n;
      int64_t least = a == "--max-line" ? kSmallestMaxLine : 1;
      if (!ParseByteSize(v, &n) || n < least || n > kLargestMessage) {
        *err = a + " " + v + ": expected a size from " + std::to_string(least) +
               (least == 1 ? " byte" : " bytes") + " to 2G-1 (e.g. 64M)";
        return false;
      }
      (a == "--max-line" ? opts->max_line : opts->max_message) = n;
    } else if (a == "--native-ranks") {
      if (!value(a, &v)) return false;
      if (!ParseRankList(v, &opts->native_ranks)) {
        *err = "--native-ranks " + v + ": expected ranks such as 0 or 0,2-3";
        return false;
      }
    } else if (a == "--bind-to") {
      if (!value(a, &v)) return false;
      if (!ParseBindTo(v, &opts->bind_to)) {
        *err = "--bind-to " + v + ": expected core, l3cache, numa, package or none";
        return false;
      }
      opts->bind_to_given = true;
    } else if (a == "--cpus-per-rank") {
      if (!value(a, &v)) return false;
      int64_t n;
      if (!ParseCount(v, 1 << 16, &n) || n < 1) {
        *err = "--cpus-per-rank " + v + ": expected a number of cores >= 1";
        return false;
      }
      opts->cpus_per_rank = static_cast<int>(n);
    } else if (a == "--report-bindings") {
      opts->report_bindings = true;
    } else if (a == "--quiet") {
      opts->quiet = true;
    } else if (a == "--isolate") {
      if (!value(a, &v)) return false;
      if (v != "none" && v != "host") {
        *err = "--isolate " + v + ": expected none or host";
        return false;
      }
      opts->isolate = v == "host";
    } else if (a == "--net") {
      opts->isolate_net = true;
    } else if (a == "--image") {
      if (!value(a, &v)) return false;
      if (!ParseImageList(v, &opts->image, err)) return false;
      opts->isolate = true;
    } else if (a == "--mem-per-rank") {
      if (!value(a, &v)) return false;
      if (!ParseByteSize(v, &opts->mem_per_rank) || opts->mem_per_rank < (1 << 20)) {
        *err = "--mem-per-rank " + v + ": expected a size of at least 1M (e.g. 512M, 4G)";
        return false;
      }
    } else if (a == "--time-limit") {
      if (!value(a, &v)) return false;
      char* end = nullptr;
      opts->time_limit = strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(opts->time_limit > 0) || opts->time_limit > 1e9) {
        *err = "--time-limit " + v + ": expected seconds > 0";
        return false;
      }
    } else if (a == "--max-procs") {
      if (!value(a, &v)) return false;
      int64_t n;
      if (!ParseCount(v, 1 << 22, &n) || n < 1) {
        *err = "--max-procs " + v + ": expected a number of processes >= 1";
        return false;
      }
      opts->max_procs = static_cast<int>(n);
    } else if (a == "--upper") {
      if (!value(a, &v)) return false;
      opts->upper = v;
    } else if (a == "--bind") {
      if (!value(a, &v)) return false;
      std::pair<std::string, std::string> b;
      if (!ParseBind(v, &b, err)) return false;
      opts->binds.push_back(b);
    } else if (a == "--apps") {
      // RANKS:WORDS[:native],... (srun takes a lone ":" in its command line
      // for a heterogeneous-job separator, so the commands are not split by
      // ":" but counted in words).
      if (!value(a, &v)) return false;
      opts->apps.clear();
      bool ok = !v.empty();
      size_t p = 0;
      while (ok && p <= v.size()) {
        size_t q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        std::string part = v.substr(p, q - p);
        ShimApp app;
        if (part.size() > 7 && part.compare(part.size() - 7, 7, ":native") == 0) {
          app.native = true;
          part.resize(part.size() - 7);
        }
        size_t colon = part.find(':');
        int64_t n = 0, words = 0;
        ok = colon != std::string::npos &&
             ParseCount(std::string_view(part).substr(0, colon), 1 << 24, &n) && n >= 1 &&
             ParseCount(std::string_view(part).substr(colon + 1), 1 << 20, &words) && words >= 1;
        app.np = static_cast<int>(n);
        app.command.resize(static_cast<size_t>(words));
        opts->apps.push_back(app);
        p = q + 1;
      }
      if (!ok) {
        *err = "--apps " + v + ": expected RANKS:WORDS[:native],... such as 1:2:native,4:3";
        return false;
      }
    } else if (a == "--spin-us") {
      if (!value(a, &v)) return false;
      int64_t n;
      if (!ParseCount(v, 10000000, &n)) {
        *err = "--spin-us " + v + ": expected microseconds (0..10000000)";
        return false;
      }
      opts->spin_us = static_cast<int>(n);
    } else if (a == "--trace") {
      if (!value(a, &opts->trace)) return false;
      if (opts->trace.empty()) {
        *err = "--trace needs a file name";
        return false;
      }
    } else if (a == "--trace-t0") {
      if (!value(a, &v)) return false;
      char* end = nullptr;
      opts->trace_t0 = strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(opts->trace_t0 >= 0)) {
        *err = "--trace-t0 " + v + ": expected seconds since the epoch";
        return false;
      }
    } else if (!a.empty() && a[0] == '-') {
      *err = "unknown option " + a;
      return false;
    } else {
      break;  // the command starts here
    }
  }
  opts->command.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  if (opts->command.empty()) {
    *err = "no command given";
    return false;
  }
  if (!opts->apps.empty()) {
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
