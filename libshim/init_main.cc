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
// async-signal-safety traps.
//
// What it sets up comes from the shim as an InitConfig (init_config.h): the
// limits first, then, when isolated, a light container for the command: new
// mount, PID, IPC, UTS and (unless keep_net) network namespaces, through a user namespace when not
// root; /usr and /etc read-only, a private /tmp (the working directory, the command's directory and
// stdmpi's own prefix stay visible if they are under /tmp), a fresh /proc, a hostname of its own
// and only the loopback network. It then forks a second copy of this supervisor, which is PID 1
// there: when it ends, the kernel ends everything left in the container. With an image, its layers
// are the root filesystem instead of the host's.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "child_steps.h"
#include "clock.h"
#include "fsutil.h"
#include "init_config.h"
#include "namespaces.h"

using namespace stdmpi;

namespace {

// Grace between forwarding a terminating signal and SIGKILL.
constexpr long kGraceNs = 500'000'000;
// After the command exits: how long what it left behind gets to end.
constexpr long kLeftoverNs = 300'000'000;

// Reported to the shim's Spawn() as its own child does (child_steps.h).
[[noreturn]] void StepFailed(int errfd, int step) {
  int msg[2] = {step, errno};
  ssize_t ignored = write(errfd, msg, sizeof(msg));
  (void)ignored;
  _exit(step == kStepExec ? 127 : 126);
}
[[noreturn]] void ExecFailed(int errfd) {
  StepFailed(errfd, kStepExec);
}

// Makes every mount at and under `path` read-only: a mount under /usr (an
// NFS share, a squashfs), or /sys's cgroup file systems, must not stay
// writable. (Kernels before 5.12 lack mount_setattr: the top stays read-only.)
bool ReadOnlyBelow(const char* path) {
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  return syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) == 0 ||
         errno == ENOSYS;
}

