"""Task farms (docs/tasks.md): real jobs of command tasks and of keep-alive
workers, with retries, the joblog checked line by line, barriers,
dependencies, a job killed and resumed, per-task time limits, and workers
that crash holding an item."""
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import JOBLOG_HEADER as HEADER, PYTHON, joblog, stdmpirun


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class Farm(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-tasks-")

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w", encoding="utf-8") as f:
            f.write(text)
        return self.path(name)

    def test_hundreds_of_command_tasks_some_failing_once_with_retries(self):
        # Every 9th task fails on its first attempt (exit 4); --retries 1
        # runs it again, on any rank. The joblog has one line per attempt.
        lines = ["# every line is a task", ""]
        for i in range(1, 301):
            lines.append(f'test "$STDMPI_TASK_ATTEMPT" -ge 2 -o $((STDMPI_TASK_ID % 9)) -ne 0 '
                         f'|| exit 4; echo "done {i} id $STDMPI_TASK_ID rank $STDMPI_RANK"')
        tasks = self.write("tasks.txt", "\n".join(lines) + "\n")
        job = stdmpirun("-q", "-n", "3", "--oversubscribe", "--tasks", tasks, "--retries", "1",
                        "--joblog", self.path("log"), timeout=300)
        self.assertEqual(job.rc, 0, job.describe())
        done = re.findall(r"^done (\d+) id (\d+) rank (\d)$", job.stdout, re.M)
        self.assertEqual(sorted(int(d) for d, _, _ in done), list(range(1, 301)))
        self.assertTrue(all(d == i for d, i, _ in done))
        self.assertGreater(len({r for _, _, r in done}), 1, "tasks ran on several ranks")
        entries = joblog(self.path("log"))
        self.assertEqual(len(entries), 300 + 33)
        by_seq = {}
        for seq, code, sig, cmd in entries:
            by_seq.setdefault(seq, []).append((code, sig))
            self.assertEqual(cmd, lines[seq + 1])
        for seq in range(1, 301):
            want = [(4, 0), (0, 0)] if seq % 9 == 0 else [(0, 0)]
            self.assertEqual(by_seq[seq], want, seq)
        self.assertRegex(job.stderr, r"stdmpi: tasks: 300 task\(s\) in \S+ s \(\S+ tasks/s\): 300 "
                         r"succeeded \(33 after more than one attempt\), 0 failed, 0 skipped")

    def test_failed_tasks_set_the_exit_status_and_are_listed(self):
        tasks = self.write("t", "true\nexit 3\nkill -9 $$\ntrue\n")
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, "--joblog", self.path("log"),
                        timeout=60)
        self.assertEqual(job.rc, 2, job.describe())
        self.assertIn("stdmpi: failed: task 2 (exit 3, 1 attempt(s)): exit 3", job.stderr)
        self.assertIn("stdmpi: failed: task 3 (signal 9, 1 attempt(s)): kill -9 $$", job.stderr)
        self.assertNotIn("mpirun", job.stderr)  # no launcher banner about the exit status
        self.assertEqual(sorted(e[:3] for e in joblog(self.path("log"))),
                         [(1, 0, 0), (2, 3, 0), (3, 0, 9), (4, 0, 0)])

    def test_a_barrier_waits_for_every_task_above_it(self):
        d = self.dir
        before = "".join(f"sleep 0.{i}; date +%s.%N > {d}/end.{i}\n" for i in range(1, 5))
        after = "".join(f"date +%s.%N > {d}/start.{i}\n" for i in range(1, 5))
        tasks = self.write("t", before + "#BARRIER\n" + after)
        job = stdmpirun("-q", "-n", "3", "--oversubscribe", "--tasks", tasks, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())

        def times(prefix):
            return [float(read(f"{d}/{prefix}.{i}")) for i in range(1, 5)]
        self.assertGreaterEqual(min(times("start")), max(times("end")))

    def test_a_dag_whose_node_fails_skips_what_depends_on_it(self):
        d = self.dir
        tasks = self.write("t", f"""#TASK prep
touch {d}/prep
#TASK fan1 after prep
test -e {d}/prep && exit 5
#TASK fan2 after prep
test -e {d}/prep && touch {d}/fan2
#TASK merge after fan1,fan2
touch {d}/merge
#TASK other
touch {d}/other
""")
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, "--retries", "1", timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertTrue(os.path.exists(f"{d}/fan2") and os.path.exists(f"{d}/other"))
        self.assertFalse(os.path.exists(f"{d}/merge"))
        self.assertIn("stdmpi: failed: task 2 (exit 5, 2 attempt(s)):", job.stderr)
        self.assertIn(f"stdmpi: skipped: task 4 (task 2 (fan1) failed): touch {d}/merge",
                      job.stderr)
        self.assertRegex(job.stderr, r": 3 succeeded, 1 failed, 1 skipped")

    def test_a_bad_task_file_is_refused_before_anything_runs(self):
        d = self.dir
        tasks = self.write("t", f"touch {d}/ran\n#TASK a after b\nx\n#TASK b after a\ny\n")
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, timeout=60)
        self.assertEqual(job.rc, 64, job.describe())
        self.assertIn(f"stdmpirun: --tasks {tasks}: the tasks' dependencies form a cycle, so none "
                      "of them could run: a -> b -> a", job.stderr)
        self.assertFalse(os.path.exists(f"{d}/ran"))
        job = stdmpirun("-q", "--tasks", tasks, "--resume", timeout=60)
        self.assertEqual(job.rc, 64, job.describe())
        self.assertIn("--resume reads the joblog of an earlier run: it needs --joblog FILE",
                      job.stderr)

    def test_a_killed_job_resumes_where_it_stopped(self):
        d = self.dir
        tasks = self.write("t", "".join(f"sleep 0.25; echo {i} >> {d}/done.{i}\n"
                                        for i in range(1, 25)))
        log = self.path("log")
        bg = harness.Background([harness.STDMPIRUN, "-q", "-n", "2", "--tasks", tasks,
                                 "--joblog", log])
        time.sleep(1.5)
        bg.p.send_signal(signal.SIGTERM)
        killed = bg.finish(timeout=30)
        self.assertEqual(killed.rc, 128 + signal.SIGTERM, killed.describe())
        first = joblog(log)
        self.assertGreater(len(first), 0)
        self.assertLess(len(first), 24)
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, "--joblog", log, "--resume",
                        timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn(f"{len(first)} left out as the joblog says", job.stderr)
        runs = {i: len(read(f"{d}/done.{i}").split()) for i in range(1, 25)}
        self.assertEqual(sorted(runs), list(range(1, 25)), "every task ran")
        twice = [i for i, n in runs.items() if n > 1]
        # Only a task that was running at the kill runs again (one a rank).
        self.assertLessEqual(len(twice), 2, runs)
        self.assertTrue(all(n <= 2 for n in runs.values()), runs)
        self.assertEqual(sorted({seq for seq, *_ in joblog(log)}), list(range(1, 25)))

    def test_resume_failed_runs_only_what_did_not_succeed(self):
        d = self.dir
        tasks = self.write("t", f"echo a >> {d}/a\ntest -e {d}/fixed\n")
        log = self.path("log")
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, "--joblog", log, timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        open(f"{d}/fixed", "w").close()
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, "--joblog", log, "--resume",
                        timeout=60)
        self.assertEqual(job.rc, 1, job.describe())  # --resume: the failure stands
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, "--joblog", log, "--resume-failed",
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(read(f"{d}/a"), "a\n", "the task that succeeded ran once")

    def test_a_task_over_its_time_limit_fails_and_the_others_go_on(self):
        tasks = self.write("t", "sleep 30\necho quick\n")
        job = stdmpirun("-q", "-n", "2", "--tasks", tasks, "--time-limit", "1", timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("quick", job.stdout)
        self.assertIn("stdmpi: failed: task 1 (signal 15 (over the time limit of 1 s), "
                      "1 attempt(s)): sleep 30", job.stderr)
        self.assertLess(job.seconds, 20)

    def test_tasks_run_inside_the_ranks_container(self):
        tasks = self.write("t", "cat /proc/1/comm\n"
                                "touch /usr/stdmpi-task-probe 2>/dev/null && echo writable || "
                                "echo read-only\n")
        job = stdmpirun("-q", "-n", "1", "--isolate", "host", "--tasks", tasks, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.split()), ["read-only", "stdmpi-init"])
        self.assertFalse(os.path.exists("/usr/stdmpi-task-probe"))

    def test_no_file_is_written_through_a_link(self):
        precious = HEADER + "\n1\t:\t1.000\t     1.000\t0\t0\t0\t0\tprecious\n"
        victim = self.write("victim", precious)
        tasks = self.write("t", "true\n")
        for kind, resume in (("hard", "--resume"), ("hard", "--retries=0"),
                             ("symbolic", "--resume")):
            log = self.path(f"log-{kind}{resume}")
            (os.link if kind == "hard" else os.symlink)(victim, log)
            job = stdmpirun("-q", "-n", "1", "--tasks", tasks, "--joblog", log, resume,
                            timeout=60)
            self.assertEqual(job.rc, 64, job.describe())
            self.assertRegex(job.stderr, r"the joblog .* is not a file of its own \(\d hard links\)"
                             if kind == "hard" else r"cannot write the joblog .*: Too many levels "
                             r"of symbolic links")
            self.assertEqual(read(victim), precious, (kind, resume))
        # A task that links the status file's next version to another file.
        status = self.path("status.json")
        tasks = self.write("t2", f"ln -f {victim} {status}.tmp; sleep 1.2\ntrue\n")
        job = stdmpirun("-q", "-n", "1", "--tasks", tasks, "--status", status, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(read(victim), precious)
        self.assertIn('"done":true', read(status))

    def test_a_task_inherits_only_stdin_stdout_and_stderr(self):
        # ls's own descriptors: what the task inherited, and the directory ls reads.
        tasks = self.write("t", "exec ls -l /proc/self/fd\n")
        job = stdmpirun("-q", "-n", "1", "--tasks", tasks, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        fds = re.findall(r" (\d+) -> (.*)$", job.stdout, re.M)
        self.assertEqual([fd for fd, target in fds if not re.fullmatch(r"/proc/\d+/fd", target)],
                         ["0", "1", "2"], job.stdout)
        self.assertIn(("0", "/dev/null"), fds)

    def test_task_output_keeps_its_lines_and_makes_no_requests(self):
        tasks = self.write("t", "printf 'no newline'\necho '@mpi abort 9'\n")
        job = stdmpirun("-q", "-n", "1", "--tasks", tasks, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), [" @mpi abort 9", "no newline"])


class Progress(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-tasks-")
        self.tasks = os.path.join(self.dir, "t")
        with open(self.tasks, "w") as f:
            f.write("sleep 0.4\n" * 10)

    def test_the_status_file_is_kept_up_to_date(self):
        import json
        status = os.path.join(self.dir, "status.json")
        bg = harness.Background([harness.STDMPIRUN, "-q", "-n", "2", "--tasks", self.tasks,
                                 "--status", status])
        seen = []
        deadline = time.monotonic() + 30
        while bg.p.poll() is None and time.monotonic() < deadline:
            if os.path.exists(status):
                seen.append(json.loads(read(status)))
            time.sleep(0.2)
        job = bg.finish(timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        final = json.loads(read(status))
        self.assertEqual((final["tasks"], final["succeeded"], final["failed"], final["done"]),
                         (10, 10, 0, True))
        during = [s for s in seen if not s["done"]]
        self.assertTrue(during, "the file was there while the farm ran")
        self.assertTrue(all(s["running"] <= 2 and s["tasks"] == 10 for s in during), during)
        self.assertTrue(any(0 < s["succeeded"] < 10 for s in during), during)
        self.assertNotIn("\033[K", job.stderr)  # not a terminal: no live line

    def test_a_terminal_shows_a_live_line(self):
        harness.require(shutil_which("script"), "script (util-linux)")
        cmd = f"{harness.STDMPIRUN} -n 2 --tasks {self.tasks}"
        p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=60)
        out = p.stdout.decode("utf-8", "replace")  # bytes: the CRs stay CRs
        self.assertEqual(p.returncode, 0, out)
        self.assertRegex(out, r"\r\x1b\[Ktasks: \d+/10 done, \d running")
        self.assertRegex(out, r"\r\x1b\[Kstdmpi: tasks: 10 task\(s\) in")


class KeepAliveWorkers(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-tasks-")
        self.items = os.path.join(self.dir, "items.txt")
        with open(self.items, "w") as f:
            f.write("".join(f"{i}\n" for i in range(1, 41)))

    def test_python_workers_with_a_crash_mid_item(self):
        worker = os.path.join(self.dir, "w.py")
        with open(worker, "w") as f:
            f.write(f'''import os, sys
def req(line):
    print(line, flush=True)
    return sys.stdin.readline().rstrip("\\n")
reply = req("@mpi task")
while reply != "end":
    tid, text = reply.split(" ", 1)
    mark = "{self.dir}/crashed." + text
    if text in ("7", "23") and not os.path.exists(mark):
        open(mark, "w").close()
        os._exit(3)            # holding item 7 (23): that attempt fails
    ok = int(text) % 10 != 0
    print("item", tid, text, "rank", os.environ["STDMPI_RANK"])
    reply = req("@mpi task" if ok else "@mpi task fail ten")
''')
        log = os.path.join(self.dir, "log")
        job = stdmpirun("-q", "-n", "3", "--oversubscribe", "--tasks", self.items, "--retries",
                        "1", "--joblog", log, PYTHON, worker, timeout=120)
        self.assertEqual(job.rc, 4, job.describe())  # 10, 20, 30, 40 fail twice
        items = re.findall(r"^item (\d+) (\d+) rank \d$", job.stdout, re.M)
        self.assertEqual(sorted({int(t) for t, _ in items}), list(range(1, 41)))
        self.assertRegex(job.stderr, r"stdmpi: rank \d \(.*\): the worker exited with status 3 "
                         r"holding item 7: that attempt fails; the worker starts again")
        entries = joblog(log)
        self.assertIn((7, 3, 0, "7"), entries)
        self.assertIn((7, 0, 0, "7"), entries)
        self.assertEqual([e for e in entries if e[0] == 10], [(10, 1, 0, "10")] * 2)
        self.assertIn("stdmpi: failed: task 10 (ten, 2 attempt(s)): 10", job.stderr)

    def test_an_r_worker_pays_its_start_up_once(self):
        harness.require(shutil_which("Rscript"), "R (Rscript)")
        worker = os.path.join(self.dir, "w.R")
        with open(worker, "w") as f:
            f.write('''con <- file("stdin", open = "r")
ask <- function() { cat("@mpi task\\n"); flush(stdout()); readLines(con, n = 1) }
n <- 0
reply <- ask()
while (reply != "end") {
  n <- n + 1
  reply <- ask()
}
cat(sprintf("rank %s did %d items in one R\\n", Sys.getenv("STDMPI_RANK"), n))
''')
        job = stdmpirun("-q", "-n", "2", "--tasks", self.items, "Rscript", worker, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        counts = [int(n) for n in re.findall(r"did (\d+) items in one R", job.stdout)]
        self.assertEqual(len(counts), 2)
        self.assertEqual(sum(counts), 40)

    def test_task_outside_a_farm_says_how_to_start_one(self):
        job = stdmpirun("-q", "-n", "1", "bash", "-c",
                        'echo "@mpi errors return"; read r; echo "@mpi task"; read r; echo "$r"',
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("@error @mpi task is for task farms: start the job with stdmpirun --tasks "
                      "FILE COMMAND", job.stdout)


def shutil_which(name):
    import shutil
    return shutil.which(name) is not None


if __name__ == "__main__":
    unittest.main()
