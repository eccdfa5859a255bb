#include "shim.h"

#include <mpi.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "clock.h"
#include "engine.h"
#include "failure.h"
#include "loop_handles.h"
#include "numbers.h"
#include "output_relay.h"
#include "poller.h"
#include "program.h"
#include "rank_process.h"
#include "rank_report.h"
#include "reply.h"
#include "request_reader.h"
#include "sink.h"
#include "trace.h"

namespace stdmpi {

namespace {

// Output queued beyond this pauses reading from the program (back-pressure).
constexpr size_t kHighWater = size_t{4} << 20;
// After the program exited: how long to wait for its pipes to close when
// nothing more arrives (something it started may still hold them).
constexpr double kDrainIdle = 2.0;
// The program runs under stdmpi-init, which forwards SIGTERM to the command's
// group and escalates to SIGKILL itself after 500 ms; the shim kills it
// outright only if it is still there well after that.
constexpr uint64_t kKillGraceMs = 1500;
// How long a shim waits before it reports a command killed by SIGKILL (see
// OnProgramExit): long enough for a step-wide kill to reach the shim as well.
constexpr uint64_t kKilledReportDelayMs = 300;
// However the job ends, it ends within this long (a failure; a signal: the
// launcher follows SIGTERM with SIGKILL after about a second).
constexpr uint64_t kEndDeadlineMs = 2000;
constexpr uint64_t kSignalledDeadlineMs = 800;

// The rank's lifecycle. Facts about the program (exited, its pipes at EOF)
// are kept apart: they change within a phase.
enum class Phase {
  kRunning,    // the program runs; its requests are relayed
  kDraining,   // it exited 0: what it printed is read to the end
  kEnding,     // the job must end (a failure): drain, report, MPI_Abort
  kSignalled,  // a terminating signal: drain briefly, _exit
  kClosing,    // this rank ended well: wait for every shim, then MPI_Finalize
  kDone,       // the loop stops
};

class Shim {
 public:
  explicit Shim(const ShimOptions& o)
      : opts_(o), program_(o), reader_(o.max_line, [this] { return child_in_.Unread(); }) {}

  // Starts the command (before MPI_Init with --start-early when the
  // launcher's variables say where this task stands), initializes MPI, runs
  // the rank and finalizes MPI; returns the exit status of a normal end.
  int Main();

 private:
  bool ending() const { return phase_ == Phase::kEnding || phase_ == Phase::kSignalled; }
  std::string Prefix() const {
    return "stdmpi: rank " + std::to_string(where_.rank) + " (" +
           DescribeCommand(opts_.command, 80) + "): ";
  }
  [[noreturn]] void Abort(int code) {
    program_.Kill(SIGKILL);
    MPI_Abort(MPI_COMM_WORLD, code);
    _exit(code);
  }

  // --- start ---------------------------------------------------------------
  void StartEarly();
  void InitRank();
  void CheckEarlyPosition(const Position& mpi);
  void SetUpLoop();
  void WatchProgram();
  int Run();
  void CloseRank();

  // --- the program's output ------------------------------------------------
  void OpenPipes();
  void UpdateReading();
  void ProcessStdout();
  void CheckScriptEnded();

  // --- requests ------------------------------------------------------------
  void HandleRequest(Request req, std::string_view payload);
  void RequestFailed(Failure f);
  void OpStarted(bool done);
  void FinishOp();
  void Reply(std::string reply) { child_in_.Write(std::move(reply)); }
  // SIGUSR1 (stdmpirun's SIGQUIT, SIGUSR1 and --timeout): one line on what
  // this rank is doing, so that a hung job is diagnosed in one look.
  void Report();

  // --- ending --------------------------------------------------------------
  void OnProgramExit(int wstatus);
  void OnTermSignal(int sig);
  void BeginEnding(int code, std::string message, bool quiet = false);
  void StopRelaying(int sig, uint64_t deadline_ms);
  void MaybeFinish();
  void WatchClosedStdout();
  void ForceEof(const char* why);
  [[noreturn]] void EndNow();

