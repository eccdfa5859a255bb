"""Jobs across hosts: three hosts as network namespaces on one Ethernet
segment, mpirun reaching them through an rsh agent (tests/integration/cluster.py),
stdmpirun started on the first as a user on a cluster's head node would.

- the pi example and the whole protocol suite across the hosts (hostfile);
- PBS and LSF jobs, their variables set as the batch system would, the node
  file naming the hosts: stdmpirun finds them and the rank count alone;
- the same with 20 ms between hosts (a userspace hub delays every frame): the
  job still completes, with the right answers.
"""
import glob
import os
import re
import shutil
import tempfile
import unittest

import harness
import run_scenario
from cluster import NamespaceHosts
from harness import PROTOCLIENT, PYTHON, SOURCE, STDMPIRUN, require

PI = os.path.join(SOURCE, "examples", "pi.py")
SCENARIOS = sorted(glob.glob(os.path.join(SOURCE, "tests", "protocol", "*.txt")))
# Each rank says where it runs, then takes part in one allreduce.
WHERE = ("echo \"rank $STDMPI_RANK on $(hostname)\"; echo '@mpi allreduce sum 1'; read s; "
         "echo \"sum $s\"")


# Each rank prints its rank, host, STDMPI_REPORT_MARK as its program sees it
# ("-" for none) and as its shim (the nearest stdmpi-shim above it) has it.
SHIM_MARK = """
import os, socket
def mark(env):
    return env.get(b"STDMPI_REPORT_MARK", b"-").decode().strip().replace(" ", "")
pid = os.getppid()
while open(f"/proc/{pid}/comm").read().strip() != "stdmpi-shim":
    pid = int(open(f"/proc/{pid}/status").read().split("PPid:")[1].split()[0])
env = dict(e.split(b"=", 1) for e in open(f"/proc/{pid}/environ", "rb").read().split(b"\\0") if b"=" in e)
print(os.environ["STDMPI_RANK"], socket.gethostname(), mark(os.environb), mark(env))
"""

# mpirun's round robin over the hosts: ranks 0, 1 and 2 on different hosts.
BY_NODE = ["--launcher-arg=--map-by", "--launcher-arg=node"]


def assert_spread(tc: unittest.TestCase, job: harness.Job, n: int, hosts) -> None:
    """The job ran WHERE on ranks 0..n-1, on every one of `hosts`, and each
    rank got the sum of the allreduce."""
    tc.assertEqual(job.rc, 0, job.describe())
    where = dict(re.findall(r"rank (\d+) on (\S+)", job.stdout))
    tc.assertEqual(sorted(int(r) for r in where), list(range(n)), job.describe())
    tc.assertEqual(set(where.values()), set(hosts), job.describe())
    tc.assertEqual(job.stdout.count(f"sum {n}\n"), n, job.describe())


class HostsCase(unittest.TestCase):
    LATENCY = 0.0

    @classmethod
    def setUpClass(cls):
        require(harness.is_root(), "root (for network namespaces)")
        cls.hosts = NamespaceHosts(3, latency=cls.LATENCY)
        cls.addClassCleanup(cls.hosts.stop)
        cls.hosts.start()

    def on_head(self, *args, env=None, timeout=120, program=STDMPIRUN) -> harness.Job:
        """Runs stdmpirun ARGS on the first host (the head node)."""
        h = self.hosts
        head = h.names[0]
        return harness.run(
            ["nsenter", f"--net=/run/netns/{head}", "unshare", "--uts", "sh", "-c",
             f"hostname {head} && exec \"$@\"", "sh", program, *args],
            env={"OMPI_MCA_plm_rsh_agent": h.agent, **(env or {})}, timeout=timeout)

    def transport(self):
        return ["--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "eth0",
                "--mca", "oob_tcp_if_include", "eth0", "--launcher-arg=--bind-to",
                "--launcher-arg=none"]

    def check_spread(self, job: harness.Job, n: int) -> None:
        assert_spread(self, job, n, self.hosts.names)

    def head_launch(self):
        """What runs a command on the head node with mpirun's rsh agent set
        (for run_scenario, which puts stdmpirun after it)."""
        return ["nsenter", f"--net=/run/netns/{self.hosts.names[0]}", "env",
                f"OMPI_MCA_plm_rsh_agent={self.hosts.agent}"]


