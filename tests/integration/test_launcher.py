"""stdmpirun itself: help, options, the mpirun command it builds, MPMD jobs,
exit statuses, root and non-root users."""
import os
import subprocess
import unittest

import harness
from harness import PROTOCLIENT, scenario, stdmpirun

CORES = len(os.sched_getaffinity(0))




class Help(unittest.TestCase):
    def test_help_teaches(self):
        job = stdmpirun("--help")
        self.assertEqual(job.rc, 0)
        for needle in ["usage: stdmpirun", "-n, -np, --np N", "--tag-output", "--dry-run",
                       "--max-line", "--mca KEY VALUE", "examples:", "exit status:",
                       "stdmpirun -n 4 python3 examples/pi.py"]:
            self.assertIn(needle, job.stdout)

    def test_version(self):
        job = stdmpirun("--version")
        self.assertEqual(job.rc, 0)
        # Its first line; what it runs on follows (test_cluster_output.Version).
        self.assertRegex(job.stdout, r"^stdmpirun \(stdmpi\) \d+\.\d+\.\d+\nrank program: ")

    def test_bad_option(self):
        job = stdmpirun("--frobnicate", "x")
        self.assertEqual(job.rc, 64)
        self.assertIn("stdmpirun: unknown option --frobnicate", job.stderr)
        self.assertIn("Try 'stdmpirun --help'.", job.stderr)

    def test_no_command(self):
        job = stdmpirun("-n", "2")
        self.assertEqual(job.rc, 64)
        self.assertIn("no command given", job.stderr)


class DryRun(unittest.TestCase):
    def test_prints_the_exact_command(self):
        job = stdmpirun("--dry-run", "-n", "2", "python3", "my script.py", "--flag")
        self.assertEqual(job.rc, 0, job.describe())
        cmd = job.stdout.strip()
        # Variables first, as a shell would take them, then mpirun; the
        # user's PATH by name (the shims give it back to the programs).
        self.assertTrue(cmd.startswith('PMIX_MCA_psec=native STDMPI_PATH="$PATH" '), cmd)
        self.assertTrue(cmd.split()[2].endswith("mpirun"), cmd)
        self.assertIn("--stdin none", cmd)
        self.assertIn("--mca pml ob1", cmd)
        self.assertIn(f"-n 2 {harness.SHIM} --start-early -- python3 'my script.py' --flag", cmd)
        self.assertEqual("--allow-run-as-root" in cmd, os.geteuid() == 0)
        self.assertIn("launcher: mpirun; on this machine", job.stderr)
        # Programs start with MPI, unless turned off or mpirun binds.
        job = stdmpirun("--dry-run", "-n", "2", "x", env={"STDMPI_START_EARLY": "0"})
        self.assertIn(f"-n 2 {harness.SHIM} -- x", job.stdout)
        job = stdmpirun("--dry-run", "--launcher-arg=--bind-to=core", "-n", "2", "x")
        self.assertIn(f"-n 2 {harness.SHIM} -- x", job.stdout)

    def test_user_pml_is_kept(self):
        job = stdmpirun("--dry-run", "-n", "1", "x", env={"OMPI_MCA_pml": "ob1"})
        self.assertNotIn("--mca pml", job.stdout)
        job = stdmpirun("--dry-run", "--mca", "pml", "ucx", "-n", "1", "x")
        self.assertIn("--mca pml ucx", job.stdout)
        self.assertNotIn("ob1", job.stdout)
        job = stdmpirun("--dry-run", "-n", "1", "x", env={"PMIX_MCA_psec": "munge"})
        self.assertNotIn("PMIX_MCA_psec", job.stdout)

    def test_oversubscription_warns_once_and_is_allowed(self):
        n = str(CORES + 1)
        job = stdmpirun("--dry-run", "-n", n, "x")
        self.assertIn("--oversubscribe", job.stdout)
        self.assertEqual(job.stderr.count("oversubscribing"), 1, job.stderr)
        job = stdmpirun("--dry-run", "-q", "-n", n, "x")
        self.assertNotIn("oversubscribing", job.stderr)

    def test_default_rank_count_is_the_cores(self):
        job = stdmpirun("--dry-run", "x")
        self.assertIn(f"-n {CORES} ", job.stdout)

    def test_shim_options_pass_through(self):
        job = stdmpirun("--dry-run", "--tag-output", "--max-line", "1M", "--max-message", "2K",
                        "--spin-us", "0", "-n", "1", "x")
        self.assertIn("--tag-output --max-line 1048576 --max-message 2048 --spin-us 0 "
                      "--start-early -- x",
                      job.stdout)


class Jobs(unittest.TestCase):
    def test_default_size_runs_one_rank_per_core(self):
        job = stdmpirun("bash", "-c", 'echo "@mpi size"; read s; echo "size $s"', timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout.count(f"size {CORES}\n"), CORES)

    def test_oversubscribed_job_runs(self):
        n = CORES + 2
        job = stdmpirun("-n", str(n), PROTOCLIENT, scenario("* @mpi allreduce sum 1 => %d\n" % n),
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("oversubscribing", job.stderr)

    def test_mpmd_ranks_are_numbered_in_order(self):
        a = scenario("* @mpi rank =~ ^0$\n* @mpi size => 3\n* @mpi bcast 0 from A => from A\n")
        b = scenario("* @mpi rank =~ ^[12]$\n* @mpi size => 3\n* @mpi bcast 0 => from A\n"
                     "* print B {rank}\n")
        job = stdmpirun("-n", "1", PROTOCLIENT, a, ":", "-n", "2", PROTOCLIENT, b, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), ["B 1", "B 2"])

    def test_mixed_python_and_bash_ranks(self):
        py = "import stdmpi; c = stdmpi.COMM_WORLD; print('py', c.allreduce(c.rank))"
        sh = 'echo "@mpi rank"; read r; echo "@mpi allreduce sum $r"; read s; echo "sh $s"'
        job = stdmpirun("-n", "1", harness.PYTHON, "-c", py, ":", "-n", "1", "bash", "-c", sh,
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), ["py 1", "sh 1"])

    def test_as_a_normal_user(self):
        u = harness.copy_for_user("stdmpi", extra=[PROTOCLIENT],
                                  texts={"s.txt": "* @mpi allreduce sum 1 => 2\n* print ok {rank}\n"})
        job = harness.run(["runuser", "-u", u.user, "--", u.stdmpirun(), "--dry-run", "-n", "2",
                           "x"], timeout=30)
        self.assertNotIn("--allow-run-as-root", job.stdout)
        p = subprocess.run(["runuser", "-u", u.user, "--", u.stdmpirun(), "-n", "2",
                            os.path.join(u.dest, "protoclient"), os.path.join(u.dest, "s.txt")],
                           capture_output=True, text=True, timeout=60, env=u.env, cwd=u.home)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(sorted(p.stdout.splitlines()), ["ok 0", "ok 1"])

if __name__ == "__main__":
    unittest.main()
