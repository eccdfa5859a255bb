"""Nothing a rank's program started outlives the job: processes in a session
or group of their own, daemons that double-fork, children of a program that
ran into its time limit; isolated or not."""
import os
import unittest

import harness
from harness import stdmpirun, wait_gone

# Leaves processes behind in every way a program can: a child in a new
# session (setsid), one ignoring SIGHUP (nohup), a double fork (the
# intermediate shell exits at once), and a plain background child.
LEAVE = ('setsid sleep {t}1 & nohup sleep {t}2 >/dev/null 2>&1 & (sleep {t}3 &) ; '
         'sh -c "sleep {t}4" & echo started')


class NothingOutlives(unittest.TestCase):
    def marker(self) -> str:
        # Sleep times no other test uses: 98<pid><n> seconds.
        return f"98{os.getpid() % 100000:05d}"

    def check(self, *args, expect_rc: int, prog: str):
        t = self.marker()
        job = stdmpirun("-n", "2", *args, "sh", "-c", prog.format(t=t), timeout=60)
        self.assertEqual(job.rc, expect_rc, job.describe())
        for n in range(1, 5):
            wait_gone(self, f"sleep {t}{n}")
        return job

    def test_a_program_that_exits_0(self):
        job = self.check(expect_rc=0, prog=LEAVE)
        self.assertEqual(job.stdout.count("started"), 2)

    def test_a_program_that_exits_0_isolated(self):
        harness.require(harness.is_root() or os.path.exists("/proc/self/ns/user"),
                        "user namespaces")
        self.check("--isolate", "host", expect_rc=0, prog=LEAVE)

    def test_a_program_past_its_time_limit(self):
        # The program itself waits; its time limit ends it and everything it
        # started, not just its supervisor.
        job = self.check("--time-limit", "1", expect_rc=137,
                         prog=LEAVE.replace("echo started", "sleep {t}5"))
        self.assertIn("after running into its time limit (--time-limit 1 s)", job.stderr)
        wait_gone(self, f"sleep {self.marker()}5")

    def test_a_program_past_its_time_limit_isolated(self):
        job = self.check("--isolate", "host", "--time-limit", "1", expect_rc=137,
                         prog=LEAVE.replace("echo started", "sleep {t}5"))
        self.assertIn("killed by signal 9 (SIGKILL) after running into its time limit",
                      job.stderr)
        wait_gone(self, f"sleep {self.marker()}5")


if __name__ == "__main__":
    unittest.main()
