#include "launch_options.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "numbers.h"
#include "option_table.h"
#include "options.h"
#include "report_mark.h"

namespace stdmpi {

namespace {

// stdmpirun --help: sections of options (by name, from the option table) and
// prose (any other entry, printed as it is).
struct HelpSection {
  const char* title;
  std::vector<const char*> entries;
};

// function_lengths: table
const std::vector<HelpSection>& HelpSections() {
  static const std::vector<HelpSection> sections = {
      {"ranks", {"-n", ":", "--native"}},
      {"task farms (docs/tasks.md)",
       {"--tasks", "--retries", "--joblog", "--resume", "--resume-failed", "--status",
        "  A failing task does not end the job: it ends when every task has, with\n"
        "  status 0 if all succeeded, else the number of tasks that failed (at most\n"
        "  101, as GNU parallel), and a summary on stderr; on a terminal a live line\n"
        "  shows how far it is. In a task, STDMPI_TASK_ID\n"
        "  (from 1, in file order), STDMPI_RANK and STDMPI_TASK_ATTEMPT are set.\n"
        "    stdmpirun -n 16 --tasks regrid.txt --retries 1 --joblog regrid.log\n"
        "    stdmpirun -n 16 --tasks items.txt Rscript worker.R   # keep-alive workers\n"}},
      {"output",
       {"--tag-output", "--timestamp-output", "--output-filename", "--merge-stderr-to-stdout",
        "--line-buffered", "--quiet",
        "  The ranks on this machine send their output to stdmpirun, which writes it\n"
        "  line by line: lines of different ranks never cut into each other. Ranks on\n"
        "  other hosts print through mpirun or srun, which may cut a long burst of\n"
        "  output mid-line. STDMPI_MERGE_OUTPUT=0 sends all of it through the launcher.\n"
        "  A line's start that ends with a carriage return (a progress bar redrawing\n"
        "  its line) is shown at once. With --output-filename, ranks on other hosts\n"
        "  write their files themselves: DIR should be on a file system all hosts\n"
        "  share, as the job's directory usually is.\n"
        "    stdmpirun -n 8 --output-filename out --timestamp-output python3 run.py\n"}},
      {"hangs",
       {"--timeout",
        "  A report without ending the job: send stdmpirun SIGQUIT (Ctrl-\\) or\n"
        "  SIGUSR1. Each rank prints one line, e.g.\n"
        "    stdmpi: rank 1 (python3 w.py): waiting in recv from rank 0 tag 5 for 12.3 s\n"
        "  A wait that can never end (the rank waited for has exited, or closed its\n"
        "  stdout) fails at once, naming both ranks.\n"}},
      {"where the time went (docs/report.md)",
       {"--summary", "--profile", "--report", "--trace",
        "  From a request to its reply a rank is waiting in MPI; the rest of its\n"
        "  program's run it is computing. Each rank writes what it measured to a file\n"
        "  that stdmpirun reads after the job: in a private directory under $TMPDIR\n"
        "  when every rank runs on this machine, else in the working directory (it\n"
        "  must be shared, as a batch job's is), or next to FILE with --trace.\n"}},
      {"limits",
       {"--max-line", "--max-message",
        "  (SIZE: bytes, or with K, M, G as in 64K, 16M, 1G)\n"
        "  Each rank shares memory with its program for large arrays (the Python, C\n"
        "  and R bridges use it by themselves; docs/protocol.md, \"Arrays through\n"
        "  shared memory\"); it may grow to 4 x --max-message. STDMPI_SHM=0 in the\n"
        "  environment turns it off: every byte then goes through the pipes.\n"}},
      {"batch systems and hosts",
       {"  Inside a SLURM job (SLURM_JOB_ID is set) ranks start with\n"
        "  \"srun --mpi=pmix\", -n defaulting to the job's task count; inside a PBS job\n"
        "  (PBS_NODEFILE) or an LSF job (LSB_DJOB_HOSTFILE, LSB_MCPU_HOSTS) with\n"
        "  mpirun on the job's hosts, -n defaulting to its slots; elsewhere with\n"
        "  mpirun on this machine. So in a job script \"stdmpirun python3 pi.py\" is all\n"
        "  it takes; --dry-run shows what was decided.\n",
        "--launcher", "--hostfile", "--host", "--oversubscribe", "--mca", "-x", "--launcher-arg",
        "--dry-run"}},
      {"placement (each rank and its program are bound to their own cores)",
       {"--bind-to", "--cpus-per-rank", "--report-bindings",
        "  Binding stays within the cpus the process was given (taskset, cgroups,\n"
        "  SLURM); where the launcher already placed each rank (srun --cpu-bind, a\n"
        "  --launcher-arg=--bind-to), that placement is kept. On machines with several\n"
        "  NUMA nodes, memory is bound to the rank's nodes.\n"}},
      {"isolation",
       {"--isolate", "--net", "--image", "--bind", "--mem-per-rank", "--time-limit", "--max-procs",
        "--pack"}},
      {"defaults a site or a user sets",
       {"  stdmpirun reads /etc/stdmpi/stdmpi.conf (or $STDMPI_SYSTEM_CONF), then\n"
        "  ~/.config/stdmpi/stdmpi.conf, then $STDMPI_OPTIONS, then the command line;\n"
        "  a later one wins. The files are shaped like Open MPI's mca-params.conf:\n"
        "    isolate = host          # an option's name without its dashes\n"
        "    tag-output = true       # a flag: true or false\n"
        "    mca = btl tcp,self      # two values\n"
        "  STDMPI_OPTIONS holds options as on the command line. --dry-run says where\n"
        "  each option came from.\n"}},
      {"tuning",
       {"--spin-us",
        "  Under mpirun each program starts while its rank's MPI starts, so that the\n"
        "  two start-ups overlap (about 20 ms saved for Python and for R where a core\n"
        "  is free for it);\n"
        "  STDMPI_START_EARLY=0 in the environment starts programs after MPI instead.\n"
        "  Under srun, or with a launcher binding of your own, they always start after.\n"
        "\n",
        "--help", "--version"}},
  };
  return sections;
}

}  // namespace

const std::string& LaunchUsage() {
  static const std::string usage = [] {
    std::string u =
        R"(usage: stdmpirun [OPTIONS] [-n N] COMMAND [ARGS...] [: -n M COMMAND2 [ARGS...]]...
       stdmpirun [OPTIONS] [-n N] --tasks FILE [COMMAND [ARGS...]]

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
  stdmpirun -n 8 --tasks jobs.txt --joblog jobs.log   # a task farm of shell lines
)";
    for (const HelpSection& s : HelpSections()) {
      u += std::string("\n") + s.title + ":\n";
      for (const char* entry : s.entries) {
        const OptionSpec* o =
            entry[0] == '-' || entry[0] == ':' ? FindOption(entry, Scope::kLauncher) : nullptr;
        u += o != nullptr ? OptionHelp(*o) : entry;
      }
    }
    u += R"(
exit status: 0 when every rank's program exited 0; else the status of the
first program that failed (128+N if killed by signal N), the CODE of
"@mpi abort CODE", 65 for a malformed request, 126/127 when a command cannot
be run or is not found, 64 for a bad stdmpirun command line (or task file).
A task farm exits with the number of tasks that failed (at most 101).

As root, stdmpirun adds what Open MPI needs to run (--allow-run-as-root). On
one machine it selects Open MPI's ob1 transport, which starts ~200 ms faster
(unless you set a pml with --mca pml or OMPI_MCA_pml).
)";
    return u;
  }();
  return usage;
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

