#include "program.h"

#include <errno.h>
#include <fcntl.h>
#include <hwloc/glibc-sched.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "childenv.h"
#include "clock.h"
#include "fsutil.h"
#include "image.h"
#include "placement.h"

extern char** environ;

namespace stdmpi {

namespace {

// <dir of this executable>/../lib/stdmpi/libstdmpi-preload.so, if it is there.
std::string FindPreloadLib() {
  std::string lib = ExeDir() + "/../lib/stdmpi/libstdmpi-preload.so";
  char real[PATH_MAX];
  if (realpath(lib.c_str(), real) == nullptr) return {};
  return real;
}

// <dir of this executable>/../share/stdmpi, if it holds the bridges.
std::string FindShareDir() {
  std::string share = ExeDir() + "/../share/stdmpi";
  char real[PATH_MAX];
  if (realpath(share.c_str(), real) == nullptr) return {};
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) return {};
  return real;
}

// The command's pid: `levels` supervisors down from `pid` (stdmpi-init, and
// in a container the second stdmpi-init that is PID 1 there), or -1.
pid_t CommandPid(pid_t pid, int levels) {
  for (int i = 0; i < levels && pid > 0; ++i) {
    std::string path =
        "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children";
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) return -1;
    int child = -1;
    if (std::fscanf(f, "%d", &child) != 1) child = -1;
    std::fclose(f);
    pid = child;
  }
  return pid;
}

// The PUs this node's ranks may use, as an hwloc bitmap.
Bitmap NodeBitmap(const cpu_set_t& mask) {
  Bitmap node = NewBitmap();
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &mask)) hwloc_bitmap_set(node.get(), static_cast<unsigned>(cpu));
  }
  return node;
}

}  // namespace

int Program::Place(const Position& where, const std::string& prefix) {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) return 0;
  if (hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    std::fprintf(stderr, "%swarning: cannot read this machine's topology (hwloc): not binding\n",
                 prefix.c_str());
    return 0;
  }
  Bitmap own = NewBitmap(), node = NodeBitmap(where.node_mask);
  hwloc_get_cpubind(topo, own.get(), HWLOC_CPUBIND_PROCESS);
  if (hwloc_bitmap_iszero(own.get())) hwloc_bitmap_copy(own.get(), node.get());
  PlacementInput in;
  in.bind_to = opts_.bind_to;
  in.bind_to_given = opts_.bind_to_given;
  in.cpus_per_rank = opts_.cpus_per_rank;
  in.local_rank = where.local_rank;
  in.local_size = where.local_size;
  in.own = own.get();
  in.node = node.get();
  in.launcher_bound = where.masks_differ;
  Placement p = stdmpi::Place(topo, in);
  char host[256] = "?";
  gethostname(host, sizeof(host) - 1);
  if (p.cpuset && hwloc_set_cpubind(topo, p.cpuset.get(), HWLOC_CPUBIND_PROCESS) != 0) {
    std::fprintf(stderr, "%swarning: cannot bind to PUs %s (%s): running unbound\n", prefix.c_str(),
                 ListOf(p.cpuset.get()).c_str(), strerror(errno));
    p.unbound_reason = "binding failed";
    p.cpuset.reset();
  }
  if (p.cpuset) {
    bound_ = true;
    CPU_ZERO(&bound_cpus_);
    hwloc_cpuset_to_glibc_sched_affinity(topo, p.cpuset.get(), &bound_cpus_, sizeof(bound_cpus_));
  }
  // Memory of the command (it inherits this thread's policy) on its NUMA nodes.
  if (p.cpuset && p.nodeset &&
      hwloc_set_membind(topo, p.nodeset.get(), HWLOC_MEMBIND_BIND,
                        HWLOC_MEMBIND_THREAD | HWLOC_MEMBIND_BYNODESET) != 0) {
    std::fprintf(stderr, "%swarning: cannot bind memory to NUMA node(s) %s (%s)\n", prefix.c_str(),
                 ListOf(p.nodeset.get()).c_str(), strerror(errno));
  }
  if (p.oversubscribed && !p.cpuset && opts_.bind_to != BindTo::kNone && !opts_.quiet &&
      where.local_rank == 0 && !where.masks_differ) {
    std::fprintf(stderr, "stdmpi: %s: %s: ranks are not bound to cores\n", host,
                 p.unbound_reason.c_str());
  }
  if (opts_.report_bindings) {
    Bitmap now = NewBitmap();
    hwloc_get_cpubind(topo, now.get(), HWLOC_CPUBIND_PROCESS);
    std::string line = "stdmpi: rank " + std::to_string(where.rank) + " on " + host + ": " +
                       DescribeBinding(topo, now.get());
    if (!p.cpuset) line += " (not bound: " + p.unbound_reason + ")";
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  hwloc_topology_destroy(topo);
  return p.threads;
}

bool Program::MakePipes(int in[2], int out[2], int err[2]) {
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    failure_ = {kExitInternal, std::string("cannot create pipes: ") + strerror(errno)};
    for (int* fds : {in, out, err}) {
      for (int i = 0; i < 2; ++i) {
        if (fds[i] >= 0) close(fds[i]);
      }
    }
    return false;
  }
  // Bigger pipes mean fewer wake-ups for large payloads and floods; the kernel
  // may refuse (pipe-max-size), which is fine.
  fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
  fcntl(in[1], F_SETPIPE_SZ, 1 << 20);
  return true;
}