// Makes `path` a read-only view of itself (if it exists), keeping the flags a
// user namespace may not drop.
bool BindReadOnly(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return true;
  if (mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) return false;
  struct statvfs sv;
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
  if (statvfs(path, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  }
  if (mount(nullptr, path, nullptr, flags, nullptr) != 0) return false;
  return ReadOnlyBelow(path);
}

// The isolated command keeps no capability, and can gain none (setuid files,
// file capabilities): as root too, it cannot remount, unmount or mount what
// the container was built from, load modules or trace the host. Called in
// the command's process, just before exec.
bool DropPrivileges() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return false;
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  return syscall(SYS_capset, &header, data) == 0;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

// A /dev of the container's own under `root`: a small tmpfs holding the
// host's harmless devices (null, zero, full, random, urandom, tty), a private
// /dev/shm, a pseudo-terminal instance of its own where the kernel allows,
// and the usual links. No disk, no memory device, nothing an image brings.
void MakeDev(int errfd, const std::string& root) {
  const std::string dev = root + "/dev";
  if (!MakeDirs(dev) ||
      mount("tmpfs", dev.c_str(), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m") != 0) {
    StepFailed(errfd, kStepMounts);
  }
  for (const char* name : {"null", "zero", "full", "random", "urandom", "tty"}) {
    const std::string from = std::string("/dev/") + name, to = dev + "/" + name;
    int fd = open(to.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) close(fd);
    if (fd < 0 || mount(from.c_str(), to.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      StepFailed(errfd, kStepMounts);
    }
  }
  const std::string shm = dev + "/shm", pts = dev + "/pts";
  if (mkdir(shm.c_str(), 01777) != 0 ||
      mount("tmpfs", shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    StepFailed(errfd, kStepMounts);
  }
  if (mkdir(pts.c_str(), 0755) == 0 && mount("devpts", pts.c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
                                             "newinstance,ptmxmode=0666,mode=0620") == 0) {
    symlinkat("pts/ptmx", AT_FDCWD, (dev + "/ptmx").c_str());
  }
  const std::pair<const char*, const char*> links[] = {{"/proc/self/fd", "fd"},
                                                       {"/proc/self/fd/0", "stdin"},
                                                       {"/proc/self/fd/1", "stdout"},
                                                       {"/proc/self/fd/2", "stderr"}};
  for (const auto& [target, name] : links) {
    if (symlink(target, (dev + "/" + name).c_str()) != 0) StepFailed(errfd, kStepMounts);
  }
}

// Mounts the image as the new root: overlayfs of its layers (no devices, no
// setuid) with a throwaway upper layer on a tmpfs, a /dev of its own
// (MakeDev), the host's /sys read-only, a private /tmp, the working
// directory, stdmpi's prefix (read-only: the bridges) and the user's binds at
// their places, then pivot_root into it.
void EnterImage(int errfd, const InitConfig& image, const std::string& cwd, int cwd_fd,
                const std::string& prefix, int prefix_fd, const std::vector<int>& bind_fds) {
  const std::string scratch = "/tmp/.stdmpi-rank";
  const std::string root = scratch + "/root";
  // The writable layer: throwaway, or kept for packing (stdmpirun --pack).
  std::string upper = scratch + "/upper", work = scratch + "/work";
  if (!image.upper.empty()) {
    upper = image.upper + "/upper";
    work = image.upper + "/work";
  }
  if (!MakeDirs(upper) || !MakeDirs(work) || !MakeDirs(root)) StepFailed(errfd, kStepMounts);
  std::string lower;
  for (size_t i = image.layers.size(); i-- > 0;) {  // overlayfs: top-most first
    if (!lower.empty()) lower += ':';
    lower += image.layers[i];
  }
  std::string data = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
  const unsigned long flags = MS_NODEV | MS_NOSUID;
  if (mount("overlay", root.c_str(), "overlay", flags, data.c_str()) != 0) {
    // In a user namespace overlayfs keeps its metadata in user.* attributes.
    data += ",userxattr";
    if (mount("overlay", root.c_str(), "overlay", flags, data.c_str()) != 0)
      StepFailed(errfd, kStepImage);
  }
  auto bind = [&](const std::string& from, const std::string& to, bool rdonly) {
    std::string target = root + to;
    struct stat st;
    bool is_dir = stat(from.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
    if (is_dir) {
      if (!MakeDirs(target)) StepFailed(errfd, kStepMounts);
    } else {
      if (!MakeDirs(DirOf(target))) StepFailed(errfd, kStepMounts);
      int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0) close(fd);
    }
    if (mount(from.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      StepFailed(errfd, kStepMounts);
    }
    if (rdonly) {
      mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID,
            nullptr);
      ReadOnlyBelow(target.c_str());
    }
  };
  MakeDev(errfd, root);
  bind("/sys", "/sys", true);
  if (!MakeDirs(root + "/proc") || !MakeDirs(root + "/tmp")) StepFailed(errfd, kStepMounts);
  if (mount("tmpfs", (root + "/tmp").c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    StepFailed(errfd, kStepMounts);
  }
  if (prefix_fd >= 0) bind("/proc/self/fd/" + std::to_string(prefix_fd), prefix, true);
  if (cwd_fd >= 0) bind("/proc/self/fd/" + std::to_string(cwd_fd), cwd, false);
  for (size_t i = 0; i < image.binds.size(); ++i) {
    bind("/proc/self/fd/" + std::to_string(bind_fds[i]), image.binds[i].second, false);
  }
  if (mount("proc", (root + "/proc").c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) !=
      0) {
    StepFailed(errfd, kStepMounts);
  }
  const std::string old = root + "/.stdmpi-old-root";
  if (!MakeDirs(old) || syscall(SYS_pivot_root, root.c_str(), old.c_str()) != 0 ||
      chdir("/") != 0 || umount2("/.stdmpi-old-root", MNT_DETACH) != 0) {
    StepFailed(errfd, kStepImage);
  }
  rmdir("/.stdmpi-old-root");
  if (chdir(cwd.c_str()) != 0) StepFailed(errfd, kStepMounts);
}

// The container (see the top of this file). Returns normally in the calling
// process, which is still in the old PID namespace; its next child is PID 1.
// Joins the user and network namespaces the config names where it can (an
// earlier container's of this rank), else makes new ones; returns whether the
// network was joined (its loopback is up already).
bool EnterNamespaces(int errfd, const InitConfig& cfg) {
  const uid_t uid = geteuid();
  const gid_t gid = getegid();
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
  bool user_joined = false, net_joined = false;
  if (uid != 0) {
    // An unprivileged user gets the other namespaces through a user
    // namespace, mapped to itself (files keep their owners): the earlier
    // container's (its owner, this user, has every capability in it), or a
    // new one.
    user_joined = cfg.join_user_fd >= 0 && setns(cfg.join_user_fd, CLONE_NEWUSER) == 0;
    if (!user_joined &&
        !EnterOwnUserNamespace(MapToItself(uid).c_str(), MapToItself(gid).c_str())) {
      StepFailed(errfd, kStepNamespaces);
    }
  }
  if (!cfg.keep_net) {
    // A network owned by another user namespace than the one entered above
    // cannot be joined: then a new one.
    net_joined = cfg.join_net_fd >= 0 && (uid == 0 || user_joined) &&
                 setns(cfg.join_net_fd, CLONE_NEWNET) == 0;
    if (!net_joined) flags |= CLONE_NEWNET;
  }
  // The program inherits nothing of them.
  if (cfg.join_user_fd >= 0) close(cfg.join_user_fd);
  if (cfg.join_net_fd >= 0) close(cfg.join_net_fd);
  if (unshare(flags) != 0) StepFailed(errfd, kStepNamespaces);
  return net_joined;
}

// Directories that must stay visible under a private /tmp (the working
// directory, the command's, stdmpi's prefix), opened before /tmp is covered.
// A program whose working directory is /tmp itself shares the host's /tmp:
// its files must appear where it was started. Sets *prefix to stdmpi's
// prefix.
std::vector<std::pair<std::string, int>> OpenKeptUnderTmp(const char* cmd_path,
                                                          std::string* prefix) {
  std::vector<std::string> keep;
  char buf[4096];
  if (getcwd(buf, sizeof(buf)) != nullptr) keep.emplace_back(buf);
  keep.push_back(DirOf(cmd_path));
  const std::string bin = ExeDir();  // <prefix>/bin, of stdmpi-init
  if (bin != ".") {
    *prefix = DirOf(bin);
    keep.push_back(*prefix);
  }
  std::vector<std::pair<std::string, int>> kept;
  for (const std::string& k : keep) {
    if (k != "/tmp" && k.compare(0, 5, "/tmp/") != 0) continue;  // /tmp itself: shared
    int fd = open(k.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) kept.emplace_back(k, fd);
  }
  return kept;
}

// Opens `path` for use after /tmp is covered: "/proc/self/fd/N".
std::string HoldOpen(int errfd, const std::string& path, int flags, int step) {
  int fd = open(path.c_str(), O_PATH | O_CLOEXEC | flags);
  if (fd < 0) StepFailed(errfd, step);
  return "/proc/self/fd/" + std::to_string(fd);
}

// --image: everything the new root shows of the host is opened first (the
// layers may be under /tmp: overlayfs takes them by fd), then /tmp is
// covered and the image becomes the root.
void MountImageRoot(int errfd, const InitConfig& cfg, const std::string& prefix) {
  char buf[4096];
  std::string cwd = getcwd(buf, sizeof(buf)) != nullptr ? buf : "/";
  int cwd_fd = open(cwd.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  int prefix_fd = prefix.empty() ? -1 : open(prefix.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  InitConfig img = cfg;
  if (!img.upper.empty()) img.upper = HoldOpen(errfd, img.upper, O_DIRECTORY, kStepImage);
  for (std::string& layer : img.layers) layer = HoldOpen(errfd, layer, O_DIRECTORY, kStepImage);
  std::vector<int> bind_fds;
  for (const auto& b : cfg.binds) {
    int fd = open(b.first.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) StepFailed(errfd, kStepMounts);
    bind_fds.push_back(fd);
  }
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    StepFailed(errfd, kStepMounts);
  }
  EnterImage(errfd, img, cwd, cwd_fd, prefix, prefix_fd, bind_fds);
}

// A hostname of its own: "<host>-r<RANK>".
void NameHost() {
  char buf[256];
  std::string host = "rank";
  if (gethostname(buf, sizeof(buf) - 1) == 0) host = buf;
  const char* rank = getenv("STDMPI_RANK");
  host = host.substr(0, 50) + "-r" + (rank ? rank : "?");
  sethostname(host.data(), host.size());
}

// The rest of the container, built by its PID 1 (a fresh /proc can only be
// mounted from inside the new PID namespace, and, once the host's root is
// gone, not at all: with an image it is mounted before pivot_root).
void BuildContainer(int errfd, const InitConfig& cfg, const char* cmd_path, bool net_joined) {
  std::string prefix;
  std::vector<std::pair<std::string, int>> kept = OpenKeptUnderTmp(cmd_path, &prefix);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    StepFailed(errfd, kStepMounts);
  }
  if (cfg.isolate == InitConfig::Isolate::kImage) {
    for (auto& [path, fd] : kept) close(fd);
    kept.clear();
    MountImageRoot(errfd, cfg, prefix);
  } else if (!BindReadOnly("/usr") || !BindReadOnly("/etc") || !BindReadOnly("/sys") ||
             mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    StepFailed(errfd, kStepMounts);
  }
  for (const auto& [path, fd] : kept) {
    std::string from = "/proc/self/fd/" + std::to_string(fd);
    // Not recursive for /tmp itself: that would copy the private /tmp too.
    const unsigned long flags = path == "/tmp" ? MS_BIND : MS_BIND | MS_REC;
    if (!MakeDirs(path) || mount(from.c_str(), path.c_str(), nullptr, flags, nullptr)) {
      StepFailed(errfd, kStepMounts);
    }
    close(fd);
  }
  // The working directory may have been covered: enter it again.
  char buf[4096];
  if (getcwd(buf, sizeof(buf)) != nullptr && chdir(buf) != 0) StepFailed(errfd, kStepMounts);
  NameHost();
  // Only loopback, and up (a joined network has it up already).
  if (!cfg.keep_net && !net_joined && !LoopbackUp()) StepFailed(errfd, kStepNetwork);
}

// Exits as a process with wait status `status` did: the same exit status, or
// killed by the same signal (without a core dump), so that whoever waits for
// this process sees the command's own status.
[[noreturn]] void ExitAs(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, nullptr);
    kill(getpid(), sig);
    _exit(128 + sig);
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

// The outer supervisor of a container: passes signals to the inner one (PID 1
// there) and exits as it does.
[[noreturn]] void RelayToInner(pid_t inner, pid_t shim) {
  sigset_t all;
  sigfillset(&all);
  long kill_at = 0;
  for (;;) {
    timespec wait = {1, 0};
    siginfo_t si;
    int sig = sigtimedwait(&all, &si, &wait);
    if (sig == SIGCHLD || sig < 0) {
      int st;
      pid_t p = waitpid(inner, &st, WNOHANG);
      if (p == inner) {
        // The inner supervisor is PID 1 of its namespace, which cannot kill
        // itself with a signal: it exits with 128 + N for a command killed
        // by signal N. Dying by N here passes the command's end on as it
        // was (a command that exits 128 + N by itself reads the same, as in
        // a shell).
        if (WIFEXITED(st) && WEXITSTATUS(st) > 128 && WEXITSTATUS(st) < 128 + 32) {
          st = WEXITSTATUS(st) - 128;  // a wait status: killed by that signal
        }
        ExitAs(st);
      }
      if (sig < 0) {
        if (getppid() != shim && kill_at == 0) {
          kill(inner, SIGTERM);
          kill_at = MonotonicNs() + 2 * kGraceNs;
        } else if (kill_at != 0 && MonotonicNs() > kill_at) {
          kill(inner, SIGKILL);
        }
      }
      continue;
    }
    kill(inner, sig);
  }
}

// This supervisor has no use for the command's stdin, stdout and stderr once
// the command runs, and must not hold them open: the shim learns that the
// command closed its stdout (and so can make no more requests) from EOF, and
// that it stopped reading its replies from EPIPE.
void LetGoOfStdio() {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3; ++fd) {
    if (null >= 0) {
      dup2(null, fd);
    } else {
      close(fd);  // no /dev/null in an image: nothing here writes to them
    }
  }
  if (null > 2) close(null);
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

// --mem-per-rank, --max-procs: everything started from here inherits them.
void ApplyLimits(int errfd, const InitConfig& cfg) {
  for (const std::string& procs : cfg.cgroups) {
    if (!WriteFile(procs.c_str(), std::to_string(getpid()))) StepFailed(errfd, kStepLimits);
  }
  const std::pair<int, uint64_t> limits[] = {{RLIMIT_AS, cfg.rlimit_as},
                                             {RLIMIT_NPROC, cfg.rlimit_nproc}};
  for (const auto& [which, v] : limits) {
    if (v == 0) continue;
    rlimit lim = {static_cast<rlim_t>(v), static_cast<rlim_t>(v)};
    if (setrlimit(which, &lim) != 0) StepFailed(errfd, kStepLimits);
  }
}

// --isolate, --image: the calling process stays outside and relays signals
// to the container's PID 1 (never returning); PID 1 builds the container and
// returns, inside it.
void EnterContainer(int errfd, const InitConfig& cfg, const char* path, pid_t shim) {
  const bool net_joined = EnterNamespaces(errfd, cfg);
  pid_t inner = fork();
  if (inner < 0) StepFailed(errfd, kStepNamespaces);
  if (inner > 0) {
    close(errfd);
    LetGoOfStdio();
    RelayToInner(inner, shim);
  }
  // PID 1 of the container builds it, with a /proc of its own.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const bool in_image = cfg.isolate == InitConfig::Isolate::kImage;
  BuildContainer(errfd, cfg, path, net_joined);
  if (!in_image && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    StepFailed(errfd, kStepMounts);
  }
}

// Forks and execs the command in a process group of its own; returns its pid.
pid_t StartCommand(int errfd, const InitConfig& cfg, const char* path, char** argv) {
  const pid_t self = getpid();
  pid_t cmd = fork();
  if (cmd < 0) ExecFailed(errfd);
  if (cmd == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != self) _exit(137);
    fcntl(errfd, F_SETFD, FD_CLOEXEC);  // closed by a successful exec
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // The command's LD_PRELOAD, kept away from this process (see spawn.cc).
    if (cfg.has_ld_preload) setenv("LD_PRELOAD", cfg.ld_preload.c_str(), 1);
    if (cfg.isolate != InitConfig::Isolate::kNone && !DropPrivileges()) {
      StepFailed(errfd, kStepNamespaces);
    }
    if (cfg.isolate == InitConfig::Isolate::kImage) {
      // Looked up in the image, on the rank's PATH.
      execvp(path, argv);
      StepFailed(errfd, kStepImageExec);
    }
    execv(path, argv);
    ExecFailed(errfd);
  }
  setpgid(cmd, cmd);  // also here: no race with signals sent to the group
  return cmd;
}

// Sends `sig` to the command's group and to every child of this subreaper
// (orphans of the command end up here, also those in a session or group of
// their own), and to their groups.
void SignalLeftovers(pid_t cmd, int sig) {
  kill(-cmd, sig);
  const std::string self = std::to_string(getpid());
  FILE* f = fopen(("/proc/" + self + "/task/" + self + "/children").c_str(), "r");
  if (f == nullptr) return;
  int child;
  while (fscanf(f, "%d", &child) == 1) {
    kill(child, sig);
    if (getpgid(child) == child) kill(-child, sig);
  }
  fclose(f);
}

// Forwards signals to the command's group until it exits; returns its wait
// status. Asked to terminate, it escalates to SIGKILL after a grace period.
int Supervise(pid_t cmd, pid_t parent) {
  sigset_t all;
  sigfillset(&all);
  int status = 0;
  long kill_at = 0;  // when to SIGKILL the group (0: not asked to terminate)
  for (;;) {
    timespec wait = {1, 0};
    if (kill_at != 0) {
      long left = kill_at - MonotonicNs();
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
      if (getppid() != parent && kill_at == 0) {
        kill(-cmd, SIGTERM);
        kill_at = MonotonicNs() + kGraceNs;
      }
      continue;
    }
    if (sig == SIGCHLD) {
      if (ReapAll(cmd, &status)) return status;
      continue;
    }
    if (sig == KillTreeSignal()) {
      SignalLeftovers(cmd, SIGKILL);
      continue;
    }
    kill(-cmd, sig);
    if (IsTerminating(sig) && kill_at == 0) kill_at = MonotonicNs() + kGraceNs;
  }
}

// The command is gone; ends what it left behind (its group, and anything
// orphaned to this subreaper from elsewhere) and reaps it all.
void EndLeftovers(pid_t cmd, int* status) {
  if (kill(-cmd, 0) != 0 && !HasChildren()) return;
  sigset_t all;
  sigfillset(&all);
  SignalLeftovers(cmd, SIGTERM);
  long deadline = MonotonicNs() + kLeftoverNs;
  bool killed = false;
  while (kill(-cmd, 0) == 0 || HasChildren()) {
    long left = deadline - MonotonicNs();
    if (left <= 0) {
      if (killed) break;
      SignalLeftovers(cmd, SIGKILL);
      killed = true;
      deadline = MonotonicNs() + kLeftoverNs;
      continue;
    }
    timespec wait = {0, left < 50'000'000 ? left : 50'000'000};
    siginfo_t si;
    if (sigtimedwait(&all, &si, &wait) == SIGCHLD) ReapAll(cmd, status);
    ReapAll(cmd, status);
  }
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

  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);

  const InitConfig cfg = TakeInitConfig();
  ApplyLimits(errfd, cfg);
  if (cfg.isolate != InitConfig::Isolate::kNone) EnterContainer(errfd, cfg, path, shim);
  const pid_t parent = getppid();

  // Descendants orphaned by the command come to this process, not to PID 1.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t cmd = StartCommand(errfd, cfg, path, cmd_argv);
  close(errfd);
  LetGoOfStdio();
  int status = Supervise(cmd, parent);
  EndLeftovers(cmd, &status);
  ExitAs(status);
}