// -n N, -np N, --np=N, -n4: true if args[*i] is one (*i moves past it).
bool TakeNp(const std::vector<std::string>& args, size_t* i, AppContext* app, bool* taken,
            std::string* err) {
  const std::string& a = args[*i];
  size_t eq = a.find('=');
  const std::string name = a.compare(0, 2, "--") == 0 ? a.substr(0, eq) : a;
  *taken = true;
  if (name == "-n" || name == "-np" || name == "--np" || name == "--n") {
    if (name != a) {  // --np=N
      ++*i;
      return ParseNp(a.substr(eq + 1), &app->np, err);
    }
    if (*i + 1 >= args.size()) {
      *err = name + " needs a value";
      return false;
    }
    *i += 2;
    return ParseNp(args[*i - 1], &app->np, err);
  }
  if (a.size() > 2 && a[0] == '-' && a[1] == 'n' && a[2] >= '0' && a[2] <= '9') {
    ++*i;
    return ParseNp(a.substr(2), &app->np, err);
  }
  *taken = false;
  return true;
}

// The options before one program's command: -n and --native for it and,
// before the first command only, stdmpirun's own. Leaves *i at the command.
bool TakeAppOptions(const std::vector<std::string>& args, size_t* i, bool first, AppContext* app,
                    LaunchOptions* o, std::string* err) {
  while (*i < args.size()) {
    const std::string& a = args[*i];
    if (a == "--") {
      ++*i;
      return true;
    }
    if (a.empty() || a[0] != '-' || a == "-") return true;  // the command
    bool taken = false;
    if (!TakeNp(args, i, app, &taken, err)) return false;
    if (taken) continue;
    const std::string name = a.compare(0, 2, "--") == 0 ? a.substr(0, a.find('=')) : a;
    if (name == "--native") {
      if (a != name) {
        *err = "--native takes no value";
        return false;
      }
      app->native = true;
      ++*i;
      continue;
    }
    if (!first) {
      *err = "option " + name +
             " must come before the first command (after \":\" only -n and --native are "
             "allowed)";
      return false;
    }
    bool unknown = false;
    if (!TakeOption(args, i, Scope::kLauncher, o, &o->shim, err, &unknown)) {
      if (unknown) {
        *err = "unknown option " + name +
               " (pass options to mpirun or srun with --launcher-arg, see --help)";
      }
      return false;
    }
    if (o->help || o->version) return true;
  }
  return true;
}

}  // namespace

