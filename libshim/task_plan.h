// The task farm's plan and bookkeeping (docs/tasks.md): the task file
// parsed into tasks, barriers and dependencies; the scheduler that hands
// ready tasks to free workers, retries failed ones and skips those whose
// dependency failed; and GNU parallel's joblog, written and read back for
// --resume.
//
// Pure logic: no MPI, no processes, no clock (times come in as numbers).
#ifndef STDMPI_LIBSHIM_TASK_PLAN_H_
#define STDMPI_LIBSHIM_TASK_PLAN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

// One task: a line of the task file that is neither empty nor a comment.
struct TaskSpec {
  int64_t id = 0;              // from 1, in file order
  int line = 0;                // its line in the file (for messages)
  std::string command;         // the line (a shell command, or a keep-alive worker's item)
  std::string name;            // from `#TASK NAME ...`, or empty
  std::vector<int64_t> after;  // the ids of the tasks it depends on
  int barrier = 0;             // how many barriers come before it
};

struct TaskPlan {
  std::vector<TaskSpec> tasks;  // tasks[i].id == i + 1
  int barriers = 0;
};

// Parses a task file. Lines: empty, `# comment`, `#BARRIER` (or disBatch's
// `#DISBATCH BARRIER`), `#TASK NAME [after NAME[,NAME...]]` (names the next
// task and what it waits for), or a task. A trailing CR is dropped. On error
// (an unknown or repeated name, a cycle, a #TASK naming no task) returns
// false with *err naming the line, before anything runs.
bool ParseTaskFile(std::string_view text, TaskPlan* plan, std::string* err);

// What became of a task.
enum class TaskState : uint8_t { kPending, kRunning, kSucceeded, kFailed, kSkipped };

class TaskScheduler {
 public:
  // `retries`: a failed task runs again up to this many more times.
  TaskScheduler(const TaskPlan& plan, int retries);

  // --resume: a task that already succeeded (or, `failed`, that ran and
  // failed: --resume skips those too; --resume-failed runs them again).
  void MarkFinished(int64_t id, bool succeeded);

  enum class Next { kTask, kWait, kEnd };
  // The next ready task for a free worker: kTask (*id, *attempt from 1),
  // kWait (none is ready now: a barrier or a dependency waits for tasks
  // still running) or kEnd (every task has ended).
  Next Take(int64_t* id, int* attempt);
  // The attempt of `id` that was running ended. A failed one is retried
  // while retries are left (returns true then); a task that failed for good
  // skips every task that depends on it, directly or not.
  bool Finish(int64_t id, bool ok);

  TaskState state(int64_t id) const { return st_[Index(id)].state; }
  int attempts(int64_t id) const { return st_[Index(id)].attempts; }
  // Why a task was skipped: "task 3 (prep) failed".
  const std::string& skip_reason(int64_t id) const { return st_[Index(id)].why; }
  const TaskSpec& spec(int64_t id) const { return plan_.tasks[Index(id)]; }
  size_t size() const { return plan_.tasks.size(); }

  struct Counts {
    int64_t succeeded = 0, failed = 0, skipped = 0, running = 0, pending = 0;
    int64_t retried = 0;  // tasks that succeeded after more than one attempt
    int64_t resumed = 0;  // tasks --resume left out
  };
  Counts counts() const;
  bool done() const;

 private:
  struct State {
    TaskState state = TaskState::kPending;
    int attempts = 0;
    bool resumed = false;
    std::string why;
  };
  size_t Index(int64_t id) const { return static_cast<size_t>(id - 1); }
  bool Ready(const TaskSpec& t) const;
  void SkipDependents(int64_t failed);

  TaskPlan plan_;
  int retries_;
  std::vector<State> st_;
  std::vector<std::vector<int64_t>> dependents_;  // by index: the tasks after it
  std::vector<int64_t> open_in_level_;            // by barrier level: tasks not ended
  int64_t first_pending_ = 1;                     // no task before it is pending
};

// GNU parallel's joblog (`parallel --joblog`): a header, then one
// tab-separated line per attempt, written when the attempt ends.
std::string JoblogHeader();
// `host`: ":" for this machine, as GNU parallel writes it. `start`: seconds
// since the epoch; `runtime`: seconds. `signal`: the signal that killed it,
// else 0.
std::string JoblogLine(int64_t seq, std::string_view host, double start, double runtime,
                       int exitval, int signal, std::string_view command);

// What a joblog says: the last attempt of each task (by Seq) that it
// records, and its command.
struct JoblogEntry {
  bool succeeded = false;
  std::string command;
};
// Reads a joblog (ours or GNU parallel's). Lines that are not entries (a
// header, a line cut short by a killed job) are skipped. Returns false with
// *err if the file is not a joblog at all.
bool ReadJoblog(std::string_view text, std::map<int64_t, JoblogEntry>* out, std::string* err);

// Where a farm stands (--status FILE, and stdmpirun's progress line).
struct TaskStatus {
  int64_t total = 0, succeeded = 0, failed = 0, skipped = 0, running = 0, pending = 0;
  int64_t retried = 0, resumed = 0;
  double elapsed = 0;  // seconds since the farm started
  bool done = false;
};
TaskStatus StatusOf(const TaskScheduler& s, double elapsed);
// One JSON object on one line:
// {"tasks":300,"succeeded":120,"failed":2,"skipped":0,"running":16,"pending":162,
//  "retried":3,"resumed":0,"elapsed":41.2,"rate":2.96,"eta":60.2,"done":false}
// "rate": tasks ended this run a second; "eta": seconds left at that rate
// (null while nothing has ended).
std::string TaskStatusJson(const TaskStatus& st);
// Reads back what TaskStatusJson wrote; false if it is not that.
bool ParseTaskStatus(std::string_view json, TaskStatus* st);
// The live line on a terminal: "tasks: 120/300 done, 2 failed, 16 running,
// 2.9/s, about 1 min left".
std::string ProgressLine(const TaskStatus& st);

// The exit status of a task farm: the number of tasks that failed, at most
// 101 (GNU parallel's convention).
int TaskFarmStatus(int64_t failed);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_TASK_PLAN_H_