bool Program::Resolve(std::string* path, InitConfig* init) {
  if (!opts_.image.empty()) {
    // The command is looked up inside the image, by stdmpi-init.
    std::string err;
    init->isolate = InitConfig::Isolate::kImage;
    init->binds = opts_.binds;
    init->upper = opts_.upper;
    *path = opts_.command[0];
    adapt_.argv = opts_.command;
    if (!PrepareImage(opts_.image, &init->layers, &err)) {
      failure_ = {kExitCannotExecute, err};
      return false;
    }
    return true;
  }
  const char* path_env = getenv("PATH");
  if (!ResolveExecutable(opts_.command[0], path_env ? path_env : "", path, &failure_)) {
    adapt_.argv = opts_.command;
    return false;
  }
  char real[PATH_MAX];
  Lang lang = DetectLanguage(realpath(path->c_str(), real) ? real : path->c_str());
  adapt_ = AdaptCommand(opts_.command, lang, opts_.line_buffered);
  return true;
}

// --mem-per-rank, --max-procs: a cgroup of the rank's own, else rlimits.
void Program::PrepareLimits(const Position& where, InitConfig* init) {
  if (opts_.mem_per_rank > 0 || opts_.max_procs > 0) {
    std::string how;
    limits_.Prepare(opts_.mem_per_rank, opts_.max_procs, where.rank, init, &how);
    if (limits_.uses_rlimits() && !opts_.quiet && where.local_rank == 0) {
      // Said once a node, at the start: what the limits are worth here.
      char host[256] = "?";
      gethostname(host, sizeof(host) - 1);
      std::fprintf(stderr,
                   "stdmpi: %s: no cgroup can be made here, the limits are rlimits: "
                   "--mem-per-rank limits address space (not memory in use), --max-procs the "
                   "user's processes (not the rank's), and a program running as root can raise "
                   "them\n",
                   host);
    }
  }
}

void Program::Start(const Position& where, const std::string& prefix) {
  // Also a second time: a task farm's worker starts again.
  pid_ = -1;
  exited_ = false;
  failure_ = SpawnFailure{};
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (!MakePipes(in, out, err)) return;
  ChildEnvInput ce;
  ce.threads = Place(where, prefix);
  for (char** e = environ; *e != nullptr; ++e) ce.base.emplace_back(*e);
  ce.rank = where.rank;
  ce.size = where.size;
  ce.local_rank = where.local_rank;
  ce.local_size = where.local_size;
  ce.appnum = AppNumOf(where.rank, AppSizes(opts_));
  ce.share_dir = FindShareDir();
  ce.shm_fd = shared_fd_;
  SpawnRequest sr;
  bool found = Resolve(&sr.path, &sr.init);
  if (found && adapt_.line_buffered) {
    ce.preload_lib = FindPreloadLib();
    if (ce.preload_lib.empty()) {
      std::fprintf(stderr,
                   "%swarning: libstdmpi-preload.so is missing (reinstall stdmpi): the command's "
                   "output is not line-buffered\n",
                   prefix.c_str());
    }
  }
  sr.env = BuildChildEnv(ce);
  if (opts_.isolate && opts_.image.empty()) sr.init.isolate = InitConfig::Isolate::kHost;
  sr.init.keep_net = opts_.isolate_net;
  PrepareLimits(where, &sr.init);
  sr.argv = ExpandStdmpiVariables(adapt_.argv, sr.env);
  sr.stdin_fd = in[0];
  sr.stdout_fd = out[1];
  sr.stderr_fd = err[1];
  sr.keep_fd = shared_fd_;
  sr.init_path = ExeDir() + "/stdmpi-init";
  if (access(sr.init_path.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "%swarning: %s is missing (reinstall stdmpi): processes the command starts "
                 "in the background may outlive the job\n",
                 prefix.c_str(), sr.init_path.c_str());
    sr.init_path.clear();
  }
  if (opts_.isolate && sr.init_path.empty()) {
    failure_ = {kExitCannotExecute,
                "--isolate host needs stdmpi-init next to stdmpi-shim (reinstall stdmpi)"};
    found = false;
  }
  under_init_ = !sr.init_path.empty();
  contained_ = sr.init.isolate != InitConfig::Isolate::kNone;
  if (found) {
    spawn_begin_ = RealSeconds();
    pid_ = Spawn(sr, &failure_);
    spawn_end_ = RealSeconds();
    started_at_ = MonotonicSeconds();
  }
  if (pid_ < 0) {
    // Nothing runs, and nothing will exit: as good as ended.
    exited_ = true;
    limits_.Remove();
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
}

bool Program::Reap(int* status) {
  if (pid_ <= 0 || exited_ || waitpid(pid_, status, WNOHANG) <= 0) return false;
  exited_ = true;
  return true;
}

void Program::Stop() {
  if (exited_ || pid_ <= 0) return;
  Kill(SIGTERM);  // stdmpi-init ends the command's whole group
  for (int i = 0; i < 100; ++i) {
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      exited_ = true;
      return;
    }
    usleep(10000);
  }
  Kill(SIGKILL);
}

bool Program::BlockedReadingStdin() const {
  pid_t pid = CommandPid(pid_, under_init_ ? (contained_ ? 2 : 1) : 0);
  if (pid <= 0) return false;
  std::string path = "/proc/" + std::to_string(pid) + "/syscall";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  long nr = -1;
  unsigned long fd = 1;
  bool ok = std::fscanf(f, "%ld %lx", &nr, &fd) == 2;
  std::fclose(f);
  return ok && nr == SYS_read && fd == 0;
}

}  // namespace stdmpi
