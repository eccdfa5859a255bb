#include "shim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hwloc/glibc-sched.h>
#include <limits.h>
#include <malloc.h>
#include <mpi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "adapt.h"
#include "childenv.h"
#include "clock.h"
#include "demux.h"
#include "engine.h"
#include "image.h"
#include "numbers.h"
#include "placement.h"
#include "rank_limits.h"
#include "request.h"
#include "spawn.h"
#include "trace.h"

extern char** environ;

namespace stdmpi {

namespace {

// Wall-clock seconds since the epoch (the trace's times, comparable across ranks).
double RealNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Open MPI's PMIx client talks to its local server (mpirun's or orted's) over
// TCP on loopback without TCP_NODELAY. In MPI_Finalize it writes several small
// messages in a row and the server sends nothing back until it has them all:
// Nagle's algorithm holds the second one until the server's delayed ACK, 40 ms
// later (seen with strace: a 40 ms gap in a 45 ms MPI_Finalize, one rank or
// several). Setting TCP_NODELAY on this process's TCP sockets once MPI is up
// sends every message at once. It changes only when bytes leave, never what is
// sent, and the sockets of Open MPI's TCP transport have it set already.
// Calls `f` with each number named in directory `dir` (/proc/self/fd,
// /proc/self/task), the directory's own descriptor left out; false if it
// cannot be read.
bool ForEachNumberIn(const char* dir, const std::function<void(long)>& f) {
  DIR* d = opendir(dir);
  if (d == nullptr) return false;
  while (dirent* e = readdir(d)) {
    char* end;
    long n = strtol(e->d_name, &end, 10);
    if (*end == '\0' && end != e->d_name && n != dirfd(d)) f(n);
  }
  closedir(d);
  return true;
}

void SendSmallTcpWritesAtOnce() {
  ForEachNumberIn("/proc/self/fd", [](long fd) {
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM) {
      return;
    }
    sockaddr_storage addr{};
    len = sizeof(addr);
    if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        (addr.ss_family != AF_INET && addr.ss_family != AF_INET6)) {
      return;
    }
    int one = 1;
    setsockopt(static_cast<int>(fd), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  });
}

// stdmpirun merges the output of the ranks on its machine line by line
// (launcher/output_merger.h): if its socket can be reached, this shim's stdout
// and stderr become two connections to it. The launcher's own descriptors stay
// open out of the way (mpirun's stdout is a pty, whose closing could hang up
// the rank); a shim on another host keeps writing through the launcher.
void RouteOutputToLauncher() {
  const char* path = getenv("STDMPI_OUTPUT_SOCKET");
  if (path == nullptr || *path == '\0') return;
  sockaddr_un addr{};
  size_t len = strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, len + 1);
  int socks[2] = {-1, -1};
  for (int i = 0; i < 2; ++i) {
    socks[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const char tag = i == 0 ? '1' : '2';
    if (socks[i] < 0 || connect(socks[i], reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        write(socks[i], &tag, 1) != 1) {
      for (int s : socks) {
        if (s >= 0) close(s);
      }
      return;
    }
    int size = 1 << 20;
    setsockopt(socks[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  for (int i = 0; i < 2; ++i) {
    fcntl(i + 1, F_DUPFD_CLOEXEC, 10);
    dup2(socks[i], i + 1);
    close(socks[i]);
  }
  unsetenv("STDMPI_OUTPUT_SOCKET");
}

// Output queued beyond this pauses reading from the child (back-pressure).
constexpr size_t kHighWater = size_t{4} << 20;
// How long a waiting rank polls MPI before it sleeps. Both sides of a
// collective must poll for it to progress; a budget much shorter than a
// scheduler hiccup lets one rank fall asleep, its peer then waits out the
// sleeper's interval and falls asleep too, and every later collective costs
// milliseconds (measured: a bcast+reduce round went from 20 us to 0.7-1.6 ms
// with 200 us). When the node has more ranks than cores, the poll yields the
// core between tests so that computing ranks get it.
constexpr double kDefaultSpin = 2e-3;
// Sleeping poll: the first interval doubles up to a cap that grows with the
// time already waited (5% of it, between 1 and 10 ms): a reply that comes late
// is at most 5% later for it, and a long wait costs almost no CPU.
constexpr long kFirstSleepNs = 10'000;
constexpr long kMinCapNs = 1'000'000;
constexpr long kMaxCapNs = 10'000'000;
// After the child exited: how long to wait for its pipes to close when nothing
// more arrives (something it started may still hold them).
constexpr double kDrainIdle = 2.0;
// The child is stdmpi-init, which forwards SIGTERM to the command's group and
// escalates to SIGKILL itself after 500 ms; the shim kills it outright only if
// it is still there well after that.
constexpr uint64_t kKillGraceMs = 1500;
// How long a shim waits before it reports a command killed by SIGKILL (see
// OnChildExit): long enough for a step-wide kill to reach the shim as well.
constexpr uint64_t kKilledReportDelayMs = 300;

// The directory of this executable.
// The process's peak resident memory in KiB (VmHWM), or -1.
long PeakRssKiB() {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == nullptr) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  }
  fclose(f);
  return kib;
}

std::string ExeDir() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return ".";
  exe[n] = '\0';
  std::string dir(exe);
  dir.erase(dir.rfind('/'));
  return dir;
}

// <dir of this executable>/../lib/stdmpi/libstdmpi-preload.so, if it is there.
std::string FindPreloadLib() {
  std::string lib = ExeDir() + "/../lib/stdmpi/libstdmpi-preload.so";
  char real[PATH_MAX];
  if (realpath(lib.c_str(), real) == nullptr) return {};
  return real;
}

// The pid of the command: the only child of stdmpi-init (or `pid` itself
// when the command runs without it), or -1.
// The command's pid: `levels` supervisors down from `pid` (stdmpi-init, and
// in a container the second stdmpi-init that is PID 1 there).
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

// True if `pid` is blocked in read(0, ...): reading its own stdin.
bool BlockedReadingStdin(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/syscall";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  long nr = -1;
  unsigned long fd = 1;
  bool ok = std::fscanf(f, "%ld %lx", &nr, &fd) == 2;
  std::fclose(f);
  return ok && nr == SYS_read && fd == 0;
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

// A destination for bytes: the shim's stdout/stderr or the child's stdin.
// Streams (pipes, ttys) are written without blocking and report how much is
// queued, so the reader feeding them can pause; regular files are written
// directly.
class Sink {
 public:
  void Open(uv_loop_t* loop, int fd, std::function<void()> on_drain) {
    fd_ = fd;
    on_drain_ = std::move(on_drain);
    uv_handle_type t = uv_guess_handle(fd);
    if (t == UV_TTY && uv_tty_init(loop, &h_.tty, fd, 0) == 0) {
      stream_ = reinterpret_cast<uv_stream_t*>(&h_.tty);
    } else if (t == UV_NAMED_PIPE && uv_pipe_init(loop, &h_.pipe, 0) == 0) {
      if (uv_pipe_open(&h_.pipe, fd) == 0) {
        stream_ = reinterpret_cast<uv_stream_t*>(&h_.pipe);
      } else {
        uv_close(reinterpret_cast<uv_handle_t*>(&h_.pipe), nullptr);
      }
    }
    open_ = true;
  }

  void Write(std::string data) {
    if (data.empty() || broken_ || !open_) return;
    if (stream_ == nullptr) {
      WriteBlocking(data.data(), data.size());
      return;
    }
    uv_buf_t b = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    int n = uv_try_write(stream_, &b, 1);
    if (n == static_cast<int>(data.size())) return;
    if (n < 0 && n != UV_EAGAIN) {
      broken_ = true;
      return;
    }
    if (n > 0) data.erase(0, static_cast<size_t>(n));
    auto* w = new WriteReq;
    w->sink = this;
    w->data = std::move(data);
    b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    queued_ += w->data.size();
    if (uv_write(&w->req, stream_, &b, 1, &Sink::OnWritten) != 0) {
      queued_ -= w->data.size();
      delete w;
      broken_ = true;
    }
  }

  size_t queued() const { return queued_; }

  // Bytes written that the reader has not read yet: not yet in the pipe,
  // plus what sits in the pipe. (libuv's own count: queued() drops only when
  // a write's callback runs, which may be an event-loop turn after the bytes
  // went into the pipe and were read.)
  size_t Unread() const {
    if (!open_ || broken_) return 0;
    int in_pipe = 0;
    if (ioctl(fd_, FIONREAD, &in_pipe) != 0) in_pipe = 0;
    size_t not_written = stream_ != nullptr ? uv_stream_get_write_queue_size(stream_) : 0;
    return not_written + static_cast<size_t>(in_pipe);
  }

  // Stops writing (the reader is gone); queued writes are cancelled.
  void Close() {
    if (!open_) return;
    open_ = false;
    if (stream_ != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(stream_), nullptr);
    stream_ = nullptr;
  }

 private:
  struct WriteReq {
    uv_write_t req;
    Sink* sink;
    std::string data;
  };

  static void OnWritten(uv_write_t* req, int status) {
    auto* w = reinterpret_cast<WriteReq*>(req);
    Sink* s = w->sink;
    s->queued_ -= w->data.size();
    delete w;
    if (status < 0) s->broken_ = true;
    if (s->on_drain_) s->on_drain_();
  }

  void WriteBlocking(const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        broken_ = true;
        return;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  int fd_ = -1;
  union {
    uv_tty_t tty;
    uv_pipe_t pipe;
  } h_;
  uv_stream_t* stream_ = nullptr;
  std::function<void()> on_drain_;
  size_t queued_ = 0;
  bool broken_ = false;
  bool open_ = false;
};

class Shim {
 public:
  explicit Shim(const ShimOptions& o) : opts_(o), demux_(static_cast<size_t>(o.max_line)) {}

  // Starts the command (before MPI_Init with --start-early when the
  // launcher's variables say where this task stands), initializes MPI, runs
  // the rank and finalizes MPI; returns the exit status of a normal end.
  int Main();

 private:
  // Where this rank stands: from the engine after MPI_Init, or from the
  // launcher's variables when the command starts before it.
  struct Where {
    int rank = 0, size = 1, local_rank = 0, local_size = 1;
    cpu_set_t node_mask{};      // the cores this node's ranks may use between them
    bool masks_differ = false;  // the launcher bound the node's ranks differently
  };
  int Run();
  // Creates the pipes, places this rank and starts the command (or notes why
  // it cannot be started, for Run to report once MPI runs).
  void StartChild();
  // --start-early: MPI's view of where this rank stands must be the one the
  // command was started with; a different rank aborts, a different node
  // placement is warned about.
  void CheckEarlyPosition();
  template <typename H>
  static Shim* Self(H* h) {
    return static_cast<Shim*>(reinterpret_cast<uv_handle_t*>(h)->data);
  }
  template <typename H>
  void InitData(H* h) {
    reinterpret_cast<uv_handle_t*>(h)->data = this;
  }

  // Binds this shim (and so the command it starts) to its cores, per
  // --bind-to and --cpus-per-rank; returns the command's thread count.
  int PlaceRank();

  std::string Prefix() const {
    return "stdmpi: rank " + std::to_string(where_.rank) + " (" +
           DescribeCommand(opts_.command, 80) + "): ";
  }

  // --- the child's stdout ---------------------------------------------------
  void ProcessStdout();
  void HandleRequestLine(std::string_view line);
  void RequestFailed(const std::string& reason, std::optional<Verb> collective);
  void ForwardOutput(std::string_view data);
  void CheckScriptEnded();
  void UpdateReading();

  // --- MPI operations -------------------------------------------------------
  void StartOp(Request req, std::string_view payload);
  void StartFailedCollective(Verb verb, const std::string& reason);
  void OpStarted(bool done);
  void FinishOp();
  void StartPolling();
  void StopPolling();
  void ArmSleep();
  void OnIdle();
  void OnSleepTimer();
  void ReplyToChild(std::string reply) { child_in_.Write(std::move(reply)); }

  // --- ending ---------------------------------------------------------------
  // With STDMPI_REPORT_MEMORY set: a line with this shim's peak memory (for
  // the tests and benchmarks that check it stays bounded); otherwise "".
  std::string MemoryNote() const {
    if (getenv("STDMPI_REPORT_MEMORY") == nullptr) return {};
    return "stdmpi: rank " + std::to_string(where_.rank) +
           ": peak memory of the shim: " + std::to_string(PeakRssKiB()) + " KiB\n";
  }
  void FatalRequest(const std::string& reason, bool report, bool could_return = true);
  void BeginEnding(int code, std::string message, bool quiet = false);
  void OnChildExit(int wstatus);
  void OnTermSignal(int sig);
  void MaybeFinish();
  void ForceEof(const char* why);
  [[noreturn]] void EndNow();
  // Makes sure the child is gone: SIGTERM, up to 1 s, then SIGKILL.
  void StopChild();
  void FlushSinks(double seconds);
  void KillChildGroup(int sig) {
    if (child_pid_ > 0) kill(-child_pid_, sig);
  }

  const ShimOptions& opts_;
  Where where_;
  bool started_early_ = false;
  bool bound_ = false;  // PlaceRank bound this rank to `bound_cpus_`
  cpu_set_t bound_cpus_{};
  // Binds every thread of this process (MPI's included) to `cpus`.
  static void BindAllThreads(const cpu_set_t& cpus);
  // The command's pipes: stdin (its read end, our write end), stdout, stderr.
  int in_[2] = {-1, -1}, out_[2] = {-1, -1}, err_[2] = {-1, -1};
  SpawnFailure spawn_failure_;
  double spawned_at_ = 0;
  // Epoch seconds of the start's steps, for --trace.
  double spawn_begin_ = 0, spawn_end_ = 0, init_begin_ = 0, init_end_ = 0;
  Engine engine_;
  ParseContext pctx_;
  StdoutDemux demux_;

  uv_loop_t loop_;
  uv_pipe_t out_pipe_, err_pipe_;
  bool reading_out_ = false, reading_err_ = false;
  bool stdout_eof_ = false, stderr_eof_ = false;
  Sink out_sink_, err_sink_, child_in_;
  uv_signal_t sig_chld_, sig_term_, sig_int_, sig_hup_, sig_usr1_, sig_usr2_;
  double op_since_ = 0;      // when the pending operation started
  double last_request_ = 0;  // when the program made its last request
  // SIGUSR1 (stdmpirun's SIGQUIT, SIGUSR1 and --timeout): one line on what
  // this rank is doing, so that a hung job is diagnosed in one look.
  void Report();
  uv_idle_t idle_;
  uv_poll_t sleep_poll_;
  int timer_fd_ = -1;
  bool sleep_armed_ = false;
  uv_timer_t kill_timer_, end_timer_, drain_timer_, flush_timer_;
  char readbuf_[256 * 1024];

  pid_t child_pid_ = -1;
  bool under_init_ = false;
  Adaptation adapt_;
  uv_timer_t ncl_timer_;
  uv_timer_t report_timer_;  // a SIGKILLed command's report, held back a moment
  uv_timer_t limit_timer_;   // --time-limit
  uv_timer_t closed_timer_;  // stdout closed, the command still runs: say so soon
  uv_timer_t answer_timer_;  // answers peers' questions (see Engine::MarkFinished)
  bool closing_ = false;     // the rank ended; waiting for the others (Engine::StartClosing)
  TraceWriter trace_;        // --trace
  std::string trace_name_, trace_line_;
  double trace_start_ = 0;
  int closing_wait_ms_ = 0;
  static void OnClosingTimer(uv_timer_t* t) {
    Shim* s = Self(t);
    if (s->engine_.PollClosing()) {
      uv_stop(&s->loop_);
      return;
    }
    // Polls often at first (the other ranks usually end together), then every 20 ms.
    s->closing_wait_ms_ = s->closing_wait_ms_ < 1 ? 1 : std::min(s->closing_wait_ms_ * 2, 20);
    uv_timer_start(t, &Shim::OnClosingTimer, static_cast<uint64_t>(s->closing_wait_ms_), 0);
  }
  RankLimits limits_;
  bool time_limit_hit_ = false;
  std::string limit_note_;
  // " after running into ..." for the report of a command that failed, or "".
  std::string LimitNote();
  std::string fatal_line_;  // NCL: the first "fatal:" line it printed
  bool child_exited_ = false;
  int child_status_ = 0;
  double last_activity_ = 0;

  bool errors_return_ = false;
  std::string current_request_;  // the request being handled, quoted for messages
  std::optional<Request> payload_req_;
  std::string deferred_error_;
  std::optional<Verb> deferred_verb_;
  bool stdout_at_line_start_ = true, stderr_at_line_start_ = true;
  std::string tag_;

  double spin_budget_ = kDefaultSpin;
  bool yield_ = false;  // more ranks than cores here: yield while polling
  double spin_until_ = 0;
  double op_started_ = 0;
  long sleep_ns_ = kFirstSleepNs;

  bool ending_ = false;     // the job ends: drain, report, MPI_Abort
  bool signalled_ = false;  // a terminating signal: drain briefly, _exit
  bool end_deadline_passed_ = false;
  bool quiet_ = false;
  int end_code_ = 0;
  std::string end_message_;
  bool finished_ = false;
};

int Shim::PlaceRank() {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) return 0;
  if (hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    std::fprintf(stderr, "%swarning: cannot read this machine's topology (hwloc): not binding\n",
                 Prefix().c_str());
    return 0;
  }
  Bitmap own = NewBitmap(), node = NewBitmap();
  hwloc_get_cpubind(topo, own.get(), HWLOC_CPUBIND_PROCESS);
  const cpu_set_t& mask = where_.node_mask;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &mask)) hwloc_bitmap_set(node.get(), static_cast<unsigned>(cpu));
  }
  if (hwloc_bitmap_iszero(own.get())) hwloc_bitmap_copy(own.get(), node.get());
  PlacementInput in;
  in.bind_to = opts_.bind_to;
  in.bind_to_given = opts_.bind_to_given;
  in.cpus_per_rank = opts_.cpus_per_rank;
  in.local_rank = where_.local_rank;
  in.local_size = where_.local_size;
  in.own = own.get();
  in.node = node.get();
  in.launcher_bound = where_.masks_differ;
  Placement p = Place(topo, in);
  char host[256] = "?";
  gethostname(host, sizeof(host) - 1);
  const std::string where =
      "stdmpi: rank " + std::to_string(where_.rank) + " on " + std::string(host) + ": ";
  if (p.cpuset && hwloc_set_cpubind(topo, p.cpuset.get(), HWLOC_CPUBIND_PROCESS) != 0) {
    std::fprintf(stderr, "%swarning: cannot bind to PUs %s (%s): running unbound\n",
                 Prefix().c_str(), ListOf(p.cpuset.get()).c_str(), strerror(errno));
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
    std::fprintf(stderr, "%swarning: cannot bind memory to NUMA node(s) %s (%s)\n",
                 Prefix().c_str(), ListOf(p.nodeset.get()).c_str(), strerror(errno));
  }
  if (p.oversubscribed && !p.cpuset && opts_.bind_to != BindTo::kNone && !opts_.quiet &&
      where_.local_rank == 0 && !where_.masks_differ) {
    std::fprintf(stderr, "stdmpi: %s: %s: ranks are not bound to cores\n", host,
                 p.unbound_reason.c_str());
  }
  if (opts_.report_bindings) {
    Bitmap now = NewBitmap();
    hwloc_get_cpubind(topo, now.get(), HWLOC_CPUBIND_PROCESS);
    std::string line = where + DescribeBinding(topo, now.get());
    if (!p.cpuset) line += " (not bound: " + p.unbound_reason + ")";
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  hwloc_topology_destroy(topo);
  return p.threads;
}

int Shim::Main() {
  if (opts_.start_early && opts_.native_ranks.empty()) {
    LaunchPosition p;
    std::string why;
    if (LaunchPositionFromEnv([](const char* name) -> const char* { return getenv(name); }, &p,
                              &why)) {
      // mpirun --bind-to none: every rank of this node starts with the same
      // cores, so this task's own mask is the node's.
      where_.rank = p.rank;
      where_.size = p.size;
      where_.local_rank = p.local_rank;
      where_.local_size = p.local_size;
      CPU_ZERO(&where_.node_mask);
      sched_getaffinity(0, sizeof(where_.node_mask), &where_.node_mask);
      where_.masks_differ = false;
      started_early_ = true;
      StartChild();
      // The command keeps the rank's cores; MPI_Init meanwhile runs on any
      // of the node's, not on the core where the command starts up. The
      // shim joins its command's cores once MPI is up.
      if (bound_) BindAllThreads(where_.node_mask);
    }
    // Otherwise (not started by Open MPI's mpirun) the command starts after
    // MPI_Init, placed with MPI's view of the node.
  }
  init_begin_ = RealNow();
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    std::fprintf(stderr, "stdmpi-shim: MPI_Init failed\n");
    KillChildGroup(SIGKILL);
    return kExitInternal;
  }
  init_end_ = RealNow();
  // Large requests (a payload, its numbers, the reply: megabytes each) would
  // otherwise each get fresh pages from mmap and fault every one of them in:
  // on an allreduce of 10^6 doubles that was a third of the shim's time. Up to
  // 32 MiB a buffer comes from the heap, and up to 64 MiB of freed heap is kept
  // for the next request. (A sanitizer's allocator ignores this.) Only after
  // MPI_Init: set before it, a node's first task crashed in MPI_Init now and
  // then in the SLURM tests across namespace hosts (2 of 9 runs under load;
  // 0 of 10 with this order).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  SendSmallTcpWritesAtOnce();
  // After MPI_Init, as the malloc settings above: nothing of ours changes the
  // process under MPI_Init's feet. What the program printed meanwhile waits in
  // its pipes, so none of it takes the old way.
  RouteOutputToLauncher();
  if (started_early_ && bound_) BindAllThreads(bound_cpus_);
  int code = Run();
  MPI_Finalize();
  return code;
}

