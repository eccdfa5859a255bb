// The shim's rank, inside: a libuv loop between the program and MPI, and
// the rank's lifecycle. shim_start.cc starts the rank (MPI_Init, the
// program's early or late start, the loop's handles) and closes it;
// shim.cc routes the loop's events: the program's output and requests, their
// replies, and the ways a rank ends. Only shim.h is the interface.
#ifndef STDMPI_LIBSHIM_SHIM_IMPL_H_
#define STDMPI_LIBSHIM_SHIM_IMPL_H_

#include <mpi.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine.h"
#include "failure.h"
#include "loop_handles.h"
#include "options.h"
#include "output_relay.h"
#include "poller.h"
#include "program.h"
#include "rank_process.h"
#include "rank_summary.h"
#include "report_mark.h"
#include "request_reader.h"
#include "shm_region.h"
#include "sink.h"
#include "task_dispatch.h"
#include "trace.h"

namespace stdmpi {

// The rank's lifecycle. Facts about the program (exited, its pipes at EOF)
// are kept apart: they change within a phase.
enum class Phase {
  kRunning,    // the program runs; its requests are relayed
  kDraining,   // it exited 0: what it printed is read to the end
  kEnding,     // the job must end (a failure): drain, report, MPI_Abort
  kSignalled,  // a terminating signal: drain briefly, _exit
  kClosing,    // this rank ended well: wait for every shim, then MPI_Finalize
  kDone,       // the end is under way: EndNow flushes and exits, or the loop closes
};

class Shim {
 public:
  explicit Shim(const ShimOptions& o)
      : opts_(o), program_(o), reader_(o.max_line, [this] { return child_in_->Unread(); }) {}

  // Starts the command (before MPI_Init with --start-early when the
  // launcher's variables say where this task stands), initializes MPI, runs
  // the rank and finalizes MPI; returns the exit status of a normal end.
  int Main();

  // Under stdmpirun's mpirun: PATH and LD_LIBRARY_PATH as the user had them.
  static void RestoreUserPaths();

 private:
  // The job ends: only output matters now.
  bool ending() const {
    return phase_ == Phase::kEnding || phase_ == Phase::kSignalled || phase_ == Phase::kDone;
  }
  std::string Prefix() const {
    return "stdmpi: rank " + std::to_string(where_.rank) + " (" +
           DescribeCommand(opts_.command, 80) + "): ";
  }
  [[noreturn]] void Abort(int code) {
    program_.Kill(SIGKILL);
    MPI_Abort(MPI_COMM_WORLD, code);
    _exit(code);
  }
  // Says why this rank ends the job (`text`: whole lines), then ends it.
  [[noreturn]] void AbortWith(const std::string& text, int code) {
    std::fprintf(stderr, "%s%s", report_mark_.c_str(), text.c_str());
    Abort(code);
  }

  // --- start ---------------------------------------------------------------
  void StartEarly();
  void InitRank();
  void CheckEarlyPosition(const Position& mpi);
  // A task farm: the dispatcher (on the first shim) and this rank's link.
  void SetUpTasks();
  void ServeTasks();
  void SetUpLoop();
  void WatchProgram();
  int Run();
  void CloseRank();

  // --- the program's output ------------------------------------------------
  void OpenPipes();
  void UpdateReading();
  void ProcessStdout();
  void CheckScriptEnded();
  // Warns, once, of a request glued after output text (GluedRequest).
  void WarnGluedRequest(std::string_view line);

  // --- requests ------------------------------------------------------------
  void HandleRequest(Request req, std::string_view payload);
  void RequestFailed(Failure f);
  void MarkOpStart();
  // --summary, --profile, --report: the request's facts before it starts.
  void BeginStats(const Request& req);
  void OpStarted(bool done);
  void FinishOp();
  // Keeps non-blocking requests moving while the program computes.
  void WatchNonBlocking();
  // The program can make no more requests: warns of those never waited for.
  void ForgetNonBlocking();
  void Reply(std::string reply) { child_in_->Write(std::move(reply)); }
  // The reply of a `:shm=OFF` request: its bytes (after the first line) go to
  // the region at OFF, the line to the pipe.
  void ReplyThroughRegion(int64_t off, std::string reply);
  // SIGUSR1 (stdmpirun's SIGQUIT, SIGUSR1 and --timeout): one line on what
  // this rank is doing, so that a hung job is diagnosed in one look.
  void Report();

