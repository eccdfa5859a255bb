#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "child_steps.h"
#include "namespaces.h"
#include "options.h"

namespace stdmpi {

namespace {

// Signals that were SIG_IGN at process start (bit i for signal i).
unsigned long long g_initially_ignored = 0;

// What the child needs, all prepared before clone(): after clone(CLONE_VM) the
// child shares the parent's memory and must not allocate.
struct ChildArgs {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* cwd;  // nullptr: keep
  int fds[3];
  bool new_process_group;
  int parent_death_signal;
  pid_t parent_pid;
  int error_fd;          // write end of the CLOEXEC error pipe
  bool pass_error_fd;    // keep error_fd open across exec (for stdmpi-init)
  int keep_fd;           // kept open across exec, at its number (-1: none)
  int join_fds[2];       // namespaces for stdmpi-init to join, kept open across exec (-1: none)
  sigset_t parent_mask;  // restored (then emptied) in the child
};

// The child runs on a stack of its own between clone() and exec(); sanitizer
// instrumentation there (shadow stacks, no-return hooks) would misfire.
#define STDMPI_CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

// Reports the failing step and errno to the parent, then exits.
STDMPI_CHILD_CODE [[noreturn]] void ChildFail(int error_fd, int step) {
  int msg[2] = {step, errno};
  ssize_t ignored = write(error_fd, msg, sizeof(msg));
  (void)ignored;
  _exit(127);
}

STDMPI_CHILD_CODE int ChildMain(void* arg) {
  const ChildArgs* a = static_cast<const ChildArgs*>(arg);
  // Signal handlers belong to the shim; the child starts with the dispositions
  // the shim itself was started with and no signals blocked.
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    bool ignored = sig < 64 && (g_initially_ignored >> sig) & 1;
    sa.sa_handler = ignored ? SIG_IGN : SIG_DFL;
    sigaction(sig, &sa, nullptr);
  }
  if (a->new_process_group && setpgid(0, 0) != 0) ChildFail(a->error_fd, kStepSetup);
  if (a->parent_death_signal != 0) {
    if (prctl(PR_SET_PDEATHSIG, a->parent_death_signal) != 0) ChildFail(a->error_fd, kStepSetup);
    // The shim may have died between clone() and prctl().
    if (getppid() != a->parent_pid) _exit(128 + a->parent_death_signal);
  }
  for (int i = 0; i < 3; ++i) {
    if (a->fds[i] == i) {
      // dup2 to itself would keep FD_CLOEXEC; clear it instead.
      int fl = fcntl(i, F_GETFD);
      if (fl < 0 || fcntl(i, F_SETFD, fl & ~FD_CLOEXEC) < 0) ChildFail(a->error_fd, kStepDup);
    } else if (dup2(a->fds[i], i) < 0) {
      ChildFail(a->error_fd, kStepDup);
    }
  }
  if (a->cwd != nullptr && chdir(a->cwd) != 0) ChildFail(a->error_fd, kStepChdir);
  // The program inherits stdin, stdout and stderr, nothing else: no MPI or
  // PMIx socket of the shim's (Open MPI does not open them all close-on-exec),
  // no output socket. Everything above 2 closes at exec.
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 65536; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (a->pass_error_fd) {
    // The supervisor reports the command's exec through it, then closes it.
    int fl = fcntl(a->error_fd, F_GETFD);
    if (fl < 0 || fcntl(a->error_fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) {
      ChildFail(a->error_fd, kStepSetup);
    }
  }
  if (a->keep_fd > 2) {
    int fl = fcntl(a->keep_fd, F_GETFD);
    if (fl < 0 || fcntl(a->keep_fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
      ChildFail(a->error_fd, kStepSetup);
  }
  for (int fd : a->join_fds) {
    // The supervisor joins these namespaces and closes them before the command.
    if (fd >= 0 && fcntl(fd, F_SETFD, 0) < 0) ChildFail(a->error_fd, kStepSetup);
  }
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  execve(a->path, a->argv, a->envp);
  ChildFail(a->error_fd, kStepExec);
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Runs ChildMain(a) in a child that shares this process's memory until it
// execs (CLONE_VM | CLONE_VFORK), on its own small stack. Returns its pid, or
// -1 with *failure.
pid_t CloneChild(ChildArgs* a, SpawnFailure* failure) {
  const size_t kStack = 256 * 1024;
  void* stack =
      mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    *failure = {126, std::string("mmap: ") + strerror(errno)};
    return -1;
  }
  // No signal handler of the shim may run in the child before it resets them.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &a->parent_mask);
  pid_t pid =
      clone(ChildMain, static_cast<char*>(stack) + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &a->parent_mask, nullptr);
  munmap(stack, kStack);
  if (pid < 0) *failure = {126, std::string("clone: ") + strerror(clone_errno)};
  return pid;
}

std::string FindEnv(const std::vector<std::string>& env, const char* name) {
  size_t n = std::strlen(name);
  for (const std::string& e : env) {
    if (e.size() > n && e.compare(0, n, name) == 0 && e[n] == '=') return e.substr(n + 1);
  }
  return {};
}

}  // namespace

void RecordInitialSignalDispositions() {
  g_initially_ignored = 0;
  for (int sig = 1; sig < NSIG && sig < 64; ++sig) {
    struct sigaction sa;
    if (sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN) {
      g_initially_ignored |= 1ULL << sig;
    }
  }
}

bool ResolveExecutable(const std::string& name, const std::string& path_env, std::string* path,
                       SpawnFailure* failure) {
  if (name.empty()) {
    *failure = {127, "empty command name"};
    return false;
  }
  auto check = [](const std::string& p, std::string* why) {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) {
      *why = strerror(errno);
      return ENOENT;
    }
    if (S_ISDIR(st.st_mode)) {
      *why = "is a directory";
      return EISDIR;
    }
    if (access(p.c_str(), X_OK) != 0) {
      *why = "permission denied (not executable)";
      return EACCES;
    }
    return 0;
  };
  std::string why;
  if (name.find('/') != std::string::npos) {
    int e = check(name, &why);
    if (e == 0) {
      *path = name;
      return true;
    }
    *failure = {e == ENOENT ? 127 : 126, name + ": " + why};
    return false;
  }
  std::string dirs = path_env.empty() ? "/usr/local/bin:/usr/bin:/bin" : path_env;
  std::string denied;
  size_t start = 0;
  for (;;) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? colon : colon - start);
    if (dir.empty()) dir = ".";  // POSIX: an empty PATH entry is the current directory
    std::string candidate = dir + "/" + name;
    int e = check(candidate, &why);
    if (e == 0) {
      *path = candidate;
      return true;
    }
    if (e != ENOENT && denied.empty()) denied = candidate + ": " + why;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (!denied.empty()) {
    *failure = {126, denied};
  } else {
    *failure = {127, "command not found: " + name + " (searched PATH=" + dirs + ")"};
  }
  return false;
}

pid_t Spawn(const SpawnRequest& req, SpawnFailure* failure) {
  if (req.argv.empty()) {
    *failure = {127, "no command given"};
    return -1;
  }
  std::string path = req.path;
  if (path.empty() && !ResolveExecutable(req.argv[0], FindEnv(req.env, "PATH"), &path, failure)) {
    return -1;
  }

  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    *failure = {126, std::string("pipe2: ") + strerror(errno)};
    return -1;
  }
  // Under the supervisor: exec it with the error pipe's number, the resolved
  // command and its argv.
  std::vector<std::string> full_argv;
  std::string exec_path = path;
  if (!req.init_path.empty()) {
    exec_path = req.init_path;
    full_argv = {req.init_path, std::to_string(errpipe[1]), path};
  }
  full_argv.insert(full_argv.end(), req.argv.begin(), req.argv.end());
  std::vector<char*> argv = CStrings(full_argv);
  // The supervisor itself must not get the command's LD_PRELOAD (a preloaded
  // library would precede a sanitizer runtime in a sanitized build, and has no
  // business in it anyway); it hands the value on to the command.
  std::vector<std::string> env = req.env;
  if (!req.init_path.empty()) EncodeInitConfig(req.init, &env);
  std::vector<char*> envp = CStrings(env);
  ChildArgs a;
  a.path = exec_path.c_str();
  a.argv = argv.data();
  a.envp = envp.data();
  a.cwd = req.cwd.empty() ? nullptr : req.cwd.c_str();
  a.fds[0] = req.stdin_fd;
  a.fds[1] = req.stdout_fd;
  a.fds[2] = req.stderr_fd;
  a.keep_fd = req.keep_fd;
  a.new_process_group = req.new_process_group;
  a.parent_death_signal = req.init_path.empty() ? req.parent_death_signal : SIGTERM;
  a.pass_error_fd = !req.init_path.empty();
  const bool joins = a.pass_error_fd && req.init.isolate != InitConfig::Isolate::kNone;
  a.join_fds[0] = joins ? req.init.join_user_fd : -1;
  a.join_fds[1] = joins ? req.init.join_net_fd : -1;
  a.parent_pid = getpid();
  a.error_fd = errpipe[1];