void Shim::BindAllThreads(const cpu_set_t& cpus) {
  bool listed = ForEachNumberIn("/proc/self/task", [&cpus](long tid) {
    sched_setaffinity(static_cast<pid_t>(tid), sizeof(cpus), &cpus);
  });
  if (!listed) sched_setaffinity(0, sizeof(cpus), &cpus);
}

void Shim::CheckEarlyPosition() {
  if (where_.rank != engine_.rank() || where_.size != engine_.size()) {
    std::fprintf(stderr,
                 "stdmpi: rank %d: the command was started as rank %d of %d (from "
                 "OMPI_COMM_WORLD_RANK/_SIZE) but MPI says rank %d of %d; run with "
                 "STDMPI_START_EARLY=0 and report this\n",
                 engine_.rank(), where_.rank, where_.size, engine_.rank(), engine_.size());
    KillChildGroup(SIGKILL);
    MPI_Abort(MPI_COMM_WORLD, kExitInternal);
    _exit(kExitInternal);
  }
  if (where_.local_rank != engine_.local_rank() || where_.local_size != engine_.local_size() ||
      engine_.masks_differ() || !CPU_EQUAL(&where_.node_mask, &engine_.node_mask())) {
    if (!opts_.quiet) {
      std::fprintf(stderr,
                   "%swarning: placed as local rank %d of %d with the launcher's cores, but MPI "
                   "says local rank %d of %d%s: ranks may share cores (STDMPI_START_EARLY=0 "
                   "places them after MPI starts)\n",
                   Prefix().c_str(), where_.local_rank, where_.local_size, engine_.local_rank(),
                   engine_.local_size(),
                   engine_.masks_differ() ? " with cores the launcher bound" : "");
    }
  }
}

