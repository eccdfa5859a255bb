// stdmpirun: runs a command as the ranks of an MPI job (see --help).
//
// It parses the options, builds the command of the real MPI launcher
// (BuildPlan), and runs it as a child in a process group of its own, so that a
// signal reaches mpirun exactly once: stdmpirun forwards SIGINT, SIGTERM,
// SIGHUP, SIGUSR1 and SIGUSR2, and SIGQUIT as SIGUSR1 (the ranks' report of
// what they wait in; --timeout sends it too). The ranks on this machine send
// their stdout and stderr here, merged line by line (output_merger.h); ranks on
// other hosts print through the launcher, whose stdout goes straight through
// and whose stderr is relayed through BannerFilter. The exit status is
// mpirun's, or 128 + N if it was killed by signal N or the job was stopped by a
// signal N sent to stdmpirun.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "banner_filter.h"
#include "clock.h"
#include "config_files.h"
#include "fsutil.h"
#include "job_report.h"
#include "launch_options.h"
#include "options.h"
#include "output_files.h"
#include "output_merger.h"
#include "report_mark.h"
#include "scheduler.h"
#include "spawn.h"
#include "task_plan.h"
#include "trace_merge.h"
#include "version_info.h"

namespace {

volatile sig_atomic_t g_child = 0;
volatile sig_atomic_t g_terminated_by = 0;  // a terminating signal we forwarded
// stdout or stderr went away (`stdmpirun ... | head -1`): the job is ended,
// as a pipeline's SIGPIPE would end it, but stdmpirun cleans up first.
bool g_output_gone = false;

void Forward(int sig) {
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) g_terminated_by = sig;
  // SIGQUIT asks for the ranks' report (the shims answer SIGUSR1), as a JVM
  // prints its threads; it does not end the job.
  if (sig == SIGQUIT) sig = SIGUSR1;
  if (g_child > 0) kill(g_child, sig);
}

int CountCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

// The live line of a task farm on a terminal: stdmpirun's stderr shows how
// far the farm is, read from the dispatcher's --status file twice a second.
// Any other output first clears it; the next poll draws it again.
class ProgressLine {
 public:
  void Start(std::string file) { file_ = std::move(file); }
  bool active() const { return !file_.empty(); }
  void Clear() {
    if (!shown_) return;
    shown_ = false;
    Write("\r\033[K");
  }
  void Poll() {
    const double now = stdmpi::MonotonicSeconds();
    if (!active() || now - polled_ < 0.5) return;
    polled_ = now;
    std::string json, err;
    stdmpi::TaskStatus st;
    if (!stdmpi::ReadFileToString(file_, &json, &err) || !stdmpi::ParseTaskStatus(json, &st) ||
        st.done) {
      return;
    }
    std::string line = stdmpi::ProgressLine(st);
    if (line.size() > 150) line.resize(150);
    Write("\r\033[K" + line);
    shown_ = true;
  }

 private:
  static void Write(const std::string& s) {
    for (size_t at = 0; at < s.size();) {
      ssize_t w = write(2, s.data() + at, s.size() - at);
      if (w <= 0 && errno != EINTR) return;
      if (w > 0) at += static_cast<size_t>(w);
    }
  }
  std::string file_;
  double polled_ = 0;
  bool shown_ = false;
};
ProgressLine g_progress;
std::string g_progress_dir;  // a temporary directory for the live line's status file

void WriteAll(int fd, const std::string& s) {
  // What the ranks print goes where the live line is: it makes way.
  if (g_progress.active() && (fd == 2 || isatty(fd))) g_progress.Clear();
  const char* p = s.data();
  size_t n = s.size();
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // a non-blocking stdout: wait until it takes more
        pollfd pf = {fd, POLLOUT, 0};
        poll(&pf, 1, 1000);
        continue;
      }
      if (errno == EPIPE && !g_output_gone) {
        g_output_gone = true;
        if (g_child > 0) kill(g_child, SIGTERM);
      }
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// The batch system this runs under, from the environment and its node file.
stdmpi::Scheduler DetectFromEnvironment() {
  std::map<std::string, std::string> env;
  for (const std::string& name : stdmpi::SchedulerVariables()) {
    if (const char* v = getenv(name.c_str())) env[name] = v;
  }
  std::vector<std::string> lines;
  const char* file = nullptr;
  if (!env.count("SLURM_JOB_ID")) {
    file = getenv("PBS_NODEFILE");
    if (file == nullptr) file = getenv("LSB_DJOB_HOSTFILE");
  }
  if (file != nullptr) {
    std::ifstream in(file);
    std::string line;
    // A node file has a line per slot; a million is far beyond any machine.
    while (lines.size() < 1000000 && std::getline(in, line)) lines.push_back(line);
  }
  return stdmpi::DetectScheduler(env, lines);
}

