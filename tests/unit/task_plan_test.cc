#include "task_plan.h"

#include <catch2/catch.hpp>
#include <string>

using namespace stdmpi;

namespace {

TaskPlan Plan(std::string_view text) {
  TaskPlan p;
  std::string err;
  INFO(text);
  REQUIRE(ParseTaskFile(text, &p, &err));
  return p;
}

std::string PlanError(std::string_view text) {
  TaskPlan p;
  std::string err;
  INFO(text);
  REQUIRE_FALSE(ParseTaskFile(text, &p, &err));
  return err;
}

// Takes every ready task now: their ids, in order.
std::vector<int64_t> TakeAll(TaskScheduler* s) {
  std::vector<int64_t> ids;
  int64_t id;
  int attempt;
  while (s->Take(&id, &attempt) == TaskScheduler::Next::kTask) ids.push_back(id);
  return ids;
}

}  // namespace

TEST_CASE("a task file: tasks in order, comments and empty lines left out") {
  TaskPlan p =
      Plan("# regrid every file\n\nncl regrid.ncl f=1\r\n  ncl regrid.ncl f=2\n#x\necho 'a # b'");
  REQUIRE(p.tasks.size() == 3);
  CHECK(p.tasks[0].id == 1);
  CHECK(p.tasks[0].command == "ncl regrid.ncl f=1");
  CHECK(p.tasks[0].line == 3);
  CHECK(p.tasks[1].command == "  ncl regrid.ncl f=2");  // the line as it is
  CHECK(p.tasks[2].command == "echo 'a # b'");
  CHECK(p.tasks[2].id == 3);
  CHECK(p.barriers == 0);
  CHECK(Plan("").tasks.empty());
}

TEST_CASE("barriers and named tasks with dependencies") {
  TaskPlan p = Plan(
      "#TASK prep\nprepare\n#BARRIER\na\nb\n#DISBATCH BARRIER\n#TASK merge after x, y\nmerge\n"
      "#TASK x\nx1\n#TASK y after x\ny1\n");
  REQUIRE(p.tasks.size() == 6);
  CHECK(p.barriers == 2);
  CHECK(p.tasks[0].name == "prep");
  CHECK(p.tasks[0].barrier == 0);
  CHECK(p.tasks[1].barrier == 1);
  CHECK(p.tasks[3].name == "merge");
  CHECK(p.tasks[3].after == std::vector<int64_t>{5, 6});
  CHECK(p.tasks[5].after == std::vector<int64_t>{5});
}

TEST_CASE("a bad task file is refused before anything runs and the line is named") {
  CHECK(PlanError("#TASK a\n#TASK b\nx\n") ==
        "line 1: #TASK a names no task: a task line must follow it");
  CHECK(PlanError("x\n#TASK last\n") ==
        "line 2: #TASK last names no task: a task line must follow it");
  CHECK(PlanError("#TASK a after\nx\n").rfind("line 1: expected \"after NAME", 0) == 0);
  CHECK(PlanError("#TASK a b\nx\n") ==
        "line 1: expected \"after NAME[,NAME...]\" after the task's name, not \"b\"");
  CHECK(PlanError("#TASK a/b\nx\n").rfind("line 1: #TASK needs a name", 0) == 0);
  CHECK(PlanError("#TASK a\nx\n#TASK a\ny\n") ==
        "line 4: task name \"a\" is given twice (first on line 2)");
  CHECK(PlanError("#TASK a after nope\nx\n") ==
        "line 2: task \"a\" is after \"nope\", which no #TASK line names");
  CHECK(PlanError("#TASK a after c\nx\n#TASK b after a\ny\n#TASK c after b\nz\n") ==
        "the tasks' dependencies form a cycle, so none of them could run: a -> c -> b -> a");
  CHECK(PlanError("#TASK a after b\nx\n#BARRIER\n#TASK b\ny\n") ==
        "line 2: task \"a\" is after \"b\", which comes after a #BARRIER that \"a\" must end "
        "before: it could never run");
}