void Shim::StartChild() {
  if (pipe2(in_, O_CLOEXEC) != 0 || pipe2(out_, O_CLOEXEC) != 0 || pipe2(err_, O_CLOEXEC) != 0) {
    spawn_failure_ = {kExitInternal, std::string("cannot create pipes: ") + strerror(errno)};
    for (int* fds : {in_, out_, err_}) {
      for (int i = 0; i < 2; ++i) {
        if (fds[i] >= 0) close(fds[i]);
        fds[i] = -1;
      }
    }
    return;
  }
  // Bigger pipes mean fewer wake-ups for large payloads and floods; the kernel
  // may refuse (pipe-max-size), which is fine.
  fcntl(out_[0], F_SETPIPE_SZ, 1 << 20);
  fcntl(in_[1], F_SETPIPE_SZ, 1 << 20);

  ChildEnvInput ce;
  ce.threads = PlaceRank();
  for (char** e = environ; *e != nullptr; ++e) ce.base.emplace_back(*e);
  ce.rank = where_.rank;
  ce.size = where_.size;
  ce.local_rank = where_.local_rank;
  ce.local_size = where_.local_size;
  ce.share_dir = FindShareDir();
  SpawnRequest sr;
  SpawnFailure& failure = spawn_failure_;
  std::string path;
  const char* path_env = getenv("PATH");
  std::vector<std::string> image_dirs;
  bool found;
  std::string image_err;
  if (!opts_.image.empty()) {
    // The command is looked up inside the image, by stdmpi-init.
    found = PrepareImage(opts_.image, &image_dirs, &image_err);
    if (!found) failure = {kExitCannotExecute, image_err};
    path = opts_.command[0];
    adapt_.argv = opts_.command;
  } else {
    found = ResolveExecutable(opts_.command[0], path_env ? path_env : "", &path, &failure);
  }
  if (found && opts_.image.empty()) {
    char real[PATH_MAX];
    Lang lang = DetectLanguage(realpath(path.c_str(), real) ? real : path.c_str());
    adapt_ = AdaptCommand(opts_.command, lang, opts_.line_buffered);
    if (adapt_.line_buffered) {
      ce.preload_lib = FindPreloadLib();
      if (ce.preload_lib.empty()) {
        std::fprintf(stderr,
                     "%swarning: libstdmpi-preload.so is missing (reinstall stdmpi): "
                     "the command's output is not line-buffered\n",
                     Prefix().c_str());
      }
    }
  } else if (opts_.image.empty()) {
    adapt_.argv = opts_.command;
  }
  sr.env = BuildChildEnv(ce);
  if (opts_.isolate) {
    std::string mode = opts_.image.empty() ? "host" : "image";
    SetEnv(&sr.env, "STDMPI_INIT_ISOLATE", opts_.isolate_net ? mode + "+net" : mode);
  }
  if (opts_.mem_per_rank > 0 || opts_.max_procs > 0) {
    std::string how;
    for (const auto& [k, v] :
         limits_.Prepare(opts_.mem_per_rank, opts_.max_procs, where_.rank, &how)) {
      SetEnv(&sr.env, k, v);
    }
  }
  if (!image_dirs.empty()) {
    std::string layers, binds;
    for (const std::string& d : image_dirs) layers += d + "\n";
    for (const auto& [from, to] : opts_.binds) binds += from + "\n" + to + "\n";
    SetEnv(&sr.env, "STDMPI_INIT_IMAGE", layers);
    SetEnv(&sr.env, "STDMPI_INIT_BINDS", binds);
    if (!opts_.upper.empty()) SetEnv(&sr.env, "STDMPI_INIT_UPPER", opts_.upper);
  }
  sr.argv = ExpandStdmpiVariables(adapt_.argv, sr.env);
  sr.path = path;
  sr.stdin_fd = in_[0];
  sr.stdout_fd = out_[1];
  sr.stderr_fd = err_[1];
  sr.init_path = ExeDir() + "/stdmpi-init";
  if (access(sr.init_path.c_str(), X_OK) != 0) {
    std::fprintf(stderr,
                 "%swarning: %s is missing (reinstall stdmpi): processes the command starts "
                 "in the background may outlive the job\n",
                 Prefix().c_str(), sr.init_path.c_str());
    sr.init_path.clear();
  }
  if (opts_.isolate && sr.init_path.empty()) {
    failure = {kExitCannotExecute,
               "--isolate host needs stdmpi-init next to stdmpi-shim "
               "(reinstall stdmpi)"};
    found = false;
  }
  under_init_ = !sr.init_path.empty();
  if (found) {
    spawn_begin_ = RealNow();
    child_pid_ = Spawn(sr, &failure);
    spawn_end_ = RealNow();
    spawned_at_ = MonotonicSeconds();
  }
  close(in_[0]);
  close(out_[1]);
  close(err_[1]);
}

