"""The task-farm loops of the language bridges (docs/bridges.md, "Task farm
workers"): for Python, R, NCL, bash, awk and C, a keep-alive farm of 30 items
in which some fail (the exit status is the number of failed items; the joblog
and the summary say which and why), workers that crash holding an item (the
attempt fails, the shim starts the worker again, --retries runs the item
again), and the loops outside stdmpirun (STDMPI_TASKS=FILE)."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import PYTHON, joblog, require, stdmpirun

SHARE = os.path.join(harness.BUILD, "share", "stdmpi")
N = 30
# The item file: a comment and a blank line (not items: the ids skip them),
# then 30 lines with spaces in them, which reach the workers exactly.
LINES = {i: f"{i}  in/file {i:02d}.nc" for i in range(1, N + 1)}
ITEMS = ("# thirty items\n" + "".join(LINES[i] + "\n" for i in range(1, 16)) + "\n" +
         "".join(LINES[i] + "\n" for i in range(16, N + 1)))
SEVENS = [7, 14, 21, 28]  # the items that fail in the farms below
# Where the bash, awk and C workers fail: the sevens with exit 3, item 30 by
# SIGTERM. {id: (Exitval, Signal, reason)}
FAILED = {**{i: (3, 0, "exit 3") for i in SEVENS}, 30: (0, 15, "signal 15")}


class TaskLoops(unittest.TestCase):
    """Each worker prints `done ID ATTEMPT [TEXT]` for every item it takes
    (failing ones too) and, after its loop, `worker RANK ended after K
    items`."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-task-bridges-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.items = self.write("items.txt", ITEMS)
        self.log = os.path.join(self.dir, "joblog")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def farm(self, *command, retries=0, ranks=2, timeout=120):
        args = ["-q", "-n", str(ranks), "--tasks", self.items, "--joblog", self.log]
        if ranks > 2:
            args.insert(1, "--oversubscribe")
        if retries:
            args += ["--retries", str(retries)]
        return stdmpirun(*args, *command, timeout=timeout)

    def done_lines(self, job):
        """{id: [(attempt, text), ...]} from the workers' `done` lines."""
        done = {}
        for item_id, attempt, text in re.findall(r"^done (\d+) (\d+) \[(.*)\]$", job.stdout, re.M):
            done.setdefault(int(item_id), []).append((int(attempt), text))
        return done

    def check_farm(self, job, failed, ranks=2):
        """A farm where the items in `failed` ({id: (exitval, signal, reason)})
        failed once and for all, the others succeeded: the exit status, each
        item taken once by a worker that went on to the next, the joblog, and
        the summary."""
        self.assertEqual(job.rc, len(failed), job.describe())
        done = self.done_lines(job)
        self.assertEqual(sorted(done), list(range(1, N + 1)), job.describe())
        for i, runs in done.items():
            self.assertEqual(runs, [(1, LINES[i])], f"item {i}\n{job.describe()}")
        ended = [int(k) for k in re.findall(r"^worker \d+ ended after (\d+) items$", job.stdout,
                                            re.M)]
        self.assertEqual(len(ended), ranks, job.describe())  # no worker started again
        self.assertEqual(sum(ended), N, job.describe())
        self.assertGreater(max(ended), 1, "a worker process handled several items")
        entries = joblog(self.log)
        self.assertEqual(sorted(entries),
                         [(i, *failed[i][:2], LINES[i]) if i in failed else (i, 0, 0, LINES[i])
                          for i in range(1, N + 1)])
        self.assertRegex(job.stderr, r"stdmpi: tasks: 30 task\(s\) in \S+ s \(\S+ tasks/s\): "
                         rf"{N - len(failed)} succeeded, {len(failed)} failed, 0 skipped\n")
        for i, (_, _, reason) in failed.items():
            self.assertIn(f"stdmpi: failed: task {i} ({reason}, 1 attempt(s)): {LINES[i]}\n",
                          job.stderr)
        self.assertNotIn("ending the job", job.stderr)

    def check_crashes(self, job, crashes):
        """A farm with --retries 1 whose workers crashed holding the items in
        `crashes` ({id: exit status}) once: every item done, those on their
        second attempt, each crash noted, and the job exits 0."""
        self.assertEqual(job.rc, 0, job.describe())
        done = self.done_lines(job)
        self.assertEqual(sorted(done), list(range(1, N + 1)), job.describe())
        for i, runs in done.items():
            self.assertEqual(runs, [(2 if i in crashes else 1, LINES[i])], job.describe())
        for i, status in crashes.items():
            self.assertRegex(job.stderr, rf"stdmpi: rank \d \(.*\): the worker exited with status "
                             rf"{status} holding item {i}: that attempt fails; the worker starts "
                             "again\n")
        entries = joblog(self.log)
        self.assertEqual(len(entries), N + len(crashes))
        for i, status in crashes.items():
            self.assertEqual(sorted(e for e in entries if e[0] == i),
                             sorted([(i, status, 0, LINES[i]), (i, 0, 0, LINES[i])]))
        self.assertRegex(job.stderr, rf"stdmpi: tasks: 30 task\(s\) in \S+ s \(\S+ tasks/s\): 30 "
                         rf"succeeded \({len(crashes)} after more than one attempt\), 0 failed, "
                         r"0 skipped\n")
        self.assertNotIn("stdmpi: failed:", job.stderr)

    def alone(self, command, env):
        """Runs a worker outside stdmpirun (no STDMPI_RANK)."""
        return harness.run(["env", "-u", "STDMPI_RANK", *command], timeout=60, env=env)

    def check_alone(self, job, reasons):
        """A worker outside stdmpirun, STDMPI_TASKS naming the item file:
        every item once, in order, and the failures listed at the end."""
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(re.findall(r"^done .*$", job.stdout, re.M),
                         [f"done {i} 1 [{LINES[i]}]" for i in range(1, N + 1)], job.describe())
        self.assertIn(f"stdmpi: tasks: 30 item(s) in this process (STDMPI_TASKS): "
                      f"{N - len(reasons)} succeeded, {len(reasons)} failed\n" +
                      "".join(f"stdmpi: failed: item {i} ({why}): {LINES[i]}\n"
                              for i, why in reasons.items()), job.stderr)


