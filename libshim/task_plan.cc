#include "task_plan.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "numbers.h"

namespace stdmpi {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool ValidName(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string At(int line) {
  return "line " + std::to_string(line) + ": ";
}

// A `#TASK NAME [after A,B]` line, its NAME and the names it waits for.
bool ParseTaskDirective(std::string_view rest, int line, std::string* name,
                        std::vector<std::string>* after, std::string* err) {
  rest = Trim(rest);
  size_t sp = rest.find_first_of(" \t");
  *name = std::string(rest.substr(0, sp));
  if (!ValidName(*name)) {
    *err = At(line) +
           "#TASK needs a name of letters, digits, '_', '.' or '-' (#TASK NAME [after "
           "NAME,NAME...])";
    return false;
  }
  rest = sp == std::string_view::npos ? std::string_view{} : Trim(rest.substr(sp));
  if (rest.empty()) return true;
  if (rest.substr(0, 6) != "after " && rest.substr(0, 6) != "after\t") {
    *err = At(line) + "expected \"after NAME[,NAME...]\" after the task's name, not \"" +
           std::string(rest.substr(0, 40)) + "\"";
    return false;
  }
  rest = Trim(rest.substr(6));
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view dep = Trim(rest.substr(0, comma));
    if (!ValidName(dep)) {
      *err = At(line) + "bad task name \"" + std::string(dep.substr(0, 40)) + "\" after \"after\"";
      return false;
    }
    after->emplace_back(dep);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return true;
}

// Names the first cycle among the dependencies, or "".
std::string FindCycle(const TaskPlan& plan) {
  const size_t n = plan.tasks.size();
  std::vector<int> color(n, 0);  // 0 new, 1 on the path, 2 done
  std::vector<int64_t> path;
  std::string found;
  std::function<bool(int64_t)> visit = [&](int64_t id) {
    const size_t i = static_cast<size_t>(id - 1);
    if (color[i] == 2) return false;
    if (color[i] == 1) {
      auto from = std::find(path.begin(), path.end(), id);
      for (auto it = from; it != path.end(); ++it) {
        const TaskSpec& t = plan.tasks[static_cast<size_t>(*it - 1)];
        found += t.name + " -> ";
      }
      found += plan.tasks[i].name;
      return true;
    }
    color[i] = 1;
    path.push_back(id);
    for (int64_t d : plan.tasks[i].after) {
      if (visit(d)) return true;
    }
    path.pop_back();
    color[i] = 2;
    return false;
  };
  for (size_t i = 0; i < n; ++i) {
    if (visit(static_cast<int64_t>(i + 1))) return found;
  }
  return "";
}

// Resolves the names of `after` into ids and checks the graph.
bool LinkTasks(TaskPlan* plan, const std::vector<std::vector<std::string>>& after_names,
               std::string* err) {
  std::map<std::string, int64_t> by_name;
  for (const TaskSpec& t : plan->tasks) {
    if (t.name.empty()) continue;
    if (!by_name.emplace(t.name, t.id).second) {
      *err = At(t.line) + "task name \"" + t.name + "\" is given twice (first on line " +
             std::to_string(plan->tasks[static_cast<size_t>(by_name[t.name] - 1)].line) + ")";
      return false;
    }
  }
  for (size_t i = 0; i < plan->tasks.size(); ++i) {
    TaskSpec& t = plan->tasks[i];
    for (const std::string& dep : after_names[i]) {
      auto it = by_name.find(dep);
      if (it == by_name.end()) {
        *err = At(t.line) + "task \"" + t.name + "\" is after \"" + dep +
               "\", which no #TASK line names";
        return false;
      }
      const TaskSpec& d = plan->tasks[static_cast<size_t>(it->second - 1)];
      if (d.barrier > t.barrier) {
        *err = At(t.line) + "task \"" + t.name + "\" is after \"" + dep +
               "\", which comes after a #BARRIER that \"" + t.name +
               "\" must end before: it could never run";
        return false;
      }
      t.after.push_back(it->second);
    }
  }
  if (std::string cycle = FindCycle(*plan); !cycle.empty()) {
    *err = "the tasks' dependencies form a cycle, so none of them could run: " + cycle;
    return false;
  }
  return true;
}

}  // namespace

bool ParseTaskFile(std::string_view text, TaskPlan* plan, std::string* err) {
  *plan = TaskPlan{};
  std::vector<std::vector<std::string>> after_names;
  std::string pending_name;
  std::vector<std::string> pending_after;
  int pending_line = 0;
  int line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string_view t = Trim(line);
    if (t.empty()) continue;
    if (t[0] == '#') {
      if (t == "#BARRIER" || t == "#DISBATCH BARRIER") {
        if (!pending_name.empty()) break;  // reported below
        ++plan->barriers;
      } else if (t.substr(0, 6) == "#TASK " || t.substr(0, 6) == "#TASK\t") {
        if (!pending_name.empty()) break;
        if (!ParseTaskDirective(t.substr(6), line_no, &pending_name, &pending_after, err)) {
          return false;
        }
        pending_line = line_no;
      }
      continue;  // any other # line is a comment
    }
    TaskSpec spec;
    spec.id = static_cast<int64_t>(plan->tasks.size()) + 1;
    spec.line = line_no;
    spec.command.assign(line);
    spec.barrier = plan->barriers;
    spec.name = std::move(pending_name);
    after_names.push_back(std::move(pending_after));
    pending_name.clear();
    pending_after.clear();
    plan->tasks.push_back(std::move(spec));
  }
  if (!pending_name.empty()) {
    *err =
        At(pending_line) + "#TASK " + pending_name + " names no task: a task line must follow it";
    return false;
  }
  return LinkTasks(plan, after_names, err);
}