int Shim::Run() {
  uv_loop_init(&loop_);
  std::string err;
  // Started early, this shim bound itself already: MPI learns the node from
  // the cores it was given.
  if (!engine_.Init(opts_.max_message, opts_.native_ranks,
                    started_early_ ? &where_.node_mask : nullptr, &err)) {
    std::fprintf(stderr, "stdmpi: %s\n", err.c_str());
    KillChildGroup(SIGKILL);
    MPI_Abort(MPI_COMM_WORLD, kExitInternal);
    _exit(kExitInternal);
  }
  if (started_early_) {
    CheckEarlyPosition();
  } else {
    where_.rank = engine_.rank();
    where_.size = engine_.size();
    where_.local_rank = engine_.local_rank();
    where_.local_size = engine_.local_size();
    where_.node_mask = engine_.node_mask();
    where_.masks_differ = engine_.masks_differ();
  }
  pctx_.rank = engine_.rank();
  pctx_.size = engine_.size();
  pctx_.max_payload = opts_.max_message;
  if (!opts_.trace.empty()) {
    std::string terr;
    if (!trace_.Open(opts_.trace, engine_.rank(), DescribeCommand(opts_.command, 120), &terr)) {
      std::fprintf(stderr, "%swarning: %s; not tracing\n", Prefix().c_str(), terr.c_str());
    }
  }
  auto trace_startup = [this](const char* name, double begin, double end) {
    trace_.AddStartup(name, (begin - opts_.trace_t0) * 1e6, (end - begin) * 1e6);
  };
  trace_startup("MPI_Init", init_begin_, init_end_);
  tag_ = "[" + std::to_string(engine_.rank()) + "] ";
  spin_budget_ = opts_.spin_us >= 0 ? opts_.spin_us * 1e-6 : kDefaultSpin;
  yield_ = engine_.local_size() > engine_.node_cpus();

  // Signals first, so that not even a child that exits at once is missed.
  uv_signal_init(&loop_, &sig_chld_);
  InitData(&sig_chld_);
  uv_signal_start(
      &sig_chld_,
      [](uv_signal_t* h, int) {
        Shim* s = Self(h);
        int st;
        if (s->child_pid_ > 0 && !s->child_exited_ && waitpid(s->child_pid_, &st, WNOHANG) > 0) {
          s->OnChildExit(st);
        }
      },
      SIGCHLD);
  uv_signal_t* term_handles[] = {&sig_term_, &sig_int_, &sig_hup_};
  int term_sigs[] = {SIGTERM, SIGINT, SIGHUP};
  for (int i = 0; i < 3; ++i) {
    uv_signal_init(&loop_, term_handles[i]);
    InitData(term_handles[i]);
    uv_signal_start(
        term_handles[i], [](uv_signal_t* h, int sig) { Self(h)->OnTermSignal(sig); }, term_sigs[i]);
  }
  uv_signal_init(&loop_, &sig_usr1_);
  InitData(&sig_usr1_);
  uv_signal_start(
      &sig_usr1_, [](uv_signal_t* h, int) { Self(h)->Report(); }, SIGUSR1);
  // SIGUSR2 is the program's: passed on.
  uv_signal_init(&loop_, &sig_usr2_);
  InitData(&sig_usr2_);
  uv_signal_start(
      &sig_usr2_, [](uv_signal_t* h, int) { Self(h)->KillChildGroup(SIGUSR2); }, SIGUSR2);
  uv_idle_init(&loop_, &idle_);
  InitData(&idle_);
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  uv_poll_init(&loop_, &sleep_poll_, timer_fd_);
  InitData(&sleep_poll_);
  for (uv_timer_t* t : {&kill_timer_, &end_timer_, &drain_timer_, &flush_timer_, &ncl_timer_,
                        &report_timer_, &limit_timer_, &closed_timer_, &answer_timer_}) {
    uv_timer_init(&loop_, t);
    InitData(t);
  }

  out_sink_.Open(&loop_, 1, [this] {
    UpdateReading();
    MaybeFinish();
  });
  err_sink_.Open(&loop_, 2, [this] {
    UpdateReading();
    MaybeFinish();
  });

  if (!started_early_) StartChild();
  if (spawn_begin_ > 0) trace_startup("start the program", spawn_begin_, spawn_end_);
  if (in_[1] < 0) {
    std::fprintf(stderr, "%s%s\n", Prefix().c_str(), spawn_failure_.message.c_str());
    MPI_Abort(MPI_COMM_WORLD, kExitInternal);
    _exit(kExitInternal);
  }
  child_in_.Open(&loop_, in_[1], nullptr);
  uv_pipe_init(&loop_, &out_pipe_, 0);
  uv_pipe_open(&out_pipe_, out_[0]);
  InitData(&out_pipe_);
  uv_pipe_init(&loop_, &err_pipe_, 0);
  uv_pipe_open(&err_pipe_, err_[0]);
  InitData(&err_pipe_);

  if (child_pid_ < 0) {
    child_exited_ = true;
    stdout_eof_ = stderr_eof_ = true;
    BeginEnding(spawn_failure_.exit_status,
                Prefix() + "cannot start the command: " + spawn_failure_.message + "\n");
  } else {
    last_activity_ = MonotonicSeconds();
    if (started_early_) {
      // The command may have ended while MPI started, before the handler
      // above was there to see it: look once, as a SIGCHLD would.
      uv_kill(getpid(), SIGCHLD);
    }
    if (opts_.time_limit > 0) {
      // Counted from the command's start.
      double left = std::max(0.0, opts_.time_limit - (MonotonicSeconds() - spawned_at_));
      uv_timer_start(
          &limit_timer_,
          [](uv_timer_t* t) {
            Shim* s = Self(t);
            if (s->child_exited_) return;
            s->time_limit_hit_ = true;
            s->KillChildGroup(SIGKILL);
          },
          static_cast<uint64_t>(left * 1000), 0);
    }
    UpdateReading();
    if (adapt_.ends_by_reading_stdin) {
      uv_timer_start(
          &ncl_timer_, [](uv_timer_t* t) { Self(t)->CheckScriptEnded(); }, 200, 200);
    }
  }
  uv_run(&loop_, UV_RUN_DEFAULT);

  // The rank ended normally. Anything the child left running in its process
  // group goes with it.
  KillChildGroup(SIGTERM);
  std::vector<int> unreceived = engine_.UnreceivedSelfSends();
  if (!unreceived.empty()) {
    std::string tags;
    for (int t : unreceived) tags += (tags.empty() ? "" : ", ") + std::to_string(t);
    std::fprintf(stderr,
                 "%swarning: %zu message(s) this rank sent to itself were never received "
                 "(tag %s)\n",
                 Prefix().c_str(), unreceived.size(), tags.c_str());
    engine_.DropSelfSends();
  }
  StopPolling();
  // Stay until every shim got here, answering the questions of peers that
  // still wait (Engine::MarkFinished); MPI_Finalize follows at once.
  engine_.MarkFinished(FinishReason::kExited);
  engine_.StartClosing();
  closing_ = true;
  uv_timer_stop(&answer_timer_);
  uv_timer_start(&answer_timer_, &Shim::OnClosingTimer, 0, 0);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  close(timer_fd_);
  engine_.Shutdown();
  trace_.Close();
  std::fputs(MemoryNote().c_str(), stderr);
  return 0;
}