  pid_t pid = CloneChild(&a, failure);
  close(errpipe[1]);
  if (pid < 0) {
    close(errpipe[0]);
    return -1;
  }
  int msg[2];
  ssize_t n;
  do {
    n = read(errpipe[0], msg, sizeof(msg));
  } while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n == static_cast<ssize_t>(sizeof(msg))) {
    // exec (or a step before it) failed; the child has exited with 127.
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *failure = DescribeStepFailure(msg[0], msg[1], req, path);
    return -1;
  }
  return pid;
}

namespace {

// The helper of MakeRankNamespaces, after fork() in a threaded process: the
// namespaces (namespaces.h: system calls only), then one byte (1: made) on
// `ready`, then it waits until `hold` closes (the caller has opened them, or
// died).
[[noreturn]] void HoldNamespaces(int ready, int hold, bool as_root, const char* uid_map,
                                 const char* gid_map) {
  // Its /proc/self files are its own only while it is dumpable (a process
  // that changed its user is not until it execs).
  bool ok = as_root || (prctl(PR_SET_DUMPABLE, 1) == 0 && EnterOwnUserNamespace(uid_map, gid_map));
  ok = ok && unshare(CLONE_NEWNET) == 0 && LoopbackUp();
  char c = ok ? 1 : 0;
  ssize_t ignored = write(ready, &c, 1);
  (void)ignored;
  while (read(hold, &c, 1) < 0 && errno == EINTR) {
  }
  _exit(0);
}

}  // namespace

