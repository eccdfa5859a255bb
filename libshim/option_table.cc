#include "option_table.h"

#include <cstdio>
#include <cstdlib>

#include "numbers.h"

namespace stdmpi {

namespace {

using Values = const std::string*;

// Seconds > 0 and at most `most`.
bool ParseSeconds(const std::string& v, double most, double* out) {
  char* end = nullptr;
  *out = strtod(v.c_str(), &end);
  return !v.empty() && *end == '\0' && *out > 0 && *out <= most;
}

// Sets *err to "NAME VALUE: expected WHAT" and returns false.
bool Expected(std::string_view name, const std::string& value, const std::string& what,
              std::string* err) {
  *err = std::string(name) + " " + value + ": expected " + what;
  return false;
}

bool SetSize(std::string_view name, Values v, int64_t* out, std::string* err) {
  int64_t n;
  const int64_t least = name == "--max-line" ? kSmallestMaxLine : 1;
  if (!ParseByteSize(v[0], &n) || n < least || n > kLargestMessage) {
    return Expected(name, v[0],
                    "a size from " + std::to_string(least) + (least == 1 ? " byte" : " bytes") +
                        " to 2G-1 (e.g. 64M)",
                    err);
  }
  *out = n;
  return true;
}

bool SetCount(std::string_view name, Values v, int64_t max, int* out, const char* expected,
              std::string* err) {
  int64_t n;
  if (!ParseCount(v[0], max, &n) || n < 1) return Expected(name, v[0], expected, err);
  *out = static_cast<int>(n);
  return true;
}

bool SetApps(Values v, ShimOptions* s, std::string* err) {
  // RANKS:WORDS[:native],... (srun takes a lone ":" in its command line for a
  // heterogeneous-job separator, so the commands are not split by ":" but
  // counted in words).
  const std::string& spec = v[0];
  s->apps.clear();
  bool ok = !spec.empty();
  size_t p = 0;
  while (ok && p <= spec.size()) {
    size_t q = spec.find(',', p);
    if (q == std::string::npos) q = spec.size();
    std::string part = spec.substr(p, q - p);
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
    s->apps.push_back(app);
    p = q + 1;
  }
  if (!ok) *err = "--apps " + spec + ": expected RANKS:WORDS[:native],... such as 1:2:native,4:3";
  return ok;
}

std::string Joined(const std::vector<std::string>& parts, char sep) {
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : std::string(1, sep)) + p;
  return s;
}

void Add(std::vector<std::string>* out, std::initializer_list<std::string> args) {
  out->insert(out->end(), args);
}

// Setters that only store: a flag, a string, one more string in a list.
template <bool ShimOptions::*kField>
bool ShimFlag(std::string_view, Values, LaunchOptions*, ShimOptions* s, std::string*) {
  s->*kField = true;
  return true;
}
template <bool LaunchOptions::*kField>
bool LaunchFlag(std::string_view, Values, LaunchOptions* l, ShimOptions*, std::string*) {
  l->*kField = true;
  return true;
}
template <std::string LaunchOptions::*kField>
bool LaunchString(std::string_view, Values v, LaunchOptions* l, ShimOptions*, std::string*) {
  l->*kField = v[0];
  return true;
}
template <std::vector<std::string> LaunchOptions::*kField>
bool LaunchList(std::string_view, Values v, LaunchOptions* l, ShimOptions*, std::string*) {
  (l->*kField).push_back(v[0]);
  return true;
}

// The setters and pass-on functions of the rows below, by option.
#define SET \
  [](std::string_view name, Values v, LaunchOptions * l, ShimOptions * s, std::string * err) -> bool
#define PASS [](const ShimOptions& s, const std::string& given, std::vector<std::string>* out)
#define UNUSED (void)name, (void)v, (void)l, (void)s, (void)err

// function_lengths: table
// clang-format off
std::vector<OptionSpec> MakeTable() {
  return {
      // --- passed on to the shims, in this order -------------------------------
      {"--bind-to", "", "WHAT", 1, Scope::kBoth,
       "core (the default when the ranks of a node fit its\n"
       "cores; no binding, with a notice, when they do not),\n"
       "l3cache, numa, package (the whole cache, NUMA node or\n"
       "package holding the rank's cores) or none",
       SET {
         UNUSED;
         if (!ParseBindTo(v[0], &s->bind_to)) {
           return Expected(name, v[0], "core, l3cache, numa, package or none", err);
         }
         s->bind_to_given = true;
         return true;
       },
       PASS {
         if (s.bind_to_given) Add(out, {"--bind-to", BindToName(s.bind_to)});
         (void)given;
       },
       true},
      {"--cpus-per-rank", "--cpus-per-proc", "N", 1, Scope::kBoth,
       "N cores per rank (default 1): for multithreaded\n"
       "programs; -n defaults to cores / N. Each program gets\n"
       "OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS\n"
       "(...) = its cores, unless you set them",
       SET {
         UNUSED;
         return SetCount(name, v, 1 << 16, &s->cpus_per_rank, "a number of cores >= 1", err);
       },
       PASS {
         if (s.cpus_per_rank > 0) Add(out, {"--cpus-per-rank", std::to_string(s.cpus_per_rank)});
         (void)given;
       },
       true,
       "N cores for this rank (default 1), and the program's\n"
       "thread count (OMP_NUM_THREADS, ... unless set)"},
      {"--report-bindings", "", "", 0, Scope::kBoth,
       "print each rank's cores: \"stdmpi: rank 0 on node1:\n"
       "core 0 (PU 0), NUMA 0: [B/./././././././.]\"",
       ShimFlag<&ShimOptions::report_bindings>,
       nullptr, true},
      {"--mem-per-rank", "", "SIZE", 1, Scope::kBoth,
       "each rank's program may use SIZE of memory (e.g. 2G);\n"
       "over it, it is killed and the job ends saying so",
       SET {
         UNUSED;
         return (ParseByteSize(v[0], &s->mem_per_rank) && s->mem_per_rank >= (1 << 20)) ||
                Expected(name, v[0], "a size of at least 1M (e.g. 512M, 4G)", err);
       },
       nullptr, true},
      {"--time-limit", "", "SECONDS", 1, Scope::kBoth,
       "end the job when a rank's program runs longer",
       SET {
         UNUSED;
         return ParseSeconds(v[0], 1e9, &s->time_limit) || Expected(name, v[0], "seconds > 0", err);
       },
       nullptr, true},
      {"--max-procs", "", "N", 1, Scope::kBoth,
       "processes and threads each rank's program may have\n"
       "(limits use a cgroup of the rank's own where one can\n"
       "be made: cgroup v2 with a delegated subtree, or v1 as\n"
       "root; else rlimits: address space and the user's\n"
       "process count). They work with or without --isolate",
       SET {
         UNUSED;
         return SetCount(name, v, 1 << 22, &s->max_procs, "a number of processes >= 1", err);
       },
       nullptr, true},
      {"--image", "", "ROOT[,LAYER...]", 1, Scope::kBoth,
       "run each program in this root filesystem instead of\n"
       "the host's (as --isolate host otherwise): ROOT and\n"
       "LAYERs are directories or tar archives (unpacked once\n"
       "into ~/.cache/stdmpi/images, or $STDMPI_IMAGE_CACHE:\n"
       "yours alone), overlaid in order with a throwaway\n"
       "layer per rank on top; the working directory is\n"
       "there at the same path, writable; /dev holds null,\n"
       "zero, random, urandom, tty and the like only",
       SET {
         UNUSED;
         if (!ParseImageList(v[0], &s->image, err)) return false;
         s->isolate = true;
         return true;
       },
       PASS {
         if (!s.image.empty()) Add(out, {"--image", Joined(s.image, ',')});
         (void)given;
       },
       true},
      {"--bind", "", "SRC[:DST]", 1, Scope::kBoth,
       "with --image: show SRC at DST (default: the same path)",
       SET {
         UNUSED;
         std::pair<std::string, std::string> b;
         if (!ParseBind(v[0], &b, err)) return false;
         s->binds.push_back(b);
         return true;
       },
       PASS {
         if (s.image.empty()) return;
         for (const auto& [from, to] : s.binds) {
           Add(out, {"--bind", from == to ? from : from + ":" + to});
         }
         (void)given;
       },
       true},
      {"--upper", "", "DIR", 1, Scope::kShim,
       "keep the image's writable layer in DIR/upper (what\n"
       "stdmpirun --pack packs)",
       SET { UNUSED; s->upper = v[0]; return true; },
       PASS {
         if (!s.image.empty() && !s.upper.empty()) Add(out, {"--upper", s.upper});
         (void)given;
       },
       true},
      {"--isolate", "", "none|host", 1, Scope::kBoth,
       "host: each rank's program runs in a light container\n"
       "of its own: new mount, PID, IPC, UTS and network\n"
       "namespaces (only loopback: a rank talks to the others\n"
       "through stdmpi), /usr and /etc read-only, a private\n"
       "/tmp and /proc, the working directory shared and\n"
       "writable; works as root and, through a user\n"
       "namespace, as a normal user. Default: none",
       SET {
         UNUSED;
         if (v[0] != "none" && v[0] != "host") return Expected(name, v[0], "none or host", err);
         if (v[0] == "none" && !s->image.empty()) {
           // An image always runs isolated (the shim could not read "none" back).
           *err = "--isolate none contradicts --image (a program in an image always runs "
                  "isolated): drop one of them";
           return false;
         }
         s->isolate = v[0] == "host";
         return true;
       },
       PASS {
         if (s.image.empty() && s.isolate) Add(out, {"--isolate", "host"});
         (void)given;
       },
       true},
      {"--net", "", "", 0, Scope::kBoth,
       "with --isolate host: keep the host's network",
       ShimFlag<&ShimOptions::isolate_net>,
       PASS {
         if (s.isolate && s.isolate_net) out->push_back("--net");
         (void)given;
       },
       true},
      {"-q, --quiet", "", "", 0, Scope::kBoth,
       "no warnings from stdmpi itself",
       ShimFlag<&ShimOptions::quiet>,
       PASS {
         if (s.quiet) out->push_back("--quiet");
         (void)given;
       },
       true},
      {"--tag-output", "", "", 0, Scope::kBoth,
       "prefix every line a rank prints with \"[RANK] \"",
       ShimFlag<&ShimOptions::tag_output>,
       nullptr, true},
      {"--output-filename", "", "DIR", 1, Scope::kBoth,
       "each rank's output to files, not the terminal:\n"
       "DIR/1/rank.N/stdout and stderr (Open MPI's layout);\n"
       "stdmpi's own messages stay on the terminal",
       SET {
         UNUSED;
         if (v[0].empty()) return Expected(name, v[0], "a directory", err);
         s->output_filename.assign(v[0]);
         return true;
       },
       PASS {
         if (!s.output_filename.empty()) Add(out, {"--output-filename", s.output_filename});
         (void)given;
       },
       true},
      {"--timestamp-output", "", "", 0, Scope::kBoth,
       "prefix every line a rank prints with the time it\n"
       "printed it: \"[2026-11-30 14:05:09.123] \" (local time)",
       ShimFlag<&ShimOptions::timestamp_output>,
       nullptr, true},
      {"--merge-stderr-to-stdout", "", "", 0, Scope::kBoth,
       "send what each program writes on stderr to stdout\n"
       "(with --output-filename: into its stdout file)",
       ShimFlag<&ShimOptions::merge_stderr>,
       nullptr, true},
      {"--line-buffered", "", "", 0, Scope::kBoth,
       "make each program's C stdio (and gfortran) output\n"
       "line-buffered, for programs that print requests without\n"
       "flushing (stdmpi does this for NCL by itself)",
       ShimFlag<&ShimOptions::line_buffered>,
       nullptr, true},
      {"--max-line", "", "SIZE", 1, Scope::kBoth,
       "longest line a rank may print (default 64M); a longer\n"
       "line ends the job with a message",
       SET { UNUSED; return SetSize(name, v, &s->max_line, err); },
       PASS {
         if (!given.empty()) Add(out, {"--max-line", std::to_string(s.max_line)});
       },
       true},
      {"--max-message", "", "SIZE", 1, Scope::kBoth,
       "largest message or byte payload (default 1G); a\n"
       "request's numbers count 8 bytes each (16 for\n"
       "minloc/maxloc), a gather's result too",
       SET { UNUSED; return SetSize(name, v, &s->max_message, err); },
       PASS {
         if (!given.empty()) Add(out, {"--max-message", std::to_string(s.max_message)});
       },
       true},
      {"--spin-us", "", "N", 1, Scope::kBoth,
       "microseconds a waiting rank polls MPI before it sleeps\n"
       "(default: 2000; where the node has more ranks than\n"
       "cores, a polling rank yields its core between polls)",
       SET {
         UNUSED;
         int64_t n;
         if (!ParseCount(v[0], 10000000, &n)) {
           return Expected(name, v[0], "microseconds (0..10000000)", err);
         }
         s->spin_us = static_cast<int>(n);
         return true;
       },
       PASS {
         if (s.spin_us >= 0) Add(out, {"--spin-us", std::to_string(s.spin_us)});
         (void)given;
       },
       true},
      {"--native-ranks", "", "LIST", 1, Scope::kShim,
       "these world ranks are native MPI programs (no shim)",
       SET {
         UNUSED;
         return ParseRankList(v[0], &s->native_ranks) ||
                Expected(name, v[0], "ranks such as 0 or 0,2-3", err);
       },
       PASS {
         if (!s.native_ranks.empty()) Add(out, {"--native-ranks", FormatRankList(s.native_ranks)});
         (void)given;
       },
       true},
      {"--app-sizes", "", "LIST", 1, Scope::kShim,
       "the rank counts of the programs of an MPMD job, in rank order\n"
       "(each program's ranks get a communicator, id 1)",
       SET {
         UNUSED;
         s->app_sizes.clear();
         std::string_view rest = v[0];
         while (true) {
           size_t comma = rest.find(',');
           int64_t n;
           if (!ParseCount(rest.substr(0, comma), 100000000, &n) || n == 0) {
             return Expected(name, v[0], "rank counts such as 1,8", err);
           }
           s->app_sizes.push_back(static_cast<int>(n));
           if (comma == std::string_view::npos) return true;
           rest = rest.substr(comma + 1);
         }
       },
       PASS {
         std::string list;
         for (int n : s.app_sizes) list += (list.empty() ? "" : ",") + std::to_string(n);
         if (!list.empty()) Add(out, {"--app-sizes", list});
         (void)given;
       },
       true},
      {"--tasks", "", "FILE", 1, Scope::kBoth,
       "a task farm: every line of FILE (not empty, not a #\n"
       "comment) is a task. Without COMMAND each runs as\n"
       "`/bin/sh -c LINE` on whichever rank is free; with\n"
       "COMMAND, each rank runs COMMAND once and it asks for\n"
       "lines with `@mpi task` (keep-alive workers). #BARRIER\n"
       "and `#TASK NAME after A,B` order them (docs/tasks.md)",
       SET {
         UNUSED;
         if (v[0].empty()) return Expected(name, v[0], "a task file", err);
         s->tasks_file.assign(v[0]);
         return true;
       },
       PASS {
         if (!s.tasks_file.empty()) Add(out, {"--tasks", s.tasks_file});
         (void)given;
       },
       true},
      {"--retries", "", "K", 1, Scope::kBoth,
       "run a failed task again, up to K more times (on any rank)",
       SET {
         UNUSED;
         int64_t n;
         if (!ParseCount(v[0], 1000000, &n)) return Expected(name, v[0], "a count >= 0", err);
         s->retries = static_cast<int>(n);
         return true;
       },
       PASS {
         if (s.retries > 0) Add(out, {"--retries", std::to_string(s.retries)});
         (void)given;
       },
       true},
      {"--joblog", "", "FILE", 1, Scope::kBoth,
       "write GNU parallel's joblog of the tasks to FILE: one\n"
       "line per attempt, written as it ends",
       SET {
         UNUSED;
         if (v[0].empty()) return Expected(name, v[0], "a file", err);
         s->joblog.assign(v[0]);
         return true;
       },
       PASS {
         if (!s.joblog.empty()) Add(out, {"--joblog", s.joblog});
         (void)given;
       },
       true},
      {"--status", "", "FILE", 1, Scope::kBoth,
       "keep the farm's state in FILE as one line of JSON\n"
       "(tasks, succeeded, failed, running, rate, eta, done),\n"
       "rewritten twice a second, for other tools to read",
       SET {
         UNUSED;
         if (v[0].empty()) return Expected(name, v[0], "a file", err);
         s->status_file.assign(v[0]);
         return true;
       },
       PASS {
         if (!s.status_file.empty()) Add(out, {"--status", s.status_file});
         (void)given;
       },
       true},
      {"--resume", "", "", 0, Scope::kBoth,
       "with --joblog: leave out the tasks the joblog shows as\n"
       "run (a killed or requeued job goes on where it stopped)",
       SET {
         UNUSED;
         s->resume = 1;
         return true;
       },
       PASS {
         if (s.resume == 1) Add(out, {"--resume"});
         (void)given;
       },
       true},
      {"--resume-failed", "", "", 0, Scope::kBoth,
       "with --joblog: leave out only the tasks that succeeded",
       SET {
         UNUSED;
         s->resume = 2;
         return true;
       },
       PASS {
         if (s.resume == 2) Add(out, {"--resume-failed"});
         (void)given;
       },
       true},
      {"--trace", "", "FILE", 1, Scope::kBoth,
       "write every request of every rank, with its start and\n"
       "duration, to FILE in the Chrome trace-event format\n"
       "(open it in https://ui.perfetto.dev); FILE's directory\n"
       "must be shared with every node (a shim alone writes\n"
       "FILE.rank<N>)",
       SET {
         UNUSED;
         if (v[0].empty()) {
           *err = "--trace needs a file name";
           return false;
         }
         s->trace = v[0];
         return true;
       },
       PASS {
         if (s.trace.empty()) return;
         char t0[32];
         std::snprintf(t0, sizeof(t0), "%.6f", s.trace_t0);
         Add(out, {"--trace", s.trace, "--trace-t0", t0});
         (void)given;
       },
       true,
       "write each request of this rank as a trace event to\n"
       "FILE.rank<N> (stdmpirun merges them into FILE)"},
      {"--summary", "", "", 0, Scope::kLauncher,
       "after the job, a table on stderr: each rank's host, its\n"
       "program's wall and CPU time and peak memory, requests,\n"
       "bytes sent and received, time waiting in MPI, exit\n"
       "status; e.g. stdmpirun --summary -n 4 python3 pi.py",
       LaunchFlag<&LaunchOptions::summary>,
       nullptr, false},
      {"--profile", "", "", 0, Scope::kLauncher,
       "after the job, on stderr, as mpiP does: each rank's time\n"
       "in MPI and computing, time per verb and rank (count,\n"
       "total, mean, max), and the most imbalanced collectives\n"
       "(how far apart the ranks arrived, which came last);\n"
       "e.g. stdmpirun --profile -n 8 Rscript fit.R",
       LaunchFlag<&LaunchOptions::profile>,
       nullptr, false},
      {"--report", "", "FILE", 1, Scope::kLauncher,
       "write FILE (HTML), one page that any browser opens\n"
       "without a network: each rank's timeline (computing or\n"
       "waiting in MPI), time per verb, the bytes each rank sent\n"
       "each other, imbalance per collective, the summary;\n"
       "e.g. stdmpirun --report job.html -n 4 python3 pi.py",
       SET {
         UNUSED;
         if (v[0].empty()) return Expected(name, v[0], "a file name such as job.html", err);
         l->report_file = v[0];
         return true;
       },
       nullptr, false},
      // --- the shim's own ------------------------------------------------------
      {"--trace-t0", "", "SECONDS", 1, Scope::kShim,
       "the job's start (epoch seconds) for the trace's times",
       SET {
         UNUSED;
         char* end = nullptr;
         s->trace_t0 = strtod(v[0].c_str(), &end);
         return (!v[0].empty() && *end == '\0' && s->trace_t0 >= 0) ||
                Expected(name, v[0], "seconds since the epoch", err);
       },
       nullptr, false},
      {"--rank-summary", "", "PREFIX", 1, Scope::kShim,
       "write this rank's summary (host, the program's time and\n"
       "memory, requests, bytes, time in MPI, exit status) as\n"
       "the last line of PREFIX.rank<N>: the --trace part when\n"
       "there is one (stdmpirun --summary, --profile, --report)",
       SET {
         UNUSED;
         if (v[0].empty()) return Expected(name, v[0], "a file name prefix", err);
         s->rank_summary = v[0];
         return true;
       },
       PASS {
         if (s.rank_summary.empty()) return;
         Add(out, {"--rank-summary", s.rank_summary});
         if (s.trace.empty()) {
           char t0[32];
           std::snprintf(t0, sizeof(t0), "%.6f", s.trace_t0);
           Add(out, {"--trace-t0", t0});
         }
         (void)given;
       },
       true},
      {"--start-early", "", "", 0, Scope::kShim,
       "start COMMAND before MPI_Init, placed by mpirun's\n"
       "OMPI_COMM_WORLD_LOCAL_RANK/_SIZE (only right when\n"
       "mpirun binds nothing: --bind-to none)",
       ShimFlag<&ShimOptions::start_early>,
       nullptr, false},
      {"--apps", "", "SPEC", 1, Scope::kShim,
       "several programs, for launchers that start one command\n"
       "everywhere (srun): RANKS:WORDS[:native],... e.g.\n"
       "--apps 1:1:native,4:2 -- ./solver python3 w.py runs\n"
       "./solver on rank 0 (exec'd as is, an MPI program) and\n"
       "\"python3 w.py\" under the shim on ranks 1-4",
       SET { UNUSED; return SetApps(v, s, err); },
       nullptr, false},
      // --- stdmpirun's own -----------------------------------------------------
      {"-n, -np, --np", "--n", "N", 1, Scope::kLauncher,
       "ranks for the command that follows (default: one per\n"
       "core of this machine; with a hostfile, its slots)",
       nullptr, nullptr, false},
      {":", "", "", 0, Scope::kLauncher,
       "separates the commands of a multi-program job; each\n"
       "gets its own -n, ranks are numbered in order",
       nullptr, nullptr, false},
      {"--native", "", "", 0, Scope::kLauncher,
       "the command that follows is an MPI program of its own\n"
       "(C, Fortran, mpi4py...): mpirun starts it as is and it\n"
       "talks to the other ranks with plain MPI calls, e.g.\n"
       "stdmpirun -n 1 --native ./solver : -n 8 python3 w.py",
       nullptr, nullptr, false},
      {"--timeout", "", "SECONDS", 1, Scope::kLauncher,
       "when the job runs longer: print what every rank is\n"
       "waiting in, then end it (exit status 124)",
       SET {
         UNUSED;
         return ParseSeconds(v[0], 1e9, &l->timeout) || Expected(name, v[0], "seconds > 0", err);
       },
       nullptr, false},
      {"--launcher", "", "WHICH", 1, Scope::kLauncher,
       "auto (the default), mpirun or srun",
       SET {
         UNUSED;
         if (v[0] == "auto") {
           l->launcher = LauncherChoice::kAuto;
         } else if (v[0] == "mpirun") {
           l->launcher = LauncherChoice::kMpirun;
         } else if (v[0] == "srun") {
           l->launcher = LauncherChoice::kSrun;
         } else {
           return Expected(name, v[0], "auto, mpirun or srun", err);
         }
         return true;
       },
       nullptr, false},
      {"--hostfile", "--machinefile", "FILE", 1, Scope::kLauncher,
       "run on the hosts listed in FILE (Open MPI format:\n"
       "\"node1 slots=4\" per line); mpirun starts remote ranks\n"
       "over ssh (or OMPI_MCA_plm_rsh_agent)",
       LaunchString<&LaunchOptions::hostfile>,
       nullptr, false},
      {"--host", "-H", "LIST", 1, Scope::kLauncher,
       "run on these hosts, e.g. node1:4,node2:4",
       LaunchString<&LaunchOptions::host>,
       nullptr, false},
      {"--oversubscribe", "", "", 0, Scope::kLauncher,
       "allow more ranks than cores without a warning (stdmpirun\n"
       "allows it anyway on this machine, with a warning)",
       LaunchFlag<&LaunchOptions::oversubscribe>,
       nullptr, false},
      {"--mca", "", "KEY VALUE", 2, Scope::kLauncher,
       "set an Open MPI parameter, e.g. --mca btl tcp,self",
       SET { UNUSED; l->mca.emplace_back(v[0], v[1]); return true; },
       nullptr, false},
      {"-x", "", "NAME[=VALUE]", 1, Scope::kLauncher,
       "export an environment variable to ranks on other hosts",
       LaunchList<&LaunchOptions::exports>,
       nullptr, false},
      {"--launcher-arg", "--mpirun-arg", "ARG", 1, Scope::kLauncher,
       "pass ARG to mpirun or srun unchanged (repeat for\n"
       "several; --mpirun-arg is the same)",
       LaunchList<&LaunchOptions::launcher_args>,
       nullptr, false},
      {"--dry-run", "", "", 0, Scope::kLauncher,
       "print the command stdmpirun would run, and exit",
       LaunchFlag<&LaunchOptions::dry_run>,
       nullptr, false},
      {"--pack", "", "LAYER.tar[.gz]", 1, Scope::kLauncher,
       "with --image and -n 1: keep what the program writes\n"
       "into the image (apt, pip, files) and pack it as a\n"
       "layer that records its base; later jobs run with\n"
       "--image ROOT,LAYER.tar. E.g.\n"
       "stdmpirun --image base.tar --pack mine.tar -n 1 \\\n"
       "  sh -c 'pip install --user numpy'",
       LaunchString<&LaunchOptions::pack>,
       nullptr, false},
      // Read before the table by both parsers (it needs no command).
      {"-h, --help", "", "", 0, Scope::kBoth, "this text",
       LaunchFlag<&LaunchOptions::help>,
       nullptr, false},
      {"-V, --version", "", "", 0, Scope::kLauncher, "the version",
       LaunchFlag<&LaunchOptions::version>,
       nullptr, false},
  };
}
// clang-format on

#undef SET
#undef PASS
#undef UNUSED

// Calls f(name) for each name in a ", "-separated list.
template <typename F>
bool AnyName(const char* list, F f) {
  std::string_view s(list);
  while (!s.empty()) {
    size_t comma = s.find(", ");
    if (f(s.substr(0, comma))) return true;
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 2);
  }
  return false;
}

}  // namespace