class Hosts(HostsCase):
    def test_pi_across_three_hosts(self):
        hf = self.hosts.hostfile(slots=2)
        job = self.on_head("--hostfile", hf, *self.transport(), *BY_NODE, "sh", "-c", WHERE)
        self.check_spread(job, 6)
        job = self.on_head("--hostfile", hf, *self.transport(), PYTHON, PI, "1e6")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("pi = 3.14159265358979", job.stdout)
        self.assertIn("(1000000 terms, 6 ranks,", job.stdout)

    def test_output_files_across_hosts(self):
        # Rank 0 runs on the head node (stdmpirun writes its files); ranks 1
        # and 2 on the others, whose shims cannot reach stdmpirun's socket and
        # write their own (the hosts share this file system, as a cluster's
        # job directory is shared).
        hf = self.hosts.hostfile(slots=2)
        out = tempfile.mkdtemp(prefix="stdmpi-hostfiles-")
        self.addCleanup(shutil.rmtree, out, True)
        prog = ('echo "out $STDMPI_RANK $(hostname)"; echo "err $STDMPI_RANK" >&2; '
                "echo '@mpi barrier'; read ok; echo \"after $ok\"")
        job = self.on_head("--hostfile", hf, *self.transport(), *BY_NODE, "-n", "3",
                           "--output-filename", out, "--timestamp-output", "sh", "-c", prog)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "", job.describe())
        for r in range(3):
            d = os.path.join(out, "1", f"rank.{r}")
            with open(os.path.join(d, "stdout")) as f:
                lines = [re.sub(r"^\[[-0-9 :.]+\] ", "", l) for l in f.read().splitlines()]
            self.assertEqual(lines, [f"out {r} {self.hosts.names[r]}", "after ok"])
            with open(os.path.join(d, "stderr")) as f:
                self.assertRegex(f.read(), rf"^\[[-0-9 :.]+\] err {r}\n$")

    def test_protocol_suite_across_hosts(self):
        hf = self.hosts.hostfile(slots=2)
        failed = []
        for path in SCENARIOS:
            if run_scenario.run(path, launch=self.head_launch(),
                                options=["--hostfile", hf, *self.transport(), *BY_NODE]):
                failed.append(os.path.basename(path))
        self.assertEqual(failed, [])

    def test_a_rank_on_another_host_ends_the_job_in_one_line(self):
        # Rank 1 runs on the second host: its shim's report reaches stdmpirun
        # through mpirun and shows once, without the job's report mark.
        hf = self.hosts.hostfile(slots=2)
        prog = "[ $STDMPI_RANK = 1 ] && exit 3; sleep 30"
        job = self.on_head("--hostfile", hf, *self.transport(), *BY_NODE, "-n", "3",
                           "sh", "-c", prog)
        self.assertEqual(job.rc, 3, job.describe())
        self.assertEqual(job.stderr, f'stdmpi: rank 1 (sh -c "{prog}"): exited with status 3; '
                                     "ending the job\n", job.describe())

    def test_every_shim_gets_the_report_mark_and_no_program_does(self):
        # mpirun gives ranks on other hosts only what -x names (the rsh agent
        # passes no environment, as ssh would not): the mark must be named.
        hf = self.hosts.hostfile(slots=2)
        job = self.on_head("--hostfile", hf, *self.transport(), *BY_NODE, "-n", "3",
                           PYTHON, "-c", SHIM_MARK)
        self.assertEqual(job.rc, 0, job.describe())
        lines = sorted(job.stdout.splitlines())
        self.assertEqual(len(lines), 3, job.describe())
        marks = set()
        for rank, line in enumerate(lines):
            r, host, own, shim = line.split()
            self.assertEqual((int(r), host, own), (rank, self.hosts.names[rank], "-"), line)
            self.assertRegex(shim, r"^\[stdmpi-report[0-9a-f]{16}\]$", line)
            marks.add(shim)
        self.assertEqual(len(marks), 1, lines)

    def test_pbs_job(self):
        nodefile = os.path.join(self.hosts.dir, "pbs_nodefile")
        with open(nodefile, "w") as f:
            for a in self.hosts.addrs:  # one line per slot, as PBS writes it
                f.write(f"{a}\n{a}\n")
        env = {"PBS_JOBID": "17.pbs", "PBS_NODEFILE": nodefile, "PBS_O_WORKDIR": SOURCE,
               "PBS_ENVIRONMENT": "PBS_BATCH"}
        job = self.on_head("--dry-run", "true", env=env)
        self.assertEqual(job.rc, 0, job.describe())
        hosts = ",".join(f"{x}:2" for x in self.hosts.addrs)
        self.assertIn(f"--host {hosts} -n 6 ", job.stdout)
        self.assertIn(f"launcher: mpirun; inside PBS job 17.pbs, 6 tasks on 3 nodes, hosts from "
                      f"{nodefile}, 6 ranks", job.stderr)
        job = self.on_head(*self.transport(), *BY_NODE, "sh", "-c", WHERE, env=env)
        self.check_spread(job, 6)
        # examples/pi.pbs as qsub would run it; the transport through the
        # environment, as a site's Open MPI configuration would set it.
        site = {"OMPI_MCA_btl": "tcp,self", "OMPI_MCA_btl_tcp_if_include": "eth0",
                "OMPI_MCA_oob_tcp_if_include": "eth0", "OMPI_MCA_hwloc_base_binding_policy": "none",
                "STDMPI_PREFIX": harness.BUILD, "PI_TERMS": "1e6"}
        job = self.on_head(os.path.join(SOURCE, "examples", "pi.pbs"), env={**env, **site},
                           program="/bin/bash")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("(1000000 terms, 6 ranks,", job.stdout)

    def test_lsf_job(self):
        a = self.hosts.addrs
        hostfile = os.path.join(self.hosts.dir, "lsf_hosts")
        with open(hostfile, "w") as f:
            f.write("".join(f"{x}\n" for x in a))
        env = {"LSB_JOBID": "88", "LSB_DJOB_HOSTFILE": hostfile,
               "LSB_MCPU_HOSTS": " ".join(f"{x} 1" for x in a), "LSB_HOSTS": " ".join(a)}
        job = self.on_head(*self.transport(), "sh", "-c", WHERE, env=env)
        self.check_spread(job, 3)
        # Without the host file: the hosts and slots of LSB_MCPU_HOSTS.
        env.pop("LSB_DJOB_HOSTFILE")
        job = self.on_head("--dry-run", "true", env=env)
        self.assertIn(f"--host {a[0]}:1,{a[1]}:1,{a[2]}:1 -n 3 ", job.stdout)
        job = self.on_head(*self.transport(), "sh", "-c", WHERE, env=env)
        self.check_spread(job, 3)


