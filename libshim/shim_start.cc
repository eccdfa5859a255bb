#include <mpi.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clock.h"
#include "init_config.h"
#include "output_files.h"
#include "rank_process.h"
#include "shim.h"
#include "shim_impl.h"

namespace stdmpi {

// --- start -----------------------------------------------------------------

int Shim::Main() {
  RestoreUserPaths();
  // The region exists before the program starts: the program inherits it.
  std::string shm_why;
  const char* shm_env = getenv("STDMPI_SHM");
  if (shm_env != nullptr && std::string_view(shm_env) == "0") {
    // Turned off: the program gets no region, the bridges use the pipes.
  } else if (shm_.Create(4 * opts_.max_message, &shm_why)) {
    program_.set_shared_fd(shm_.fd());
    reader_.set_shm([this](int64_t off, int64_t n, std::string_view* out, std::string* why) {
      return shm_.View(off, n, out, why);
    });
    engine_.set_shm_place([this](int64_t off, int64_t n, char** at, std::string* why) {
      return shm_.Place(off, n, at, why);
    });
  } else if (!opts_.quiet) {
    std::fprintf(stderr, "stdmpi: warning: no shared region (%s): arrays go through the pipes\n",
                 shm_why.c_str());
  }
  // --output-filename: DIR/1 is opened before the program can touch it
  // (output_files.h); used if stdmpirun cannot be reached.
  output_route_.output_dir = opts_.output_filename;
  output_route_.merge_stderr = opts_.merge_stderr;
  if (!opts_.output_filename.empty()) {
    output_route_.job_dir = OpenOutputJobDir(opts_.output_filename, &output_route_.job_dir_error);
  }
  if (opts_.start_early && opts_.native_ranks.empty()) StartEarly();
  init_begin_ = RealSeconds();
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    std::fprintf(stderr, "stdmpi-shim: MPI_Init failed\n");
    program_.Kill(SIGKILL);
    return kExitInternal;
  }
  init_end_ = RealSeconds();
  // Nothing of ours changes the process under MPI_Init's feet. What the
  // program printed meanwhile waits in its pipes, so none of it takes the old
  // way to the launcher.
  KeepLargeBuffersOnHeap();
  SendSmallTcpWritesAtOnce();
  OutputRoute route = output_route_;
  MPI_Comm_rank(MPI_COMM_WORLD, &route.rank);
  route.mark = report_mark_;
  std::string out_warning;
  output_fds_ = RouteOutputToLauncher(route, &out_warning);
  if (!out_warning.empty() && !opts_.quiet) {
    std::fprintf(stderr, "stdmpi: rank %d: warning: %s; its output goes to the terminal\n",
                 route.rank, out_warning.c_str());
  }
  if (started_early_ && program_.bound()) BindAllThreads(program_.bound_cpus());
  int code = Run();
  MPI_Finalize();
  return code;
}

// Under stdmpirun's mpirun: the user's PATH and LD_LIBRARY_PATH, as they
// were before mpirun put its own directories in front (the program is looked
// up in, and inherits, the user's).
void Shim::RestoreUserPaths() {
  const char* path = getenv("STDMPI_PATH");
  if (path == nullptr) return;
  setenv("PATH", path, 1);
  if (const char* ld = getenv("STDMPI_LD_LIBRARY_PATH")) {
    setenv("LD_LIBRARY_PATH", ld, 1);
  } else {
    unsetenv("LD_LIBRARY_PATH");
  }
  unsetenv("STDMPI_PATH");
  unsetenv("STDMPI_LD_LIBRARY_PATH");
}

void Shim::StartEarly() {
  // Not started by Open MPI's mpirun: the command starts after MPI_Init,
  // placed with MPI's view of the node.
  if (!PositionFromLauncher(&where_)) return;
  started_early_ = true;
  program_.Start(where_, Prefix());
  // The command keeps the rank's cores; MPI_Init meanwhile runs on any of the
  // node's, not on the core where the command starts up. The shim joins its
  // command's cores once MPI is up.
  if (program_.bound()) BindAllThreads(where_.node_mask);
}