std::string_view CanonicalName(const OptionSpec& o) {
  std::string_view s(o.names);
  size_t comma = s.rfind(", ");
  return comma == std::string_view::npos ? s : s.substr(comma + 2);
}

const std::vector<OptionSpec>& OptionTable() {
  static const std::vector<OptionSpec> table = MakeTable();
  return table;
}

const OptionSpec* FindOption(std::string_view name, Scope who) {
  for (const OptionSpec& o : OptionTable()) {
    if ((static_cast<int>(o.scope) & static_cast<int>(who)) == 0) continue;
    auto is = [name](std::string_view n) { return n == name; };
    if (AnyName(o.names, is) || (*o.aliases != '\0' && AnyName(o.aliases, is))) return &o;
  }
  return nullptr;
}

bool TakeOption(const std::vector<std::string>& args, size_t* i, Scope who, LaunchOptions* l,
                ShimOptions* s, std::string* err, bool* unknown) {
  const std::string& a = args[*i];
  // "--name=value" (only for "--" names: "-x=1" is the value of -x... as mpirun has it).
  size_t eq = a.find('=');
  const bool inline_value = a.size() > 2 && a[0] == '-' && a[1] == '-' && eq != std::string::npos;
  const std::string name = inline_value ? a.substr(0, eq) : a;
  const OptionSpec* o = FindOption(name, who);
  *unknown = o == nullptr || o->set == nullptr;
  if (*unknown) return false;
  std::string values[2];
  if (o->nargs == 2 && (inline_value || *i + 2 >= args.size())) {
    // "--mca needs a KEY and a VALUE, e.g. --mca btl tcp,self"
    std::string_view arg(o->arg), help(o->help);
    size_t sp = arg.find(' '), eg = help.find("e.g. ");
    *err = name + " needs a " + std::string(arg.substr(0, sp)) + " and a " +
           std::string(arg.substr(sp + 1));
    if (eg != std::string_view::npos) *err += ", " + std::string(help.substr(eg));
    return false;
  }
  if (inline_value && o->nargs == 0) {
    *err = name + " takes no value";
    return false;
  }
  if (inline_value) {
    values[0] = a.substr(eq + 1);
  } else {
    for (int k = 0; k < o->nargs; ++k) {
      if (*i + 1 >= args.size()) {
        *err = name + " needs a value";
        return false;
      }
      values[k] = args[++*i];
    }
  }
  if (!o->set(name, values, l, s, err)) return false;
  if (l != nullptr) {
    const size_t row = static_cast<size_t>(o - OptionTable().data());
    l->given.resize(OptionTable().size());
    l->given[row] = o->nargs == 0 ? name : values[0];
  }
  ++*i;
  return true;
}