// --- the child's stdout -----------------------------------------------------

void Shim::UpdateReading() {
  bool want_out =
      !stdout_eof_ && out_sink_.queued() < kHighWater && (ending_ || signalled_ || !engine_.busy());
  if (want_out != reading_out_) {
    reading_out_ = want_out;
    if (want_out) {
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&out_pipe_),
          [](uv_handle_t* h, size_t, uv_buf_t* b) {
            Shim* s = Self(h);
            *b = uv_buf_init(s->readbuf_, sizeof(s->readbuf_));
          },
          [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
            Shim* s = Self(st);
            if (n > 0) {
              s->last_activity_ = MonotonicSeconds();
              s->demux_.Append(b->base, static_cast<size_t>(n));
            } else if (n < 0) {
              s->stdout_eof_ = true;
              s->demux_.Finish();
              uv_read_stop(st);
              s->reading_out_ = false;
            }
            s->ProcessStdout();
            s->MaybeFinish();
          });
    } else {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&out_pipe_));
    }
  }
  bool want_err = !stderr_eof_ && err_sink_.queued() < kHighWater;
  if (want_err != reading_err_) {
    reading_err_ = want_err;
    if (want_err) {
      uv_read_start(
          reinterpret_cast<uv_stream_t*>(&err_pipe_),
          [](uv_handle_t* h, size_t, uv_buf_t* b) {
            Shim* s = Self(h);
            *b = uv_buf_init(s->readbuf_, sizeof(s->readbuf_));
          },
          [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
            Shim* s = Self(st);
            if (n > 0) {
              s->last_activity_ = MonotonicSeconds();
              std::string_view data(b->base, static_cast<size_t>(n));
              if (s->opts_.tag_output) {
                std::string tagged;
                AppendPrefixed(&tagged, data, s->tag_, &s->stderr_at_line_start_);
                s->err_sink_.Write(std::move(tagged));
              } else {
                s->err_sink_.Write(std::string(data));
              }
              s->UpdateReading();
            } else if (n < 0) {
              s->stderr_eof_ = true;
              uv_read_stop(st);
              s->reading_err_ = false;
              s->MaybeFinish();
            }
          });
    } else {
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&err_pipe_));
    }
  }
}

