// stdmpirun: runs a command as the ranks of an MPI job (see --help).
//
// It parses the options, builds the command of the real MPI launcher
// (BuildPlan), and runs it as a child in a process group of its own, so that a
// signal reaches mpirun exactly once: stdmpirun forwards SIGINT, SIGTERM,
// SIGHUP, SIGUSR1 and SIGUSR2, and SIGQUIT as SIGUSR1 (the ranks' report of
// what they wait in; --timeout sends it too). mpirun's stderr is relayed through
// BannerFilter; stdout goes straight through. The exit status is mpirun's, or
// 128 + N if it was killed by signal N or the job was stopped by a signal N sent
// to stdmpirun.
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
#include "launch_options.h"
#include "options.h"
#include "output_merger.h"
#include "scheduler.h"
#include "spawn.h"
#include "trace_merge.h"

namespace {

volatile sig_atomic_t g_child = 0;
volatile sig_atomic_t g_terminated_by = 0;  // a terminating signal we forwarded

void Forward(int sig) {
  if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) g_terminated_by = sig;
  // SIGQUIT asks for the ranks' report (the shims answer SIGUSR1), as a JVM
  // prints its threads; it does not end the job.
  if (sig == SIGQUIT) sig = SIGUSR1;
  if (g_child > 0) kill(g_child, sig);
}

std::string ExeDir() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return ".";
  exe[n] = '\0';
  std::string dir(exe);
  return dir.substr(0, dir.rfind('/'));
}

int CountCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

void WriteAll(int fd, const std::string& s) {
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
  if (!stdmpi::MergeTrace(opts.trace, &m, &err)) {
    std::fprintf(stderr, "stdmpirun: %s\n", err.c_str());
    return;
  }
  std::string note;
  if (total_ranks > 0 && static_cast<int>(m.ranks.size()) < total_ranks) {
    note = "; no trace from " + std::to_string(total_ranks - static_cast<int>(m.ranks.size())) +
           " rank(s) (is its directory shared with every node?)";
  }
  if (m.cut > 0) note += "; " + std::to_string(m.cut) + " cut-off event(s) left out";
  if (!opts.quiet || !note.empty()) {
    std::fprintf(stderr,
                 "stdmpirun: trace of %zu rank(s), %ld events, in %s (open it in "
                 "https://ui.perfetto.dev)%s\n",
                 m.ranks.size(), m.events, opts.trace.c_str(), note.c_str());
  }
}

