"""Per-rank limits: memory, wall time, processes. A rank over its limit ends
the job with a message that says which limit."""
import glob
import os
import unittest

import harness
from harness import PYTHON, stdmpirun

HOG = "x = bytearray(300 * 1024 * 1024); x[::4096] = b'x' * len(x[::4096]); print('survived')"


def leftover_cgroups():
    return (glob.glob("/sys/fs/cgroup/memory/**/stdmpi-*-r*", recursive=True) +
            glob.glob("/sys/fs/cgroup/pids/**/stdmpi-*-r*", recursive=True) +
            glob.glob("/sys/fs/cgroup/unified/**/stdmpi-*-r*", recursive=True))


class Limits(unittest.TestCase):
    def tearDown(self):
        self.assertEqual([p for p in leftover_cgroups() if str(os.getpid()) in p], [])

    def test_memory(self):
        job = stdmpirun("-n", "2", "--mem-per-rank", "64M", PYTHON, "-c",
                        "import os\n"
                        "if os.environ['STDMPI_RANK'] == '1':\n"
                        f"    {HOG}\n"
                        "else:\n"
                        "    import time; time.sleep(30)\n", timeout=60)
        self.assertNotEqual(job.rc, 0, job.describe())
        self.assertNotIn("survived", job.stdout)
        self.assertLess(job.seconds, 20)
        if os.geteuid() == 0:  # a cgroup: the kernel's OOM killer, and we know it
            self.assertEqual(job.rc, 137, job.describe())
            self.assertIn("stdmpi: rank 1 (", job.stderr)
            self.assertIn("killed by signal 9 (SIGKILL) after running out of its memory limit "
                          "(--mem-per-rank 64 MiB); ending the job", job.stderr)
        # Under the limit, nothing happens.
        job = stdmpirun("-n", "1", "--mem-per-rank", "512M", PYTHON, "-c",
                        "x = bytearray(50 * 1024 * 1024); print('fine')", timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "fine\n")

    def test_time(self):
        job = stdmpirun("-n", "2", "--time-limit", "1.5", "sleep", "30", timeout=60)
        self.assertEqual(job.rc, 137, job.describe())
        self.assertLess(job.seconds, 10)
        self.assertRegex(job.stderr, r"stdmpi: rank [01] \(sleep 30\): killed by signal 9 "
                                     r"\(SIGKILL\) after running into its time limit "
                                     r"\(--time-limit 1.5 s\); ending the job")

    @unittest.skipUnless(os.geteuid() == 0, "the process limit of a normal user is per user")
    def test_processes(self):
        job = stdmpirun("-n", "1", "--max-procs", "4", "sh", "-c",
                        "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait", timeout=60)
        self.assertNotEqual(job.rc, 0, job.describe())
        self.assertIn("after reaching its process limit (--max-procs 4); ending the job",
                      job.stderr)
        job = stdmpirun("-n", "1", "--max-procs", "20", "sh", "-c",
                        "for i in 1 2 3; do sleep 0.1 & done; wait; echo fine", timeout=60)
        self.assertEqual(job.rc, 0, job.describe())

    def test_limits_inside_a_container(self):
        job = stdmpirun("-n", "1", "--isolate", "host", "--mem-per-rank", "64M", PYTHON, "-c",
                        HOG, timeout=60)
        self.assertNotEqual(job.rc, 0, job.describe())
        self.assertNotIn("survived", job.stdout)

    def test_rlimits_for_a_user_without_a_cgroup(self):
        # A normal user cannot make cgroups here: rlimits, and the report says so.
        u = harness.copy_for_user("stdmpi-limits")
        job = harness.run(["runuser", "-u", u.user, "--", u.stdmpirun(), "-n", "1",
                           "--mem-per-rank", "64M", PYTHON, "-c", HOG], env=u.env, cwd=u.home,
                          timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertNotIn("survived", job.stdout)
        self.assertIn("MemoryError", job.stderr)
        self.assertIn("exited with status 1 (it ran with an address-space limit of 64 MiB as "
                      "rlimits: allocations or forks past them fail); ending the job", job.stderr)

    def test_bad_values(self):
        for args, msg in [(["--mem-per-rank", "10"], "--mem-per-rank 10: expected a size of at "
                           "least 1M (e.g. 512M, 4G)"),
                          (["--time-limit", "0"], "--time-limit 0: expected seconds > 0"),
                          (["--max-procs", "x"], "--max-procs x: expected a number of processes "
                           ">= 1")]:
            job = stdmpirun(*args, "-n", "1", "true", timeout=30)
            self.assertEqual(job.rc, 64, job.describe())
            self.assertIn(msg, job.stderr)


if __name__ == "__main__":
    unittest.main()