int Fail(int code, const std::string& msg) {
  std::fprintf(stderr, "stdmpirun: %s\n", msg.c_str());
  return code;
}

// --trace: the ranks' parts become one file.
void FinishTrace(const stdmpi::LaunchOptions& opts, int total_ranks) {
  stdmpi::TraceMerge m;
  std::string err;
  if (!stdmpi::MergeTrace(opts.shim.trace, opts.trace_file, total_ranks, &m, &err)) {
    std::fprintf(stderr, "stdmpirun: %s\n", err.c_str());
    return;
  }
  std::string note;
  if (total_ranks > 0 && static_cast<int>(m.ranks.size()) < total_ranks) {
    note = "; no trace from " + std::to_string(total_ranks - static_cast<int>(m.ranks.size())) +
           " rank(s) (is its directory shared with every node?)";
  }
  if (m.cut > 0) note += "; " + std::to_string(m.cut) + " cut-off event(s) left out";
  if (!opts.shim.quiet || !note.empty()) {
    std::fprintf(stderr,
                 "stdmpirun: trace of %zu rank(s), %ld events, in %s (open it in "
                 "https://ui.perfetto.dev)%s\n",
                 m.ranks.size(), m.events, opts.trace_file.c_str(), note.c_str());
  }
}

// Writes `text` as the new file `name` in directory `dir`, never through a
// link: the program that ran may have put anything there (it wrote this
// directory), so an entry of that name is removed first (the link itself,
// not what it points to) and the file is created exclusively.
bool WriteNewFileIn(const std::string& dir, const char* name, const std::string& text) {
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d < 0) return false;
  unlinkat(d, name, 0);
  int fd = openat(d, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  close(d);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return close(fd) == 0 && ok;
}

// --pack: after the run, the writable layer becomes the layer file, with a
// note of its base; the working directory is removed either way.
int FinishPack(const stdmpi::LaunchOptions& opts, int code) {
  const std::string& work = opts.shim.upper;
  const std::string upper = work + "/upper";
  std::string base;
  for (const std::string& l : opts.shim.image) base += (base.empty() ? "" : ",") + l;
  if (code == 0) {
    WriteNewFileIn(upper, ".stdmpi-layer",
                   "stdmpi layer\nbase: " + base +
                       "\ncommand: " + stdmpi::DescribeCommand(opts.apps[0].command) + "\n");
    const std::string& out = opts.pack;
    bool gz = out.size() > 3 && (out.compare(out.size() - 3, 3, ".gz") == 0 ||
                                 out.compare(out.size() - 4, 4, ".tgz") == 0);
    int rc = stdmpi::RunAndWait({"tar", "-C", upper, gz ? "-czf" : "-cf", out, "."});
    if (rc != 0) {
      code = Fail(stdmpi::kExitInternal,
                  "--pack: tar could not write " + out + " (status " + std::to_string(rc) + ")");
    } else {
      std::fprintf(stderr, "stdmpirun: packed the layer into %s (base: %s)\n", out.c_str(),
                   base.c_str());
    }
  } else {
    std::fprintf(stderr, "stdmpirun: the job failed: no layer packed\n");
  }
  stdmpi::RunAndWait({"rm", "-rf", work});
  return code;
}