// --pack: after the run, the writable layer becomes the layer file, with a
// note of its base; the working directory is removed either way.
int FinishPack(const stdmpi::LaunchOptions& opts, int code) {
  const std::string upper = opts.upper + "/upper";
  if (code == 0) {
    std::FILE* f = std::fopen((upper + "/.stdmpi-layer").c_str(), "w");
    if (f != nullptr) {
      std::fprintf(f, "stdmpi layer\nbase: %s\ncommand: %s\n", opts.image.c_str(),
                   stdmpi::DescribeCommand(opts.apps[0].command).c_str());
      std::fclose(f);
    }
    const std::string& out = opts.pack;
    bool gz = out.size() > 3 && (out.compare(out.size() - 3, 3, ".gz") == 0 ||
                                 out.compare(out.size() - 4, 4, ".tgz") == 0);
    int rc = stdmpi::RunAndWait({"tar", "-C", upper, gz ? "-czf" : "-cf", out, "."});
    if (rc != 0) {
      code = Fail(stdmpi::kExitInternal,
                  "--pack: tar could not write " + out + " (status " + std::to_string(rc) + ")");
    } else {
      std::fprintf(stderr, "stdmpirun: packed the layer into %s (base: %s)\n", out.c_str(),
                   opts.image.c_str());
    }
  } else {
    std::fprintf(stderr, "stdmpirun: the job failed: no layer packed\n");
  }
  stdmpi::RunAndWait({"rm", "-rf", opts.upper});
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace stdmpi;
  std::vector<std::string> args(argv + 1, argv + argc);
  LaunchOptions opts;
  std::string err;
  if (!ParseLaunchArgs(args, &opts, &err)) {
    std::fprintf(stderr, "stdmpirun: %s\nTry 'stdmpirun --help'.\n", err.c_str());
    return kExitUsage;
  }
  if (opts.help) {
    std::fputs(LaunchUsage(), stdout);
    return 0;
  }
  if (opts.version) {
    std::printf("stdmpirun (stdmpi) %s\n", STDMPI_VERSION);
    return 0;
  }

  Facts facts;
  facts.root = geteuid() == 0;
  facts.cores = CountCores();
  facts.env_sets_pml = getenv("OMPI_MCA_pml") != nullptr;
  facts.env_sets_psec = getenv("PMIX_MCA_psec") != nullptr;
  if (const char* e = getenv("STDMPI_START_EARLY")) facts.start_early = std::strcmp(e, "0") != 0;
  const char* path_env = getenv("PATH");
  SpawnFailure failure;
  if (const char* m = getenv("STDMPI_MPIRUN")) {
    facts.mpirun = m;
  } else if (!ResolveExecutable("mpirun", path_env ? path_env : "", &facts.mpirun, &failure)) {
    facts.mpirun.clear();
  }
  if (const char* m = getenv("STDMPI_SRUN")) {
    facts.srun = m;
  } else if (!ResolveExecutable("srun", path_env ? path_env : "", &facts.srun, &failure)) {
    facts.srun.clear();
  }
  facts.scheduler = DetectFromEnvironment();
  if (const char* s = getenv("STDMPI_SHIM")) {
    facts.shim = s;
  } else {
    facts.shim = ExeDir() + "/stdmpi-shim";
  }
  if (access(facts.shim.c_str(), X_OK) != 0) {
    return Fail(kExitNotFound, "cannot find the rank program " + facts.shim +
                                   " (it is built and installed next to stdmpirun; or set "
                                   "STDMPI_SHIM)");
  }

  // --pack: the rank's writable layer goes next to the layer file.
  if (!opts.pack.empty() && !opts.dry_run) {
    opts.upper = opts.pack + ".stdmpi-pack-" + std::to_string(getpid());
    if (mkdir(opts.upper.c_str(), 0755) != 0) {
      return Fail(kExitCannotExecute,
                  "--pack: cannot create " + opts.upper + ": " + strerror(errno));
    }
    char real[PATH_MAX];
    if (realpath(opts.upper.c_str(), real) != nullptr) opts.upper = real;
  }
  // --trace: parts next to FILE, by absolute path (a rank's directory may
  // differ), with times from now.
  if (!opts.trace.empty() && !opts.dry_run) {
    if (opts.trace[0] != '/') {
      char cwd[PATH_MAX];
      if (getcwd(cwd, sizeof(cwd)) != nullptr) opts.trace = std::string(cwd) + "/" + opts.trace;
    }
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    opts.trace_t0 = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  Plan plan;
  if (!BuildPlan(opts, facts, &plan, &err)) {
    if (!opts.upper.empty()) rmdir(opts.upper.c_str());
    return Fail(err.find("not found") != std::string::npos ? kExitNotFound : kExitUsage, err);
  }

  // On this machine, a command that cannot run is reported once, here, rather
  // than once by every rank.
  if (plan.local && opts.image.empty()) {
    for (const AppContext& app : opts.apps) {
      std::string resolved;
      if (!ResolveExecutable(app.command[0], path_env ? path_env : "", &resolved, &failure)) {
        if (!opts.dry_run) return Fail(failure.exit_status, failure.message);
        plan.warnings.push_back("the job would fail here: " + failure.message);
      }
    }
  }

  if (!opts.quiet) {
    for (const std::string& w : plan.warnings) std::fprintf(stderr, "stdmpirun: %s\n", w.c_str());
  }
  if (opts.dry_run) {
    std::fprintf(stderr, "stdmpirun: %s\n", plan.summary.c_str());
    for (const auto& [k, v] : plan.env) {
      std::printf("%s ", ShellQuote({k + "=" + v}).c_str());
    }
    std::printf("%s\n", ShellQuote(plan.argv).c_str());
    return 0;
  }

  // The ranks on this machine send their output here, to be written line by
  // line (output_merger.h); STDMPI_MERGE_OUTPUT=0 leaves it to mpirun or srun.
  BannerFilter filter;
  OutputMerger merger([&filter](int stream, const std::string& bytes) {
    // A shim's report of why it ends the job: the launcher's own teardown
    // lines that follow are repeats (BannerFilter).
    if (stream == 2 && (bytes.rfind("stdmpi: rank ", 0) == 0 ||
                        bytes.find("\nstdmpi: rank ") != std::string::npos)) {
      filter.JobEnding();
    }
    WriteAll(stream, bytes);
  });
  const char* merge_env = getenv("STDMPI_MERGE_OUTPUT");
  bool merging = merge_env == nullptr || std::strcmp(merge_env, "0") != 0;
  if (merging) {
    std::string merr;
    merging = merger.Listen(&merr);
    if (merging) {
      plan.env.emplace_back("STDMPI_OUTPUT_SOCKET", merger.path());
    } else if (!opts.quiet) {
      std::fprintf(stderr, "stdmpirun: warning: %s; the ranks' output goes through %s\n",
                   merr.c_str(), plan.srun ? "srun" : "mpirun");
    }
  }

  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) return Fail(kExitInternal, strerror(errno));

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = Forward;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (int sig : forwarded) sigaction(sig, &sa, nullptr);

  std::vector<char*> cargv;
  for (std::string& s : plan.argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  const pid_t self = getpid();
  pid_t pid = fork();
  if (pid < 0) return Fail(kExitInternal, std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);
    // If stdmpirun is killed outright, mpirun still ends the job.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != self) _exit(kExitInternal);  // died already
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig : forwarded) sigaction(sig, &dfl, nullptr);
    dup2(errpipe[1], 2);
    for (const auto& [k, v] : plan.env) setenv(k.c_str(), v.c_str(), 1);
    execv(cargv[0], cargv.data());
    std::fprintf(stderr, "stdmpirun: cannot run %s: %s\n", cargv[0], strerror(errno));
    _exit(kExitNotFound);
  }
  g_child = pid;
  close(errpipe[1]);

  // Relay mpirun's stderr until it closes, then reap mpirun.
  double box_since = 0;
  char buf[65536];
  bool told_ending = false;
  const double started = MonotonicSeconds();
  bool reported = false, timed_out = false;
  for (;;) {
    if (opts.timeout > 0 && !timed_out) {
      double t = MonotonicSeconds() - started;
      if (!reported && t >= opts.timeout) {
        // First what every rank waits in, a second later the end.
        char secs[32];
        std::snprintf(secs, sizeof(secs), "%g", opts.timeout);
        std::string msg = std::string("stdmpirun: the job ran past --timeout ") + secs +
                          " s; what each rank is doing:\n";
        WriteAll(2, msg);
        kill(pid, SIGUSR1);
        reported = true;
      } else if (reported && t >= opts.timeout + 1.0) {
        timed_out = true;
        filter.JobEnding();
        told_ending = true;
        WriteAll(2, "stdmpirun: ending the job (--timeout)\n");
        kill(pid, SIGTERM);
      }
    }
    if (g_terminated_by != 0 && !told_ending) {
      told_ending = true;
      filter.JobEnding();
      std::string msg = std::string("stdmpirun: SIG") + sigabbrev_np(g_terminated_by) +
                        " received; ending the job\n";
      WriteAll(2, msg);
    }
    std::vector<pollfd> fds;
    if (merging) merger.AddPollFds(&fds);
    fds.push_back({errpipe[0], POLLIN, 0});
    int timeout = filter.holding() ? 250 : -1;
    if (opts.timeout > 0 && !timed_out) timeout = 100;
    int r = poll(fds.data(), fds.size(), timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    // The ranks' output first: a shim's report is then known to the filter
    // before the launcher's lines about the same end.
    if (merging && r > 0) merger.Handle(fds, 0);
    if (fds.back().revents == 0) {
      // A box that stays open is not one of Open MPI's messages: let it out.
      if (filter.holding() && MonotonicSeconds() - box_since > 1.0) WriteAll(2, filter.Flush());
      continue;
    }
    ssize_t n = read(errpipe[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bool was_holding = filter.holding();
    WriteAll(2, filter.Feed(std::string_view(buf, static_cast<size_t>(n))));
    if (!was_holding && filter.holding()) box_since = MonotonicSeconds();
  }
  WriteAll(2, filter.Flush());
  close(errpipe[0]);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Fail(kExitInternal, std::string("waitpid: ") + strerror(errno));
  }
  // The ranks are gone; what they wrote last may still be in the sockets.
  if (merging) merger.Drain(5.0);
  // Stopped by a signal to stdmpirun: say so as shells do (mpirun exits 1).
  int code = JobStatusOf(status);
  if (g_terminated_by != 0 && code != 0) code = 128 + g_terminated_by;
  if (timed_out) code = 124;  // as timeout(1)
  if (!opts.upper.empty()) code = FinishPack(opts, code);
  if (!opts.trace.empty()) FinishTrace(opts, plan.total_ranks);
  return code;
}