void Shim::InitRank() {
  std::string err;
  // Started early, this shim bound itself already: MPI learns the node from
  // the cores it was given.
  if (!engine_.Init(opts_.max_message, opts_.native_ranks,
                    started_early_ ? &where_.node_mask : nullptr, AppSizes(opts_), &err)) {
    AbortWith("stdmpi: " + err + "\n", kExitInternal);
  }
  const NodeInfo& node = engine_.node();
  const Position mpi = {engine_.rank(),  engine_.size(), node.local_rank,
                        node.local_size, node.mask,      node.masks_differ};
  if (started_early_) {
    CheckEarlyPosition(mpi);
  } else {
    where_ = mpi;
  }
  reader_.set_context({engine_.rank(), engine_.size(), opts_.max_message, engine_.comm_shapes()});
  // --rank-summary alone: the part holds the summary line, no events.
  const std::string& part = opts_.trace.empty() ? opts_.rank_summary : opts_.trace;
  if (!part.empty()) {
    std::string terr;
    if (!trace_.Open(part, engine_.rank(), DescribeCommand(opts_.command, 120), opts_.trace_t0,
                     &terr)) {
      std::fprintf(stderr, "%swarning: %s; not tracing\n", Prefix().c_str(), terr.c_str());
    }
    trace_.set_events(!opts_.trace.empty());
    stats_on_ = !opts_.rank_summary.empty();
    if (!opts_.trace.empty()) reader_.KeepTraceInfo();
  }
  trace_.AddStartup("MPI_Init", init_begin_, init_end_);
  if (!opts_.tasks_file.empty()) SetUpTasks();
  spin_budget_ = opts_.spin_us >= 0 ? opts_.spin_us * 1e-6 : kDefaultSpin;
}

void Shim::SetUpTasks() {
  // Every shim's host name, for the joblog.
  constexpr int kHost = 256;
  char host[kHost] = {};
  gethostname(host, kHost - 1);
  const MPI_Comm ctl = engine_.ctl();
  int me = 0, n = 1;
  MPI_Comm_rank(ctl, &me);
  MPI_Comm_size(ctl, &n);
  std::vector<char> all(me == 0 ? static_cast<size_t>(kHost) * static_cast<size_t>(n) : 1);
  MPI_Gather(host, kHost, MPI_CHAR, all.data(), kHost, MPI_CHAR, 0, ctl);
  if (me != 0) {
    task_link_ = MakeRemoteTaskLink(ctl);
  } else {
    std::vector<std::string> hosts;
    for (int i = 0; i < n; ++i) hosts.emplace_back(all.data() + static_cast<size_t>(i) * kHost);
    dispatcher_ = std::make_unique<TaskDispatcher>();
    std::string err;
    if (!dispatcher_->Init(opts_, ctl, std::move(hosts), &err)) {
      AbortWith("stdmpi: " + err + "\n", kExitUsage);
    }
    for (const std::string& w : dispatcher_->warnings()) {
      std::fprintf(stderr, "stdmpi: warning: %s\n", w.c_str());
    }
    task_link_ = MakeLocalTaskLink(dispatcher_.get());
    farm_start_ = MonotonicSeconds();
  }
  engine_.set_task_link(task_link_.get());
}

// The first shim's dispatcher, every millisecond: requests of the other
// ranks, and the summary once every task has ended.
void Shim::ServeTasks() {
  dispatcher_->Serve();
  const double now = MonotonicSeconds();
  if (now - status_written_ >= 0.5 || (dispatcher_->done() && !summary_printed_)) {
    status_written_ = now;
    dispatcher_->WriteStatus(now - farm_start_);
  }
  if (summary_printed_ || !dispatcher_->done()) return;
  summary_printed_ = true;
  task_status_ = dispatcher_->Status();
  std::string summary = dispatcher_->Summary(MonotonicSeconds() - farm_start_);
  // Tasks that failed end the job with their count: mpirun's own lines
  // about a rank's non-zero exit are the same news (report_mark.h).
  if (task_status_ != 0) {
    output_.Report(report_mark_, summary);
  } else {
    output_.Message(summary);
  }
}

void Shim::CheckEarlyPosition(const Position& mpi) {
  bool fatal = false;
  std::string why = CompareEarlyPosition(where_, mpi, &fatal);
  if (fatal) {
    AbortWith("stdmpi: rank " + std::to_string(mpi.rank) + ": " + why + "\n", kExitInternal);
  }
  if (!why.empty() && !opts_.quiet) {
    std::fprintf(stderr, "%swarning: %s\n", Prefix().c_str(), why.c_str());
  }
}

void Shim::SetUpLoop() {
  // Signals first, so that not even a program that exits at once is missed.
  signals_[0].Start(&loop_, SIGCHLD, [this](int) {
    if (program_.Reap(&program_status_)) OnProgramExit(program_status_);
  });
  const int term_sigs[] = {SIGTERM, SIGINT, SIGHUP};
  for (int i = 0; i < 3; ++i) {
    signals_[1 + i].Start(&loop_, term_sigs[i], [this](int sig) { OnTermSignal(sig); });
  }
  signals_[4].Start(&loop_, SIGUSR1, [this](int) { Report(); });
  // SIGUSR2 is the program's: passed on.
  signals_[5].Start(&loop_, SIGUSR2, [this](int) { program_.Kill(SIGUSR2); });
  const NodeInfo& node = engine_.node();
  poller_.Init(
      &loop_, [this] { return engine_.Progress(); },
      [this] {
        FinishOp();
        ProcessStdout();
        MaybeFinish();
      },
      node.local_size > node.cpus);
  for (Timer* t :
       {&kill_timer_, &end_timer_, &drain_timer_, &ncl_timer_, &report_timer_, &limit_timer_,
        &closed_timer_, &answer_timer_, &nb_timer_, &task_timer_, &summary_timer_}) {
    t->Init(&loop_);
  }
  if (stats_on_ && trace_.open()) {
    // A rank may be killed outright (the launcher ends a job so): its last
    // summary is then at most a moment old.
    summary_timer_on_ = true;
    summary_timer_.Start(
        100, [this] { SnapshotSummary(); }, 100);
  }
  if (dispatcher_)
    task_timer_.Start(
        1, [this] { ServeTasks(); }, 1);
  output_.Open(
      &loop_,
      [this] {
        UpdateReading();
        MaybeFinish();
      },
      output_fds_.program_stderr, output_fds_.messages);
}