TaskScheduler::TaskScheduler(const TaskPlan& plan, int retries)
    : plan_(plan), retries_(retries < 0 ? 0 : retries), st_(plan.tasks.size()) {
  dependents_.resize(plan_.tasks.size());
  open_in_level_.assign(static_cast<size_t>(plan_.barriers) + 1, 0);
  for (const TaskSpec& t : plan_.tasks) {
    ++open_in_level_[static_cast<size_t>(t.barrier)];
    for (int64_t d : t.after) dependents_[Index(d)].push_back(t.id);
  }
}

void TaskScheduler::MarkFinished(int64_t id, bool succeeded) {
  if (id < 1 || static_cast<size_t>(id) > st_.size()) return;
  State& s = st_[Index(id)];
  if (s.state != TaskState::kPending) return;
  s.state = succeeded ? TaskState::kSucceeded : TaskState::kFailed;
  s.resumed = true;
  --open_in_level_[static_cast<size_t>(spec(id).barrier)];
  if (!succeeded) SkipDependents(id);
}

bool TaskScheduler::Ready(const TaskSpec& t) const {
  for (int64_t d : t.after) {
    if (st_[Index(d)].state != TaskState::kSucceeded) return false;
  }
  return true;
}

TaskScheduler::Next TaskScheduler::Take(int64_t* id, int* attempt) {
  bool any_open = false;
  for (const TaskSpec& t : plan_.tasks) {
    State& s = st_[Index(t.id)];
    if (s.state == TaskState::kRunning) any_open = true;
    if (s.state != TaskState::kPending) continue;
    any_open = true;
    // Every later task comes after this one's barriers too.
    bool level_open = false;
    for (int l = 0; l < t.barrier && !level_open; ++l) {
      level_open = open_in_level_[static_cast<size_t>(l)] > 0;
    }
    if (level_open) break;
    if (!Ready(t)) continue;
    s.state = TaskState::kRunning;
    *id = t.id;
    *attempt = ++s.attempts;
    return Next::kTask;
  }
  return any_open ? Next::kWait : Next::kEnd;
}

