"""--isolate host: every rank's program in a light container of its own,
checked from inside the program, as root and as a normal user."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import lines_of_rank

# Prints what the program sees, one "key=value" per line.
PROBE = r"""
echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ,)"
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline | cut -c1-200)"
echo "procs=$(ls /proc | grep -c '^[0-9]')"
if touch /usr/stdmpi-probe 2>/dev/null; then echo usr=writable; rm -f /usr/stdmpi-probe; else echo usr=readonly; fi
if touch /etc/stdmpi-probe 2>/dev/null; then echo etc=writable; rm -f /etc/stdmpi-probe; else echo etc=readonly; fi
echo "$STDMPI_RANK" > /tmp/stdmpi-mine-$STDMPI_RANK
echo "tmp=$(ls /tmp | grep stdmpi-mine- | tr '\n' ,)"
echo "rank $STDMPI_RANK was here" > "shared-$STDMPI_RANK"
echo "hostname=$(hostname)"
echo "connect=$(python3 -c "
import socket, sys
try:
    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3).close(); print('ok')
except OSError as e:
    print('failed')
" "$PORT")"
"""


def values(job: harness.Job, rank: int) -> dict:
    out = {}
    for line in lines_of_rank(job.stdout, rank):
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out


class Listener:
    """A TCP port on the host's loopback that a contained program must not reach."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()


class Isolation(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-iso-")
        os.chmod(self.dir, 0o777)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def check_contained(self, job: harness.Job, n: int, net: bool = False) -> None:
        self.assertEqual(job.rc, 0, job.describe())
        host = socket.gethostname()
        for r in range(n):
            v = values(job, r)
            self.assertEqual(v.get("ifaces"), None if net else "lo,", job.describe())
            if not net:
                self.assertEqual(v["connect"], "failed")
            self.assertIn("stdmpi-init", v["pid1"])
            self.assertLessEqual(int(v["procs"]), 8, "host processes are visible")
            self.assertEqual(v["usr"], "readonly")
            self.assertEqual(v["etc"], "readonly")
            self.assertEqual(v["tmp"], f"stdmpi-mine-{r},")  # only its own /tmp
            self.assertNotEqual(v["hostname"], host)
            self.assertEqual(v["hostname"], f"{host[:50]}-r{r}")
        for r in range(n):  # the working directory is the job's, shared and writable
            with open(os.path.join(self.dir, f"shared-{r}")) as f:
                self.assertEqual(f.read(), f"rank {r} was here\n")

    def test_as_root(self):
        if os.geteuid() != 0:
            self.skipTest("run as root")
        with Listener() as lst:
            job = harness.stdmpirun("--isolate", "host", "--tag-output", "-n", "2", "sh", "-c",
                                    PROBE, env={"PORT": str(lst.port)}, cwd=self.dir,
                                    timeout=60)
        self.check_contained(job, 2)

    def test_net_keeps_the_host_network(self):
        with Listener() as lst:
            job = harness.stdmpirun("--isolate", "host", "--net", "--tag-output", "-n", "1", "sh",
                                    "-c", PROBE.replace('echo "ifaces=', 'true "'),
                                    env={"PORT": str(lst.port)}, cwd=self.dir, timeout=60)
        self.check_contained(job, 1, net=True)
        self.assertEqual(values(job, 0)["connect"], "ok")

    def test_as_a_normal_user(self):
        if os.geteuid() != 0 or shutil.which("useradd") is None:
            self.skipTest("needs root to create a user")
        user = "stdmpitest"
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "-m", user], check=True)
        # A copy of the build the user can reach, outside /tmp and /root.
        home = pwd.getpwnam(user).pw_dir
        dest = os.path.join(home, "stdmpi-iso")
        shutil.rmtree(dest, ignore_errors=True)
        for sub in ["bin", "share", "lib"]:
            shutil.copytree(os.path.join(harness.BUILD, sub), os.path.join(dest, sub))
        subprocess.run(["chown", "-R", f"{user}:{user}", dest], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_ALLOW")}
        env["HOME"] = home
        with Listener() as lst:
            env["PORT"] = str(lst.port)
            p = subprocess.run(["runuser", "-u", user, "--", os.path.join(dest, "bin", "stdmpirun"),
                                "--isolate", "host", "--tag-output", "-n", "2", "sh", "-c", PROBE],
                               capture_output=True, text=True, timeout=60, env=env, cwd=self.dir)
        job = harness.Job(p.returncode, p.stdout, p.stderr, 0)
        self.check_contained(job, 2)

    def test_sigterm_ends_every_contained_process(self):
        marker = "383.25"
        prog = f"sleep {marker} & sleep {marker} & echo '@mpi barrier'; read x; sleep {marker}"
        p = subprocess.Popen([harness.STDMPIRUN, "--isolate", "host", "-n", "2", "sh", "-c", prog],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.dir)

        def sleepers():
            r = subprocess.run(["pgrep", "-f", f"^sleep {marker}"], capture_output=True, text=True)
            return r.stdout.split()
        deadline = time.time() + 20
        while len(sleepers()) < 6 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(sleepers()), 6)
        start = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            self.fail("stdmpirun did not end within 10 s of SIGTERM")
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)
        while sleepers() and time.monotonic() - start < 2:
            time.sleep(0.05)
        self.assertEqual(sleepers(), [], "processes left 2 s after SIGTERM")

    def test_errors_name_the_rank_and_the_command(self):
        job = harness.stdmpirun("--isolate", "host", "-n", "1", "/nonexistent/prog", timeout=30)
        self.assertEqual(job.rc, 127, job.describe())
        self.assertIn("/nonexistent/prog", job.stderr)
        job = harness.stdmpirun("--isolate", "host", "-n", "1", "/etc/hostname", timeout=30)
        self.assertEqual(job.rc, 126, job.describe())

    def test_protocol_works_inside(self):
        s = harness.scenario("* @mpi allreduce sum 1 => 2\n* print ok {rank}\n")
        # The scenario file is in the host's /tmp, which ranks do not see: it
        # goes to the shared working directory.
        shutil.copy(s, os.path.join(self.dir, "s.txt"))
        job = harness.stdmpirun("--isolate", "host", "-n", "2", harness.PROTOCLIENT, "s.txt",
                                cwd=self.dir, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), ["ok 0", "ok 1"])


if __name__ == "__main__":
    unittest.main()