  const ShimOptions& opts_;
  Position where_;
  bool started_early_ = false;
  Phase phase_ = Phase::kRunning;
  Program program_;
  Engine engine_;
  OutputRelay output_;
  Sink child_in_;
  RequestReader reader_;
  Poller poller_;
  TraceWriter trace_;  // --trace

  uv_loop_t loop_;
  PipeReader stdout_, stderr_;  // the program's
  char readbuf_[256 * 1024];
  SignalWatch signals_[6];
  Timer kill_timer_;    // SIGKILL for a program that does not end when asked
  Timer end_timer_;     // the job's end, whatever else happens
  Timer drain_timer_;   // the program exited: its pipes, not waited for forever
  Timer ncl_timer_;     // NCL: has the script ended?
  Timer report_timer_;  // a SIGKILLed command's report, held back a moment
  Timer limit_timer_;   // --time-limit
  Timer closed_timer_;  // stdout closed, the command still runs: say so soon
  Timer answer_timer_;  // answers peers' questions (peer_ledger.h), and closes

  double spin_budget_ = kDefaultSpin;
  double op_since_ = 0;       // when the pending operation started
  double last_request_ = 0;   // when the program made its last request
  double last_activity_ = 0;  // when the program last printed anything
  double trace_start_ = 0;
  double init_begin_ = 0, init_end_ = 0;  // MPI_Init, epoch seconds (--trace)
  int program_status_ = 0;
  bool time_limit_hit_ = false;
  std::string limit_note_;
  bool end_deadline_passed_ = false;
  bool quiet_ = false;  // another rank reports this failure
  int end_code_ = 0;
  std::string end_message_;
  int closing_wait_ms_ = 0;
};

// --- start -----------------------------------------------------------------

int Shim::Main() {
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
  RouteOutputToLauncher();
  if (started_early_ && program_.bound()) BindAllThreads(program_.bound_cpus());
  int code = Run();
  MPI_Finalize();
  return code;
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
                    started_early_ ? &where_.node_mask : nullptr, &err)) {
    std::fprintf(stderr, "stdmpi: %s\n", err.c_str());
    Abort(kExitInternal);
  }
  const NodeInfo& node = engine_.node();
  const Position mpi = {engine_.rank(),  engine_.size(), node.local_rank,
                        node.local_size, node.mask,      node.masks_differ};
  if (started_early_) {
    CheckEarlyPosition(mpi);
  } else {
    where_ = mpi;
  }
  reader_.set_context({engine_.rank(), engine_.size(), opts_.max_message});
  if (!opts_.trace.empty()) {
    std::string terr;
    if (!trace_.Open(opts_.trace, engine_.rank(), DescribeCommand(opts_.command, 120),
                     opts_.trace_t0, &terr)) {
      std::fprintf(stderr, "%swarning: %s; not tracing\n", Prefix().c_str(), terr.c_str());
    }
    reader_.KeepTraceInfo();
  }
  trace_.AddStartup("MPI_Init", init_begin_, init_end_);
  spin_budget_ = opts_.spin_us >= 0 ? opts_.spin_us * 1e-6 : kDefaultSpin;
}