bool TaskScheduler::Finish(int64_t id, bool ok) {
  State& s = st_[Index(id)];
  if (s.state != TaskState::kRunning) return false;
  if (!ok && s.attempts <= retries_) {
    s.state = TaskState::kPending;
    return true;
  }
  s.state = ok ? TaskState::kSucceeded : TaskState::kFailed;
  --open_in_level_[static_cast<size_t>(spec(id).barrier)];
  if (!ok) SkipDependents(id);
  return false;
}

void TaskScheduler::SkipDependents(int64_t failed) {
  std::vector<std::pair<int64_t, int64_t>> todo;  // (task, the one it waited for)
  for (int64_t d : dependents_[Index(failed)]) todo.emplace_back(d, failed);
  while (!todo.empty()) {
    auto [id, cause] = todo.back();
    todo.pop_back();
    State& s = st_[Index(id)];
    if (s.state != TaskState::kPending) continue;
    s.state = TaskState::kSkipped;
    const TaskSpec& c = spec(cause);
    s.why = "task " + std::to_string(cause) + (c.name.empty() ? "" : " (" + c.name + ")") +
            (st_[Index(cause)].state == TaskState::kSkipped ? " was skipped" : " failed");
    --open_in_level_[static_cast<size_t>(spec(id).barrier)];
    for (int64_t d : dependents_[Index(id)]) todo.emplace_back(d, id);
  }
}

TaskScheduler::Counts TaskScheduler::counts() const {
  Counts c;
  for (const State& s : st_) {
    switch (s.state) {
      case TaskState::kSucceeded:
        ++c.succeeded;
        break;
      case TaskState::kFailed:
        ++c.failed;
        break;
      case TaskState::kSkipped:
        ++c.skipped;
        break;
      case TaskState::kRunning:
        ++c.running;
        break;
      case TaskState::kPending:
        ++c.pending;
        break;
    }
    if (s.attempts > 1 && s.state == TaskState::kSucceeded) ++c.retried;
    if (s.resumed) ++c.resumed;
  }
  return c;
}

bool TaskScheduler::done() const {
  return std::none_of(st_.begin(), st_.end(), [](const State& s) {
    return s.state == TaskState::kPending || s.state == TaskState::kRunning;
  });
}

std::string JoblogHeader() {
  return "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";
}

std::string JoblogLine(int64_t seq, std::string_view host, double start, double runtime,
                       int exitval, int signal, std::string_view command) {
  char times[80];
  std::snprintf(times, sizeof times, "%.3f\t%10.3f", start, runtime);
  std::string s = std::to_string(seq);
  s += '\t';
  s += host;
  s += '\t';
  s += times;
  s += "\t0\t0\t" + std::to_string(exitval) + "\t" + std::to_string(signal) + "\t";
  s += command;
  s += '\n';
  return s;
}

bool ReadJoblog(std::string_view text, std::map<int64_t, JoblogEntry>* out, std::string* err) {
  out->clear();
  bool first = true;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) break;  // a last line cut short: not an entry
    std::string_view line = text.substr(0, nl);
    text = text.substr(nl + 1);
    if (first) {
      first = false;
      if (line.substr(0, 4) != "Seq\t") {
        *err = "not a joblog: its first line is not the header \"Seq\\tHost\\tStarttime...\"";
        return false;
      }
      continue;
    }
    std::vector<std::string_view> f;
    while (f.size() < 8) {
      size_t tab = line.find('\t');
      if (tab == std::string_view::npos) break;
      f.push_back(line.substr(0, tab));
      line = line.substr(tab + 1);
    }
    if (f.size() < 8) continue;
    int64_t seq, exitval, sig;
    if (!ParseCount(f[0], INT64_MAX / 2, &seq) || !ParseCount(f[6], 1000000, &exitval) ||
        !ParseCount(f[7], 1000, &sig)) {
      continue;
    }
    JoblogEntry& e = (*out)[seq];
    e.succeeded = exitval == 0 && sig == 0;
    e.command.assign(line);
  }
  return true;
}