  // --- ending --------------------------------------------------------------
  void OnProgramExit(int wstatus);
  // A task farm's worker exited holding an item: that attempt fails, and a
  // new worker starts once the old one's output is read (RestartProgram).
  bool LostItem(int wstatus);
  void RestartProgram();
  void OnTermSignal(int sig);
  void BeginEnding(int code, std::string message, bool quiet = false);
  void StopRelaying(int sig, uint64_t deadline_ms);
  void MaybeFinish();
  void WatchClosedStdout();
  void ForceEof(const char* why);
  [[noreturn]] void EndNow();
  // Writes this rank's summary line (with --rank-summary) and closes the
  // trace part: when the program is done, or a signal ends the job.
  void CloseTrace();
  // A summary as of now, written out at once if anything changed (stdmpirun
  // reads the last one): the launcher ends a job by SIGTERM and then SIGKILL
  // within milliseconds, which a busy machine may not give the shim.
  void SnapshotSummary();
  ProgramFacts ProgramFactsNow();

  const ShimOptions& opts_;
  Position where_;
  bool started_early_ = false;
  Phase phase_ = Phase::kRunning;
  Program program_;
  ShmRegion shm_;               // the `:shm=OFF` form's region (shm_region.h)
  int64_t reply_shm_off_ = -1;  // the pending request's OFF, if it has one
  Engine engine_;
  OutputRelay output_;
  OutputFds output_fds_;  // the program's stderr and the shim's messages (rank_process.h)
  OutputRoute output_route_;
  std::unique_ptr<Sink> child_in_ = std::make_unique<Sink>();
  RequestReader reader_;
  std::string held_stdout_;  // the program's stdout that came while a request was pending
  bool stdout_eof_ = false;  // its stdout ended (the reader learns it after held_stdout_)
  bool reader_finished_ = false;
  Poller poller_;
  TraceWriter trace_;  // --trace
  RankStats stats_;    // --rank-summary (rank_summary.h)
  bool stats_on_ = false;
  bool summary_timer_on_ = false;
  int64_t snapshot_requests_ = -1;  // what the last snapshot showed, and when
  bool snapshot_busy_ = false;
  double snapshot_at_ = 0;

  uv_loop_t loop_;
  // The program's (new ones when a task farm's worker starts again; the old
  // ones wait in retired_ until the loop closes).
  std::unique_ptr<PipeReader> stdout_ = std::make_unique<PipeReader>();
  std::unique_ptr<PipeReader> stderr_ = std::make_unique<PipeReader>();
  std::vector<std::unique_ptr<PipeReader>> retired_readers_;
  std::vector<std::unique_ptr<Sink>> retired_sinks_;
  bool restart_pending_ = false;  // the worker exited holding an item
  char readbuf_[256 * 1024];
  SignalWatch signals_[6];
  Timer kill_timer_;     // SIGKILL for a program that does not end when asked
  Timer end_timer_;      // the job's end, whatever else happens
  Timer drain_timer_;    // the program exited: its pipes, not waited for forever
  Timer ncl_timer_;      // NCL: has the script ended?
  Timer report_timer_;   // a SIGKILLed command's report, held back a moment
  Timer limit_timer_;    // --time-limit
  Timer closed_timer_;   // stdout closed, the command still runs: say so soon
  Timer answer_timer_;   // answers peers' questions (peer_ledger.h), and closes
  Timer nb_timer_;       // advances non-blocking requests while the program computes
  Timer task_timer_;     // the task farm's dispatcher answers its workers
  Timer summary_timer_;  // --rank-summary: SnapshotSummary every 100 ms
  std::unique_ptr<TaskDispatcher> dispatcher_;
  std::unique_ptr<TaskLink> task_link_;
  double farm_start_ = 0;
  double status_written_ = 0;  // when --status FILE was last rewritten
  bool summary_printed_ = false;
  int task_status_ = 0;  // the farm's exit status (the first shim's)

  double spin_budget_ = kDefaultSpin;
  double op_since_ = 0;       // when the pending operation started
  double last_request_ = 0;   // when the program made its last request
  double last_activity_ = 0;  // when the program last printed anything
  double trace_start_ = 0;
  double init_begin_ = 0, init_end_ = 0;  // MPI_Init, epoch seconds (--trace)
  int program_status_ = 0;
  // The program's first start and last exit (epoch seconds; 0: not yet), and
  // whether the job was already ending when it exited (--rank-summary).
  double program_begin_ = 0, program_end_ = 0;
  bool program_exit_seen_ = false, program_stopped_ = false;
  bool time_limit_hit_ = false;
  std::string limit_note_;
  bool end_deadline_passed_ = false;
  bool got_signal_ = false;    // a terminating signal arrived
  bool quiet_ = false;         // another rank reports this failure
  bool warned_glued_ = false;  // WarnGluedRequest said it once
  int end_code_ = 0;
  std::string end_message_;
  // Put before the report that ends the job (report_mark.h).
  const std::string report_mark_ = TakeReportMark();
  int closing_wait_ms_ = 0;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_SHIM_IMPL_H_
