#include "task_dispatch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "clock.h"
#include "fsutil.h"
#include "numbers.h"
#include "operation.h"

namespace stdmpi {

namespace {

// Point-to-point tags on the shims' communicator (peer_ledger.cc uses 1, 2).
constexpr int kTaskTag = 7;       // a worker's request
constexpr int kTaskReplyTag = 8;  // the dispatcher's answer

// Takes a message with `tag` from `src` (or any) on `comm` if one is there:
// its text, and who sent it.
bool TakeText(MPI_Comm comm, int src, int tag, std::string* text, int* from) {
  int flag = 0;
  MPI_Status st;
  if (MPI_Iprobe(src, tag, comm, &flag, &st) != MPI_SUCCESS || !flag) return false;
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  text->assign(static_cast<size_t>(n), '\0');
  MPI_Recv(text->data(), n, MPI_CHAR, st.MPI_SOURCE, tag, comm, MPI_STATUS_IGNORE);
  *from = st.MPI_SOURCE;
  return true;
}

// "exit 3" -> exit value 3; "signal 9" -> signal 9; anything else -> exit 1.
void ExitOf(std::string_view reason, int* exitval, int* sig) {
  *exitval = 1;
  *sig = 0;
  // The number, up to a space ("signal 15 (over the time limit ...)").
  auto number = [](std::string_view s, int64_t max, int64_t* n) {
    return ParseCount(s.substr(0, s.find(' ')), max, n);
  };
  int64_t n;
  if (reason.substr(0, 5) == "exit " && number(reason.substr(5), 255, &n)) {
    *exitval = static_cast<int>(n);
  } else if (reason.substr(0, 7) == "signal " && number(reason.substr(7), 128, &n)) {
    *exitval = 0;
    *sig = static_cast<int>(n);
  }
}

}  // namespace

bool TaskDispatcher::Init(const ShimOptions& opts, MPI_Comm ctl, std::vector<std::string> hosts,
                          std::string* err) {
  ctl_ = ctl;
  hosts_ = std::move(hosts);
  workers_.assign(hosts_.size(), {});
  std::string text;
  if (!ReadFileToString(opts.tasks_file, &text, err)) return false;
  TaskPlan plan;
  if (!ParseTaskFile(text, &plan, err)) {
    *err = opts.tasks_file + ": " + *err;
    return false;
  }
  sched_ = std::make_unique<TaskScheduler>(plan, opts.retries);
  status_file_ = opts.status_file;
  if (opts.joblog.empty()) return true;
  std::string log;
  if (opts.resume != 0 && access(opts.joblog.c_str(), F_OK) == 0) {
    if (!ReadFileToString(opts.joblog, &log, err)) return false;
    std::map<int64_t, JoblogEntry> entries;
    if (!ReadJoblog(log, &entries, err)) {
      *err = opts.joblog + ": " + *err;
      return false;
    }
    for (const auto& [id, e] : entries) {
      if (id < 1 || static_cast<size_t>(id) > plan.tasks.size()) continue;
      if (e.command != plan.tasks[static_cast<size_t>(id - 1)].command) {
        warnings_.push_back("the joblog's task " + std::to_string(id) + " was \"" + e.command +
                            "\", the task file's is \"" +
                            plan.tasks[static_cast<size_t>(id - 1)].command +
                            "\": the file changed since, so it runs again");
        continue;
      }
      if (e.succeeded || opts.resume == 1) sched_->MarkFinished(id, e.succeeded);
    }
  }
  // A link where the joblog should be is refused (O_NOFOLLOW): the log is
  // written after programs ran, and never through a link one of them made.
  // Emptied (without --resume) only once it is known to be a file of its own.
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_APPEND;
  joblog_fd_ = open(opts.joblog.c_str(), flags, 0644);
  if (joblog_fd_ < 0) {
    *err = "cannot write the joblog " + opts.joblog + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  // Nor through a hard link (an earlier run's tasks could have made one).
  if (fstat(joblog_fd_, &st) == 0 && (st.st_nlink > 1 || !S_ISREG(st.st_mode))) {
    close(joblog_fd_);
    joblog_fd_ = -1;
    *err = "the joblog " + opts.joblog + " is not a file of its own (" +
           (S_ISREG(st.st_mode) ? std::to_string(st.st_nlink) + " hard links" : "not a file") +
           "): stdmpi writes no file through a link; remove it or choose another";
    return false;
  }
  if (opts.resume == 0 && st.st_size > 0 && ftruncate(joblog_fd_, 0) == 0) st.st_size = 0;
  if (st.st_size == 0) {
    std::string h = JoblogHeader();
    if (write(joblog_fd_, h.data(), h.size()) < 0) return true;
  }
  return true;
}

void TaskDispatcher::Log(int worker, int64_t id, bool ok, std::string_view reason) {
  const Worker& w = workers_[static_cast<size_t>(worker)];
  int exitval = 0, sig = 0;
  if (!ok) ExitOf(reason, &exitval, &sig);
  // A failed attempt never looks like a success in the joblog (a worker
  // that exited 0 holding its item, `task fail exit 0`): --resume-failed
  // must run it again.
  if (!ok && exitval == 0 && sig == 0) exitval = 1;
  if (joblog_fd_ >= 0) {
    std::string line =
        JoblogLine(id, hosts_[static_cast<size_t>(worker)], w.started, RealSeconds() - w.started,
                   exitval, sig, sched_->spec(id).command);
    // One write a line: a killed job loses no finished entry.
    if (write(joblog_fd_, line.data(), line.size()) < 0) {
      close(joblog_fd_);
      joblog_fd_ = -1;
    }
  }
  if (!ok && sched_->state(id) == TaskState::kFailed) {
    failures_.push_back("task " + std::to_string(id) + " (" + std::string(reason) + ", " +
                        std::to_string(sched_->attempts(id)) +
                        " attempt(s)): " + sched_->spec(id).command);
  }
}

std::string TaskDispatcher::Assign(int worker) {
  Worker& w = workers_[static_cast<size_t>(worker)];
  int64_t id;
  int attempt;
  switch (sched_->Take(&id, &attempt)) {
    case TaskScheduler::Next::kTask:
      w.held = id;
      w.attempt = attempt;
      w.started = RealSeconds();
      w.waiting = false;
      return std::to_string(id) + " " + std::to_string(attempt) + " " + sched_->spec(id).command;
    case TaskScheduler::Next::kWait:
      w.waiting = true;
      return "";
    case TaskScheduler::Next::kEnd:
      break;
  }
  w.waiting = false;
  return "end";
}

std::string TaskDispatcher::Request(int worker, std::string_view msg) {
  if (worker < 0 || static_cast<size_t>(worker) >= workers_.size()) return "end";
  Worker& w = workers_[static_cast<size_t>(worker)];
  if (w.held != 0) {
    const bool ok = msg == "next";
    std::string_view reason = ok ? std::string_view{} : msg.substr(msg.find(' ') + 1);
    const int64_t id = w.held;
    w.held = 0;
    sched_->Finish(id, ok);
    Log(worker, id, ok, reason);
  }
  std::string reply = Assign(worker);
  // A task that ended may let others run (a barrier, a dependency), or end
  // the farm: the waiting workers hear of it now.
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (static_cast<int>(i) == worker || !workers_[i].waiting) continue;
    std::string r = Assign(static_cast<int>(i));
    if (!r.empty()) Answer(static_cast<int>(i), std::move(r));
  }
  return reply;
}

void TaskDispatcher::Answer(int worker, std::string reply) {
  if (worker == 0) {
    local_reply_ = std::move(reply);
    local_ready_ = true;
    return;
  }
  auto buf = std::make_unique<std::string>(std::move(reply));
  MPI_Request req;
  if (MPI_Isend(buf->data(), static_cast<int>(buf->size()), MPI_CHAR, worker, kTaskReplyTag, ctl_,
                &req) == MPI_SUCCESS) {
    out_bufs_.push_back(std::move(buf));
    out_reqs_.push_back(req);
  }
}

void TaskDispatcher::Serve() {
  std::string msg;
  int from = 0;
  while (TakeText(ctl_, MPI_ANY_SOURCE, kTaskTag, &msg, &from)) {
    std::string reply = Request(from, msg);
    if (!reply.empty()) Answer(from, std::move(reply));
  }
  // Let go of the replies that have gone out.
  for (size_t i = 0; i < out_reqs_.size();) {
    int done = 0;
    MPI_Test(&out_reqs_[i], &done, MPI_STATUS_IGNORE);
    if (done) {
      out_reqs_.erase(out_reqs_.begin() + static_cast<std::ptrdiff_t>(i));
      out_bufs_.erase(out_bufs_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

bool TaskDispatcher::TakeLocalReply(std::string* reply) {
  if (!local_ready_) return false;
  local_ready_ = false;
  *reply = std::move(local_reply_);
  return true;
}

std::string TaskDispatcher::Summary(double wall) const {
  const TaskScheduler::Counts c = sched_->counts();
  const int64_t ran = c.succeeded + c.failed - c.resumed;
  char head[256];
  std::snprintf(head, sizeof head, "%zu task(s) in %.2f s (%.1f tasks/s): %lld succeeded",
                sched_->size(), wall, wall > 0 ? static_cast<double>(ran) / wall : 0.0,
                static_cast<long long>(c.succeeded));
  std::string s = "stdmpi: tasks: " + std::string(head);
  if (c.retried > 0) s += " (" + std::to_string(c.retried) + " after more than one attempt)";
  s += ", " + std::to_string(c.failed) + " failed, " + std::to_string(c.skipped) + " skipped";
  if (c.resumed > 0) s += "; " + std::to_string(c.resumed) + " left out as the joblog says";
  s += "\n";
  const size_t shown = 20;
  for (size_t i = 0; i < failures_.size() && i < shown; ++i) {
    s += "stdmpi: failed: " + failures_[i] + "\n";
  }
  if (failures_.size() > shown) {
    s += "stdmpi: ... and " + std::to_string(failures_.size() - shown) +
         " more failed (the joblog has them all)\n";
  }
  size_t skips = 0;
  for (size_t id = 1; id <= sched_->size(); ++id) {
    const int64_t t = static_cast<int64_t>(id);
    if (sched_->state(t) != TaskState::kSkipped || sched_->skip_reason(t).empty()) continue;
    if (++skips > shown) continue;
    s += "stdmpi: skipped: task " + std::to_string(id) + " (" + sched_->skip_reason(t) +
         "): " + sched_->spec(t).command + "\n";
  }
  if (skips > shown) s += "stdmpi: ... and " + std::to_string(skips - shown) + " more skipped\n";
  return s;
}

void TaskDispatcher::WriteStatus(double elapsed) {
  if (status_file_.empty()) return;
  // A new file each time (O_EXCL), so that no link a task made, hard or
  // symbolic, is written through; renamed over the old one.
  const std::string tmp = status_file_ + ".tmp";
  int fd = CreateFileNoFollow(tmp, 0644);
  if (fd < 0) return;
  const std::string json = TaskStatusJson(StatusOf(*sched_, elapsed));
  const bool ok = write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size());
  close(fd);
  if (ok) rename(tmp.c_str(), status_file_.c_str());
}

int TaskDispatcher::Status() const {
  return TaskFarmStatus(sched_->counts().failed);
}

namespace {

class LocalLink : public TaskLink {
 public:
  explicit LocalLink(TaskDispatcher* d) : d_(d) {}
  void Post(const std::string& msg) override {
    reply_ = d_->Request(0, msg);
    ready_ = !reply_.empty();
  }
  bool Poll(std::string* reply) override {
    d_->Serve();
    if (!ready_ && !d_->TakeLocalReply(&reply_)) return false;
    ready_ = false;
    *reply = std::move(reply_);
    return true;
  }

 private:
  TaskDispatcher* d_;
  std::string reply_;
  bool ready_ = false;
};

class RemoteLink : public TaskLink {
 public:
  explicit RemoteLink(MPI_Comm ctl) : ctl_(ctl) {}
  void Post(const std::string& msg) override {
    msg_ = msg;
    MPI_Send(msg_.data(), static_cast<int>(msg_.size()), MPI_CHAR, 0, kTaskTag, ctl_);
  }
  bool Poll(std::string* reply) override {
    int from = 0;
    return TakeText(ctl_, 0, kTaskReplyTag, reply, &from);
  }

 private:
  MPI_Comm ctl_;
  std::string msg_;
};

// `@mpi task`: the worker's report of its previous item goes to the
// dispatcher; the reply is the next item (`ID TEXT`) or `end`.
class TaskOp : public Operation {
 public:
  TaskOp(OpContext& c, Comm& world, TaskLink& link, const Request& r)
      : Operation(c, world), link_(link) {
    std::string msg = "next";
    if (!link_.lost.empty()) {
      // The worker program before this one exited holding its item.
      msg = std::move(link_.lost);
      link_.lost.clear();
    } else if (r.task_failed) {
      msg = "fail " + (r.text.empty() ? std::string("(no reason given)") : std::string(r.text));
    }
    link_.Post(msg);
  }
  bool Progress() override {
    std::string reply;
    if (!link_.Poll(&reply)) return false;
    if (reply == "end") {
      link_.held = 0;
      link_.ended = true;
      return Finish("end\n");
    }
    // "ID ATTEMPT TEXT"
    size_t a = reply.find(' '), b = reply.find(' ', a + 1);
    int64_t id = 0, attempt = 0;
    ParseCount(std::string_view(reply).substr(0, a), INT64_MAX / 2, &id);
    ParseCount(std::string_view(reply).substr(a + 1, b - a - 1), INT32_MAX, &attempt);
    link_.held = id;
    link_.attempt = static_cast<int>(attempt);
    return Finish(std::to_string(id) + " " + reply.substr(b + 1) + "\n");
  }
  std::string Waiting() const override {
    return "task: waiting for the next item from the dispatcher (rank 0)";
  }

 private:
  TaskLink& link_;
};

}  // namespace

std::unique_ptr<Operation> MakeTaskOp(OpContext& c, Comm& world, TaskLink& link, const Request& r) {
  return std::make_unique<TaskOp>(c, world, link, r);
}

std::unique_ptr<TaskLink> MakeLocalTaskLink(TaskDispatcher* d) {
  return std::make_unique<LocalLink>(d);
}

std::unique_ptr<TaskLink> MakeRemoteTaskLink(MPI_Comm ctl) {
  return std::make_unique<RemoteLink>(ctl);
}

}  // namespace stdmpi