class SlowNetwork(HostsCase):
    LATENCY = 0.020

    def test_jobs_complete_with_20ms_between_hosts(self):
        hf = self.hosts.hostfile(slots=1)
        # The delay is really there: 5 allreduce rounds over 3 hosts take at
        # least 5 x 2 x 20 ms (a round trip at the very least).
        timing = ("import time, stdmpi\n"
                  "c = stdmpi.COMM_WORLD\n"
                  "c.barrier()\n"
                  "t = time.perf_counter()\n"
                  "for i in range(5): s = c.allreduce(c.rank + i)\n"
                  "t = time.perf_counter() - t\n"
                  "if c.rank == 0: print(f'sum {s} in {t:.3f} s')\n")
        job = self.on_head("--hostfile", hf, *self.transport(), PYTHON, "-c", timing,
                           timeout=180)
        self.assertEqual(job.rc, 0, job.describe())
        m = re.search(r"sum (\d+) in ([\d.]+) s", job.stdout)
        self.assertIsNotNone(m, job.describe())
        self.assertEqual(int(m.group(1)), 0 + 1 + 2 + 3 * 4)
        self.assertGreaterEqual(float(m.group(2)), 0.2, "the hub did not delay the frames")

        job = self.on_head("--hostfile", hf, *self.transport(), "sh", "-c", WHERE, timeout=180)
        self.check_spread(job, 3)
        job = self.on_head("--hostfile", hf, *self.transport(), PYTHON, PI, "3e5", timeout=180)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("pi = 3.14159265358979", job.stdout)
        self.assertIn("(300000 terms, 3 ranks,", job.stdout)
        # A protocol scenario with messages of all sizes.
        bytes_scenario = os.path.join(SOURCE, "tests", "protocol", "bytes.txt")
        self.assertEqual(run_scenario.run(bytes_scenario, launch=self.head_launch(),
                                          options=["--hostfile", self.hosts.hostfile(slots=2),
                                                   *self.transport(), *BY_NODE], timeout=180), 0)


if __name__ == "__main__":
    unittest.main()