# --- Python -----------------------------------------------------------------------

PY_FARM = """import os, stdmpi
k = 0
for item in stdmpi.tasks():
    with item:                     # an exception fails the item; the loop goes on
        k += 1
        print(f"done {item.id} {item.attempt} [{item.text}]", flush=True)
        n = int(item.text.split()[0])
        if n % 7 == 0:
            raise ValueError(f"no sevens: {n}")
print(f"worker {os.environ.get('STDMPI_RANK', 0)} ended after {k} items")
"""

PY_CRASH = """import os, sys, stdmpi
for item in stdmpi.tasks():
    n = int(item.text.split()[0])
    mark = os.path.join(sys.argv[1], f"crashed.{n}")
    if n in (13, 22) and not os.path.exists(mark):
        open(mark, "w").close()
        if n == 13:
            raise RuntimeError("no with: the worker ends holding item 13")
        os._exit(3)
    print(f"done {item.id} {item.attempt} [{item.text}]", flush=True)
"""

PY_MAP = """import os, stdmpi
def work(text, scale):
    n = int(text.split()[0])
    if n % 7 == 0:
        raise KeyError(n)
    return n * scale
res = stdmpi.task_map(work, 10)
print("results", " ".join(f"{k}={v}" for k, v in sorted(res.items())))
"""


class Python(TaskLoops):
    def test_an_exception_fails_its_item_and_the_loop_goes_on(self):
        job = self.farm(PYTHON, self.write("w.py", PY_FARM))
        self.check_farm(job, {i: (1, 0, f"ValueError: no sevens: {i}") for i in SEVENS})
        # The traceback goes to stderr, after a line that names the item (the
        # other rank's lines may come in between: each rank's keep their order).
        at = job.stderr.index("stdmpi: item 14 failed: ValueError: no sevens: 14\n")
        self.assertIn("Traceback (most recent call last):\n", job.stderr[at:])
        self.assertIn("\nValueError: no sevens: 14\n", job.stderr[at:])

    def test_a_worker_that_crashes_holding_an_item_starts_again(self):
        job = self.farm(PYTHON, self.write("w.py", PY_CRASH), self.dir, retries=1)
        self.check_crashes(job, {13: 1, 22: 3})
        self.assertIn("RuntimeError: no with: the worker ends holding item 13", job.stderr)

    def test_task_map_returns_this_workers_results(self):
        job = self.farm(PYTHON, self.write("w.py", PY_MAP))
        self.assertEqual(job.rc, 4, job.describe())
        got = {}
        for line in re.findall(r"^results ?(.*)$", job.stdout, re.M):
            for pair in line.split():
                k, v = pair.split("=")
                self.assertNotIn(int(k), got)
                got[int(k)] = int(v)
        self.assertEqual(got, {i: 10 * i for i in range(1, N + 1) if i % 7})
        for i in SEVENS:
            self.assertIn(f"stdmpi: failed: task {i} (KeyError: {i}, 1 attempt(s)): {LINES[i]}",
                          job.stderr)

    def test_outside_stdmpirun_the_items_come_from_STDMPI_TASKS(self):
        env = {"PYTHONPATH": os.path.join(SHARE, "python")}
        worker = self.write("w.py", PY_FARM)
        job = self.alone([PYTHON, worker], dict(env, STDMPI_TASKS=self.items))
        self.check_alone(job, {i: f"ValueError: no sevens: {i}" for i in SEVENS})
        self.assertIn("worker 0 ended after 30 items", job.stdout)
        job = self.alone(["env", "-u", "STDMPI_TASKS", PYTHON, worker], env)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi.StdmpiError: @mpi task is for task farms: start the job with "
                      "stdmpirun --tasks FILE COMMAND (outside stdmpirun, STDMPI_TASKS=FILE works "
                      "through FILE's items in this process)", job.stderr)