// The program runs: its pipes are read, its time limit counts, and NCL is
// watched for the end of its script.
void Shim::WatchProgram() {
  last_activity_ = MonotonicSeconds();
  if (started_early_) {
    // The program may have ended while MPI started, before the SIGCHLD
    // watcher was there to see it: look once, as a SIGCHLD would.
    uv_kill(getpid(), SIGCHLD);
  }
  // In a task farm the limit is each task's (stdmpi-taskrun keeps it).
  if (opts_.time_limit > 0 && opts_.tasks_file.empty()) {
    // Counted from the command's start.
    double left = std::max(0.0, opts_.time_limit - (MonotonicSeconds() - program_.started_at()));
    limit_timer_.Start(static_cast<uint64_t>(left * 1000), [this] {
      if (program_.exited()) return;
      time_limit_hit_ = true;
      // The whole tree, not just the supervisor (stdmpi-init ends it).
      program_.Kill(program_.supervised() ? KillTreeSignal() : SIGKILL);
    });
  }
  UpdateReading();
  if (program_.adaptation().ends_by_reading_stdin) {
    ncl_timer_.Start(
        200, [this] { CheckScriptEnded(); }, 200);
  }
}

int Shim::Run() {
  uv_loop_init(&loop_);
  InitRank();
  SetUpLoop();
  if (!started_early_) program_.Start(where_, Prefix());
  if (program_.spawn_begin() > 0) {
    trace_.AddStartup("start the program", program_.spawn_begin(), program_.spawn_end());
  }
  if (program_.pid() > 0) program_begin_ = program_.spawn_begin();
  if (!program_.pipes_ok()) {
    AbortWith(Prefix() + program_.failure().message + "\n", kExitInternal);
  }
  output_.Configure(engine_.rank(), opts_.tag_output, opts_.timestamp_output, opts_.merge_stderr,
                    program_.adaptation().fatal_lines);
  child_in_->Open(&loop_, program_.stdin_fd(), nullptr);
  OpenPipes();
  if (program_.pid() < 0) {
    stdout_->Stop();
    stderr_->Stop();
    BeginEnding(program_.failure().exit_status,
                Prefix() + "cannot start the command: " + program_.failure().message + "\n");
  } else {
    WatchProgram();
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  CloseRank();
  CloseLoop(&loop_);
  engine_.Shutdown();
  CloseTrace();
  std::fputs(MemoryNote(where_.rank).c_str(), stderr);
  return task_status_;
}

// The rank ended normally (phase kClosing). Anything the program left
// running in its process group goes with it; then the rank stays until every
// shim got here, answering the questions of peers that still wait
// (peer_ledger.h); MPI_Finalize follows at once.
void Shim::CloseRank() {
  // The farm's last task may have ended since the dispatcher's last tick:
  // its summary and status come now, while the loop still runs to send them.
  if (dispatcher_) ServeTasks();
  // The program is done: the rank's summary now, before the launcher may
  // kill this shim while it waits for the others (a failure elsewhere).
  CloseTrace();
  program_.Kill(SIGTERM);
  std::string lost = engine_.DropUnreceivedSelfSends();
  if (!lost.empty()) std::fprintf(stderr, "%swarning: %s\n", Prefix().c_str(), lost.c_str());
  poller_.Stop();
  PeerLedger& ledger = engine_.ledger();
  ledger.MarkFinished(FinishReason::kExited);
  ledger.StartClosing();
  std::function<void()> poll_closing = [this, &ledger, &poll_closing] {
    if (ledger.PollClosing()) {
      phase_ = Phase::kDone;
      uv_stop(&loop_);
      return;
    }
    // Polls often at first (the other ranks usually end together), then every 20 ms.
    closing_wait_ms_ = closing_wait_ms_ < 1 ? 1 : std::min(closing_wait_ms_ * 2, 20);
    answer_timer_.Start(static_cast<uint64_t>(closing_wait_ms_), poll_closing);
  };
  answer_timer_.Start(0, poll_closing);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

int RunShim(const ShimOptions& opts) {
  auto shim = std::make_unique<Shim>(opts);  // holds a 256 KiB read buffer
  return shim->Main();
}

}  // namespace stdmpi