// What BuildPlan needs to know of this machine and environment.
bool GatherFacts(stdmpi::Facts* facts, std::string* err) {
  using namespace stdmpi;
  facts->root = geteuid() == 0;
  facts->cores = CountCores();
  facts->env_sets_pml = getenv("OMPI_MCA_pml") != nullptr;
  facts->env_sets_psec = getenv("PMIX_MCA_psec") != nullptr;
  if (const char* p = getenv("PATH")) facts->path = p;
  if (const char* p = getenv("LD_LIBRARY_PATH")) {
    facts->ld_path = p;
    facts->has_ld_path = true;
  }
  if (const char* e = getenv("STDMPI_START_EARLY")) facts->start_early = std::strcmp(e, "0") != 0;
  const char* path_env = getenv("PATH");
  SpawnFailure failure;
  const std::pair<const char*, std::string*> launchers[] = {{"mpirun", &facts->mpirun},
                                                            {"srun", &facts->srun}};
  for (const auto& [name, where] : launchers) {
    const std::string var = std::string("STDMPI_") + (name[0] == 'm' ? "MPIRUN" : "SRUN");
    if (const char* m = getenv(var.c_str())) {
      *where = m;
    } else if (!ResolveExecutable(name, path_env ? path_env : "", where, &failure)) {
      where->clear();
    }
  }
  facts->scheduler = DetectFromEnvironment();
  const char* shim = getenv("STDMPI_SHIM");
  facts->shim = shim != nullptr ? shim : ExeDir() + "/stdmpi-shim";
  if (access(facts->shim.c_str(), X_OK) != 0) {
    *err = "cannot find the rank program " + facts->shim +
           " (it is built and installed next to stdmpirun; or set STDMPI_SHIM)";
    return false;
  }
  return true;
}