# --- R ------------------------------------------------------------------------------

R_FARM = """library(stdmpi)
k <- 0
res <- task.pull.items(function(text, scale) {
  k <<- k + 1
  item <- strsplit(text, " ")[[1]]
  n <- as.numeric(item[1])
  if (n %% 7 == 0) stop("no sevens: ", n)
  n * scale
}, scale = 10)
for (id in names(res)) {
  r <- res[[id]]
  cat(sprintf("result %s %s\\n", id, if (inherits(r, "try-error")) "failed" else format(r)))
}
cat(sprintf("worker %s ended after %d items\\n", Sys.getenv("STDMPI_RANK", "0"), k))
"""

# The loop form: task.item() and task.fail().
R_LOOP = """library(stdmpi)
k <- 0
while (!is.null(item <- task.item())) {
  k <- k + 1
  cat(sprintf("done %d %d [%s]\\n", item$id, item$attempt, item$text))
  n <- as.numeric(strsplit(item$text, " ")[[1]][1])
  if (n %% 7 == 0) task.fail("exit 3")
}
cat(sprintf("worker %s ended after %d items\\n", Sys.getenv("STDMPI_RANK", "0"), k))
"""

R_CRASH = """library(stdmpi)
dir <- commandArgs(trailingOnly = TRUE)[1]
while (!is.null(item <- task.item())) {
  n <- as.numeric(strsplit(item$text, " ")[[1]][1])
  mark <- file.path(dir, paste0("crashed.", n))
  if (n == 9 && !file.exists(mark)) {
    file.create(mark)
    quit(save = "no", status = 3)      # exits holding item 9
  }
  if (n == 17 && !file.exists(mark)) {
    file.create(mark)
    stop("an R error outside task.pull.items ends the worker")
  }
  cat(sprintf("done %d %d [%s]\\n", item$id, item$attempt, item$text))
}
"""


class R(TaskLoops):
    def setUp(self):
        require(shutil.which("Rscript") is not None,
                "R (Rscript; scripts/setup.sh test installs it)")
        super().setUp()

    def test_task_pull_items_fails_an_item_on_an_R_error(self):
        # task.pull.items prints no `done` lines: its results say what ran.
        job = self.farm("Rscript", self.write("w.R", R_FARM))
        self.assertEqual(job.rc, 4, job.describe())
        results = dict(re.findall(r"^result (\d+) (\S+)$", job.stdout, re.M))
        self.assertEqual(results, {str(i): "failed" if i % 7 == 0 else str(10 * i)
                                   for i in range(1, N + 1)}, job.describe())
        ended = [int(k) for k in re.findall(r"ended after (\d+) items", job.stdout)]
        self.assertEqual((len(ended), sum(ended)), (2, N), job.describe())
        self.assertEqual(sorted(joblog(self.log)),
                         [(i, 1 if i % 7 == 0 else 0, 0, LINES[i]) for i in range(1, N + 1)])
        self.assertRegex(job.stderr, r"stdmpi: tasks: 30 task\(s\) in \S+ s \(\S+ tasks/s\): 26 "
                         r"succeeded, 4 failed, 0 skipped\n")
        for i in SEVENS:
            self.assertIn(f"stdmpi: item {i} failed: Error: no sevens: {i}\n", job.stderr)
            self.assertIn(f"stdmpi: failed: task {i} (Error: no sevens: {i}, 1 attempt(s)): "
                          f"{LINES[i]}\n", job.stderr)

    def test_the_loop_with_task_item_and_task_fail(self):
        job = self.farm("Rscript", self.write("w.R", R_LOOP))
        self.check_farm(job, {i: (3, 0, "exit 3") for i in SEVENS})

    def test_a_worker_that_crashes_holding_an_item_starts_again(self):
        job = self.farm("Rscript", self.write("w.R", R_CRASH), self.dir, retries=1)
        self.check_crashes(job, {9: 3, 17: 1})

    def test_outside_stdmpirun_the_items_come_from_STDMPI_TASKS(self):
        env = {"R_LIBS": os.path.join(SHARE, "R"), "STDMPI_TASKS": self.items}
        job = self.alone(["Rscript", self.write("w.R", R_LOOP)], env)
        self.check_alone(job, {i: "exit 3" for i in SEVENS})


