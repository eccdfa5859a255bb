"""Per-rank limits: memory, wall time, processes. A rank over its limit ends
the job with a message that says which limit; the cgroups made for the limits
are gone after the job."""
import os
import re
import unittest

import harness
from harness import PYTHON, require, stdmpirun

HOG = "x = bytearray(300 * 1024 * 1024); x[::4096] = b'x' * len(x[::4096]); print('survived')"

# How the shim names the cgroup of a rank (libshim/rank_limits.cc): stdmpi-SHIMPID-rRANK.
CGROUP_NAME = re.compile(r"stdmpi-(\d+)-r(\d+)")


def cgroup_hierarchies():
    """{v1 controller or "" for cgroup v2: mount point} of the hierarchies the
    shim makes cgroups in: v1 memory and pids, and v2 wherever it is mounted."""
    found = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype, opts = line.split()[:4]
            mnt = mnt.replace("\\040", " ")
            if fstype == "cgroup2":
                found.setdefault("", mnt)
            elif fstype == "cgroup":
                for ctrl in ("memory", "pids"):
                    if ctrl in opts.split(","):
                        found.setdefault(ctrl, mnt)
    return found


def stdmpi_cgroups() -> set:
    """Every cgroup directory named as the shim names a rank's, in the v1
    memory and pids hierarchies and in cgroup v2."""
    out = set()
    for mnt in cgroup_hierarchies().values():
        for root, dirs, _ in os.walk(mnt):
            for d in dirs:
                if CGROUP_NAME.fullmatch(d):
                    out.add(os.path.join(root, d))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def leaked_cgroups(before: set) -> list:
    """The stdmpi cgroups made since `before` whose shim has ended: left
    behind. (Another test's job may be running meanwhile: its shims live.)"""
    return sorted(d for d in stdmpi_cgroups() - before
                  if not alive(int(CGROUP_NAME.fullmatch(os.path.basename(d)).group(1))))


class Limits(unittest.TestCase):
    def setUp(self):
        self.cgroups_before = stdmpi_cgroups()

    def tearDown(self):
        self.assertEqual(leaked_cgroups(self.cgroups_before), [], "cgroups left after the test")

    def test_memory(self):
        # Rank 0 would sleep for 10 minutes: the job ends (within the run's
        # time limit) because rank 1 ran out of memory, without waiting for it.
        job = stdmpirun("-n", "2", "--mem-per-rank", "64M", PYTHON, "-c",
                        "import os\n"
                        "if os.environ['STDMPI_RANK'] == '1':\n"
                        f"    {HOG}\n"
                        "else:\n"
                        "    import time; time.sleep(600); print('rank 0 woke up')\n", timeout=60)
        self.assertNotEqual(job.rc, 0, job.describe())
        self.assertNotIn("survived", job.stdout)
        self.assertNotIn("woke up", job.stdout)
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

    def test_cgroups_are_removed_after_the_job(self):
        # As root the shim makes a cgroup per rank for --mem-per-rank and
        # --max-procs (v1: one in the memory and one in the pids hierarchy;
        # v2: one with both controllers). Each program says which cgroups it
        # is in; after the job none of them is left, whether the job ended
        # well, by a failing rank (the others' programs are ended) or by the
        # OOM killer.
        require(harness.is_root(), "root (a normal user cannot make cgroups here)")
        show = ('while IFS=: read -r _ ctrls path; do case "$path" in */stdmpi-*) '
                'echo "cgroup $STDMPI_RANK $ctrls $path";; esac; done < /proc/self/cgroup; ')
        jobs = {
            "ends well": (show + 'echo "@mpi barrier"; read ok', 0),
            "a rank fails": (show + 'if [ "$STDMPI_RANK" = 1 ]; then echo "@mpi barrier"; read ok; '
                             'exit 3; fi; echo "@mpi barrier"; read ok; echo "@mpi recv 1 0"; read x',
                             3),
            "a rank runs out of memory": (show + 'echo "@mpi barrier"; read ok; '
                                          'if [ "$STDMPI_RANK" = 1 ]; then '
                                          f'exec {PYTHON} -c "{HOG}"; fi; sleep 600', 137),
        }
        mounts = cgroup_hierarchies()
        for what, (prog, status) in jobs.items():
            with self.subTest(what):
                before = stdmpi_cgroups()
                job = stdmpirun("-n", "2", "--mem-per-rank", "64M", "--max-procs", "64", "sh",
                                "-c", prog, timeout=60)
                made = {}  # (rank, "memory" or "pids") -> the cgroup's directory
                for rank, ctrls, path in re.findall(r"^cgroup (\d+) (\S*) (\S+)$", job.stdout,
                                                    re.M):
                    m = CGROUP_NAME.fullmatch(os.path.basename(path))
                    self.assertIsNotNone(m, path)
                    self.assertEqual(m.group(2), rank, path)
                    if ctrls == "":  # cgroup v2: both limits in one
                        made[(rank, "memory")] = made[(rank, "pids")] = mounts[""] + path
                    for ctrl in ("memory", "pids"):
                        if ctrl in ctrls.split(","):
                            made[(rank, ctrl)] = mounts[ctrl] + path
                require(made, "a cgroup hierarchy the shim can write (it used rlimits)")
                self.assertEqual(job.rc, status, job.describe())
                self.assertEqual(sorted(made), [(r, c) for r in ("0", "1") for c in
                                                ("memory", "pids")], job.describe())
                left = sorted(d for d in set(made.values()) if os.path.exists(d))
                self.assertEqual(left, [], "the ranks' cgroups are still there")
                self.assertEqual(leaked_cgroups(before), [])

    def test_an_isolated_program_cannot_leave_its_limits(self):
        # As root, in its container: it tries to move itself to the root of
        # every cgroup hierarchy and to raise its rlimits; it stays where
        # the shim put it.
        require(harness.is_root(), "root (the escapes to try need root)")
        prog = (
            "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs; do "
            '  [ -e "$f" ] && (echo $$ > "$f") 2>/dev/null && echo "moved to $f"; done; '
            "ulimit -H -u unlimited 2>/dev/null && echo raised; "
            "grep -c stdmpi- /proc/self/cgroup")
        job = stdmpirun("-n", "1", "--isolate", "host", "--mem-per-rank", "64M",
                        "--max-procs", "64", "sh", "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertNotIn("moved to", job.stdout)
        self.assertNotIn("raised", job.stdout)
        self.assertNotEqual(job.stdout.strip().splitlines()[-1], "0", job.describe())

    def test_time(self):
        # Killed by the limit (status 137), not ended by the sleep's end (0).
        job = stdmpirun("-n", "2", "--time-limit", "1.5", "sleep", "30", timeout=60)
        self.assertEqual(job.rc, 137, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank [01] \(sleep 30\): killed by signal 9 "
                                     r"\(SIGKILL\) after running into its time limit "
                                     r"\(--time-limit 1.5 s\); ending the job")

    def test_processes(self):
        require(harness.is_root(), "root (the process limit of a normal user is per user)")
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
        # Said at the start too, once: what such limits are worth.
        self.assertEqual(job.stderr.count(": no cgroup can be made here, the limits are rlimits: "
                                          "--mem-per-rank limits address space (not memory in "
                                          "use)"), 1, job.describe())

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
