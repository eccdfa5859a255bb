#include <mpi.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "clock.h"
#include "fsutil.h"
#include "numbers.h"
#include "rank_process.h"
#include "rank_report.h"
#include "reply.h"
#include "shim_impl.h"

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

// Adds the usage of the running process tree under `root` (the program's
// supervisor) to *p, from /proc: CPU seconds of each process and of what it
// reaped, and the largest peak resident set.
void AddLiveUsage(pid_t root, ProgramFacts* p) {
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::vector<pid_t> tree = {root};
  std::string text, err;
  for (size_t i = 0; i < tree.size() && i < 256; ++i) {
    const std::string dir = "/proc/" + std::to_string(tree[i]);
    double user = 0, sys = 0;
    if (ReadFileToString(dir + "/stat", &text, &err) && ParseProcStat(text, hz, &user, &sys)) {
      p->user += user;
      p->sys += sys;
    }
    if (ReadFileToString(dir + "/status", &text, &err)) {
      p->max_rss_kb = std::max(p->max_rss_kb, ParseVmHwm(text));
    }
    if (!ReadFileToString(dir + "/task/" + std::to_string(tree[i]) + "/children", &text, &err)) {
      continue;
    }
    for (const char* c = text.c_str(); *c != '\0';) {
      char* end = nullptr;
      const long child = std::strtol(c, &end, 10);
      if (end == c) break;
      if (child > 0) tree.push_back(static_cast<pid_t>(child));
      c = end;
    }
  }
}
}  // namespace

// --- the program's output --------------------------------------------------

void Shim::OpenPipes() {
  stdout_->Open(
      &loop_, program_.stdout_fd(), readbuf_, sizeof(readbuf_),
      [this](std::string_view data) {
        last_activity_ = MonotonicSeconds();
        if (engine_.busy() && !ending()) {
          // The pending request may point into the reader's buffer: what
          // comes meanwhile waits aside (the pipe stays watched, so no
          // request costs a pause and a resume of the reading).
          held_stdout_.append(data);
          UpdateReading();
          return;
        }
        reader_.Append(data.data(), data.size());
        ProcessStdout();
        MaybeFinish();
      },
      [this] {
        stdout_eof_ = true;
        ProcessStdout();
        MaybeFinish();
      });
  stderr_->Open(
      &loop_, program_.stderr_fd(), readbuf_, sizeof(readbuf_),
      [this](std::string_view data) {
        last_activity_ = MonotonicSeconds();
        output_.Stderr(data);
        UpdateReading();
      },
      [this] {
        output_.FlushMerged();  // --merge-stderr-to-stdout: a last line without LF
        MaybeFinish();
      });
}

// Reads the program's output while there is room for it; its stdout only
// while no request is pending (the request may point into the reader's
// buffer), unless the job ends and only output matters.
void Shim::UpdateReading() {
  stdout_->Want(output_.stdout_queued() < kHighWater && held_stdout_.size() < kHighWater);
  stderr_->Want(output_.stderr_queued() < kHighWater);
}