# --- NCL ------------------------------------------------------------------------------

NCL_FARM = """load "$STDMPI_NCL"
begin
  k = 0
  item = mpi_task()
  do while (.not. ismissing(item))
    k = k + 1
    print("done " + item@id + " " + item@attempt + " [" + item + "]")
    n = toint(str_get_field(item, 1, " "))
    if (n % 7 .eq. 0) then
      mpi_task_fail("exit 3")
    end if
    item = mpi_task()
  end do
  r = getenv("STDMPI_RANK")
  if (ismissing(r)) then
    r = "0"
  end if
  print("worker " + r + " ended after " + k + " items")
end
"""

# A worker that fails holding item N the first time (a marker file says it
# did): CRASH is the NCL statement that fails.
NCL_CRASHING = """load "$STDMPI_NCL"
begin
  dir = getenv("CRASH_DIR")
  item = mpi_task()
  do while (.not. ismissing(item))
    n = toint(str_get_field(item, 1, " "))
    mark = dir + "/crashed." + n
    if (n .eq. N .and. .not. fileexists(mark)) then
      system("touch " + mark)
      CRASH
    end if
    print("done " + item@id + " " + item@attempt + " [" + item + "]")
    item = mpi_task()
  end do
end
"""
NCL_CRASH = NCL_CRASHING.replace(" N ", " 11 ").replace("CRASH\n", "status_exit(3)\n")
# An NCL error (fatal:) while it holds an item.
NCL_FATAL = NCL_CRASHING.replace(" N ", " 5 ").replace("CRASH\n", "x = no_such_variable + 1\n")


class NCL(TaskLoops):
    def setUp(self):
        require(shutil.which("ncl"), "NCL (ncl-ncarg)")
        super().setUp()

    def test_mpi_task_fail_fails_the_item_and_the_loop_goes_on(self):
        job = self.farm("ncl", self.write("w.ncl", NCL_FARM))
        self.check_farm(job, {i: (3, 0, "exit 3") for i in SEVENS})

    def test_a_worker_that_exits_holding_an_item_starts_again(self):
        job = stdmpirun("-q", "-n", "2", "--tasks", self.items, "--joblog", self.log,
                        "--retries", "1", "ncl", self.write("w.ncl", NCL_CRASH), timeout=120,
                        env={"CRASH_DIR": self.dir})
        self.check_crashes(job, {11: 3})

    def test_an_ncl_error_holding_an_item_fails_that_attempt_only(self):
        # NCL exits 0 after a fatal: error: the lost attempt still counts as
        # failed (Exitval 1), and the new worker's lines start afresh.
        job = stdmpirun("-q", "-n", "2", "--tasks", self.items, "--joblog", self.log,
                        "--retries", "1", "ncl", self.write("w.ncl", NCL_FATAL), timeout=120,
                        env={"CRASH_DIR": self.dir})
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(self.done_lines(job)), list(range(1, N + 1)), job.describe())
        self.assertNotIn("ending the job", job.stderr)
        self.assertIn((5, 1, 0, LINES[5]), joblog(self.log))

    def test_outside_stdmpirun_the_items_come_from_STDMPI_TASKS(self):
        env = {"STDMPI_NCL": os.path.join(SHARE, "ncl", "stdmpi.ncl"), "STDMPI_TASKS": self.items}
        job = self.alone(["ncl", "-Q", "-n", self.write("w.ncl", NCL_FARM)], env)
        self.check_alone(job, {i: "exit 3" for i in SEVENS})


# --- bash -------------------------------------------------------------------------------

# Sevens fail with exit 3; item 30 is killed by SIGTERM (status 143: signal 15).
BASH_FARM = """source "$STDMPI_BASH"
k=0
while mpi_task id line; do
  k=$((k + 1))
  mpi_task_attempt attempt
  echo "done $id $attempt [$line]"
  n=${line%% *}
  if (( n == 30 )); then
    sh -c 'kill -TERM $$' || mpi_task_fail $?
  elif (( n % 7 == 0 )); then
    sh -c 'exit 3' || mpi_task_fail $?
  fi
done
echo "worker ${STDMPI_RANK:-0} ended after $k items"
"""