std::string Absolute(const std::string& path) {
  char cwd[PATH_MAX];
  if (path.empty() || path[0] == '/' || getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

// --tasks: the file is read and checked here, before anything runs (a bad
// line, a cycle, an unknown name), and so is the joblog --resume reads. The
// shims get absolute paths. Without a command, every rank runs the built-in
// worker, stdmpi-taskrun, which runs each task line with /bin/sh.
bool PrepareTasks(stdmpi::LaunchOptions* opts, std::string* err) {
  using namespace stdmpi;
  ShimOptions& s = opts->shim;
  if (s.tasks_file.empty()) return true;
  s.tasks_file = Absolute(s.tasks_file);
  std::string text;
  if (!ReadFileToString(s.tasks_file, &text, err)) {
    *err = "--tasks: " + *err;
    return false;
  }
  TaskPlan plan;
  if (!ParseTaskFile(text, &plan, err)) {
    *err = "--tasks " + s.tasks_file + ": " + *err;
    return false;
  }
  if (!s.status_file.empty()) s.status_file = Absolute(s.status_file);
  // On a terminal, a live line shows how far the farm is: from the status
  // file, a temporary one unless --status names one.
  if (isatty(2) && !s.quiet && !opts->dry_run) {
    if (s.status_file.empty()) {
      char dir[] = "/tmp/stdmpirun-farm-XXXXXX";
      if (mkdtemp(dir) != nullptr) {
        g_progress_dir = dir;
        s.status_file = g_progress_dir + "/status.json";
      }
    }
    if (!s.status_file.empty()) g_progress.Start(s.status_file);
  }
  if (!s.joblog.empty()) {
    s.joblog = Absolute(s.joblog);
    std::string log;
    std::map<int64_t, JoblogEntry> entries;
    if (s.resume != 0 && access(s.joblog.c_str(), F_OK) == 0 &&
        (!ReadFileToString(s.joblog, &log, err) || !ReadJoblog(log, &entries, err))) {
      *err = "--resume: " + s.joblog + ": " + *err;
      return false;
    }
  }
  AppContext& app = opts->apps.front();
  if (app.command.empty()) {
    app.command = {ExeDir() + "/stdmpi-taskrun"};
    if (s.time_limit > 0) {
      char secs[64];
      std::snprintf(secs, sizeof secs, "%g", s.time_limit);
      app.command.insert(app.command.end(), {"--time-limit", secs});
    }
  }
  return true;
}

// --pack: the rank's writable layer goes next to the layer file. --trace:
// the ranks' parts next to FILE, by absolute path (a rank's directory may
// differ), with times from now.
bool PrepareOutputs(stdmpi::LaunchOptions* opts, std::string* err) {
  if (!opts->pack.empty()) {
    std::string& upper = opts->shim.upper;
    upper = opts->pack + ".stdmpi-pack-" + std::to_string(getpid());
    if (mkdir(upper.c_str(), 0700) != 0) {
      *err = "--pack: cannot create " + upper + ": " + strerror(errno);
      return false;
    }
    char real[PATH_MAX];
    if (realpath(upper.c_str(), real) != nullptr) upper = real;
  }
  if (!opts->shim.trace.empty()) {
    std::string& file = opts->trace_file;
    file = opts->shim.trace;
    char cwd[PATH_MAX];
    if (file[0] != '/' && getcwd(cwd, sizeof(cwd)) != nullptr) file = std::string(cwd) + "/" + file;
    opts->shim.trace_t0 = stdmpi::RealSeconds();
    // This job's parts only: the prefix holds stdmpirun's pid and start.
    opts->shim.trace = file + ".stdmpi-" + std::to_string(getpid()) + "-" +
                       std::to_string(static_cast<long long>(opts->shim.trace_t0 * 1e6));
  }
  return true;
}

// --output-filename: by absolute path (a rank's directory may differ), and
// DIR/1 made and opened before the job (output_files.h), so that a directory
// that cannot be is said once and no program can swap it for a link.
int g_output_job_dir = -1;
bool PrepareOutputFiles(stdmpi::ShimOptions* s, bool dry_run, std::string* err) {
  if (s->output_filename.empty()) return true;
  s->output_filename = Absolute(s->output_filename);
  if (dry_run) return true;
  g_output_job_dir = stdmpi::OpenOutputJobDir(s->output_filename, err);
  return g_output_job_dir >= 0;
}

// --summary, --profile, --report: the ranks' parts go where every rank can
// write them (plan->local says where that is), and the plan passes that on.
bool PrepareProfile(stdmpi::LaunchOptions* opts, const stdmpi::Facts& facts, stdmpi::Plan* plan,
                    std::string* err) {
  if (!stdmpi::WantsJobProfile(*opts)) return true;
  return stdmpi::PrepareJobProfile(opts, plan->local, err) &&
         stdmpi::BuildPlan(*opts, facts, plan, err);
}

// On this machine, a command that cannot run is reported once, here, rather
// than once by every rank. Returns the failure's status, or 0.
int CheckCommandsRunHere(const stdmpi::LaunchOptions& opts, stdmpi::Plan* plan) {
  if (!plan->local || !opts.shim.image.empty()) return 0;
  const char* path_env = getenv("PATH");
  for (const stdmpi::AppContext& app : opts.apps) {
    std::string resolved;
    stdmpi::SpawnFailure failure;
    if (!stdmpi::ResolveExecutable(app.command[0], path_env ? path_env : "", &resolved, &failure)) {
      if (!opts.dry_run) return Fail(failure.exit_status, failure.message);
      plan->warnings.push_back("the job would fail here: " + failure.message);
    }
  }
  return 0;
}

void PrintDryRun(const stdmpi::Plan& plan) {
  std::fprintf(stderr, "stdmpirun: %s\n", plan.summary.c_str());
  for (const auto& [k, v] : plan.env) {
    // The user's own paths, handed to the shims to restore: by name.
    const char* from = k == "STDMPI_PATH"              ? "PATH"
                       : k == "STDMPI_LD_LIBRARY_PATH" ? "LD_LIBRARY_PATH"
                                                       : nullptr;
    const char* now = from != nullptr ? getenv(from) : nullptr;
    if (now != nullptr && v == now) {
      std::printf("%s=\"$%s\" ", k.c_str(), from);
    } else {
      std::printf("%s ", stdmpi::ShellQuote({k + "=" + v}).c_str());
    }
  }
  std::printf("%s\n", stdmpi::ShellQuote(plan.argv).c_str());
}

const int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// SIGKILL to the launcher and everything under it down to the shims'
// supervisors, which are left to end their programs' trees (a shim's death
// reaches its stdmpi-init as SIGTERM). The launcher puts each rank in a
// process group of its own: they are found through /proc.
void KillLauncherTree(pid_t pid) {
  std::string comm;
  if (FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "r")) {
    char buf[64] = "";
    if (std::fgets(buf, sizeof(buf), f) != nullptr) comm = buf;
    std::fclose(f);
  }
  if (comm.rfind("stdmpi-init", 0) == 0) return;
  kill(pid, SIGSTOP);  // no new children while they are listed
  std::vector<pid_t> children;
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(task_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (FILE* f = std::fopen((task_dir + "/" + e->d_name + "/children").c_str(), "r")) {
        int c;
        while (std::fscanf(f, "%d", &c) == 1) children.push_back(c);
        std::fclose(f);
      }
    }
    closedir(d);
  }
  kill(pid, SIGKILL);
  for (pid_t c : children) KillLauncherTree(c);
}

