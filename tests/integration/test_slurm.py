"""stdmpirun inside real SLURM jobs: a one-node cluster (munged, slurmctld,
slurmd) started for these tests, sbatch job scripts that call stdmpirun with
no -n, through srun (the default there) and through mpirun."""
import os
import re
import shlex
import shutil
import tempfile
import time
import unittest

import harness
import test_multihost
from cluster import NamespaceHosts, SlurmCluster
from harness import PROTOCLIENT, PYTHON, SOURCE, STDMPIRUN, require

PI = os.path.join(SOURCE, "examples", "pi.py")
SCENARIO = os.path.join(SOURCE, "tests", "protocol", "basics.txt")
NATIVE = os.path.join(harness.BUILD, "tests", "native_rank")


class Slurm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(harness.is_root(), "root (to start SLURM daemons)")
        cls.cluster = SlurmCluster()
        cls.addClassCleanup(cls.cluster.stop)
        cls.cluster.start()
        cls.cpus = cls.cluster.cpus()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-sbatch-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def sbatch(self, body: str, *options: str, timeout: float = 240) -> harness.Job:
        """Submits a job script, waits for it, and returns its output file's
        text as stdout, its error file's as stderr and its exit status."""
        script = os.path.join(self.dir, "job.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nset -u\n" + body)
        out, err = os.path.join(self.dir, "out"), os.path.join(self.dir, "err")
        job = harness.run([*self.cluster.client, "sbatch", "--wait", "--chdir", self.dir, "-o",
                           out, "-e", err, *options, script], env=self.cluster.env,
                          timeout=timeout)
        texts = []
        for path in (out, err):
            try:
                with open(path, errors="replace") as f:
                    texts.append(f.read())
            except FileNotFoundError:
                texts.append("")
        m = re.search(r"Submitted batch job (\d+)", job.stdout)
        self.assertIsNotNone(m, job.describe() + self.cluster.logs())
        return harness.Job(job.rc, texts[0], texts[1] + job.stderr, job.seconds)

    def env_line(self, **extra) -> str:
        env = {"STDMPI_BUILD_DIR": harness.BUILD, "PATH": os.environ["PATH"], **extra}
        return "".join(f"export {k}='{v}'\n" for k, v in env.items())

    def test_srun_is_chosen_and_fills_the_allocation(self):
        n = min(self.cpus, 2)
        job = self.sbatch(
            self.env_line(EXPECT_SIZE=n, LAST_RANK=n - 1) +
            f"{STDMPIRUN} --dry-run {PYTHON} {PI}\n"
            f"{STDMPIRUN} --tag-output sh -c 'echo \"rank $STDMPI_RANK of $STDMPI_SIZE\"'\n"
            f"{STDMPIRUN} {PYTHON} {PI} 1e6\n"
            f"{STDMPIRUN} {PROTOCLIENT} {SCENARIO} && echo scenario passed\n",
            "-n", str(n))
        self.assertEqual(job.rc, 0, job.describe() + self.cluster.logs())
        self.assertRegex(job.stdout, r"srun --mpi=pmix --kill-on-bad-exit=1 --quit-on-interrupt "
                         rf"--input=none -n {n} \S+stdmpi-shim -- ")
        self.assertRegex(job.stderr, rf"launcher: srun; inside SLURM job \d+, {n} tasks? on 1 "
                         rf"node, {n} ranks?")
        for r in range(n):
            self.assertIn(f"[{r}] rank {r} of {n}\n", job.stdout)
        self.assertIn(f"pi = 3.14159265358979", job.stdout)
        self.assertIn(f"(1000000 terms, {n} ranks,", job.stdout)
        self.assertIn("scenario passed", job.stdout)

    def test_mpirun_inside_the_allocation(self):
        n = min(self.cpus, 2)
        job = self.sbatch(
            self.env_line() +
            f"{STDMPIRUN} --launcher mpirun --dry-run true\n"
            f"{STDMPIRUN} --launcher mpirun {PYTHON} {PI} 1e6\n", "-n", str(n))
        self.assertEqual(job.rc, 0, job.describe() + self.cluster.logs())
        self.assertRegex(job.stdout, rf"mpirun .*--stdin none --bind-to none --mca pml ob1 -n {n} ")
        self.assertIn(f"(1000000 terms, {n} ranks,", job.stdout)

    def test_srun_mixed_programs_and_a_native_rank(self):
        # One srun command for all: each shim picks its program by rank, and
        # the native MPI program's task becomes that program.
        from test_bridges import NativeRanks
        script = os.path.join(self.dir, "w.py")
        with open(script, "w") as f:
            f.write(NativeRanks.SCRIPT)
        job = self.sbatch(
            self.env_line() +
            f"{STDMPIRUN} --dry-run -n 1 --native {NATIVE} : -n 2 {PYTHON} {script}\n"
            f"{STDMPIRUN} -n 1 --native {NATIVE} : -n 2 {PYTHON} {script}\n",
            "-n", "3", "--overcommit")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("--native-ranks 0 --apps 1:1:native,2:2 -- ", job.stdout)
        self.assertIn("native ok", job.stdout)
        for r in (1, 2):
            self.assertIn(f"script rank {r} ok", job.stdout)

    def test_a_failing_rank_fails_the_job_with_its_message(self):
        # Rank 0 would sleep for 10 minutes; timeout(1) gives the job 60 s:
        # a job that waited for the sleeping rank would end with timeout's 124.
        job = self.sbatch(
            self.env_line() +
            f"timeout 60 {STDMPIRUN} -q {PYTHON} -c 'import os, sys, time; "
            "r = os.environ[\"STDMPI_RANK\"]; "
            "sys.exit(3) if r == \"1\" else time.sleep(600); print(\"rank 0 woke up\")'\n"
            "echo \"stdmpirun exited $?\"\n", "-n", "2",
            "--overcommit", timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        m = re.search(r"stdmpirun exited (\d+)\n", job.stdout)
        self.assertIsNotNone(m, job.describe())
        self.assertEqual(m.group(1), "3", "not 3 (124: the job waited for the sleeping rank)\n" +
                         job.describe())
        self.assertNotIn("woke up", job.stdout)
        self.assertRegex(job.stderr, r"^stdmpi: rank 1 \(.*\): exited with status 3; ending the "
                         r"job\n$")
        # srun's and Open MPI's own repeats of the same news are not shown.
        self.assertNotIn("MPI_ABORT was invoked", job.stderr)
        self.assertNotIn("CANCELLED AT", job.stderr)
        self.assertNotIn("srun: error:", job.stderr)
        self.assertNotIn("Job step aborted", job.stderr)

    def test_srun_binding_is_kept_and_sigterm_ends_the_step(self):
        n = min(self.cpus, 2)
        job = self.sbatch(
            self.env_line() +
            # srun binds each task to a core; the shim and its program keep it.
            f"{STDMPIRUN} --launcher-arg=--cpu-bind=cores --tag-output "
            "sh -c 'grep Cpus_allowed_list: /proc/self/status'\n"
            # Without it, the shims bind within the step's cpus themselves.
            f"{STDMPIRUN} --tag-output --report-bindings "
            "sh -c 'grep Cpus_allowed_list: /proc/self/status | sed s/Cpus/Shim-bound/'\n"
            # SIGTERM to stdmpirun: every rank's program ends (they would
            # sleep for 10 minutes; the script gives them 60 s, polling).
            f"{STDMPIRUN} sh -c 'echo started; exec sleep 597.31' > started &\n"
            "pid=$!\n"
            f"i=0; while [ \"$(cat started 2>/dev/null | grep -c started)\" -lt {n} ] && "
            "[ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\n"
            "echo \"started: $(grep -c started started)\"\n"
            "kill -TERM $pid\n"
            "i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
            "if kill -0 $pid 2>/dev/null; then echo 'stdmpirun still runs'; kill -KILL $pid; fi\n"
            "wait $pid; echo \"stdmpirun exited $?\"\n"
            "i=0; while [ \"$(pgrep -fc 'sleep 597.31')\" != 0 ] && [ $i -lt 600 ]; do "
            "sleep 0.1; i=$((i+1)); done\n"
            "echo \"left: $(pgrep -fc 'sleep 597.31')\"\n",
            "-n", str(n))
        self.assertEqual(job.rc, 0, job.describe())
        cpus = [line.split(":", 1)[1].strip() for line in job.stdout.splitlines()
                if "Cpus_allowed_list:" in line]
        self.assertEqual(len(cpus), n, job.describe())
        for c in cpus:
            self.assertRegex(c, r"^\d+$", job.describe())  # one core each
        self.assertEqual(len(set(cpus)), n, job.describe())
        cpus = [line.split(":", 1)[1].strip() for line in job.stdout.splitlines()
                if "Shim-bound_allowed_list:" in line]
        self.assertEqual(len(cpus), n, job.describe())
        self.assertEqual(len(set(cpus)), n, job.describe())
        for c in cpus:
            self.assertRegex(c, r"^\d+$", job.describe())
        self.assertIn(f"started: {n}\n", job.stdout)
        self.assertIn("stdmpirun exited 143", job.stdout)
        self.assertIn("left: 0\n", job.stdout)
        self.assertEqual(len(re.findall(r"stdmpi: rank \d on \S+: core \d", job.stderr)), n,
                         job.stderr)
        self.assertTrue(job.stderr.endswith("stdmpirun: SIGTERM received; ending the job\n"),
                        job.stderr)
        self.assertNotIn("stdmpirun still runs", job.stdout)

    def test_a_task_farm_cancelled_and_resubmitted_with_resume(self):
        # A farm in a real allocation: scancel ends it mid-way, and the same
        # script resubmitted with --resume runs only what is left.
        d = self.dir
        with open(os.path.join(d, "tasks.txt"), "w") as f:
            f.write("".join(f"sleep 0.3; echo {i} >> {d}/done.{i}\n" for i in range(1, 31)))
        script = os.path.join(d, "farm.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n" + self.env_line() +
                    f'{STDMPIRUN} --tasks tasks.txt --joblog farm.log ${{RESUME:-}}\n'
                    'echo "stdmpirun exited $?"\n')
        n = str(min(self.cpus, 2))
        sub = harness.run([*self.cluster.client, "sbatch", "--chdir", d, "-o", f"{d}/out1",
                           "-n", n, script], env=self.cluster.env, timeout=60)
        m = re.search(r"Submitted batch job (\d+)", sub.stdout)
        self.assertIsNotNone(m, sub.describe() + self.cluster.logs())
        log = os.path.join(d, "farm.log")

        def entries():
            try:
                with open(log) as f:
                    return len(f.read().splitlines()) - 1
            except FileNotFoundError:
                return 0
        deadline = time.monotonic() + 120
        while entries() < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertGreaterEqual(entries(), 4, self.cluster.logs())
        harness.run([*self.cluster.client, "scancel", m.group(1)], env=self.cluster.env,
                    timeout=30)
        while time.monotonic() < deadline:
            q = harness.run([*self.cluster.client, "squeue", "-h", "-j", m.group(1)],
                            env=self.cluster.env, timeout=30)
            if m.group(1) not in q.stdout:
                break
            time.sleep(0.3)
        first = entries()
        self.assertLess(first, 30, "scancel ended the farm before its end")
        job = self.sbatch(f"export RESUME=--resume\nexec sh {script}\n", "-n", n)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("stdmpirun exited 0", job.stdout, job.describe())
        self.assertIn(f"{first} left out as the joblog says", job.stderr)
        runs = {}
        for i in range(1, 31):
            with open(f"{d}/done.{i}") as f:
                runs[i] = len(f.read().split())
        # Only tasks running at the cancel ran twice: one a rank at most.
        self.assertLessEqual(sum(1 for c in runs.values() if c > 1), int(n), runs)
        self.assertTrue(all(1 <= c <= 2 for c in runs.values()), runs)

    def test_the_example_job_script(self):
        # examples/pi.sbatch as users submit it, resized to this one-node cluster.
        out = os.path.join(self.dir, "pi.out")
        n = min(self.cpus, 2)
        job = harness.run(["sbatch", "--wait", "--chdir", SOURCE, "-o", out, "--nodes=1",
                           f"--ntasks-per-node={n}", os.path.join(SOURCE, "examples", "pi.sbatch")],
                          env={**self.cluster.env, "STDMPI_PREFIX": harness.BUILD,
                               "PI_TERMS": "1e6"}, timeout=240)
        with open(out) as f:
            text = f.read()
        self.assertEqual(job.rc, 0, job.describe() + text)
        self.assertIn(f"pi = 3.14159265358979", text)
        self.assertIn(f"(1000000 terms, {n} ranks,", text)


class SlurmOnThreeHosts(Slurm):
    """The same SLURM, its three nodes on three network-namespace hosts, the
    controller on the first: srun and mpirun reach the others over TCP."""

    @classmethod
    def setUpClass(cls):
        require(harness.is_root(), "root (for network namespaces and SLURM daemons)")
        cls.hosts = NamespaceHosts(3, prefix="ssh")
        cls.addClassCleanup(cls.hosts.stop)
        cls.hosts.start()
        cls.cluster = SlurmCluster(cls.hosts)
        cls.addClassCleanup(cls.cluster.stop)
        cls.cluster.start()
        # The transports of hosts made of namespaces (PLATFORM.md): TCP only.
        # Shared memory between "hosts" on one kernel (one boot id, one
        # /dev/shm) crashed a node's first task in MPI_Init now and then.
        cls.cluster.env.update({"OMPI_MCA_pml": "ob1", "OMPI_MCA_btl": "tcp,self"})
        cls.cpus = cls.cluster.cpus()

    WHERE = test_multihost.WHERE

    def check_spread(self, job: harness.Job, n: int) -> None:
        test_multihost.assert_spread(self, job, n, self.hosts.names)

    def test_srun_across_nodes(self):
        # One task a node. With two, about one srun in 30 here lost a task to
        # a segfault inside MPI_Init: a peer's first message reached it over
        # TCP while it still waited in the modex fence, before Open MPI had a
        # handler for it. A plain C MPI program (MPI_Init, then
        # MPI_Comm_create_group) does the same under this srun (5 of 120), not
        # with 300 ms between MPI_Init and the first message (0 of 150) nor
        # with one task a node (0 of 200): a race of Open MPI 4.1.4, PMIx 4.2
        # and SLURM 22.05's fence between two ranks of one node, on these
        # oversubscribed namespace hosts.
        job = self.sbatch(
            self.env_line() +
            f"{STDMPIRUN} --dry-run true\n"
            f"{STDMPIRUN} sh -c {shlex.quote(self.WHERE)}\n"
            f"{STDMPIRUN} {PYTHON} {PI} 1e6\n", "-N", "3", "--ntasks-per-node=1")
        self.assertEqual(job.rc, 0, job.describe() + self.cluster.logs())
        self.assertIn("launcher: srun; inside SLURM job", job.stderr)
        self.assertIn("3 tasks on 3 nodes, 3 ranks", job.stderr)
        self.assertNotIn("OMPI_MCA_pml", job.stdout)  # several nodes: Open MPI chooses
        self.check_spread(job, 3)
        self.assertIn("(1000000 terms, 3 ranks,", job.stdout)

    def test_mpirun_across_nodes(self):
        job = self.sbatch(
            self.env_line() +
            f"{STDMPIRUN} --launcher mpirun --mca btl tcp,self sh -c {shlex.quote(self.WHERE)}\n",
            "-N", "3", "--ntasks-per-node=1")
        self.assertEqual(job.rc, 0, job.describe() + self.cluster.logs())
        self.check_spread(job, 3)

    # Covered on one node; not repeated here.
    test_srun_is_chosen_and_fills_the_allocation = None
    test_mpirun_inside_the_allocation = None
    test_the_example_job_script = None
    test_srun_mixed_programs_and_a_native_rank = None


if __name__ == "__main__":
    unittest.main()