class Bash(TaskLoops):

    def test_mpi_task_fail_with_a_status_fills_the_joblog(self):
        job = self.farm("bash", self.write("w.sh", BASH_FARM), ranks=3)
        self.check_farm(job, FAILED, ranks=3)

    def test_outside_stdmpirun_the_items_come_from_STDMPI_TASKS(self):
        env = {"STDMPI_BASH": os.path.join(SHARE, "bash", "stdmpi.sh"),
               "STDMPI_TASKS": self.items}
        job = self.alone(["bash", self.write("w.sh", BASH_FARM)], env)
        self.check_alone(job, {i: why for i, (_, _, why) in FAILED.items()})


# --- awk ----------------------------------------------------------------------------------

AWK_FARM = """BEGIN {
  k = 0
  while (mpi_task() > 0) {
    k++
    printf "done %d %d [%s]\\n", MPI_TASK_ID, mpi_task_attempt(), MPI_TASK_TEXT
    split(MPI_TASK_TEXT, f, " ")
    if (f[1] == 30) {
      if ((s = system("kill -TERM $$")) != 0) mpi_task_fail(s)
    } else if (f[1] % 7 == 0) {
      if ((s = system("exit 3")) != 0) mpi_task_fail(s)
    }
  }
  printf "worker %d ended after %d items\\n", mpi_rank(), k
}
"""


class Awk(TaskLoops):
    def run_awk(self, awk):
        require(shutil.which(awk), awk)
        job = self.farm(awk, "-f", "$STDMPI_AWK", "-f", self.write("w.awk", AWK_FARM))
        self.check_farm(job, FAILED)

    def test_gawk(self):
        self.run_awk("gawk")

    def test_mawk(self):
        self.run_awk("mawk")


# --- C --------------------------------------------------------------------------------------

C_FARM = r"""#include <stdmpi.h>
int main(void) {
  int64_t id;
  const char* text;
  int k = 0, got;
  while ((got = stdmpi_task(&id, &text)) == 1) {
    k++;
    printf("done %lld %d [%s]\n", (long long)id, stdmpi_task_attempt(), text);
    int n = atoi(text);
    if (n % 7 == 0) stdmpi_task_fail("exit %d", 3);
    if (n == 30) stdmpi_task_fail("signal 15");
    if (n == 12 && getenv("CRASH_DIR") != NULL) {
      char mark[4096];
      snprintf(mark, sizeof mark, "%s/crashed.12", getenv("CRASH_DIR"));
      FILE* f = fopen(mark, "r");
      if (f == NULL) {
        fclose(fopen(mark, "w"));
        fflush(stdout); /* abort() drops what stdio holds */
        abort();        /* holding item 12 */
      }
      fclose(f);
    }
  }
  printf("worker %s ended after %d items\n", getenv("STDMPI_RANK"), k);
  return got == 0 ? 0 : 1;
}
"""


class C(TaskLoops):
    def setUp(self):
        super().setUp()
        cc = shutil.which("cc") or shutil.which("gcc")
        require(cc, "a C compiler (cc)")
        src = self.write("worker.c", C_FARM)
        self.worker = os.path.join(self.dir, "worker")
        p = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I",
                            os.path.join(harness.BUILD, "include"), src, "-o", self.worker],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_stdmpi_task_and_stdmpi_task_fail(self):
        job = self.farm(self.worker)
        self.check_farm(job, FAILED)

    def test_a_worker_killed_by_a_signal_holding_an_item_starts_again(self):
        job = stdmpirun("-q", "-n", "2", "--tasks", self.items, "--joblog", self.log, "--retries",
                        "1", self.worker, timeout=120, env={"CRASH_DIR": self.dir})
        # The failing items fail twice now (--retries 1); item 12 once.
        self.assertEqual(job.rc, 5, job.describe())
        self.assertRegex(job.stderr, r"the worker was killed by signal 6 \(SIGABRT\)[^\n]* "
                         r"holding item 12: that attempt fails; the worker starts again\n")
        self.assertIn((12, 0, 6, LINES[12]), joblog(self.log))
        self.assertEqual(sorted(self.done_lines(job)[12]), [(1, LINES[12]), (2, LINES[12])])
        self.assertRegex(job.stderr, r": 25 succeeded \(\d+ after more than one attempt\), 5 "
                         r"failed, 0 skipped\n")


if __name__ == "__main__":
    unittest.main()