void Shim::CheckScriptEnded() {
  // NCL reads its own stdin only after its script ended (replies come through
  // a file it opens as /dev/stdin), to take further commands from the reply
  // pipe; and it executes them only at EOF. Nothing pending and NCL reading
  // fd 0 means the script is done: close the pipe, and NCL exits.
  if (child_exited_ || ending_ || signalled_ || engine_.busy() || payload_req_) return;
  pid_t pid = CommandPid(child_pid_, under_init_ ? (opts_.isolate ? 2 : 1) : 0);
  if (pid > 0 && BlockedReadingStdin(pid)) {
    child_in_.Close();
    uv_timer_stop(&ncl_timer_);
  }
}

void Shim::ForwardOutput(std::string_view data) {
  if (adapt_.fatal_lines && fatal_line_.empty()) FindFatalLine(data, &fatal_line_);
  if (opts_.tag_output) {
    std::string tagged;
    AppendPrefixed(&tagged, data, tag_, &stdout_at_line_start_);
    out_sink_.Write(std::move(tagged));
  } else {
    out_sink_.Write(std::string(data));
  }
}

void Shim::ProcessStdout() {
  // While an operation is pending its request may point into the demux buffer,
  // so nothing more is taken from it (reading is paused too) until it finished.
  while (ending_ || signalled_ || !engine_.busy()) {
    StdoutDemux::Item it = demux_.Next();
    const bool dropping = ending_ || signalled_;  // only output matters now
    switch (it.kind) {
      case StdoutDemux::Kind::kNone:
        UpdateReading();
        return;
      case StdoutDemux::Kind::kOutput:
        ForwardOutput(it.data);
        break;
      case StdoutDemux::Kind::kRequest:
        if (!dropping) HandleRequestLine(it.data);
        break;
      case StdoutDemux::Kind::kPayload:
        if (!dropping && payload_req_) {
          Request req = std::move(*payload_req_);
          payload_req_.reset();
          if (req.msgpack) {
            // The numbers are decoded here; the payload is not needed after.
            std::string err;
            if (!DecodeNumberPayload(it.data, pctx_, &req, &err)) {
              RequestFailed(err, req.verb);  // every :msgpack verb is a collective
              break;
            }
            StartOp(std::move(req), {});
            break;
          }
          StartOp(std::move(req), it.data);
        }
        break;
      case StdoutDemux::Kind::kPayloadSkipped:
        if (!dropping) RequestFailed(deferred_error_, deferred_verb_);
        break;
      case StdoutDemux::Kind::kPayloadTruncated:
        if (!dropping) {
          payload_req_.reset();
          RequestFailed("the request announced raw bytes, but the command's stdout ended after " +
                            std::to_string(it.got) + " of them",
                        std::nullopt);
        }
        break;
      case StdoutDemux::Kind::kRequestTooLong:
        if (!dropping) {
          current_request_ = QuoteForMessage(it.data, 60);
          RequestFailed("request line longer than the limit of " + FormatByteSize(opts_.max_line) +
                            " (raise it with stdmpirun --max-line)",
                        std::nullopt);
        }
        break;
      case StdoutDemux::Kind::kOutputTooLong:
        BeginEnding(kExitProtocol,
                    Prefix() + "an output line grew past the limit of " +
                        FormatByteSize(opts_.max_line) + " without a newline (it starts " +
                        QuoteForMessage(it.data, 40) +
                        "); end lines with a newline, or raise the limit with stdmpirun "
                        "--max-line\n");
        break;
    }
  }
  UpdateReading();
}

void Shim::HandleRequestLine(std::string_view line) {
  current_request_ = QuoteForMessage(line, 160);
  if (size_t unread = child_in_.Unread(); unread > 0) {
    // Strict lockstep broken: the reply would sit behind the unread one, and
    // the command would read the wrong answer. (Raw bytes it announces are
    // skipped, not forwarded as output.)
    Request announced;
    ParseRequest(line, pctx_, &announced);
    if (announced.payload_bytes > 0) demux_.ExpectPayload(announced.payload_bytes, true);
    BeginEnding(kExitProtocol,
                Prefix() +
                    "the command made a request before reading the whole reply to its "
                    "previous one (" +
                    std::to_string(unread) + " byte(s) unread): " + current_request_ +
                    "\nstdmpi:   (read each reply, all of it, before the next request)\n");
    return;
  }
  Request req;
  ParseResult pr = ParseRequest(line, pctx_, &req);
  if (trace_.open()) {
    trace_name_ = pr.verb_known ? VerbName(req.verb) : "(bad request)";
    if (pr.verb_known && req.type == NumType::kI64) trace_name_ += ":i64";
    if (pr.verb_known && req.msgpack) trace_name_ += ":msgpack";
    trace_line_.assign(line.substr(0, 200));
  }
  if (!pr.ok) {
    std::optional<Verb> coll;
    if (pr.verb_known && IsCollective(req.verb)) coll = req.verb;
    if (req.payload_bytes > 0 && errors_return_) {
      // The announced bytes follow anyway: skip them, then answer.
      deferred_error_ = pr.error;
      deferred_verb_ = coll;
      demux_.ExpectPayload(req.payload_bytes, true);
      return;
    }
    RequestFailed(pr.error, coll);
    return;
  }
  switch (req.verb) {
    case Verb::kErrors:
      errors_return_ = req.errors_return;
      ReplyToChild("ok\n");
      return;
    case Verb::kAbort: {
      std::string msg = Prefix() + "called abort with code " + std::to_string(req.abort_code);
      if (!req.text.empty()) msg += ": " + std::string(req.text);
      BeginEnding(req.abort_code, msg + "\n");
      return;
    }
    default:
      break;
  }
  if (req.payload_bytes > 0) {
    int64_t n = req.payload_bytes;
    payload_req_ = std::move(req);
    demux_.ExpectPayload(n, false);
    return;
  }
  StartOp(std::move(req), {});
}