bool ParseLaunchArgs(const std::vector<std::string>& args, LaunchOptions* opts, std::string* err) {
  size_t i = 0;
  while (i < args.size()) {
    AppContext app;
    const bool first = opts->apps.empty();
    if (!TakeAppOptions(args, &i, first, &app, opts, err)) return false;
    if (opts->help || opts->version) return true;
    // The command, up to a lone ":".
    for (; i < args.size() && args[i] != ":"; ++i) app.command.push_back(args[i]);
    if (app.command.empty() && first && !opts->shim.tasks_file.empty() && i == args.size()) {
      // A farm of command tasks: the shims run the built-in worker (BuildPlan).
      opts->apps.push_back(std::move(app));
      break;
    }
    if (app.command.empty()) {
      *err = first ? "no command given (try: stdmpirun -n 2 python3 script.py)"
                   : "no command after \":\"";
      return false;
    }
    opts->apps.push_back(std::move(app));
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
  if (!CheckShimOptionsTogether(opts->shim, err)) return false;
  bool any_native = false;
  for (const AppContext& a : opts->apps) any_native |= a.native;
  if (!opts->shim.tasks_file.empty() && (opts->apps.size() > 1 || any_native)) {
    *err =
        "--tasks runs one command (or the task lines themselves) on every rank: it takes no "
        "\":\" and no --native";
    return false;
  }
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

std::string Plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// What BuildPlan decides before it writes the command.
struct Layout {
  bool srun = false;
  bool user_hosts = false;       // --hostfile or --host
  bool from_allocation = false;  // the hosts and default count come from a batch job
  bool single_node = false;
  std::string hostfile, host;
  std::vector<int> np;  // by program
  int total = 0;        // 0 only when mpirun picks the count from the hosts
  bool oversubscribed = false;
  bool user_pml = false;
  std::vector<int> native_ranks;
  std::vector<std::string> shim_opts;  // the shim's options, the same for every rank
};

// Which launcher: srun inside a SLURM allocation (unless the user named
// hosts), mpirun everywhere else; --launcher overrides.
bool ChooseLauncher(const LaunchOptions& o, const Facts& f, Layout* l, std::string* err) {
  const bool in_slurm = f.scheduler.kind == Scheduler::Kind::kSlurm;
  if (o.launcher == LauncherChoice::kSrun) {
    if (f.srun.empty()) {
      *err = "--launcher srun: srun not found on PATH";
      return false;
    }
    if (l->user_hosts) {
      *err = "--hostfile and --host are mpirun options; srun takes its hosts from the allocation";
      return false;
    }
    l->srun = true;
  } else if (o.launcher == LauncherChoice::kAuto && in_slurm && !l->user_hosts && !f.srun.empty()) {
    l->srun = true;
  }
  if (!l->srun && f.mpirun.empty()) {
    *err = in_slurm ? "mpirun not found on PATH and srun is not usable: install Open MPI "
                      "(Debian: apt-get install openmpi-bin)"
                    : "mpirun not found on PATH: install Open MPI (Debian: apt-get install "
                      "openmpi-bin)";
    return false;
  }
  return true;
}

// Where the ranks run and how many there are: the allocation's tasks, else
// this machine's cores, else (a hostfile) whatever mpirun finds there.
bool PlaceRanks(const LaunchOptions& o, const Facts& f, Layout* l, std::string* err) {
  const Scheduler& sched = f.scheduler;
  l->hostfile = o.hostfile;
  l->host = o.host;
  if (!l->user_hosts && sched.kind != Scheduler::Kind::kNone) {
    bool all_counted = true;
    for (const AppContext& app : o.apps) all_counted = all_counted && app.np > 0;
    if (sched.slots <= 0 && !all_counted) {
      *err = std::string("inside a ") + sched.name() + " job but " + sched.problem +
             "; give -n N (and --hostfile FILE for mpirun)";
      return false;
    }
    l->from_allocation = true;
    if (sched.kind != Scheduler::Kind::kSlurm && !l->srun) l->host = sched.host_list;
  }
  l->single_node = l->from_allocation ? sched.nodes == 1 : !l->user_hosts;
  const int cpr = o.shim.cpus_per_rank > 0 ? o.shim.cpus_per_rank : 1;
  const int default_np =
      l->from_allocation ? sched.slots : (l->user_hosts ? 0 : std::max(1, f.cores / cpr));
  for (const AppContext& a : o.apps) {
    l->np.push_back(a.np == 0 ? default_np : a.np);
    l->total += l->np.back();
  }
  if (!o.pack.empty() && (o.shim.image.empty() || l->total != 1)) {
    *err =
        "--pack needs --image and exactly one rank (-n 1): it keeps what that rank writes "
        "into the image as a layer";
    return false;
  }
  // Oversubscription is ours to judge only on this machine outside a batch
  // job; in a job the allocation and the launcher decide.
  l->oversubscribed =
      !l->from_allocation && !l->user_hosts && static_cast<int64_t>(l->total) * cpr > f.cores;
  // World ranks are numbered through the commands in order; the shims must
  // know which belong to native programs.
  for (size_t i = 0, first = 0; i < o.apps.size(); first += static_cast<size_t>(l->np[i]), ++i) {
    if (!o.apps[i].native) continue;
    for (int r = 0; r < l->np[i]; ++r) l->native_ranks.push_back(static_cast<int>(first) + r);
  }
  return true;
}

std::string OversubscriptionWarning(const LaunchOptions& o, const Facts& f, int total) {
  const int cpr = o.shim.cpus_per_rank > 0 ? o.shim.cpus_per_rank : 1;
  return std::to_string(total) + " ranks" +
         (cpr > 1 ? " x " + std::to_string(cpr) + " cores" : "") + " on " +
         std::to_string(f.cores) + (f.cores == 1 ? " core" : " cores") +
         ": oversubscribing, ranks not bound to cores (they share cores; fine for testing, "
         "slower for real work; --oversubscribe silences this)";
}

// One step of the allocation; --mpi=pmix is the plugin Debian's Open MPI
// works with. A failing rank ends the step; one Ctrl-C ends it too.
void SrunCommand(const LaunchOptions& o, const Facts& f, const Layout& l, Plan* plan) {
  std::vector<std::string>& a = plan->argv;
  a.insert(a.end(),
           {f.srun, "--mpi=pmix", "--kill-on-bad-exit=1", "--quit-on-interrupt", "--input=none"});
  if (l.total > 0) a.insert(a.end(), {"-n", std::to_string(l.total)});
  if (o.shim.cpus_per_rank > 0) {
    a.push_back("--cpus-per-task=" + std::to_string(o.shim.cpus_per_rank));
  }
  if (o.oversubscribe) a.push_back("--overcommit");
  a.insert(a.end(), o.launcher_args.begin(), o.launcher_args.end());
  // srun hands its environment to the ranks: Open MPI parameters go there.
  if (l.single_node && !l.user_pml) plan->env.emplace_back("OMPI_MCA_pml", "ob1");
  for (const auto& [k, v] : o.mca) plan->env.emplace_back("OMPI_MCA_" + k, v);
  for (const std::string& x : o.exports) {
    size_t eq = x.find('=');
    if (eq != std::string::npos) plan->env.emplace_back(x.substr(0, eq), x.substr(eq + 1));
  }
  a.push_back(f.shim);
  a.insert(a.end(), l.shim_opts.begin(), l.shim_opts.end());
  // srun runs one program for every task: with several commands, each shim
  // picks its own by rank (--apps) and execs a native program directly.
  if (o.apps.size() > 1 || !l.native_ranks.empty()) {
    std::string spec;
    for (size_t i = 0; i < o.apps.size(); ++i) {
      if (i > 0) spec += ',';
      spec += std::to_string(l.np[i]) + ":" + std::to_string(o.apps[i].command.size()) +
              (o.apps[i].native ? ":native" : "");
    }
    a.insert(a.end(), {"--apps", spec});
  }
  a.push_back("--");
  // srun would take a lone ":" for a heterogeneous-job separator: the
  // commands follow each other, and --apps counts their words.
  for (const AppContext& app : o.apps) a.insert(a.end(), app.command.begin(), app.command.end());
}

// Whether the user gave the launcher a binding of its own, and whether its
// arguments place the ranks otherwise (a rankfile, PE=, cpus-per-proc).
void UserPlacement(const LaunchOptions& o, bool* binds, bool* places) {
  *binds = *places = false;
  for (const std::string& x : o.launcher_args) {
    *binds |= x.rfind("--bind-to", 0) == 0 || x.rfind("--cpu-bind", 0) == 0 ||
              x.rfind("--cpu_bind", 0) == 0;
    std::string l = x;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    *places |= l.find("rankfile") != std::string::npos || l.find("pe=") != std::string::npos ||
               l.find("cpus-per-proc") != std::string::npos;
  }
  *places |= *binds;
}

void MpirunCommand(const LaunchOptions& o, const Facts& f, Layout* l, Plan* plan) {
  // PMIx prefers munge authentication whenever libmunge is installed (SLURM
  // brings it) and, with no munged running, retries for 2.3 s before every
  // job. mpirun's daemons and ranks all run as this user: the plain
  // peer-credential check is the right one.
  if (!f.env_sets_psec) plan->env.emplace_back("PMIX_MCA_psec", "native");
  // mpirun (started by its full path) puts its bin and lib directories first
  // in the ranks' PATH and LD_LIBRARY_PATH: /usr/bin/python3 would then win
  // over the user's virtualenv or module. The shims restore the user's.
  if (!f.path.empty()) {
    plan->env.emplace_back("STDMPI_PATH", f.path);
    if (f.has_ld_path) plan->env.emplace_back("STDMPI_LD_LIBRARY_PATH", f.ld_path);
  }
  bool user_binding, launcher_places;
  UserPlacement(o, &user_binding, &launcher_places);
  std::vector<std::string>& a = plan->argv;
  a.push_back(f.mpirun);
  if (f.root) a.push_back("--allow-run-as-root");
  // Ranks talk to their program through stdin; the job's stdin goes nowhere.
  a.insert(a.end(), {"--stdin", "none"});
  if (l->oversubscribed || o.oversubscribe) a.push_back("--oversubscribe");
  // The shims bind (--bind-to): mpirun must not bind them first.
  if (!user_binding) a.insert(a.end(), {"--bind-to", "none"});
  if (l->single_node && !l->user_pml) a.insert(a.end(), {"--mca", "pml", "ob1"});
  for (const auto& [k, v] : o.mca) a.insert(a.end(), {"--mca", k, v});
  // Ranks on other hosts get none of this environment but what -x names.
  if (!l->single_node) {
    a.insert(a.end(), {"-x", kReportMarkVariable});
    if (!f.path.empty()) a.insert(a.end(), {"-x", "STDMPI_PATH"});
    if (!f.path.empty() && f.has_ld_path) a.insert(a.end(), {"-x", "STDMPI_LD_LIBRARY_PATH"});
  }
  for (const std::string& x : o.exports) a.insert(a.end(), {"-x", x});
  if (!l->hostfile.empty()) a.insert(a.end(), {"--hostfile", l->hostfile});
  if (!l->host.empty()) a.insert(a.end(), {"--host", l->host});
  a.insert(a.end(), o.launcher_args.begin(), o.launcher_args.end());
  // With mpirun binding nothing, every shim of a node starts with the same
  // cores, and mpirun's variables say which local rank it is: the shims can
  // place and start their programs before MPI_Init (overlapping the two
  // start-ups). Native ranks count among mpirun's local ranks but not among
  // the shims': not then.
  if (f.start_early && !launcher_places && l->native_ranks.empty()) {
    l->shim_opts.push_back("--start-early");
  }
  for (size_t i = 0; i < o.apps.size(); ++i) {
    if (i > 0) a.push_back(":");
    if (l->np[i] > 0) a.insert(a.end(), {"-n", std::to_string(l->np[i])});
    if (!o.apps[i].native) {
      a.push_back(f.shim);
      a.insert(a.end(), l->shim_opts.begin(), l->shim_opts.end());
      a.push_back("--");
    }
    a.insert(a.end(), o.apps[i].command.begin(), o.apps[i].command.end());
  }
}

// How the launch was decided, for --dry-run.
std::string Summary(const Facts& f, const Layout& l) {
  const Scheduler& sched = f.scheduler;
  std::string s = std::string("launcher: ") + (l.srun ? "srun" : "mpirun") + "; ";
  if (l.from_allocation) {
    s += std::string("inside ") + sched.name() + " job " +
         (sched.job_id.empty() ? "(no id)" : sched.job_id);
    if (sched.slots > 0) s += ", " + Plural(sched.slots, "task", "tasks");
    if (sched.nodes > 0) s += " on " + Plural(sched.nodes, "node", "nodes");
    if (!l.srun && !sched.hostfile.empty()) s += ", hosts from " + sched.hostfile;
  } else if (l.user_hosts) {
    s += "on the hosts given";
  } else {
    s += "on this machine, " + Plural(f.cores, "core", "cores");
  }
  if (l.total > 0) s += ", " + Plural(l.total, "rank", "ranks");
  if (l.oversubscribed) s += " (oversubscribed)";
  return s;
}

}  // namespace

bool BuildPlan(const LaunchOptions& o, const Facts& f, Plan* plan, std::string* err) {
  *plan = Plan{};
  Layout l;
  l.user_hosts = !o.hostfile.empty() || !o.host.empty();
  if (!ChooseLauncher(o, f, &l, err) || !PlaceRanks(o, f, &l, err)) return false;
  plan->srun = l.srun;
  plan->local =
      l.single_node && (!l.from_allocation || f.scheduler.kind == Scheduler::Kind::kSlurm);
  plan->total_ranks = l.total;
  if (l.oversubscribed && !o.oversubscribe) {
    plan->warnings.push_back(OversubscriptionWarning(o, f, l.total));
  }
  l.user_pml = f.env_sets_pml;
  for (const auto& [k, v] : o.mca) l.user_pml |= k == "pml";
  // The shims say when a node is oversubscribed, unless stdmpirun just did.
  ShimOptions pass = o.shim;
  pass.quiet = o.shim.quiet || l.oversubscribed || o.oversubscribe;
  pass.native_ranks = l.native_ranks;
  // Each program of an MPMD job gets a communicator of its own ranks.
  // (srun's shims learn it from --apps; and not when mpirun counts the ranks
  // of a hostfile: they are not known here.)
  if (!l.srun && o.apps.size() > 1 && std::find(l.np.begin(), l.np.end(), 0) == l.np.end()) {
    pass.app_sizes = l.np;
  }
  l.shim_opts = ShimArgsFor(o, pass);
  if (l.srun) {
    SrunCommand(o, f, l, plan);
  } else {
    MpirunCommand(o, f, &l, plan);
  }
  plan->summary = Summary(f, l);
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
