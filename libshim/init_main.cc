// stdmpi-init: the supervisor between a shim and its command.
//
//   stdmpi-init ERRFD PATH ARGV0 [ARGS...]      (started by stdmpi-shim only)
//
// Why it exists: the MPI launcher may SIGKILL a shim (Open MPI does, right
// after a sibling rank exits during a job abort), and a SIGKILLed shim cannot
// clean up. The kernel's parent-death signal reaches only a direct child, so
// whatever the command started in the background would outlive the job. This
// process is that direct child: it gets SIGTERM when the shim dies (a signal it
// can catch), and it is a subreaper, so it can end every descendant.
//
// It runs the command in a process group of its own, forwards the signals it
// gets to that group, escalates to SIGKILL by itself after a grace period once
// it was asked to terminate, and exits with exactly the command's wait status
// (re-raising a fatal signal). An exec failure of the command is reported to
// the shim through ERRFD as the shim's own spawn reports it, so the shim's
// Spawn() still returns only once the command itself runs.
//
// All signals are handled synchronously with sigtimedwait: no handlers, no
// async-signal-safety traps. Later, the same program is PID 1 of a rank's
// container (it already reaps whatever is reparented to it).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace {

// Grace between forwarding a terminating signal and SIGKILL.
constexpr long kGraceNs = 500'000'000;
// After the command exits: how long what it left behind gets to end.
constexpr long kLeftoverNs = 300'000'000;

long NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000L + ts.tv_nsec;
}

// Same encoding as the shim's spawn (spawn.cc): {step, errno}.
[[noreturn]] void ExecFailed(int errfd) {
  int msg[2] = {4 /* exec */, errno};
  ssize_t ignored = write(errfd, msg, sizeof(msg));
  (void)ignored;
  _exit(127);
}

bool IsTerminating(int sig) {
  return sig == SIGTERM || sig == SIGINT || sig == SIGHUP;
}

// Reaps every exited child; returns true (and sets *status) if `cmd` was one.
bool ReapAll(pid_t cmd, int* status) {
  bool got = false;
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p <= 0) return got;
    if (p == cmd) {
      *status = st;
      got = true;
    }
  }
}

bool HasChildren() {
  // Fails with ECHILD once nothing is left to wait for (WNOWAIT: only look).
  siginfo_t info;
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    static const char kUsage[] = "stdmpi-init: started by stdmpi-shim only\n";
    ssize_t ignored = write(2, kUsage, sizeof(kUsage) - 1);
    (void)ignored;
    return 64;
  }
  int errfd = atoi(argv[1]);
  const char* path = argv[2];
  char** cmd_argv = argv + 3;
  const pid_t shim = getppid();
  const pid_t self = getpid();

  // Descendants orphaned by the command come to this process, not to PID 1.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  sigset_t all, none, saved;
  sigfillset(&all);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &all, &saved);

  pid_t cmd = fork();
  if (cmd < 0) ExecFailed(errfd);
  if (cmd == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != self) _exit(137);
    fcntl(errfd, F_SETFD, FD_CLOEXEC);  // closed by a successful exec
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // The command's LD_PRELOAD, kept away from this process (see spawn.cc).
    if (const char* preload = getenv("STDMPI_INIT_LD_PRELOAD")) {
      setenv("LD_PRELOAD", preload, 1);
      unsetenv("STDMPI_INIT_LD_PRELOAD");
    }
    execv(path, cmd_argv);
    ExecFailed(errfd);
  }
  setpgid(cmd, cmd);  // also here: no race with signals sent to the group
  close(errfd);

  int status = 0;
  bool done = false;
  long kill_at = 0;  // when to SIGKILL the group (0: not asked to terminate)
  while (!done) {
    timespec wait = {1, 0};
    if (kill_at != 0) {
      long left = kill_at - NowNs();
      if (left <= 0) {
        kill(-cmd, SIGKILL);
        kill_at = 0;
        continue;
      }
      wait = {left / 1'000'000'000L, left % 1'000'000'000L};
    }
    siginfo_t si;
    int sig = sigtimedwait(&all, &si, &wait);
    if (sig < 0) {
      // Timeout: also notices a shim that died without our noticing the
      // signal (it cannot be lost, but be sure).
      if (getppid() != shim && kill_at == 0) {
        kill(-cmd, SIGTERM);
        kill_at = NowNs() + kGraceNs;
      }
      continue;
    }
    if (sig == SIGCHLD) {
      done = ReapAll(cmd, &status);
      continue;
    }
    kill(-cmd, sig);
    if (IsTerminating(sig) && kill_at == 0) kill_at = NowNs() + kGraceNs;
  }

  // The command is gone; end what it left behind (its group, and anything
  // orphaned to us from elsewhere) and reap it all.
  if (kill(-cmd, 0) == 0 || HasChildren()) {
    kill(-cmd, SIGTERM);
    long deadline = NowNs() + kLeftoverNs;
    bool killed = false;
    while (kill(-cmd, 0) == 0 || HasChildren()) {
      long left = deadline - NowNs();
      if (left <= 0) {
        if (killed) break;
        kill(-cmd, SIGKILL);
        killed = true;
        deadline = NowNs() + kLeftoverNs;
        continue;
      }
      timespec wait = {0, left < 50'000'000 ? left : 50'000'000};
      siginfo_t si;
      if (sigtimedwait(&all, &si, &wait) == SIGCHLD) ReapAll(cmd, &status);
      ReapAll(cmd, &status);
    }
  }

  if (WIFSIGNALED(status)) {
    // Die the same way, so the shim sees the command's own status; no core.
    int sig = WTERMSIG(status);
    rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    kill(self, sig);
    _exit(128 + sig);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
