// A task farm inside one MPI job (docs/tasks.md): the dispatcher on the
// first shim, and each rank's link to it.
//
// Every rank runs a worker: the user's COMMAND (a keep-alive worker that
// asks for items with `@mpi task`) or stdmpi-taskrun, which runs each task
// line with /bin/sh. A worker's `@mpi task` becomes a message to the
// dispatcher, on the shims' own communicator; the dispatcher answers with the
// next ready task (the scheduler of task_plan.h decides), or keeps the worker
// waiting (a barrier, a dependency) until one is ready, or says `end`. So
// tasks go to whichever rank is free, and the dispatching costs the first
// shim a poll now and then: no core of its own.
//
// The dispatcher writes the joblog (one line per attempt, as it ends, with
// one write, so a killed job loses no finished entry), reads it back for
// --resume, and prints the summary when every task has ended.
#ifndef STDMPI_LIBSHIM_TASK_DISPATCH_H_
#define STDMPI_LIBSHIM_TASK_DISPATCH_H_

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "options.h"
#include "task_plan.h"

namespace stdmpi {

class TaskDispatcher {
 public:
  // Reads the task file and (with --resume) the joblog, opens the joblog.
  // `hosts`: each worker's host name, by its rank among the shims.
  bool Init(const ShimOptions& opts, MPI_Comm ctl, std::vector<std::string> hosts,
            std::string* err);

  // A worker's request: "next" (its previous item, if any, succeeded),
  // "fail REASON" or "lost REASON" (its worker program exited holding it).
  // Returns the reply ("ID ATTEMPT TEXT" or "end"), or "" if the worker
  // waits for a task to become ready (Serve answers it later).
  std::string Request(int worker, std::string_view msg);
  // Answers the requests of other ranks that arrived, and the waiting
  // workers whose task is now ready.
  void Serve();
  // The reply to the first shim's own worker, once its wait is over.
  bool TakeLocalReply(std::string* reply);

  bool done() const { return sched_ && sched_->done(); }
  // Printed once when the last task ends (`wall`: seconds since the start).
  std::string Summary(double wall) const;
  // The farm's exit status (TaskFarmStatus of the failed tasks).
  int Status() const;
  // --status FILE: rewrites it (a new file renamed over the old one, so a
  // reader never sees half of it, and no link is followed).
  void WriteStatus(double elapsed);
  // Warnings from Init (a joblog entry that no longer matches its task).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct Worker {
    int64_t held = 0;
    int attempt = 0;
    double started = 0;  // epoch seconds
    bool waiting = false;
  };
  std::string Assign(int worker);
  void Answer(int worker, std::string reply);
  void Log(int worker, int64_t id, bool ok, std::string_view reason);

  MPI_Comm ctl_ = MPI_COMM_NULL;
  std::unique_ptr<TaskScheduler> sched_;
  std::vector<Worker> workers_;
  std::vector<std::string> hosts_;
  int joblog_fd_ = -1;
  std::string status_file_;
  std::vector<std::string> warnings_;
  std::vector<std::string> failures_;  // "task 17 (exit 3): the line", in order
  std::string local_reply_;
  bool local_ready_ = false;
  std::vector<std::unique_ptr<std::string>> out_bufs_;  // replies on their way
  std::vector<MPI_Request> out_reqs_;
};

// A rank's side of `@mpi task`.
class TaskLink {
 public:
  virtual ~TaskLink() = default;
  // Sends the request (see TaskDispatcher::Request).
  virtual void Post(const std::string& msg) = 0;
  // The reply, once it is there.
  virtual bool Poll(std::string* reply) = 0;

  // What the rank's worker holds: the item it was last given (0: none).
  int64_t held = 0;
  int attempt = 0;
  bool ended = false;  // it was told `end`
  // The report of an item its worker program lost (it exited holding it):
  // sent with the restarted worker's first request.
  std::string lost;
};

// The first shim's link: the dispatcher in the same process.
std::unique_ptr<TaskLink> MakeLocalTaskLink(TaskDispatcher* d);
// Any other shim's: messages to the first shim on `ctl`.
std::unique_ptr<TaskLink> MakeRemoteTaskLink(MPI_Comm ctl);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_TASK_DISPATCH_H_