void Shim::RequestFailed(const std::string& reason, std::optional<Verb> collective) {
  if (!errors_return_) {
    FatalRequest(reason, true);
    return;
  }
  if (collective) {
    StartFailedCollective(*collective, reason);
    return;
  }
  ReplyToChild("@error " + reason + "\n");
}

// --- MPI operations ---------------------------------------------------------

void Shim::StartOp(Request req, std::string_view payload) {
  OpStarted(engine_.Start(std::move(req), payload, errors_return_));
}

void Shim::StartFailedCollective(Verb verb, const std::string& reason) {
  OpStarted(engine_.StartFailedCollective(verb, reason));
}

void Shim::Report() {
  char secs[32];
  std::string line = Prefix();
  if (engine_.busy()) {
    std::snprintf(secs, sizeof(secs), "%.1f", MonotonicSeconds() - op_since_);
    line += "waiting in " + engine_.Waiting() + " for " + secs + " s";
  } else if (child_exited_) {
    line += "its program has ended; waiting for the job to end";
  } else if (demux_.payload_announced() > 0) {
    int64_t total = demux_.payload_announced();
    line += "reading the " + std::to_string(total) + " raw bytes its last request announced (" +
            std::to_string(total - demux_.payload_remaining()) + " so far)";
  } else if (size_t unread = child_in_.Unread(); unread > 0) {
    std::snprintf(secs, sizeof(secs), "%.1f", MonotonicSeconds() - last_request_);
    line += "its program has not read the reply to its last request (" + std::to_string(unread) +
            " byte(s) unread, request made " + secs + " s ago)";
  } else if (last_request_ > 0) {
    std::snprintf(secs, sizeof(secs), "%.1f", MonotonicSeconds() - last_request_);
    line += std::string("its program is running; its last request was ") + secs + " s ago";
  } else {
    line += "its program is running and has made no request yet";
  }
  err_sink_.Write(line + "\n");
}

void Shim::OpStarted(bool done) {
  op_since_ = last_request_ = MonotonicSeconds();
  if (trace_.open()) trace_start_ = RealNow();
  if (done) {
    FinishOp();
    return;
  }
  UpdateReading();
  StartPolling();
}

void Shim::FinishOp() {
  StopPolling();
  Outcome o = engine_.Take();
  if (trace_.open()) {
    double now = RealNow();
    trace_.Add(trace_name_, (trace_start_ - opts_.trace_t0) * 1e6, (now - trace_start_) * 1e6,
               trace_line_, o.ok, static_cast<int64_t>(o.reply.size()));
  }
  if (o.ok) {
    ReplyToChild(std::move(o.reply));
  } else if (errors_return_ && !o.always_fatal) {
    ReplyToChild("@error " + o.error + "\n");
  } else {
    FatalRequest(o.error, o.report, !o.always_fatal);
  }
}

void Shim::StartPolling() {
  op_started_ = MonotonicSeconds();
  spin_until_ = op_started_ + spin_budget_ + static_cast<double>(engine_.PendingBytes()) * 1e-9;
  sleep_ns_ = kFirstSleepNs;
  uv_idle_start(&idle_, [](uv_idle_t* h) { Self(h)->OnIdle(); });
}

void Shim::StopPolling() {
  uv_idle_stop(&idle_);
  if (sleep_armed_) {
    itimerspec off = {};
    timerfd_settime(timer_fd_, 0, &off, nullptr);
    uv_poll_stop(&sleep_poll_);
    sleep_armed_ = false;
  }
}

void Shim::OnIdle() {
  // Poll in slices of a few microseconds between turns of the event loop.
  double t = MonotonicSeconds();
  const double slice_end = t + 10e-6;
  do {
    if (engine_.Progress()) {
      FinishOp();
      ProcessStdout();
      MaybeFinish();
      return;
    }
    if (yield_) sched_yield();
    t = MonotonicSeconds();
  } while (t < slice_end && t < spin_until_);
  if (t >= spin_until_) {
    uv_idle_stop(&idle_);
    ArmSleep();
  }
}

void Shim::ArmSleep() {
  itimerspec its = {};
  its.it_value.tv_sec = sleep_ns_ / 1'000'000'000;
  its.it_value.tv_nsec = sleep_ns_ % 1'000'000'000;
  timerfd_settime(timer_fd_, 0, &its, nullptr);
  if (!sleep_armed_) {
    uv_poll_start(&sleep_poll_, UV_READABLE,
                  [](uv_poll_t* h, int, int) { Self(h)->OnSleepTimer(); });
    sleep_armed_ = true;
  }
}

void Shim::OnSleepTimer() {
  uint64_t expirations;
  ssize_t ignored = read(timer_fd_, &expirations, sizeof(expirations));
  (void)ignored;
  if (engine_.Progress()) {
    FinishOp();
    ProcessStdout();
    MaybeFinish();
    return;
  }
  long cap = static_cast<long>((MonotonicSeconds() - op_started_) * 0.05 * 1e9);
  cap = cap < kMinCapNs ? kMinCapNs : cap > kMaxCapNs ? kMaxCapNs : cap;
  sleep_ns_ = sleep_ns_ * 2 < cap ? sleep_ns_ * 2 : cap;
  ArmSleep();
}

// --- ending -----------------------------------------------------------------

void Shim::FatalRequest(const std::string& reason, bool report, bool could_return) {
  std::string msg;
  if (report) {
    msg = Prefix() + "request failed: " + reason + "\n" +
          "stdmpi:   the request: " + current_request_ + "\n";
    if (could_return) {
      msg +=
          "stdmpi:   (a failed request ends the job; after \"@mpi errors return\" it is "
          "answered \"@error REASON\" instead)\n";
    }
  }
  BeginEnding(kExitProtocol, msg, !report);
}

void Shim::BeginEnding(int code, std::string message, bool quiet) {
  if (ending_ || signalled_) return;
  ending_ = true;
  end_code_ = code;
  end_message_ = std::move(message);
  quiet_ = quiet;
  StopPolling();
  child_in_.Close();  // the child reads EOF instead of a reply
  if (!child_exited_) {
    KillChildGroup(SIGTERM);
    uv_timer_start(
        &kill_timer_, [](uv_timer_t* t) { Self(t)->KillChildGroup(SIGKILL); }, kKillGraceMs, 0);
  }
  // Whatever happens, the job ends within a bounded time.
  uv_timer_start(
      &end_timer_,
      [](uv_timer_t* t) {
        Shim* s = Self(t);
        s->end_deadline_passed_ = true;
        s->MaybeFinish();
      },
      2000, 0);
  UpdateReading();
  MaybeFinish();
}

std::string Shim::LimitNote() {
  if (time_limit_hit_) {
    std::string t;
    AppendF64(&t, opts_.time_limit);
    return " after running into its time limit (--time-limit " + t + " s)";
  }
  std::string hit = limits_.LimitHit();
  if (hit == "memory") {
    return " after running out of its memory limit (--mem-per-rank " +
           FormatByteSize(opts_.mem_per_rank) + ")";
  }
  if (hit == "processes") {
    return " after reaching its process limit (--max-procs " + std::to_string(opts_.max_procs) +
           ")";
  }
  if (limits_.uses_rlimits()) {
    std::string what;
    if (opts_.mem_per_rank > 0) {
      what = "an address-space limit of " + FormatByteSize(opts_.mem_per_rank);
    }
    if (opts_.max_procs > 0) {
      what += (what.empty() ? "" : " and ") + std::string("a process limit of ") +
              std::to_string(opts_.max_procs);
    }
    return " (it ran with " + what + " as rlimits: allocations or forks past them fail)";
  }
  return "";
}