void Shim::ProcessStdout() {
  // While an operation is pending its request may point into the reader's
  // buffer, so nothing more is taken from it (what arrives waits in
  // held_stdout_) until it finished.
  if (!held_stdout_.empty() && (ending() || !engine_.busy())) {
    reader_.Append(held_stdout_.data(), held_stdout_.size());
    held_stdout_.clear();
  }
  if (stdout_eof_ && !reader_finished_ && held_stdout_.empty()) {
    reader_finished_ = true;
    reader_.Finish();
  }
  while (ending() || !engine_.busy()) {
    RequestReader::Event ev = reader_.Next();
    switch (ev.kind) {
      case RequestReader::Kind::kNone:
        UpdateReading();
        return;
      case RequestReader::Kind::kOutput:
        WarnGluedRequest(ev.output);
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

void Shim::WarnGluedRequest(std::string_view line) {
  if (warned_glued_ || line.size() < 6) return;
  size_t at = GluedRequest(line);
  if (at == std::string_view::npos) return;
  warned_glued_ = true;
  // The line that holds it, as far as 40 bytes before the request.
  const size_t end = line.find_first_of("\r\n", at);
  line = line.substr(0, end);
  const size_t nl = line.rfind('\n', at);
  const size_t from = std::max(nl == std::string_view::npos ? 0 : nl + 1, at > 40 ? at - 40 : 0);
  output_.Message(Prefix() + "warning: an output line holds a request after other text (" +
                  QuoteForMessage(line.substr(from), 80) +
                  "): it is output, not a request, and the program may wait for its reply for "
                  "ever; end printed text with a newline before a request\n");
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
    child_in_->Close();
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
      MarkOpStart();
      if (stats_on_) BeginStats(req);
      reply_shm_off_ = req.shm_out;
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
      MarkOpStart();
      if (stats_on_) stats_.BeginFailedCollective(*f.collective, engine_.CommKey(f.comm));
      OpStarted(engine_.StartFailedCollective(*f.collective, f.comm, f.reason));
      return;
    case FailureAction::kEndJob:
      BeginEnding(kExitProtocol,
                  f.report ? Prefix() + FatalRequestMessage(f, reader_.request_quoted()) : "",
                  !f.report);
      return;
  }
}

// Before the engine starts the operation: what it sends may be received (and
// traced by its receiver) before Start() returns.
void Shim::MarkOpStart() {
  op_since_ = last_request_ = MonotonicSeconds();
  if (trace_.tracing()) trace_start_ = RealSeconds();
}

void Shim::BeginStats(const Request& req) {
  const int64_t comm = TakesComm(req.verb) ? req.comm : 0;
  int me = engine_.rank();
  if (auto it = engine_.comm_shapes()->find(comm);
      comm != 0 && it != engine_.comm_shapes()->end()) {
    me = it->second.rank;
  }
  stats_.Begin(req, me == req.peer,
               SendsToPeer(req.verb) ? engine_.WorldRankIn(comm, req.peer) : -1,
               IsCollective(req.verb) ? engine_.CommKey(comm) : -1);
}

void Shim::OpStarted(bool done) {
  if (done) {
    FinishOp();
    return;
  }
  UpdateReading();
  poller_.Start(spin_budget_ + static_cast<double>(engine_.PendingBytes()) * 1e-9);
}

void Shim::FinishOp() {
  Outcome o = engine_.Take();
  if (stats_on_) stats_.End(MonotonicSeconds() - op_since_, o.ok, o.reply);
  if (trace_.tracing()) {
    trace_.Add(reader_.trace_name(), trace_start_, RealSeconds(), reader_.trace_line(), o.ok,
               static_cast<int64_t>(o.reply.size()), stats_on_ ? stats_.extra_args() : "");
  }
  WatchNonBlocking();
  const int64_t shm_off = reply_shm_off_;
  reply_shm_off_ = -1;
  if (o.ok && shm_off >= 0) {
    ReplyThroughRegion(shm_off, std::move(o.reply));
    return;
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

// The first line goes through the pipe ("N", "N0 N1 ...", "ok", a request
// id); the bytes after it, if any, into the region at `off`. Numbers reduced
// in place are there already (their reply is the line alone).
void Shim::ReplyThroughRegion(int64_t off, std::string reply) {
  const size_t nl = reply.find('\n');
  if (nl == std::string::npos || nl + 1 == reply.size()) {
    Reply(std::move(reply));
    return;
  }
  std::string why;
  if (!shm_.Write(off, std::string_view(reply).substr(nl + 1), &why)) {
    // The message was received: it cannot go back in line.
    Failure f;
    f.reason = "the reply's " + std::to_string(reply.size() - nl - 1) +
               " bytes cannot be placed in the shared region: " + why;
    RequestFailed(std::move(f));
    return;
  }
  reply.resize(nl + 1);
  Reply(std::move(reply));
}

// MPI moves messages only inside MPI calls: while the program computes, a
// timer calls in every millisecond for the requests still under way (a large
// isend completes when its receiver's shim and this one both take part).
void Shim::WatchNonBlocking() {
  if (!engine_.background_under_way() || nb_timer_.active()) return;
  nb_timer_.Start(
      1,
      [this] {
        if (!engine_.busy()) engine_.ProgressBackground();
        if (!engine_.background_under_way()) nb_timer_.Stop();
      },
      1);
}

void Shim::ForgetNonBlocking() {
  nb_timer_.Stop();
  std::string note = engine_.ForgetNonBlocking();
  if (!note.empty()) output_.Message(Prefix() + "warning: " + note + "\n");
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
  a.reply_unread = child_in_->Unread();
  a.since_request = last_request_ > 0 ? now - last_request_ : -1;
  output_.Message(Prefix() + DescribeActivity(a) +
                  (warned_glued_ && !a.waiting
                       ? " (an output line held a request after other text: see the warning above)"
                       : "") +
                  "\n");
}

// --- ending ----------------------------------------------------------------

void Shim::OnProgramExit(int wstatus) {
  program_end_ = RealSeconds();
  program_exit_seen_ = true;
  program_stopped_ = ending();
  limit_timer_.Stop();
  // The command's cgroup is empty now (its supervisor ended everything in
  // it): read what it says, then remove it.
  limit_note_ = LimitNote(opts_, time_limit_hit_, program_.limits().LimitHit(),
                          program_.limits().uses_rlimits());
  program_.limits().Remove();
  kill_timer_.Stop();
  child_in_->Close();
  ncl_timer_.Stop();
  if (!ending() && task_link_ && !task_link_->ended && (task_link_->held != 0 || engine_.busy())) {
    // A task farm's worker that holds an item (or is being given one): the
    // job goes on; once its output is read, a new worker starts.
    restart_pending_ = true;
    drain_timer_.Start(
        500,
        [this] {
          if (MonotonicSeconds() - last_activity_ >= kDrainIdle) {
            ForceEof("the worker exited, but a process it started still holds its output open");
          }
        },
        500);
    UpdateReading();
    MaybeFinish();
    return;
  }
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

void Shim::RestartProgram() {
  restart_pending_ = false;
  drain_timer_.Stop();
  if (task_link_->held == 0) {
    // Its last request was answered `end` after all: it is done.
    phase_ = Phase::kDraining;
    MaybeFinish();
    return;
  }
  const int st = program_status_;
  const std::string how = WIFSIGNALED(st) ? "signal " + std::to_string(WTERMSIG(st))
                                          : "exit " + std::to_string(WEXITSTATUS(st));
  output_.Message(Prefix() + "the worker " + (WIFSIGNALED(st) ? "was " : "") +
                  DescribeWaitStatus(st) + " holding item " + std::to_string(task_link_->held) +
                  ": that attempt fails; the worker starts " + "again\n");
  // Reported with the new worker's first request.
  task_link_->lost = "lost " + how + " (its worker ended holding it)";
  task_link_->held = 0;
  // The old pipes close; their objects live until the loop ends.
  stdout_->Close();
  stderr_->Close();
  child_in_->Close();
  retired_readers_.push_back(std::move(stdout_));
  retired_readers_.push_back(std::move(stderr_));
  retired_sinks_.push_back(std::move(child_in_));
  stdout_ = std::make_unique<PipeReader>();
  stderr_ = std::make_unique<PipeReader>();
  child_in_ = std::make_unique<Sink>();
  reader_.Reset();
  held_stdout_.clear();
  stdout_eof_ = reader_finished_ = false;
  output_.ClearFatalLine();
  output_.EndLines();
  program_.Start(where_, Prefix());
  if (!program_.pipes_ok() || program_.pid() < 0) {
    BeginEnding(program_.failure().exit_status ? program_.failure().exit_status : kExitInternal,
                Prefix() + "cannot start the worker again: " + program_.failure().message + "\n");
    return;
  }
  child_in_->Open(&loop_, program_.stdin_fd(), nullptr);
  OpenPipes();
  WatchProgram();
}

void Shim::OnTermSignal(int sig) {
  if (phase_ == Phase::kClosing) {  // its program ended well
    CloseTrace();
    _exit(128 + sig);
  }
  if (got_signal_) {
    // A second signal: no more grace.
    program_.Kill(SIGKILL);
    _exit(128 + sig);
  }
  got_signal_ = true;
  // The launcher follows its SIGTERM with SIGKILL within milliseconds: the
  // rank's summary now, as things stand.
  CloseTrace();
  end_code_ = 128 + sig;
  if (phase_ == Phase::kDone) return;  // EndNow runs already; it ends with this status
  phase_ = Phase::kSignalled;
  StopRelaying(sig, kSignalledDeadlineMs);
}

void Shim::BeginEnding(int code, std::string message, bool quiet) {
  if (ending() || phase_ == Phase::kClosing) return;
  phase_ = Phase::kEnding;
  end_code_ = code;
  end_message_ = std::move(message);
  quiet_ = quiet;
  child_in_->Close();  // the program reads EOF instead of a reply
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
    bool drained = program_.exited() && stdout_->eof() && stderr_->eof();
    if (drained || end_deadline_passed_) EndNow();
    return;
  }
  if (engine_.busy() || reader_.payload_pending()) return;
  if (!program_.exited()) {
    WatchClosedStdout();
    return;
  }
  if (restart_pending_) {
    if (stdout_->eof() && stderr_->eof()) RestartProgram();
    return;
  }
  if (stdout_->eof() && output_.fatal_line().empty()) {
    answer_timer_.Stop();
    if (!engine_.ledger().finished()) ForgetNonBlocking();
    engine_.ledger().MarkFinished(FinishReason::kExited);
  }
  if (!stdout_->eof() || !stderr_->eof()) return;
  if (!output_.fatal_line().empty()) {
    // NCL stops a script at an error but exits 0 (the line may have come
    // after its exit was noticed).
    BeginEnding(1, Prefix() + "NCL reported an error (" +
                       QuoteForMessage(output_.fatal_line(), 200) + "); ending the job\n");
    return;
  }
  // The farm's summary (the first shim), before the loop may stop.
  if (dispatcher_ && !summary_printed_) ServeTasks();
  if (!output_.empty()) return;
  phase_ = Phase::kClosing;
  drain_timer_.Stop();
  uv_stop(&loop_);
}

// The command closed its stdout but runs on: it can make no more requests.
// Unless it exits in a moment (then that is the news), the peers are told, so
// that none waits for it in vain.
void Shim::WatchClosedStdout() {
  if (!stdout_->eof() || engine_.ledger().finished() || closed_timer_.active()) return;
  closed_timer_.Start(200, [this] {
    if (program_.exited() || ending() || engine_.busy() || reader_.payload_pending()) return;
    ForgetNonBlocking();
    engine_.ledger().MarkFinished(FinishReason::kClosedStdout);
    // Its peers may ask whether it finished: answer while it runs.
    answer_timer_.Start(
        20, [this] { engine_.ledger().AnswerQueries(); }, 20);
  });
}

void Shim::ForceEof(const char* why) {
  drain_timer_.Stop();
  if (!stdout_->eof() || !stderr_->eof()) output_.Message(Prefix() + why + "\n");
  if (!stdout_->eof()) {
    stdout_->Stop();
    stdout_eof_ = true;
    ProcessStdout();
  }
  stderr_->Stop();
  MaybeFinish();
}

void Shim::EndNow() {
  const bool signalled = phase_ == Phase::kSignalled;
  phase_ = Phase::kDone;
  program_.Stop();
  program_.limits().Remove();
  if (signalled) {
    CloseTrace();  // first: the launcher's SIGKILL may follow soon
    output_.Flush(&loop_, 0.1);
    _exit(end_code_);
  }
  output_.Report(report_mark_, end_message_);
  output_.Message(MemoryNote(where_.rank));
  CloseTrace();
  output_.Flush(&loop_, 1.0);
  if (quiet_) {
    // Another rank reports the same failure and aborts the job; give its
    // message time to get out before this rank's abort could cut it off.
    sleep(3);
  }
  MPI_Abort(MPI_COMM_WORLD, end_code_);
  _exit(end_code_);
}

ProgramFacts Shim::ProgramFactsNow() {
  ProgramFacts p;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  p.host = host;
  const double t0 = opts_.trace_t0;
  p.started = program_begin_ > 0;
  p.start = p.started ? program_begin_ - t0 : -1;
  p.end = program_exit_seen_ ? program_end_ - t0 : p.started ? RealSeconds() - t0 : -1;
  if (init_end_ > 0) {
    p.init_begin = init_begin_ - t0;
    p.init_end = init_end_ - t0;
  }
  // The program runs under stdmpi-init, which reaps everything it started:
  // the shim's children's usage is the program's, once it was reaped.
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  p.user = static_cast<double>(ru.ru_utime.tv_sec) + ru.ru_utime.tv_usec * 1e-6;
  p.sys = static_cast<double>(ru.ru_stime.tv_sec) + ru.ru_stime.tv_usec * 1e-6;
  p.max_rss_kb = ru.ru_maxrss;
  if (p.started && !program_.exited() && program_.pid() > 0) AddLiveUsage(program_.pid(), &p);
  p.exited = program_exit_seen_;
  p.wait_status = program_status_;
  p.stopped = p.started && (program_stopped_ || !program_exit_seen_);
  return p;
}

void Shim::SnapshotSummary() {
  if (!stats_on_ || !trace_.open()) return;
  // Only when something changed, or now and then.
  const double now = MonotonicSeconds();
  const bool busy = engine_.busy();
  if (stats_.requests() == snapshot_requests_ && busy == snapshot_busy_ &&
      now - snapshot_at_ < 5.0) {
    return;
  }
  snapshot_requests_ = stats_.requests();
  snapshot_busy_ = busy;
  snapshot_at_ = now;
  const double pending = busy ? now - op_since_ : -1;
  trace_.AddLine(stats_.SummaryEvent(where_.rank, ProgramFactsNow(), pending));
  trace_.Flush();
}

void Shim::CloseTrace() {
  if (summary_timer_on_) summary_timer_.Stop();
  summary_timer_on_ = false;
  if (stats_on_ && trace_.open()) {
    // A request still waiting as the rank ends (the job ends it): its wait
    // so far counts, and shows in the timeline.
    if (engine_.busy()) {
      stats_.End(MonotonicSeconds() - op_since_, false, "");
      trace_.Add(reader_.trace_name(), trace_start_, RealSeconds(), reader_.trace_line(), false, 0,
                 stats_.extra_args());
    }
    trace_.AddLine(stats_.SummaryEvent(where_.rank, ProgramFactsNow()));
  }
  trace_.Close();
}

}  // namespace stdmpi