// Starts the launcher (mpirun or srun) in a process group of its own, so that
// a signal reaches it exactly once, with its stderr on a pipe; returns its pid
// (-1 with *err) and sets *err_fd to the pipe's reading end.
pid_t StartLauncher(stdmpi::Plan& plan, int* err_fd, std::string* err) {
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    *err = strerror(errno);
    return -1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = Forward;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : kForwarded) sigaction(sig, &sa, nullptr);
  std::vector<char*> cargv;
  for (std::string& s : plan.argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  const pid_t self = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *err = std::string("fork: ") + strerror(errno);
    return -1;
  }
  if (pid == 0) {
    setpgid(0, 0);
    // If stdmpirun is killed outright, mpirun still ends the job.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != self) _exit(stdmpi::kExitInternal);  // died already
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig : kForwarded) sigaction(sig, &dfl, nullptr);
    signal(SIGPIPE, SIG_DFL);  // ignored here only, for stdmpirun
    dup2(errpipe[1], 2);
    for (const auto& [k, v] : plan.env) setenv(k.c_str(), v.c_str(), 1);
    execv(cargv[0], cargv.data());
    std::fprintf(stderr, "stdmpirun: cannot run %s: %s\n", cargv[0], strerror(errno));
    _exit(stdmpi::kExitNotFound);
  }
  g_child = pid;
  close(errpipe[1]);
  *err_fd = errpipe[0];
  return pid;
}

// The job's stderr while it runs: the launcher's, through BannerFilter, and
// the merged output of the ranks on this machine; --timeout's report and end.
class JobRelay {
 public:
  JobRelay(int err_fd, pid_t launcher, double timeout, stdmpi::OutputMerger* merger,
           stdmpi::BannerFilter* filter)
      : err_fd_(err_fd), launcher_(launcher), timeout_(timeout), merger_(merger), filter_(filter) {}

  // Relays until the launcher's stderr closes. Returns true if --timeout
  // ended the job.
  bool Run() {
    const double started = stdmpi::MonotonicSeconds();
    for (;;) {
      if (timeout_ > 0 && !killed_) CheckTimeout(stdmpi::MonotonicSeconds() - started);
      if (g_terminated_by != 0 && !told_ending_) {
        told_ending_ = true;
        filter_->JobEnding();
        WriteAll(2, std::string("stdmpirun: SIG") + sigabbrev_np(g_terminated_by) +
                        " received; ending the job\n");
      }
      if (!PollOnce()) break;
    }
    WriteAll(2, filter_->Flush());
    close(err_fd_);
    return timed_out_;
  }

 private:
  // First what every rank waits in, a second later the end (SIGTERM), and
  // SIGKILL if the launcher is still there after a grace period.
  void CheckTimeout(double t) {
    if (!reported_) {
      if (t < timeout_) return;
      char secs[32];
      std::snprintf(secs, sizeof(secs), "%g", timeout_);
      WriteAll(2, std::string("stdmpirun: the job ran past --timeout ") + secs +
                      " s; what each rank is doing:\n");
      kill(launcher_, SIGUSR1);
      reported_ = true;
    } else if (!timed_out_) {
      if (t < timeout_ + 1.0) return;
      timed_out_ = told_ending_ = true;
      filter_->JobEnding();
      WriteAll(2, "stdmpirun: ending the job (--timeout)\n");
      kill(launcher_, SIGTERM);
    } else if (t >= timeout_ + 1.0 + kKillGrace) {
      killed_ = true;
      WriteAll(2, "stdmpirun: the job did not end; killing it\n");
      KillLauncherTree(launcher_);
    }
  }