void Shim::CheckEarlyPosition(const Position& mpi) {
  bool fatal = false;
  std::string why = CompareEarlyPosition(where_, mpi, &fatal);
  if (fatal) {
    std::fprintf(stderr, "stdmpi: rank %d: %s\n", mpi.rank, why.c_str());
    Abort(kExitInternal);
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
  for (Timer* t : {&kill_timer_, &end_timer_, &drain_timer_, &ncl_timer_, &report_timer_,
                   &limit_timer_, &closed_timer_, &answer_timer_}) {
    t->Init(&loop_);
  }
  output_.Open(&loop_, [this] {
    UpdateReading();
    MaybeFinish();
  });
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
  if (opts_.time_limit > 0) {
    // Counted from the command's start.
    double left = std::max(0.0, opts_.time_limit - (MonotonicSeconds() - program_.started_at()));
    limit_timer_.Start(static_cast<uint64_t>(left * 1000), [this] {
      if (program_.exited()) return;
      time_limit_hit_ = true;
      program_.Kill(SIGKILL);
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
  if (!program_.pipes_ok()) {
    std::fprintf(stderr, "%s%s\n", Prefix().c_str(), program_.failure().message.c_str());
    Abort(kExitInternal);
  }
  output_.Configure(engine_.rank(), opts_.tag_output, program_.adaptation().fatal_lines);
  child_in_.Open(&loop_, program_.stdin_fd(), nullptr);
  OpenPipes();
  if (program_.pid() < 0) {
    stdout_.Stop();
    stderr_.Stop();
    BeginEnding(program_.failure().exit_status,
                Prefix() + "cannot start the command: " + program_.failure().message + "\n");
  } else {
    WatchProgram();
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  CloseRank();
  CloseLoop(&loop_);
  engine_.Shutdown();
  trace_.Close();
  std::fputs(MemoryNote(where_.rank).c_str(), stderr);
  return 0;
}

// The rank ended normally (phase kClosing). Anything the program left
// running in its process group goes with it; then the rank stays until every
// shim got here, answering the questions of peers that still wait
// (peer_ledger.h); MPI_Finalize follows at once.
void Shim::CloseRank() {
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

// --- the program's output --------------------------------------------------

void Shim::OpenPipes() {
  stdout_.Open(
      &loop_, program_.stdout_fd(), readbuf_, sizeof(readbuf_),
      [this](std::string_view data) {
        last_activity_ = MonotonicSeconds();
        reader_.Append(data.data(), data.size());
        ProcessStdout();
        MaybeFinish();
      },
      [this] {
        reader_.Finish();
        ProcessStdout();
        MaybeFinish();
      });
  stderr_.Open(
      &loop_, program_.stderr_fd(), readbuf_, sizeof(readbuf_),
      [this](std::string_view data) {
        last_activity_ = MonotonicSeconds();
        output_.Stderr(data);
        UpdateReading();
      },
      [this] { MaybeFinish(); });
}

// Reads the program's output while there is room for it; its stdout only
// while no request is pending (the request may point into the reader's
// buffer), unless the job ends and only output matters.
void Shim::UpdateReading() {
  stdout_.Want(output_.stdout_queued() < kHighWater && (ending() || !engine_.busy()));
  stderr_.Want(output_.stderr_queued() < kHighWater);
}

void Shim::ProcessStdout() {
  // While an operation is pending its request may point into the reader's
  // buffer, so nothing more is taken from it (reading is paused too) until it
  // finished.
  while (ending() || !engine_.busy()) {
    RequestReader::Event ev = reader_.Next();
    switch (ev.kind) {
      case RequestReader::Kind::kNone:
        UpdateReading();
        return;
      case RequestReader::Kind::kOutput:
        output_.Stdout(ev.output);
        break;
      case RequestReader::Kind::kRequest:
        HandleRequest(std::move(ev.request), ev.payload);
        break;
      case RequestReader::Kind::kFailed:
        RequestFailed(std::move(ev.failure));
        break;
      case RequestReader::Kind::kEnd:
        BeginEnding(ev.code, Prefix() + ev.message + "\n");
        break;
    }
  }
  UpdateReading();
}

void Shim::CheckScriptEnded() {
  // NCL reads its own stdin only after its script ended (replies come through
  // a file it opens as /dev/stdin), to take further commands from the reply
  // pipe; and it executes them only at EOF. Nothing pending and NCL reading
  // fd 0 means the script is done: close the pipe, and NCL exits.
  if (phase_ != Phase::kRunning || program_.exited() || engine_.busy() ||
      reader_.payload_pending()) {
    return;
  }
  if (program_.BlockedReadingStdin()) {
    child_in_.Close();
    ncl_timer_.Stop();
  }
}

// --- requests --------------------------------------------------------------

void Shim::HandleRequest(Request req, std::string_view payload) {
  switch (req.verb) {
    case Verb::kErrors:
      reader_.set_errors_return(req.errors_return);
      Reply(OkReply());
      return;
    case Verb::kAbort: {
      std::string msg = Prefix() + "called abort with code " + std::to_string(req.abort_code);
      if (!req.text.empty()) msg += ": " + std::string(req.text);
      BeginEnding(req.abort_code, msg + "\n");
      return;
    }
    default:
      OpStarted(engine_.Start(std::move(req), payload, reader_.errors_return()));
  }
}

// The one place a failed request's fate is carried out (failure.h decides).
void Shim::RequestFailed(Failure f) {
  switch (DecideFailure(f, reader_.errors_return())) {
    case FailureAction::kReplyError:
      Reply(ErrorReply(f.reason));
      return;
    case FailureAction::kJoinCollective:
      OpStarted(engine_.StartFailedCollective(*f.collective, f.reason));
      return;
    case FailureAction::kEndJob:
      BeginEnding(kExitProtocol,
                  f.report ? Prefix() + FatalRequestMessage(f, reader_.request_quoted()) : "",
                  !f.report);
      return;
  }
}

void Shim::OpStarted(bool done) {
  op_since_ = last_request_ = MonotonicSeconds();
  if (trace_.open()) trace_start_ = RealSeconds();
  if (done) {
    FinishOp();
    return;
  }
  UpdateReading();
  poller_.Start(spin_budget_ + static_cast<double>(engine_.PendingBytes()) * 1e-9);
}

void Shim::FinishOp() {
  Outcome o = engine_.Take();
  if (trace_.open()) {
    trace_.Add(reader_.trace_name(), trace_start_, RealSeconds(), reader_.trace_line(), o.ok,
               static_cast<int64_t>(o.reply.size()));
  }
  if (o.ok) {
    Reply(std::move(o.reply));
    return;
  }
  Failure f;
  f.reason = std::move(o.error);
  f.always_fatal = o.always_fatal;
  f.report = o.report;
  RequestFailed(std::move(f));
}

void Shim::Report() {
  Activity a;
  const double now = MonotonicSeconds();
  a.waiting = engine_.busy();
  if (a.waiting) a.waiting_in = engine_.Waiting();
  a.waited = now - op_since_;
  a.program_ended = program_.exited();
  a.payload_announced = reader_.payload_announced();
  a.payload_remaining = reader_.payload_remaining();
  a.reply_unread = child_in_.Unread();
  a.since_request = last_request_ > 0 ? now - last_request_ : -1;
  output_.Message(Prefix() + DescribeActivity(a) + "\n");
}

// --- ending ----------------------------------------------------------------

void Shim::OnProgramExit(int wstatus) {
  limit_timer_.Stop();
  // The command's cgroup is empty now (its supervisor ended everything in
  // it): read what it says, then remove it.
  limit_note_ = LimitNote(opts_, time_limit_hit_, program_.limits().LimitHit(),
                          program_.limits().uses_rlimits());
  program_.limits().Remove();
  kill_timer_.Stop();
  child_in_.Close();
  ncl_timer_.Stop();
  if (!ending()) {
    int code = JobStatusOf(wstatus);
    if (code != 0 && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) {
      // A launcher that ends a job by killing every process of it (srun,
      // slurmstepd) may reach the command a moment before this shim: wait a
      // moment, so that the job's end is not reported as this rank's failure.
      report_timer_.Start(kKilledReportDelayMs, [this] {
        if (ending()) return;
        BeginEnding(JobStatusOf(program_status_), Prefix() + DescribeWaitStatus(program_status_) +
                                                      limit_note_ + "; ending the job\n");
      });
      return;
    }
    if (code != 0) {
      BeginEnding(code,
                  Prefix() + DescribeWaitStatus(wstatus) + limit_note_ + "; ending the job\n");
      return;
    }
    phase_ = Phase::kDraining;
    // A receive or probe still waiting for a match has nobody to answer; a
    // send or collective must finish for the other ranks' sake.
    if (engine_.busy() && engine_.AbandonIfUnmatched()) {
      poller_.Stop();
      ProcessStdout();
    }
    // Wait for the pipes to close, but not for ever.
    drain_timer_.Start(
        500,
        [this] {
          if (MonotonicSeconds() - last_activity_ >= kDrainIdle) {
            ForceEof(
                "the command exited, but a process it started still holds its output open; "
                "not waiting for it");
          }
        },
        500);
  }
  UpdateReading();
  MaybeFinish();
}

void Shim::OnTermSignal(int sig) {
  if (phase_ == Phase::kClosing) _exit(128 + sig);  // its program ended well
  if (phase_ == Phase::kSignalled) {
    // A second signal: no more grace.
    program_.Kill(SIGKILL);
    _exit(128 + sig);
  }
  phase_ = Phase::kSignalled;
  end_code_ = 128 + sig;
  StopRelaying(sig, kSignalledDeadlineMs);
}

void Shim::BeginEnding(int code, std::string message, bool quiet) {
  if (ending() || phase_ == Phase::kClosing || phase_ == Phase::kDone) return;
  phase_ = Phase::kEnding;
  end_code_ = code;
  end_message_ = std::move(message);
  quiet_ = quiet;
  child_in_.Close();  // the program reads EOF instead of a reply
  StopRelaying(SIGTERM, kEndDeadlineMs);
}

// The job ends: no more requests; the program gets `sig` (SIGKILL if it does
// not end), its output is drained, and EndNow() comes within `deadline_ms`.
void Shim::StopRelaying(int sig, uint64_t deadline_ms) {
  reader_.OutputOnly();
  poller_.Stop();
  if (!program_.exited()) {
    program_.Kill(sig);
    kill_timer_.Start(kKillGraceMs, [this] { program_.Kill(SIGKILL); });
  }
  end_timer_.Start(deadline_ms, [this] {
    end_deadline_passed_ = true;
    MaybeFinish();
  });
  UpdateReading();
  MaybeFinish();
}

void Shim::MaybeFinish() {
  if (phase_ == Phase::kClosing || phase_ == Phase::kDone) return;
  if (report_timer_.active()) return;
  if (ending()) {
    bool drained = program_.exited() && stdout_.eof() && stderr_.eof();
    if (drained || end_deadline_passed_) EndNow();
    return;
  }
  if (engine_.busy() || reader_.payload_pending()) return;
  if (!program_.exited()) {
    WatchClosedStdout();
    return;
  }
  if (stdout_.eof() && output_.fatal_line().empty()) {
    answer_timer_.Stop();
    engine_.ledger().MarkFinished(FinishReason::kExited);
  }
  if (!stdout_.eof() || !stderr_.eof()) return;
  if (!output_.fatal_line().empty()) {
    // NCL stops a script at an error but exits 0 (the line may have come
    // after its exit was noticed).
    BeginEnding(1, Prefix() + "NCL reported an error (" +
                       QuoteForMessage(output_.fatal_line(), 200) + "); ending the job\n");
    return;
  }
  if (!output_.empty()) return;
  phase_ = Phase::kClosing;
  drain_timer_.Stop();
  uv_stop(&loop_);
}

// The command closed its stdout but runs on: it can make no more requests.
// Unless it exits in a moment (then that is the news), the peers are told, so
// that none waits for it in vain.
void Shim::WatchClosedStdout() {
  if (!stdout_.eof() || engine_.ledger().finished() || closed_timer_.active()) return;
  closed_timer_.Start(200, [this] {
    if (program_.exited() || ending() || engine_.busy() || reader_.payload_pending()) return;
    engine_.ledger().MarkFinished(FinishReason::kClosedStdout);
    // Its peers may ask whether it finished: answer while it runs.
    answer_timer_.Start(
        20, [this] { engine_.ledger().AnswerQueries(); }, 20);
  });
}

void Shim::ForceEof(const char* why) {
  drain_timer_.Stop();
  if (!stdout_.eof() || !stderr_.eof()) output_.Message(Prefix() + why + "\n");
  if (!stdout_.eof()) {
    stdout_.Stop();
    reader_.Finish();
    ProcessStdout();
  }
  stderr_.Stop();
  MaybeFinish();
}

void Shim::EndNow() {
  const bool signalled = phase_ == Phase::kSignalled;
  phase_ = Phase::kDone;
  program_.Stop();
  if (signalled) {
    output_.Flush(&loop_, 0.1);
    trace_.Close();
    _exit(end_code_);
  }
  if (!end_message_.empty()) output_.Message(end_message_);
  output_.Message(MemoryNote(where_.rank));
  trace_.Close();
  output_.Flush(&loop_, 1.0);
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