TEST_CASE("the scheduler hands out tasks in order to any free worker") {
  TaskScheduler s(Plan("a\nb\nc\n"), 0);
  int64_t id;
  int attempt;
  REQUIRE(s.Take(&id, &attempt) == TaskScheduler::Next::kTask);
  CHECK(id == 1);
  CHECK(attempt == 1);
  CHECK(TakeAll(&s) == std::vector<int64_t>{2, 3});
  CHECK(s.Take(&id, &attempt) == TaskScheduler::Next::kWait);  // all running
  s.Finish(2, true);
  s.Finish(1, true);
  CHECK_FALSE(s.done());
  s.Finish(3, true);
  CHECK(s.done());
  CHECK(s.Take(&id, &attempt) == TaskScheduler::Next::kEnd);
  CHECK(s.counts().succeeded == 3);
}

TEST_CASE("a failed task runs again while retries are left and then counts as failed") {
  TaskScheduler s(Plan("a\nb\n"), 2);
  CHECK(TakeAll(&s) == std::vector<int64_t>{1, 2});
  CHECK(s.Finish(1, false));  // retried
  s.Finish(2, true);
  int64_t id;
  int attempt;
  REQUIRE(s.Take(&id, &attempt) == TaskScheduler::Next::kTask);
  CHECK(id == 1);
  CHECK(attempt == 2);
  CHECK(s.Finish(1, false));
  REQUIRE(s.Take(&id, &attempt) == TaskScheduler::Next::kTask);
  CHECK(attempt == 3);
  CHECK_FALSE(s.Finish(1, false));  // no retry left
  CHECK(s.state(1) == TaskState::kFailed);
  CHECK(s.done());
  TaskScheduler::Counts c = s.counts();
  CHECK(c.failed == 1);
  CHECK(c.succeeded == 1);
  CHECK(c.retried == 0);  // counts successes that needed a retry only
  CHECK(TaskFarmStatus(c.failed) == 1);
}

TEST_CASE("a barrier waits until every task above it has ended") {
  TaskScheduler s(Plan("a\nb\n#BARRIER\nc\nd\n"), 0);
  CHECK(TakeAll(&s) == std::vector<int64_t>{1, 2});
  s.Finish(1, true);
  CHECK(TakeAll(&s).empty());  // b still runs
  s.Finish(2, false);          // failed: it has ended, the barrier opens
  CHECK(TakeAll(&s) == std::vector<int64_t>{3, 4});
}

TEST_CASE(
    "dependencies: a task runs once those it is after succeeded, and a failure skips "
    "its dependents") {
  TaskScheduler s(Plan("#TASK prep\np\n#TASK fan1 after prep\nf1\n#TASK fan2 after prep\nf2\n"
                       "#TASK merge after fan1,fan2\nm\n#TASK other\no\n"),
                  0);
  CHECK(TakeAll(&s) == std::vector<int64_t>{1, 5});
  s.Finish(1, true);
  CHECK(TakeAll(&s) == std::vector<int64_t>{2, 3});
  s.Finish(2, false);
  CHECK(s.state(4) == TaskState::kSkipped);
  CHECK(s.skip_reason(4) == "task 2 (fan1) failed");
  s.Finish(3, true);
  s.Finish(5, true);
  CHECK(s.done());
  CHECK(s.counts().skipped == 1);
  CHECK(s.counts().failed == 1);
}

TEST_CASE("skips go down a chain of dependencies") {
  TaskScheduler s(Plan("#TASK a\na\n#TASK b after a\nb\n#TASK c after b\nc\n"), 0);
  CHECK(TakeAll(&s) == std::vector<int64_t>{1});
  s.Finish(1, false);
  CHECK(s.state(3) == TaskState::kSkipped);
  CHECK(s.skip_reason(3) == "task 2 (b) was skipped");
  CHECK(s.done());
}

