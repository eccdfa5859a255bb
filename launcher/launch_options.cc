#include "launch_options.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "numbers.h"
#include "options.h"

namespace stdmpi {

const char* LaunchUsage() {
  return R"(usage: stdmpirun [OPTIONS] [-n N] COMMAND [ARGS...] [: -n M COMMAND2 [ARGS...]]...

Runs N copies of COMMAND as the ranks of one MPI job. Each rank is a program
that prints requests such as "@mpi allreduce sum 0.785" on stdout and reads the
answer on stdin; every other line it prints is ordinary output. Any language
that can print a line and read a line works (see docs/protocol.md).

examples:
  stdmpirun -n 4 python3 examples/pi.py 1e8      # 4 ranks of a Python script
  stdmpirun python3 pi.py                        # one rank per core
  stdmpirun -n 1 python3 master.py : -n 8 Rscript worker.R   # mixed languages
  stdmpirun --tag-output -n 2 bash -c 'echo hello'           # "[0] hello", "[1] hello"
  stdmpirun --dry-run -n 4 python3 pi.py         # show the mpirun command only

ranks:
  -n, -np, --np N       ranks for the command that follows (default: one per
                        core of this machine; with a hostfile, its slots)
  :                     separates the commands of a multi-program job; each
                        gets its own -n, ranks are numbered in order
  --native              the command that follows is an MPI program of its own
                        (C, Fortran, mpi4py...): mpirun starts it as is and it
                        talks to the other ranks with plain MPI calls, e.g.
                        stdmpirun -n 1 --native ./solver : -n 8 python3 w.py

output:
  --tag-output          prefix every line a rank prints with "[RANK] "
  --line-buffered       make each program's C stdio (and gfortran) output
                        line-buffered, for programs that print requests without
                        flushing (stdmpi does this for NCL by itself)
  -q, --quiet           no warnings from stdmpirun itself
  The ranks on this machine send their output to stdmpirun, which writes it
  line by line: lines of different ranks never cut into each other. Ranks on
  other hosts print through mpirun or srun, which may cut a long burst of
  output mid-line. STDMPI_MERGE_OUTPUT=0 sends all of it through the launcher.

hangs:
  --timeout SECONDS     when the job runs longer: print what every rank is
                        waiting in, then end it (exit status 124)
  A report without ending the job: send stdmpirun SIGQUIT (Ctrl-\) or
  SIGUSR1. Each rank prints one line, e.g.
    stdmpi: rank 1 (python3 w.py): waiting in recv from rank 0 tag 5 for 12.3 s
  A wait that can never end (the rank waited for has exited, or closed its
  stdout) fails at once, naming both ranks.
  --trace FILE          write every request of every rank, with its start and
                        duration, to FILE in the Chrome trace-event format
                        (open it in https://ui.perfetto.dev); FILE's directory
                        must be shared with every node

limits:
  --max-line SIZE       longest line a rank may print (default 64M); a longer
                        line ends the job with a message
  --max-message SIZE    largest message or byte payload (default 1G)
  (SIZE: bytes, or with K, M, G as in 64K, 16M, 1G)

batch systems and hosts:
  Inside a SLURM job (SLURM_JOB_ID is set) ranks start with
  "srun --mpi=pmix", -n defaulting to the job's task count; inside a PBS job
  (PBS_NODEFILE) or an LSF job (LSB_DJOB_HOSTFILE, LSB_MCPU_HOSTS) with
  mpirun on the job's hosts, -n defaulting to its slots; elsewhere with
  mpirun on this machine. So in a job script "stdmpirun python3 pi.py" is all
  it takes; --dry-run shows what was decided.
  --launcher WHICH      auto (the default), mpirun or srun
  --hostfile FILE       run on the hosts listed in FILE (Open MPI format:
                        "node1 slots=4" per line); mpirun starts remote ranks
                        over ssh (or OMPI_MCA_plm_rsh_agent)
  --host LIST           run on these hosts, e.g. node1:4,node2:4
  --oversubscribe       allow more ranks than cores without a warning (stdmpirun
                        allows it anyway on this machine, with a warning)
  --mca KEY VALUE       set an Open MPI parameter, e.g. --mca btl tcp,self
  -x NAME[=VALUE]       export an environment variable to ranks on other hosts
  --launcher-arg ARG    pass ARG to mpirun or srun unchanged (repeat for
                        several; --mpirun-arg is the same)
  --dry-run             print the command stdmpirun would run, and exit

placement (each rank and its program are bound to their own cores):
  --bind-to WHAT        core (the default when the ranks of a node fit its
                        cores; no binding, with a notice, when they do not),
                        l3cache, numa, package (the whole cache, NUMA node or
                        package holding the rank's cores) or none
  --cpus-per-rank N     N cores per rank (default 1): for multithreaded
                        programs; -n defaults to cores / N. Each program gets
                        OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS
                        (...) = its cores, unless you set them
  --report-bindings     print each rank's cores: "stdmpi: rank 0 on node1:
                        core 0 (PU 0), NUMA 0: [B/./././././././.]"
  Binding stays within the cpus the process was given (taskset, cgroups,
  SLURM); where the launcher already placed each rank (srun --cpu-bind, a
  --launcher-arg=--bind-to), that placement is kept. On machines with several
  NUMA nodes, memory is bound to the rank's nodes.

isolation:
  --isolate none|host   host: each rank's program runs in a light container
                        of its own: new mount, PID, IPC, UTS and network
                        namespaces (only loopback: a rank talks to the others
                        through stdmpi), /usr and /etc read-only, a private
                        /tmp and /proc, the working directory shared and
                        writable; works as root and, through a user
                        namespace, as a normal user. Default: none
  --net                 with --isolate host: keep the host's network
  --image ROOT[,LAYER...]
                        run each program in this root filesystem instead of
                        the host's (as --isolate host otherwise): ROOT and
                        LAYERs are directories or tar archives (unpacked once
                        into ~/.cache/stdmpi/images), overlaid in order with a
                        throwaway layer per rank on top; the working
                        directory is there at the same path, writable
  --bind SRC[:DST]      with --image: show SRC at DST (default: the same path)
  --mem-per-rank SIZE   each rank's program may use SIZE of memory (e.g. 2G);
                        over it, it is killed and the job ends saying so
  --time-limit SECONDS  end the job when a rank's program runs longer
  --max-procs N         processes and threads each rank's program may have
                        (limits use a cgroup of the rank's own where one can
                        be made: cgroup v2 with a delegated subtree, or v1 as
                        root; else rlimits: address space and the user's
                        process count). They work with or without --isolate
  --pack LAYER.tar[.gz] with --image and -n 1: keep what the program writes
                        into the image (apt, pip, files) and pack it as a
                        layer that records its base; later jobs run with
                        --image ROOT,LAYER.tar. E.g.
                        stdmpirun --image base.tar --pack mine.tar -n 1 \
                          sh -c 'pip install --user numpy'

tuning:
  --spin-us N           microseconds a waiting rank polls MPI before it sleeps
                        (default: 200 when ranks fit the cores, else 0)
  Under mpirun each program starts while its rank's MPI starts, so that the
  two start-ups overlap (about 20 ms saved for Python and for R where a core
  is free for it);
  STDMPI_START_EARLY=0 in the environment starts programs after MPI instead.
  Under srun, or with a launcher binding of your own, they always start after.

  -h, --help            this text
  -V, --version         the version

exit status: 0 when every rank's program exited 0; else the status of the
first program that failed (128+N if killed by signal N), the CODE of
"@mpi abort CODE", 65 for a malformed request, 126/127 when a command cannot
be run or is not found, 64 for a bad stdmpirun command line.

As root, stdmpirun adds what Open MPI needs to run (--allow-run-as-root). On
one machine it selects Open MPI's ob1 transport, which starts ~200 ms faster
(unless you set a pml with --mca pml or OMPI_MCA_pml).
)";
}

namespace {

bool ParseNp(const std::string& v, int* np, std::string* err) {
  int64_t n;
  if (!ParseCount(v, 1 << 24, &n) || n < 1) {
    *err = "-n " + v + ": expected a number of ranks >= 1";
    return false;
  }
  *np = static_cast<int>(n);
  return true;
}

}  // namespace

bool ParseLaunchArgs(const std::vector<std::string>& args, LaunchOptions* opts, std::string* err) {
  size_t i = 0;
  AppContext app;
  bool first = true;
  // Splits "--opt=value" into name and value.
  auto take = [&](std::string* name, std::string* value, bool* inline_value) {
    const std::string& a = args[i];
    size_t eq = a.find('=');
    *inline_value = a.size() > 2 && a[0] == '-' && a[1] == '-' && eq != std::string::npos;
    *name = *inline_value ? a.substr(0, eq) : a;
    if (*inline_value) *value = a.substr(eq + 1);
  };
  auto need = [&](const std::string& name, std::string* value, bool inline_value) {
    if (inline_value) return true;
    if (i + 1 >= args.size()) {
      *err = name + " needs a value";
      return false;
    }
    *value = args[++i];
    return true;
  };
  while (i < args.size()) {
    // Options of this app context (all options before the first command).
    for (; i < args.size(); ++i) {
      std::string name, value;
      bool inl = false;
      take(&name, &value, &inl);
      if (name == "--") {
        ++i;
        break;
      }
      if (name.empty() || name[0] != '-' || name == "-") break;  // the command
      if (name == "-n" || name == "-np" || name == "--np" || name == "--n") {
        if (!need(name, &value, inl) || !ParseNp(value, &app.np, err)) return false;
        continue;
      }
      if (name.size() > 2 && name[0] == '-' && name[1] == 'n' && name[2] >= '0' &&
          name[2] <= '9') {  // -n4
        if (!ParseNp(name.substr(2), &app.np, err)) return false;
        continue;
      }
      if (name == "--native") {
        app.native = true;
        continue;
      }
      if (!first) {
        *err = "option " + name +
               " must come before the first command (after \":\" only -n and --native are "
               "allowed)";
        return false;
      }
      if (name == "-h" || name == "--help") {
        opts->help = true;
        return true;
      } else if (name == "-V" || name == "--version") {
        opts->version = true;
        return true;
      } else if (name == "--dry-run") {
        opts->dry_run = true;
      } else if (name == "--tag-output") {
        opts->tag_output = true;
      } else if (name == "--line-buffered") {
        opts->line_buffered = true;
      } else if (name == "--oversubscribe") {
        opts->oversubscribe = true;
      } else if (name == "-q" || name == "--quiet") {
        opts->quiet = true;
      } else if (name == "--max-line" || name == "--max-message") {
        if (!need(name, &value, inl)) return false;
        int64_t n;
        int64_t least = name == "--max-line" ? kSmallestMaxLine : 1;
        if (!ParseByteSize(value, &n) || n < least || n > kLargestMessage) {
          *err = name + " " + value + ": expected a size from " + std::to_string(least) +
                 (least == 1 ? " byte" : " bytes") + " to 2G-1 (e.g. 64M)";
          return false;
        }
        (name == "--max-line" ? opts->max_line : opts->max_message) = n;
      } else if (name == "--bind-to") {
        if (!need(name, &value, inl)) return false;
        BindTo b;
        if (!ParseBindTo(value, &b)) {
          *err = "--bind-to " + value + ": expected core, l3cache, numa, package or none";
          return false;
        }
        opts->bind_to = BindToName(b);
      } else if (name == "--cpus-per-rank" || name == "--cpus-per-proc") {
        if (!need(name, &value, inl)) return false;
        int64_t n;
        if (!ParseCount(value, 1 << 16, &n) || n < 1) {
          *err = name + " " + value + ": expected a number of cores >= 1";
          return false;
        }
        opts->cpus_per_rank = static_cast<int>(n);
      } else if (name == "--timeout") {
        if (!need(name, &value, inl)) return false;
        char* end = nullptr;
        opts->timeout = strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || !(opts->timeout > 0) || opts->timeout > 1e9) {
          *err = "--timeout " + value + ": expected seconds > 0";
          return false;
        }
      } else if (name == "--trace") {
        if (!need(name, &value, inl)) return false;
        if (value.empty()) {
          *err = "--trace needs a file name";
          return false;
        }
        opts->trace = value;
      } else if (name == "--report-bindings") {
        opts->report_bindings = true;
      } else if (name == "--isolate") {
        if (!need(name, &value, inl)) return false;
        if (value != "none" && value != "host") {
          *err = "--isolate " + value + ": expected none or host";
          return false;
        }
        opts->isolate = value == "host";
      } else if (name == "--net") {
        opts->net = true;
      } else if (name == "--image") {
        if (!need(name, &value, inl)) return false;
        std::vector<std::string> parts;
        if (!ParseImageList(value, &parts, err)) return false;
        opts->image = value;
        opts->isolate = true;
      } else if (name == "--mem-per-rank" || name == "--time-limit" || name == "--max-procs") {
        if (!need(name, &value, inl)) return false;
        // The shim's own parser checks it, here already for a clear early error.
        ShimOptions probe;
        bool help = false;
        if (!ParseShimArgs({name, value, "--", "x"}, &probe, &help, err)) return false;
        opts->limits.emplace_back(name, value);
      } else if (name == "--pack") {
        if (!need(name, &value, inl)) return false;
        opts->pack = value;
      } else if (name == "--bind") {
        if (!need(name, &value, inl)) return false;
        std::pair<std::string, std::string> b;
        if (!ParseBind(value, &b, err)) return false;
        opts->binds.push_back(value);
      } else if (name == "--spin-us") {
        if (!need(name, &value, inl)) return false;
        int64_t n;
        if (!ParseCount(value, 10000000, &n)) {
          *err = "--spin-us " + value + ": expected microseconds (0..10000000)";
          return false;
        }
        opts->spin_us = static_cast<int>(n);
      } else if (name == "--hostfile" || name == "--machinefile") {
        if (!need(name, &value, inl)) return false;
        opts->hostfile = value;
      } else if (name == "--host" || name == "-H") {
        if (!need(name, &value, inl)) return false;
        opts->host = value;
      } else if (name == "--mca") {
        if (inl || i + 2 >= args.size()) {
          *err = "--mca needs a KEY and a VALUE, e.g. --mca btl tcp,self";
          return false;
        }
        opts->mca.emplace_back(args[i + 1], args[i + 2]);
        i += 2;
      } else if (name == "-x") {
        if (!need(name, &value, inl)) return false;
        opts->exports.push_back(value);
      } else if (name == "--launcher-arg" || name == "--mpirun-arg") {
        if (!need(name, &value, inl)) return false;
        opts->launcher_args.push_back(value);
      } else if (name == "--launcher") {
        if (!need(name, &value, inl)) return false;
        if (value == "auto") {
          opts->launcher = LauncherChoice::kAuto;
        } else if (value == "mpirun") {
          opts->launcher = LauncherChoice::kMpirun;
        } else if (value == "srun") {
          opts->launcher = LauncherChoice::kSrun;
        } else {
          *err = "--launcher " + value + ": expected auto, mpirun or srun";
          return false;
        }
      } else {
        *err = "unknown option " + name +
               " (pass options to mpirun or srun with --launcher-arg, see --help)";
        return false;
      }
    }
    // The command, up to a lone ":".
    for (; i < args.size() && args[i] != ":"; ++i) app.command.push_back(args[i]);
    if (app.command.empty()) {
      *err = first ? "no command given (try: stdmpirun -n 2 python3 script.py)"
                   : "no command after \":\"";
      return false;
    }
    opts->apps.push_back(std::move(app));
    app = AppContext{};
    first = false;
    if (i < args.size()) ++i;  // skip ":"
    if (i == args.size() && args.back() == ":") {
      *err = "no command after \":\"";
      return false;
    }
  }
  if (opts->apps.empty()) {
    *err = "no command given (try: stdmpirun -n 2 python3 script.py)";
    return false;
  }
  bool any_native = false;
  for (const AppContext& a : opts->apps) any_native |= a.native;
  if (opts->apps.size() > 1 || any_native) {
    for (const AppContext& a : opts->apps) {
      if (a.np == 0) {
        *err = std::string(any_native ? "a job with --native programs"
                                      : "every command of a multi-program job") +
               " needs -n for each command (" + DescribeCommand(a.command, 40) + " has none)";
        return false;
      }
    }
  }
  return true;
}

namespace {

// The shim's own options, the same for every rank.
std::vector<std::string> ShimOptionsFor(const LaunchOptions& o,
                                        const std::vector<int>& native_ranks, bool quiet) {
  std::vector<std::string> s;
  if (!o.bind_to.empty()) s.insert(s.end(), {"--bind-to", o.bind_to});
  if (o.cpus_per_rank > 0) {
    s.insert(s.end(), {"--cpus-per-rank", std::to_string(o.cpus_per_rank)});
  }
  if (o.report_bindings) s.push_back("--report-bindings");
  for (const auto& [k, v] : o.limits) s.insert(s.end(), {k, v});
  if (!o.image.empty()) {
    s.insert(s.end(), {"--image", o.image});
    for (const std::string& b : o.binds) s.insert(s.end(), {"--bind", b});
    if (!o.upper.empty()) s.insert(s.end(), {"--upper", o.upper});
  } else if (o.isolate) {
    s.insert(s.end(), {"--isolate", "host"});
  }
  if (o.isolate && o.net) s.push_back("--net");
  if (quiet) s.push_back("--quiet");
  if (o.tag_output) s.push_back("--tag-output");
  if (o.line_buffered) s.push_back("--line-buffered");
  if (o.max_line > 0) s.insert(s.end(), {"--max-line", std::to_string(o.max_line)});
  if (o.max_message > 0) s.insert(s.end(), {"--max-message", std::to_string(o.max_message)});
  if (o.spin_us >= 0) s.insert(s.end(), {"--spin-us", std::to_string(o.spin_us)});
  if (!native_ranks.empty()) s.insert(s.end(), {"--native-ranks", FormatRankList(native_ranks)});
  if (!o.trace.empty()) {
    char t0[32];
    std::snprintf(t0, sizeof(t0), "%.6f", o.trace_t0);
    s.insert(s.end(), {"--trace", o.trace, "--trace-t0", t0});
  }
  return s;
}

std::string Plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

bool BuildPlan(const LaunchOptions& o, const Facts& f, Plan* plan, std::string* err) {
  *plan = Plan{};
  const Scheduler& sched = f.scheduler;
  const bool user_hosts = !o.hostfile.empty() || !o.host.empty();
  const bool in_slurm = sched.kind == Scheduler::Kind::kSlurm;

  // Which launcher: srun inside a SLURM allocation (unless the user named
  // hosts), mpirun everywhere else; --launcher overrides.
  bool use_srun = false;
  if (o.launcher == LauncherChoice::kSrun) {
    if (f.srun.empty()) {
      *err = "--launcher srun: srun not found on PATH";
      return false;
    }
    if (user_hosts) {
      *err = "--hostfile and --host are mpirun options; srun takes its hosts from the allocation";
      return false;
    }
    use_srun = true;
  } else if (o.launcher == LauncherChoice::kAuto && in_slurm && !user_hosts && !f.srun.empty()) {
    use_srun = true;
  }
  if (!use_srun && f.mpirun.empty()) {
    *err = in_slurm ? "mpirun not found on PATH and srun is not usable: install Open MPI "
                      "(Debian: apt-get install openmpi-bin)"
                    : "mpirun not found on PATH: install Open MPI (Debian: apt-get install "
                      "openmpi-bin)";
    return false;
  }
  plan->srun = use_srun;

  // Where the ranks run, and how many there are by default.
  std::string hostfile = o.hostfile, host = o.host;
  bool from_allocation = false;
  if (!user_hosts && sched.kind != Scheduler::Kind::kNone) {
    bool all_counted = true;
    for (const AppContext& app : o.apps) all_counted = all_counted && app.np > 0;
    if (sched.slots <= 0 && !all_counted) {
      *err = std::string("inside a ") + sched.name() + " job but " + sched.problem +
             "; give -n N (and --hostfile FILE for mpirun)";
      return false;
    }
    from_allocation = true;
    if (sched.kind != Scheduler::Kind::kSlurm && !use_srun) host = sched.host_list;
  }
  const bool single_node = from_allocation ? sched.nodes == 1 : !user_hosts;
  plan->local = single_node && (!from_allocation || in_slurm);
  // The default rank count: the allocation's tasks, else this machine's cores,
  // else (a hostfile) whatever mpirun finds there.
  const int cpr = o.cpus_per_rank > 0 ? o.cpus_per_rank : 1;
  int default_np = from_allocation ? sched.slots : (user_hosts ? 0 : std::max(1, f.cores / cpr));

  std::vector<int> np;
  int total = 0;
  for (const AppContext& a : o.apps) {
    int n = a.np == 0 ? default_np : a.np;
    np.push_back(n);
    total += n;
  }
  plan->total_ranks = total;  // 0 only when mpirun picks the count from the hosts
  if (!o.pack.empty() && (o.image.empty() || total != 1)) {
    *err =
        "--pack needs --image and exactly one rank (-n 1): it keeps what that rank writes "
        "into the image as a layer";
    return false;
  }

  bool user_pml = f.env_sets_pml;
  for (const auto& [k, v] : o.mca) {
    if (k == "pml") user_pml = true;
  }
  // Oversubscription is ours to judge only on this machine outside a batch job;
  // in a job the allocation and the launcher decide.
  bool oversubscribed =
      !from_allocation && !user_hosts && static_cast<int64_t>(total) * cpr > f.cores;
  if (oversubscribed && !o.oversubscribe) {
    plan->warnings.push_back(
        std::to_string(total) + " ranks" + (cpr > 1 ? " x " + std::to_string(cpr) + " cores" : "") +
        " on " + std::to_string(f.cores) + (f.cores == 1 ? " core" : " cores") +
        ": oversubscribing, ranks not bound to cores (they share cores; fine for testing, "
        "slower for real work; --oversubscribe silences this)");
  }

  // World ranks are numbered through the commands in order; the shims must
  // know which belong to native programs.
  std::vector<int> native_ranks;
  for (size_t i = 0, first = 0; i < o.apps.size(); first += static_cast<size_t>(np[i]), ++i) {
    if (!o.apps[i].native) continue;
    for (int r = 0; r < np[i]; ++r) native_ranks.push_back(static_cast<int>(first) + r);
  }
  // The shims say when a node is oversubscribed, unless stdmpirun just did.
  std::vector<std::string> shim_opts =
      ShimOptionsFor(o, native_ranks, o.quiet || oversubscribed || o.oversubscribe);
  // Whether the user gave the launcher a binding of its own.
  bool user_binding = false;
  for (const std::string& x : o.launcher_args) {
    user_binding |= x.rfind("--bind-to", 0) == 0 || x.rfind("--cpu-bind", 0) == 0 ||
                    x.rfind("--cpu_bind", 0) == 0;
  }

  std::vector<std::string>& a = plan->argv;
  if (use_srun) {
    // One step of the allocation; --mpi=pmix is the plugin Debian's Open MPI
    // works with. A failing rank ends the step; one Ctrl-C ends it too.
    a.insert(a.end(),
             {f.srun, "--mpi=pmix", "--kill-on-bad-exit=1", "--quit-on-interrupt", "--input=none"});
    if (total > 0) a.insert(a.end(), {"-n", std::to_string(total)});
    if (o.cpus_per_rank > 0) a.push_back("--cpus-per-task=" + std::to_string(o.cpus_per_rank));
    if (o.oversubscribe) a.push_back("--overcommit");
    a.insert(a.end(), o.launcher_args.begin(), o.launcher_args.end());
    // srun hands its environment to the ranks: Open MPI parameters go there.
    if (single_node && !user_pml) plan->env.emplace_back("OMPI_MCA_pml", "ob1");
    for (const auto& [k, v] : o.mca) plan->env.emplace_back("OMPI_MCA_" + k, v);
    for (const std::string& x : o.exports) {
      size_t eq = x.find('=');
      if (eq != std::string::npos) plan->env.emplace_back(x.substr(0, eq), x.substr(eq + 1));
    }
    a.push_back(f.shim);
    a.insert(a.end(), shim_opts.begin(), shim_opts.end());
    // srun runs one program for every task: with several commands, each shim
    // picks its own by rank (--apps) and execs a native program directly.
    if (o.apps.size() > 1 || !native_ranks.empty()) {
      std::string spec;
      for (size_t i = 0; i < o.apps.size(); ++i) {
        if (i > 0) spec += ',';
        spec += std::to_string(np[i]) + ":" + std::to_string(o.apps[i].command.size()) +
                (o.apps[i].native ? ":native" : "");
      }
      a.insert(a.end(), {"--apps", spec});
    }
    a.push_back("--");
    // srun would take a lone ":" for a heterogeneous-job separator: the
    // commands follow each other, and --apps counts their words.
    for (const AppContext& app : o.apps) a.insert(a.end(), app.command.begin(), app.command.end());
  } else {
    // PMIx prefers munge authentication whenever libmunge is installed (SLURM
    // brings it) and, with no munged running, retries for 2.3 s before every
    // job. mpirun's daemons and ranks all run as this user: the plain
    // peer-credential check is the right one.
    if (!f.env_sets_psec) plan->env.emplace_back("PMIX_MCA_psec", "native");
    a.push_back(f.mpirun);
    if (f.root) a.push_back("--allow-run-as-root");
    // Ranks talk to their program through stdin; the job's stdin goes nowhere.
    a.insert(a.end(), {"--stdin", "none"});
    if (oversubscribed || o.oversubscribe) a.push_back("--oversubscribe");
    // The shims bind (--bind-to): mpirun must not bind them first.
    if (!user_binding) a.insert(a.end(), {"--bind-to", "none"});
    if (single_node && !user_pml) a.insert(a.end(), {"--mca", "pml", "ob1"});
    for (const auto& [k, v] : o.mca) a.insert(a.end(), {"--mca", k, v});
    for (const std::string& x : o.exports) a.insert(a.end(), {"-x", x});
    if (!hostfile.empty()) a.insert(a.end(), {"--hostfile", hostfile});
    if (!host.empty()) a.insert(a.end(), {"--host", host});
    a.insert(a.end(), o.launcher_args.begin(), o.launcher_args.end());
    // With mpirun binding nothing, every shim of a node starts with the same
    // cores, and mpirun's variables say which local rank it is: the shims can
    // place and start their programs before MPI_Init (overlapping the two
    // start-ups). Native ranks count among mpirun's local ranks but not among
    // the shims': not then.
    bool launcher_places = user_binding;
    for (const std::string& x : o.launcher_args) {
      std::string l = x;
      for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      launcher_places |= l.find("rankfile") != std::string::npos ||
                         l.find("pe=") != std::string::npos ||
                         l.find("cpus-per-proc") != std::string::npos;
    }
    if (f.start_early && !launcher_places && native_ranks.empty()) {
      shim_opts.push_back("--start-early");
    }
    for (size_t i = 0; i < o.apps.size(); ++i) {
      if (i > 0) a.push_back(":");
      if (np[i] > 0) a.insert(a.end(), {"-n", std::to_string(np[i])});
      if (!o.apps[i].native) {
        a.push_back(f.shim);
        a.insert(a.end(), shim_opts.begin(), shim_opts.end());
        a.push_back("--");
      }
      a.insert(a.end(), o.apps[i].command.begin(), o.apps[i].command.end());
    }
  }

  std::string& s = plan->summary;
  s = std::string("launcher: ") + (use_srun ? "srun" : "mpirun") + "; ";
  if (from_allocation) {
    s += std::string("inside ") + sched.name() + " job " +
         (sched.job_id.empty() ? "(no id)" : sched.job_id);
    if (sched.slots > 0) s += ", " + Plural(sched.slots, "task", "tasks");
    if (sched.nodes > 0) s += " on " + Plural(sched.nodes, "node", "nodes");
    if (!use_srun && !sched.hostfile.empty()) s += ", hosts from " + sched.hostfile;
  } else if (user_hosts) {
    s += "on the hosts given";
  } else {
    s += "on this machine, " + Plural(f.cores, "core", "cores");
  }
  if (total > 0) s += ", " + Plural(total, "rank", "ranks");
  if (oversubscribed) s += " (oversubscribed)";
  return true;
}

std::string ShellQuote(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& s : argv) {
    if (!out.empty()) out += ' ';
    bool safe = !s.empty();
    for (char c : s) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '/' || c == ',' || c == ':' || c == '=' ||
                c == '+' || c == '@' || c == '%';
      if (!ok) safe = false;
    }
    if (safe) {
      out += s;
      continue;
    }
    out += '\'';
    for (char c : s) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    out += '\'';
  }
  return out;
}

}  // namespace stdmpi