TaskStatus StatusOf(const TaskScheduler& s, double elapsed) {
  const TaskScheduler::Counts c = s.counts();
  TaskStatus st;
  st.total = static_cast<int64_t>(s.size());
  st.succeeded = c.succeeded;
  st.failed = c.failed;
  st.skipped = c.skipped;
  st.running = c.running;
  st.pending = c.pending;
  st.retried = c.retried;
  st.resumed = c.resumed;
  st.elapsed = elapsed;
  st.done = s.done();
  return st;
}

namespace {

// Tasks ended this run, a second.
double Rate(const TaskStatus& st) {
  const int64_t ended = st.succeeded + st.failed + st.skipped - st.resumed;
  return st.elapsed > 0 && ended > 0 ? static_cast<double>(ended) / st.elapsed : 0;
}

}  // namespace

std::string TaskStatusJson(const TaskStatus& st) {
  const double rate = Rate(st);
  char eta[32] = "null";
  if (rate > 0) {
    std::snprintf(eta, sizeof eta, "%.1f", static_cast<double>(st.pending + st.running) / rate);
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"tasks\":%lld,\"succeeded\":%lld,\"failed\":%lld,\"skipped\":%lld,"
                "\"running\":%lld,\"pending\":%lld,\"retried\":%lld,\"resumed\":%lld,"
                "\"elapsed\":%.1f,\"rate\":%.3g,\"eta\":%s,\"done\":%s}\n",
                static_cast<long long>(st.total), static_cast<long long>(st.succeeded),
                static_cast<long long>(st.failed), static_cast<long long>(st.skipped),
                static_cast<long long>(st.running), static_cast<long long>(st.pending),
                static_cast<long long>(st.retried), static_cast<long long>(st.resumed), st.elapsed,
                rate, eta, st.done ? "true" : "false");
  return buf;
}

bool ParseTaskStatus(std::string_view json, TaskStatus* st) {
  auto number = [json](const char* key, double* out) {
    std::string k = std::string("\"") + key + "\":";
    size_t at = json.find(k);
    if (at == std::string_view::npos) return false;
    std::string v(json.substr(at + k.size(), 32));
    char* end = nullptr;
    *out = std::strtod(v.c_str(), &end);
    return end != v.c_str();
  };
  double v[9];
  const char* keys[] = {"tasks",   "succeeded", "failed",  "skipped", "running",
                        "pending", "retried",   "resumed", "elapsed"};
  for (int i = 0; i < 9; ++i) {
    if (!number(keys[i], &v[i])) return false;
  }
  int64_t* fields[] = {&st->total,   &st->succeeded, &st->failed,  &st->skipped,
                       &st->running, &st->pending,   &st->retried, &st->resumed};
  for (int i = 0; i < 8; ++i) *fields[i] = static_cast<int64_t>(v[i]);
  st->elapsed = v[8];
  st->done = json.find("\"done\":true") != std::string_view::npos;
  return true;
}

std::string ProgressLine(const TaskStatus& st) {
  const int64_t ended = st.succeeded + st.failed + st.skipped;
  std::string s = "tasks: " + std::to_string(ended) + "/" + std::to_string(st.total) + " done";
  if (st.failed > 0) s += ", " + std::to_string(st.failed) + " failed";
  s += ", " + std::to_string(st.running) + " running";
  const double rate = Rate(st);
  if (rate > 0) {
    char buf[96];
    const double left = static_cast<double>(st.pending + st.running) / rate;
    if (left < 90) {
      std::snprintf(buf, sizeof buf, ", %.1f/s, about %.0f s left", rate, left);
    } else if (left < 5400) {
      std::snprintf(buf, sizeof buf, ", %.1f/s, about %.0f min left", rate, left / 60);
    } else {
      std::snprintf(buf, sizeof buf, ", %.1f/s, about %.1f h left", rate, left / 3600);
    }
    s += buf;
  }
  return s;
}

int TaskFarmStatus(int64_t failed) {
  return failed > 100 ? 101 : static_cast<int>(failed);
}

}  // namespace stdmpi