TEST_CASE("resume: tasks the joblog shows as ended are left out") {
  TaskScheduler s(Plan("a\nb\n#BARRIER\nc\n"), 0);
  s.MarkFinished(1, true);
  s.MarkFinished(2, false);  // --resume leaves failed ones out too
  s.MarkFinished(9, true);   // not a task: ignored
  CHECK(TakeAll(&s) == std::vector<int64_t>{3});
  s.Finish(3, true);
  CHECK(s.done());
  CHECK(s.counts().resumed == 2);
  CHECK(s.counts().failed == 1);  // it failed before: the job still says so
}

TEST_CASE("the joblog is GNU parallel's and reads back") {
  CHECK(JoblogHeader() ==
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n");
  CHECK(JoblogLine(12, ":", 1796052284.2421, 0.2026, 3, 0, "sh -c 'exit 3'\tx") ==
        "12\t:\t1796052284.242\t     0.203\t0\t0\t3\t0\tsh -c 'exit 3'\tx\n");
  std::string log = JoblogHeader() + JoblogLine(1, "n1", 1, 2, 0, 0, "ok") +
                    JoblogLine(2, "n1", 1, 2, 1, 0, "bad") +
                    JoblogLine(3, "n2", 1, 2, 0, 9, "killed") +
                    JoblogLine(2, "n2", 5, 1, 0, 0, "bad") + "4\tn1\t1.0\t";  // cut short
  std::map<int64_t, JoblogEntry> got;
  std::string err;
  REQUIRE(ReadJoblog(log, &got, &err));
  REQUIRE(got.size() == 3);
  CHECK(got[1].succeeded);
  CHECK(got[2].succeeded);  // its last attempt
  CHECK_FALSE(got[3].succeeded);
  CHECK(got[3].command == "killed");
  CHECK_FALSE(ReadJoblog("hello\n", &got, &err));
  CHECK(err == "not a joblog: its first line is not the header \"Seq\\tHost\\tStarttime...\"");
  CHECK(ReadJoblog("", &got, &err));
  CHECK(got.empty());
}

TEST_CASE("the farm's exit status counts failed tasks up to 101") {
  CHECK(TaskFarmStatus(0) == 0);
  CHECK(TaskFarmStatus(7) == 7);
  CHECK(TaskFarmStatus(100) == 100);
  CHECK(TaskFarmStatus(101) == 101);
  CHECK(TaskFarmStatus(5000) == 101);
}

TEST_CASE("the farm's status as JSON, read back, and as a progress line") {
  TaskStatus st;
  st.total = 300;
  st.succeeded = 118;
  st.failed = 2;
  st.running = 16;
  st.pending = 164;
  st.retried = 3;
  st.elapsed = 40;
  std::string json = TaskStatusJson(st);
  CHECK(json ==
        "{\"tasks\":300,\"succeeded\":118,\"failed\":2,\"skipped\":0,\"running\":16,"
        "\"pending\":164,\"retried\":3,\"resumed\":0,\"elapsed\":40.0,\"rate\":3,"
        "\"eta\":60.0,\"done\":false}\n");
  TaskStatus back;
  REQUIRE(ParseTaskStatus(json, &back));
  CHECK(back.total == 300);
  CHECK(back.failed == 2);
  CHECK(back.pending == 164);
  CHECK(back.elapsed == 40);
  CHECK_FALSE(back.done);
  CHECK(ProgressLine(st) == "tasks: 120/300 done, 2 failed, 16 running, 3.0/s, about 60 s left");
  st.pending = 2000;
  CHECK(ProgressLine(st) == "tasks: 120/300 done, 2 failed, 16 running, 3.0/s, about 11 min left");
  TaskStatus fresh;
  fresh.total = 5;
  CHECK(TaskStatusJson(fresh).find("\"eta\":null") != std::string::npos);
  CHECK(ProgressLine(fresh) == "tasks: 0/5 done, 0 running");
  CHECK_FALSE(ParseTaskStatus("{}", &back));
}