  // One poll of the ranks' sockets and the launcher's stderr; false once the
  // launcher's stderr has closed.
  bool PollOnce() {
    std::vector<pollfd> fds;
    if (merger_ != nullptr) merger_->AddPollFds(&fds);
    fds.push_back({err_fd_, POLLIN, 0});
    const bool holding = filter_->holding() || (merger_ != nullptr && merger_->holding());
    int timeout = holding ? 250 : -1;
    if (timeout_ > 0 && !killed_) timeout = 100;
    if (g_progress.active() && (timeout < 0 || timeout > 500)) timeout = 500;
    g_progress.Poll();
    int r = poll(fds.data(), fds.size(), timeout);
    if (r < 0) return errno == EINTR;
    // The ranks' output first: a shim's report is then known to the filter
    // before the launcher's lines about the same end.
    if (merger_ != nullptr && r > 0) merger_->Handle(fds, 0);
    if (merger_ != nullptr) merger_->FlushHeld(1.0);
    if (fds.back().revents == 0) {
      // A box that stays open is not one of Open MPI's messages: let it out.
      if (filter_->holding() && stdmpi::MonotonicSeconds() - box_since_ > 1.0) {
        WriteAll(2, filter_->Flush());
      }
      return true;
    }
    char buf[65536];
    ssize_t n = read(err_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    bool was_holding = filter_->holding();
    WriteAll(2, filter_->Feed(std::string_view(buf, static_cast<size_t>(n))));
    if (!was_holding && filter_->holding()) box_since_ = stdmpi::MonotonicSeconds();
    return true;
  }

  int err_fd_;
  pid_t launcher_;
  double timeout_;
  stdmpi::OutputMerger* merger_;
  stdmpi::BannerFilter* filter_;
  double box_since_ = 0;
  bool reported_ = false, timed_out_ = false, told_ending_ = false, killed_ = false;
  static constexpr double kKillGrace = 5.0;
};

// Runs the plan; returns the job's exit status.
int RunJob(const stdmpi::LaunchOptions& opts, stdmpi::Plan& plan) {
  using namespace stdmpi;
  // The ranks on this machine send their output here, to be written line by
  // line (output_merger.h); STDMPI_MERGE_OUTPUT=0 leaves it to mpirun or srun.
  // A shim's report of why it ends the job is known by this job's mark
  // (report_mark.h); the launcher's own teardown lines that follow are
  // repeats (BannerFilter).
  const std::string mark = NewReportMark();
  plan.env.emplace_back(kReportMarkVariable, mark);
  BannerFilter filter;
  filter.SetReportMark(mark);
  OutputMerger merger([](int stream, const std::string& bytes) { WriteAll(stream, bytes); });
  merger.SetReportMark(mark, [&filter] { filter.JobEnding(); });
  if (g_output_job_dir >= 0) merger.WriteFilesIn(g_output_job_dir, opts.shim.output_filename);
  const char* merge_env = getenv("STDMPI_MERGE_OUTPUT");
  bool merging = merge_env == nullptr || std::strcmp(merge_env, "0") != 0;
  std::string err;
  if (merging && !(merging = merger.Listen(&err)) && !opts.shim.quiet) {
    std::fprintf(stderr, "stdmpirun: warning: %s; the ranks' output goes through %s\n", err.c_str(),
                 plan.srun ? "srun" : "mpirun");
  }
  if (merging) plan.env.emplace_back("STDMPI_OUTPUT_SOCKET", merger.path());
  int err_fd = -1;
  pid_t pid = StartLauncher(plan, &err_fd, &err);
  if (pid < 0) return Fail(kExitInternal, err);
  bool timed_out = JobRelay(err_fd, pid, opts.timeout, merging ? &merger : nullptr, &filter).Run();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Fail(kExitInternal, std::string("waitpid: ") + strerror(errno));
  }
  // The ranks are gone; what they wrote last may still be in the sockets.
  if (merging) merger.Drain(5.0);
  // Stopped by a signal to stdmpirun: say so as shells do (mpirun exits 1).
  int code = JobStatusOf(status);
  if (g_terminated_by != 0 && code != 0) code = 128 + g_terminated_by;
  if (g_output_gone) code = 128 + SIGPIPE;  // as the pipeline's SIGPIPE would
  if (timed_out) code = 124;                // as timeout(1)
  return code;
}

}  // namespace

// Writes each line of `text` to stderr between `before` and `after`.
void PrintLines(const char* before, const char* after, const std::string& text) {
  for (size_t p = 0, nl; (nl = text.find('\n', p)) != std::string::npos; p = nl + 1) {
    std::fprintf(stderr, "%s%s%s\n", before, text.substr(p, nl - p).c_str(), after);
  }
}