bool MakeRankNamespaces(InitConfig* config, std::string* err) {
  if (config->isolate == InitConfig::Isolate::kNone || config->keep_net ||
      config->join_net_fd >= 0) {
    *err = "nothing to make: no container, or --net, or made already";
    return false;
  }
  const bool as_root = geteuid() == 0;
  const std::string uid_map = MapToItself(geteuid()), gid_map = MapToItself(getegid());
  int ready[2], hold[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    *err = std::string("pipe2: ") + strerror(errno);
    return false;
  }
  if (pipe2(hold, O_CLOEXEC) != 0) {
    *err = std::string("pipe2: ") + strerror(errno);
    close(ready[0]);
    close(ready[1]);
    return false;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    close(hold[1]);
    HoldNamespaces(ready[1], hold[0], as_root, uid_map.c_str(), gid_map.c_str());
  }
  const int fork_errno = errno;
  close(ready[1]);
  close(hold[0]);
  if (pid < 0) {
    close(ready[0]);
    close(hold[1]);
    *err = std::string("fork: ") + strerror(fork_errno);
    return false;
  }
  char made = 0;
  ssize_t n;
  do {
    n = read(ready[0], &made, 1);
  } while (n < 0 && errno == EINTR);
  const std::string dir = "/proc/" + std::to_string(pid) + "/ns/";
  int net = -1, user = -1;
  if (n == 1 && made == 1) {
    net = open((dir + "net").c_str(), O_RDONLY | O_CLOEXEC);
    if (net >= 0 && !as_root) user = open((dir + "user").c_str(), O_RDONLY | O_CLOEXEC);
  }
  const int open_errno = errno;
  close(hold[1]);  // the helper may go
  close(ready[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (net < 0 || (!as_root && user < 0)) {
    if (net >= 0) close(net);
    *err = n != 1 || made != 1 ? std::string("the namespaces could not be made here")
                               : std::string("opening them: ") + strerror(open_errno);
    return false;
  }
  config->join_user_fd = user;
  config->join_net_fd = net;
  return true;
}

void ForgetJoinedNamespaces(InitConfig* config) {
  if (config->join_user_fd >= 0) close(config->join_user_fd);
  if (config->join_net_fd >= 0) close(config->join_net_fd);
  config->join_user_fd = config->join_net_fd = -1;
}

SpawnFailure DescribeStepFailure(int step, int err, const SpawnRequest& req,
                                 const std::string& path) {
  const char* name = step == kStepExec         ? "exec"
                     : step == kStepChdir      ? "chdir"
                     : step == kStepDup        ? "dup2"
                     : step == kStepNamespaces ? "isolation (namespaces)"
                     : step == kStepMounts     ? "isolation (mounts)"
                     : step == kStepNetwork    ? "isolation (loopback network)"
                     : step == kStepImage      ? "image (overlayfs, pivot_root)"
                     : step == kStepImageExec  ? "exec in the image"
                     : step == kStepLimits     ? "limits (cgroup or rlimit)"
                                               : "setup";
  int status_code = 126;
  std::string detail = strerror(err);
  if ((step == kStepExec || step == kStepImageExec) && err == ENOEXEC) {
    detail = "not a binary, and no #! line to run it with";
  } else if (step == kStepExec && err == ENOENT) {
    // The file exists (it was checked), so its #! interpreter does not.
    detail = "its interpreter (the #! line) was not found";
    status_code = 127;
  } else if (step == kStepChdir) {
    detail = req.cwd + ": " + detail;
  } else if (step == kStepImageExec && err == ENOENT) {
    std::string path_var = FindEnv(req.env, "PATH");
    if (path_var.empty()) path_var = "(none)";
    detail = "not found in the image (looked for " + path +
             (path.find('/') == std::string::npos ? " on PATH=" + path_var : "") + ")";
    status_code = 127;
  } else if (step == kStepNamespaces &&
             (err == EPERM || err == EINVAL || err == ENOSPC || err == EACCES)) {
    detail +=
        " (this kernel or container does not let this user create namespaces, e.g. "
        "kernel.unprivileged_userns_clone=0 or a seccomp filter; run with --isolate none)";
  }
  return {status_code, std::string("cannot run ") + path + ": " + name + ": " + detail};
}

std::string DescribeWaitStatus(int wstatus) {
  if (WIFEXITED(wstatus)) return "exited with status " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) {
    int sig = WTERMSIG(wstatus);
    const char* abbrev = sigabbrev_np(sig);
    std::string s = "killed by signal " + std::to_string(sig);
    if (abbrev != nullptr) s += std::string(" (SIG") + abbrev + ")";
    if (WCOREDUMP(wstatus)) s += ", core dumped";
    return s;
  }
  return "ended with wait status " + std::to_string(wstatus);
}

int JobStatusOf(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return 1;
}

int RunAndWait(const std::vector<std::string>& argv) {
  std::vector<char*> c;
  for (const std::string& a : argv) c.push_back(const_cast<char*>(a.c_str()));
  c.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return kExitNotFound;
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) dup2(null, 0);
    execvp(c[0], c.data());
    _exit(kExitNotFound);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return kExitNotFound;
  }
  return JobStatusOf(st);
}

}  // namespace stdmpi