void Shim::OnChildExit(int wstatus) {
  child_exited_ = true;
  uv_timer_stop(&limit_timer_);
  // The command's cgroup is empty now (its supervisor ended everything in
  // it): read what it says, then remove it.
  limit_note_ = LimitNote();
  limits_.Remove();
  child_status_ = wstatus;
  uv_timer_stop(&kill_timer_);
  child_in_.Close();
  uv_timer_stop(&ncl_timer_);
  if (!ending_ && !signalled_) {
    int code = JobStatusOf(wstatus);
    if (code != 0 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) {
      // A launcher that ends a job by killing every process of it (srun,
      // slurmstepd) may reach the command a moment before this shim: wait a
      // moment, so that the job's end is not reported as this rank's failure.
      uv_timer_start(
          &report_timer_,
          [](uv_timer_t* t) {
            Shim* s = Self(t);
            if (s->ending_ || s->signalled_) return;
            s->BeginEnding(JobStatusOf(s->child_status_),
                           s->Prefix() + DescribeWaitStatus(s->child_status_) + s->limit_note_ +
                               "; ending the job\n");
          },
          kKilledReportDelayMs, 0);
      return;
    }
    if (code != 0) {
      BeginEnding(code,
                  Prefix() + DescribeWaitStatus(wstatus) + limit_note_ + "; ending the job\n");
      return;
    }
    // Exited 0. A receive or probe still waiting for a match has nobody to
    // answer; a send or collective must finish for the other ranks' sake.
    if (engine_.busy() && engine_.AbandonIfUnmatched()) {
      StopPolling();
      ProcessStdout();
    }
    // Wait for the pipes to close, but not for ever.
    uv_timer_start(
        &drain_timer_,
        [](uv_timer_t* t) {
          Shim* s = Self(t);
          if (MonotonicSeconds() - s->last_activity_ >= kDrainIdle) {
            s->ForceEof(
                "the command exited, but a process it started still holds its output "
                "open; not waiting for it");
          }
        },
        500, 500);
  }
  UpdateReading();
  MaybeFinish();
}

void Shim::ForceEof(const char* why) {
  uv_timer_stop(&drain_timer_);
  if (!stdout_eof_ || !stderr_eof_) {
    err_sink_.Write(Prefix() + why + "\n");
  }
  if (!stdout_eof_) {
    stdout_eof_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&out_pipe_));
    reading_out_ = false;
    demux_.Finish();
    ProcessStdout();
  }
  if (!stderr_eof_) {
    stderr_eof_ = true;
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&err_pipe_));
    reading_err_ = false;
  }
  MaybeFinish();
}

void Shim::OnTermSignal(int sig) {
  if (closing_) _exit(128 + sig);  // its program ended well; nothing else to do
  if (signalled_) {
    // A second signal: no more grace.
    KillChildGroup(SIGKILL);
    _exit(128 + sig);
  }
  signalled_ = true;
  end_code_ = 128 + sig;
  StopPolling();
  if (!child_exited_) {
    KillChildGroup(sig);
    uv_timer_start(
        &kill_timer_, [](uv_timer_t* t) { Self(t)->KillChildGroup(SIGKILL); }, kKillGraceMs, 0);
  }
  // The launcher follows SIGTERM with SIGKILL after about a second.
  uv_timer_start(
      &end_timer_,
      [](uv_timer_t* t) {
        Shim* s = Self(t);
        s->end_deadline_passed_ = true;
        s->MaybeFinish();
      },
      800, 0);
  UpdateReading();
  MaybeFinish();
}

void Shim::MaybeFinish() {
  if (finished_) return;
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&report_timer_))) return;
  if (ending_ || signalled_) {
    if (!child_exited_ && !end_deadline_passed_) return;
    if ((!stdout_eof_ || !stderr_eof_) && !end_deadline_passed_) return;
    EndNow();
  }
  if (engine_.busy() || payload_req_) return;
  if (!child_exited_) {
    if (stdout_eof_ && !engine_.finished() &&
        !uv_is_active(reinterpret_cast<uv_handle_t*>(&closed_timer_))) {
      // The command closed its stdout but runs on: it can make no more
      // requests. Unless it exits in a moment (then that is the news), tell
      // the peers, so that none waits for it in vain.
      uv_timer_start(
          &closed_timer_,
          [](uv_timer_t* t) {
            Shim* s = Self(t);
            if (!s->child_exited_ && !s->ending_ && !s->signalled_ && !s->engine_.busy() &&
                !s->payload_req_) {
              s->engine_.MarkFinished(FinishReason::kClosedStdout);
              // Its peers may ask whether it finished: answer while it runs.
              uv_timer_start(
                  &s->answer_timer_, [](uv_timer_t* t) { Self(t)->engine_.AnswerQueries(); }, 20,
                  20);
            }
          },
          200, 0);
    }
    return;
  }
  if (stdout_eof_ && fatal_line_.empty()) {
    uv_timer_stop(&answer_timer_);
    engine_.MarkFinished(FinishReason::kExited);
  }
  if (!stdout_eof_ || !stderr_eof_) return;
  if (!fatal_line_.empty()) {
    // NCL stops a script at an error but exits 0 (the line may have come
    // after its exit was noticed).
    BeginEnding(1, Prefix() + "NCL reported an error (" + QuoteForMessage(fatal_line_, 200) +
                       "); ending the job\n");
    return;
  }
  if (out_sink_.queued() > 0 || err_sink_.queued() > 0) return;
  finished_ = true;
  uv_timer_stop(&drain_timer_);
  uv_stop(&loop_);
}

void Shim::FlushSinks(double seconds) {
  const double deadline = MonotonicSeconds() + seconds;
  uv_timer_start(
      &flush_timer_, [](uv_timer_t*) {}, 10, 10);
  while ((out_sink_.queued() > 0 || err_sink_.queued() > 0) && MonotonicSeconds() < deadline) {
    uv_run(&loop_, UV_RUN_ONCE);
  }
  uv_timer_stop(&flush_timer_);
}

void Shim::StopChild() {
  if (child_exited_ || child_pid_ <= 0) return;
  KillChildGroup(SIGTERM);  // stdmpi-init ends the command's whole group
  for (int i = 0; i < 100; ++i) {
    int st;
    if (waitpid(child_pid_, &st, WNOHANG) == child_pid_) {
      child_exited_ = true;
      return;
    }
    usleep(10000);
  }
  KillChildGroup(SIGKILL);
}

void Shim::EndNow() {
  finished_ = true;
  StopChild();
  if (signalled_) {
    FlushSinks(0.1);
    trace_.Close();
    _exit(end_code_);
  }
  if (!end_message_.empty()) err_sink_.Write(end_message_);
  err_sink_.Write(MemoryNote());
  trace_.Close();
  FlushSinks(1.0);
  if (quiet_) {
    // Another rank reports the same failure and aborts the job; give its
    // message time to get out before this rank's abort could cut it off.
    sleep(3);
  }
  MPI_Abort(MPI_COMM_WORLD, end_code_);
  _exit(end_code_);
}

}  // namespace

int RunShim(const ShimOptions& opts) {
  auto shim = std::make_unique<Shim>(opts);  // holds a 256 KiB read buffer
  return shim->Main();
}

}  // namespace stdmpi