std::vector<std::string> ShimArgsFor(const LaunchOptions& l, const ShimOptions& s) {
  std::vector<std::string> out;
  const std::vector<OptionSpec>& table = OptionTable();
  for (size_t row = 0; row < table.size(); ++row) {
    const OptionSpec& o = table[row];
    if (!o.passed_on) continue;
    const std::string& given = row < l.given.size() ? l.given[row] : std::string();
    if (o.pass_on != nullptr) {
      o.pass_on(s, given, &out);
    } else if (!given.empty()) {
      out.emplace_back(CanonicalName(o));
      if (o.nargs == 1) out.push_back(given);
    }
  }
  return out;
}

std::string OptionHelp(const OptionSpec& o, Scope who) {
  std::string head = std::string("  ") + o.names;
  if (*o.arg != '\0') head += std::string(" ") + o.arg;
  std::string out;
  std::string_view help(who == Scope::kShim && o.shim_help != nullptr ? o.shim_help : o.help);
  bool first = true;
  const std::string indent(24, ' ');
  while (!help.empty()) {
    size_t nl = help.find('\n');
    std::string_view line = help.substr(0, nl);
    if (first && head.size() <= 22) {
      out += head + std::string(24 - head.size(), ' ');
    } else {
      if (first) out += head + "\n";
      out += indent;
    }
    out.append(line);
    out += "\n";
    first = false;
    if (nl == std::string_view::npos) break;
    help.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace stdmpi
