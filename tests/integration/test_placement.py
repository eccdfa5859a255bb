"""Binding ranks to cores on this machine: each program reads its own
/proc/self/status and environment, so what is checked is what the kernel
enforces, not what stdmpi believes."""
import os
import re
import socket
import subprocess
import unittest

import harness
from harness import STDMPIRUN, lines_of_rank, require, stdmpirun

CORES = len(os.sched_getaffinity(0))
SHOW = ("grep Cpus_allowed_list: /proc/self/status | tr -d '\\t'; "
        "echo \"threads=${OMP_NUM_THREADS-unset},${OPENBLAS_NUM_THREADS-unset},"
        "${MKL_NUM_THREADS-unset}\"")


def cpus_of(job: harness.Job, rank: int) -> str:
    for line in lines_of_rank(job.stdout, rank):
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1]
    raise AssertionError(f"rank {rank} printed no Cpus_allowed_list\n{job.describe()}")


def threads_of(job: harness.Job, rank: int) -> str:
    for line in lines_of_rank(job.stdout, rank):
        if line.startswith("threads="):
            return line.split("=", 1)[1]
    raise AssertionError(f"rank {rank} printed no threads\n{job.describe()}")


def expand(cpu_list: str) -> set:
    out = set()
    for part in cpu_list.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


class Binding(unittest.TestCase):
    def setUp(self):
        require(CORES >= 2, "2 cores")

    def test_two_ranks_get_a_core_each(self):
        job = stdmpirun("--tag-output", "-n", "2", "sh", "-c", SHOW, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        a, b = cpus_of(job, 0), cpus_of(job, 1)
        self.assertRegex(a, r"^\d+$")
        self.assertRegex(b, r"^\d+$")
        self.assertNotEqual(a, b)
        self.assertEqual(threads_of(job, 0), "1,1,1")
        self.assertEqual(job.stderr, "")

    def test_the_shim_and_mpi_threads_share_their_programs_core(self):
        # Started before MPI_Init, a program is bound at once while MPI_Init
        # runs elsewhere; once MPI is up every thread of its shim (MPI's
        # included) joins the program's core, as when it starts after MPI.
        show_shim = ("echo '@mpi barrier'; read r; "
                     "shim=$(awk '/^PPid:/{print $2}' /proc/$PPID/status); "
                     "echo \"shim=$(cat /proc/$shim/comm)\"; "
                     "echo \"shim_threads=$(cat /proc/$shim/task/*/status | "
                     "grep Cpus_allowed_list: | tr -d '\\t' | sort -u | tr '\\n' ' ')\"; "
                     + SHOW)
        for env in ({}, {"STDMPI_START_EARLY": "0"}):
            with self.subTest(env=env):
                job = stdmpirun("--tag-output", "-n", "2", "sh", "-c", show_shim, env=env,
                                timeout=60)
                self.assertEqual(job.rc, 0, job.describe())
                for r in (0, 1):
                    out = lines_of_rank(job.stdout, r)
                    self.assertIn("shim=stdmpi-shim", out, job.describe())
                    threads = next(x for x in out if x.startswith("shim_threads="))
                    self.assertEqual(threads, f"shim_threads=Cpus_allowed_list:{cpus_of(job, r)} ",
                                     job.describe())
                self.assertNotEqual(cpus_of(job, 0), cpus_of(job, 1))

    def test_cpus_per_rank_gives_cores_and_threads(self):
        job = stdmpirun("--tag-output", "--cpus-per-rank", "2", "-n", "1", "sh", "-c", SHOW,
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(len(expand(cpus_of(job, 0))), 2)
        self.assertEqual(threads_of(job, 0), "2,2,2")
        # A variable the user set is theirs.
        job = stdmpirun("--tag-output", "--cpus-per-rank", "2", "-n", "1", "sh", "-c", SHOW,
                        env={"OMP_NUM_THREADS": "5"}, timeout=60)
        self.assertEqual(threads_of(job, 0), "5,2,2")

    def test_oversubscribed_runs_unbound_with_one_notice(self):
        n = CORES + 1
        job = stdmpirun("--tag-output", "-n", str(n), "sh", "-c", SHOW, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        everything = expand(cpus_of(job, 0))
        self.assertEqual(len(everything), CORES)
        for r in range(n):
            self.assertEqual(expand(cpus_of(job, r)), everything)
            self.assertEqual(threads_of(job, r), "1,1,1")
        self.assertEqual(job.stderr.count("ranks not bound to cores"), 1, job.stderr)
        self.assertEqual(len(job.stderr.splitlines()), 1, job.stderr)
        # Under a launcher that does not warn (--oversubscribe silences
        # stdmpirun), the shims give the notice once per node.
        job = stdmpirun("--oversubscribe", "-n", str(n), "true", timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stderr, "")
        job = harness.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                           "--mca", "pml", "ob1", "-n", str(n), harness.SHIM, "--", "true"],
                          env={"PMIX_MCA_psec": "native"}, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertRegex(job.stderr, rf"^stdmpi: {re.escape(socket.gethostname())}: "
                                     rf"oversubscribed: {n} ranks on {CORES} cores: ranks are "
                                     r"not bound to cores\n$")

    def test_taskset_is_respected(self):
        last = max(os.sched_getaffinity(0))
        job = harness.run(["taskset", "-c", str(last), STDMPIRUN, "--tag-output", "-n", "1",
                           "sh", "-c", SHOW], timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(cpus_of(job, 0), str(last))
        # Two ranks on the one core it allows: not bound beyond it either.
        job = harness.run(["taskset", "-c", str(last), STDMPIRUN, "-q", "--tag-output", "-n", "2",
                           "sh", "-c", SHOW], timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(cpus_of(job, 0), str(last))
        self.assertEqual(cpus_of(job, 1), str(last))

    def test_report_bindings(self):
        job = stdmpirun("--report-bindings", "-n", "2", "true", timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        host = re.escape(socket.gethostname())
        lines = sorted(job.stderr.splitlines())
        self.assertEqual(len(lines), 2, job.stderr)
        for r, line in enumerate(lines):
            # "stdmpi: rank 0 on vm: core 0 (PU 0), NUMA 0: [B/.]"
            self.assertRegex(line, rf"^stdmpi: rank {r} on {host}: core \d+ \(PU \d+\)"
                                   r"(, NUMA \d+)?: \[[B./]+\]+$")
            self.assertEqual(line.count("B"), 1, line)
        pictures = [line.rsplit(": ", 1)[1] for line in lines]
        self.assertNotEqual(pictures[0], pictures[1])
        job = stdmpirun("--report-bindings", "--bind-to", "none", "-n", "1", "true", timeout=60)
        self.assertRegex(job.stderr, r"\(not bound: --bind-to none\)\n$")

    def test_bind_to_none_and_package(self):
        job = stdmpirun("--tag-output", "--bind-to", "none", "-n", "2", "sh", "-c", SHOW,
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(len(expand(cpus_of(job, 1))), CORES)
        job = stdmpirun("--tag-output", "--bind-to", "package", "-n", "2", "sh", "-c", SHOW,
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        # One package here: both ranks get all of it.
        pkgs = subprocess.run(["hwloc-calc", "--number-of", "package", "all"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
        if pkgs == "1":
            self.assertEqual(len(expand(cpus_of(job, 0))), CORES)


if __name__ == "__main__":
    unittest.main()