// The site's and the user's defaults go in front of the command line
// (config_files.h); --help and --version work whatever they say. Returns 0,
// or the exit status after saying what is wrong.
int ParseWithConfig(const std::vector<std::string>& command_line, stdmpi::ConfigArgs* config,
                    stdmpi::LaunchOptions* opts) {
  using namespace stdmpi;
  std::string err, config_err;
  const bool config_ok = LoadConfig(config, &config_err);
  std::vector<std::string> args =
      config_ok ? config->Words(command_line) : std::vector<std::string>();
  args.insert(args.end(), command_line.begin(), command_line.end());
  const bool parsed = ParseLaunchArgs(args, opts, &err);
  if (!config_ok && !opts->help && !opts->version) {
    std::fprintf(stderr, "stdmpirun: %s\n", config_err.c_str());
    return kExitUsage;
  }
  if (!parsed) {
    std::fprintf(stderr, "stdmpirun: %s\n", err.c_str());
    // An option from a config file may be the one at fault: say where each came from.
    PrintLines("stdmpirun: (option ", ")", config->Describe({}));
    std::fprintf(stderr, "Try 'stdmpirun --help'.\n");
    return kExitUsage;
  }
  return 0;
}

int PrintVersion() {
  using namespace stdmpi;
  Facts facts;
  std::string ignored;
  GatherFacts(&facts, &ignored);
  std::fputs(
      FormatVersion(STDMPI_VERSION, facts.shim, FirstLinesOf({facts.shim, "--version"}, 8, 10),
                    {{facts.mpirun, LauncherVersion(facts.mpirun)},
                     {facts.srun, LauncherVersion(facts.srun)}})
          .c_str(),
      stdout);
  return 0;
}

int main(int argc, char** argv) {
  using namespace stdmpi;
  // A reader that goes away shows up as EPIPE (WriteAll), so that stdmpirun
  // ends the job and removes its temporary files instead of dying at once.
  signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> command_line(argv + 1, argv + argc);
  LaunchOptions opts;
  std::string err;
  ConfigArgs config;
  if (int code = ParseWithConfig(command_line, &config, &opts); code != 0) return code;
  if (opts.help) {
    std::fputs(LaunchUsage().c_str(), stdout);
    return 0;
  }
  if (opts.version) return PrintVersion();
  if (!PrepareTasks(&opts, &err)) {
    std::fprintf(stderr, "stdmpirun: %s\n", err.c_str());
    return kExitUsage;
  }
  Facts facts;
  if (!GatherFacts(&facts, &err)) return Fail(kExitNotFound, err);
  if (!opts.dry_run && !PrepareOutputs(&opts, &err)) return Fail(kExitCannotExecute, err);
  if (!PrepareOutputFiles(&opts.shim, opts.dry_run, &err)) return Fail(kExitCannotExecute, err);
  Plan plan;
  if (!BuildPlan(opts, facts, &plan, &err)) {
    if (!opts.shim.upper.empty()) rmdir(opts.shim.upper.c_str());
    return Fail(err.find("not found") != std::string::npos ? kExitNotFound : kExitUsage, err);
  }
  if (int code = CheckCommandsRunHere(opts, &plan); code != 0) return code;
  if (!opts.shim.quiet) {
    for (const std::string& w : plan.warnings) std::fprintf(stderr, "stdmpirun: %s\n", w.c_str());
  }
  if (opts.dry_run) {
    LaunchOptions given;
    std::string ignored;
    ParseLaunchArgs(command_line, &given, &ignored);
    PrintLines("stdmpirun: option ", "", config.Describe(GivenOptions(given)));
    PrintDryRun(plan);
    return 0;
  }
  if (!PrepareProfile(&opts, facts, &plan, &err)) return Fail(kExitCannotExecute, err);
  int code = RunJob(opts, plan);
  g_progress.Clear();
  if (!g_progress_dir.empty()) {
    for (const char* f : {"/status.json", "/status.json.tmp"}) unlink((g_progress_dir + f).c_str());
    rmdir(g_progress_dir.c_str());
  }
  FinishJobProfile(opts, plan.total_ranks);  // before the merge of --trace removes the parts
  if (!opts.shim.upper.empty()) code = FinishPack(opts, code);
  if (!opts.trace_file.empty()) FinishTrace(opts, plan.total_ranks);
  return code;
}
