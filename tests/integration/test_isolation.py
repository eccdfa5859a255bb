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
from harness import lines_of_rank, require

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
if mount -o remount,rw /usr 2>/dev/null; then echo remount=done; else echo remount=refused; fi
if umount -l /usr 2>/dev/null; then echo umount=done; else echo umount=refused; fi
echo "capeff=$(grep CapEff /proc/self/status | cut -f2)"
echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"
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
            # As root too: no capability to undo the container with.
            self.assertEqual(v["remount"], "refused")
            self.assertEqual(v["umount"], "refused")
            self.assertEqual(v["capeff"], "0000000000000000")
            self.assertEqual(v["nnp"], "1")
        for r in range(n):  # the working directory is the job's, shared and writable
            with open(os.path.join(self.dir, f"shared-{r}")) as f:
                self.assertEqual(f.read(), f"rank {r} was here\n")

    def test_as_root(self):
        require(harness.is_root(), "root")
        with Listener() as lst:
            job = harness.stdmpirun("--isolate", "host", "--tag-output", "-n", "2", "sh", "-c",
                                    PROBE, env={"PORT": str(lst.port)}, cwd=self.dir,
                                    timeout=60)
        self.check_contained(job, 2)

    def test_read_only_holds_for_mounts_under_usr(self):
        # A file system mounted under /usr on the host is read-only in the
        # container too (read-only all the way down).
        require(harness.is_root(), "root")
        sub = f"/usr/local/stdmpi-rotest-{os.getpid()}"
        os.mkdir(sub)
        self.addCleanup(os.rmdir, sub)
        subprocess.run(["mount", "-t", "tmpfs", "none", sub], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["umount", sub], timeout=30)
        job = harness.stdmpirun("--isolate", "host", "-n", "1", "sh", "-c",
                                f"touch {sub}/x 2>/dev/null && echo wrote || echo refused",
                                cwd=self.dir, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "refused\n")
        self.assertFalse(os.path.exists(f"{sub}/x"))

    def test_a_working_directory_in_tmp_or_tmp_itself(self):
        # The private /tmp must not hide the job's working directory: its
        # files appear where the program was started, /tmp itself included.
        name = f"stdmpi-iso-{os.getpid()}.txt"
        for cwd in ("/tmp", self.dir):
            with self.subTest(cwd=cwd):
                path = os.path.join(cwd, name)
                self.addCleanup(lambda p=path: os.path.exists(p) and os.unlink(p))
                job = harness.stdmpirun("--isolate", "host", "-n", "1", "sh", "-c",
                                        f'pwd; echo "made here" > {name}', cwd=cwd, timeout=60)
                self.assertEqual(job.rc, 0, job.describe())
                self.assertEqual(job.stdout, f"{cwd}\n")
                with open(path) as f:
                    self.assertEqual(f.read(), "made here\n")

    def test_net_keeps_the_host_network(self):
        with Listener() as lst:
            job = harness.stdmpirun("--isolate", "host", "--net", "--tag-output", "-n", "1", "sh",
                                    "-c", PROBE.replace('echo "ifaces=', 'true "'),
                                    env={"PORT": str(lst.port)}, cwd=self.dir, timeout=60)
        self.check_contained(job, 1, net=True)
        self.assertEqual(values(job, 0)["connect"], "ok")

    def test_as_a_normal_user(self):
        u = harness.copy_for_user("stdmpi-iso")
        with Listener() as lst:
            p = subprocess.run(["runuser", "-u", u.user, "--", u.stdmpirun(), "--isolate", "host",
                                "--tag-output", "-n", "2", "sh", "-c", PROBE],
                               capture_output=True, text=True, timeout=60,
                               env={**u.env, "PORT": str(lst.port)}, cwd=self.dir)
        job = harness.Job(p.returncode, p.stdout, p.stderr, 0)
        self.check_contained(job, 2)

    def test_sigterm_ends_every_contained_process(self):
        marker = "383.25"
        prog = f"sleep {marker} & sleep {marker} & echo '@mpi barrier'; read x; sleep {marker}"
        p = subprocess.Popen([harness.STDMPIRUN, "--isolate", "host", "-n", "2", "sh", "-c", prog],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.dir)
        self.addCleanup(harness.stop_process, p)

        def sleepers():
            r = subprocess.run(["pgrep", "-f", f"^sleep {marker}"], capture_output=True, text=True,
                               timeout=30)
            return r.stdout.split()
        deadline = time.time() + 20
        while len(sleepers()) < 6 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(sleepers()), 6)
        p.send_signal(signal.SIGTERM)
        try:  # the programs would sleep for 6 minutes
            p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail("stdmpirun did not end within 60 s of SIGTERM")
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)
        # A generous bound: what is left would live for minutes.
        deadline = time.monotonic() + 30
        while sleepers() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(sleepers(), [], "contained processes were left after SIGTERM")

    def test_errors_name_the_rank_and_the_command(self):
        job = harness.stdmpirun("--isolate", "host", "-n", "1", "/nonexistent/prog", timeout=30)
        self.assertEqual(job.rc, 127, job.describe())
        self.assertIn("/nonexistent/prog", job.stderr)
        job = harness.stdmpirun("--isolate", "host", "-n", "1", "/etc/hostname", timeout=30)
        self.assertEqual(job.rc, 126, job.describe())

    def test_ncl_ends_inside_a_container(self):
        require(shutil.which("ncl"), "NCL (ncl-ncarg)")
        # stdmpi finds NCL through both supervisors to see its script end.
        shutil.copy(os.path.join(harness.SOURCE, "examples", "pi.ncl"), self.dir)
        job = harness.stdmpirun("--isolate", "host", "-n", "2", "ncl", "terms=1e5", "pi.ncl",
                                cwd=self.dir, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("(100000 terms, 2 ranks,", job.stdout)

    def test_protocol_works_inside(self):
        s = harness.scenario("* @mpi allreduce sum 1 => 2\n* print ok {rank}\n")
        # The scenario file is in the host's /tmp, which ranks do not see: it
        # goes to the shared working directory.
        shutil.copy(s, os.path.join(self.dir, "s.txt"))
        job = harness.stdmpirun("--isolate", "host", "-n", "2", harness.PROTOCLIENT, "s.txt",
                                cwd=self.dir, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), ["ok 0", "ok 1"])


BUSYBOX = "/bin/busybox"


def make_rootfs(where: str) -> str:
    """A tiny root filesystem: busybox-static and its applets, /etc/issue."""
    root = os.path.join(where, "rootfs")
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "etc"))
    shutil.copy(BUSYBOX, os.path.join(root, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc", "issue"), "w") as f:
        f.write("the test image\n")
    with open(os.path.join(root, "bin", "notexec"), "w") as f:
        f.write("#!/bin/sh\necho no\n")
    return root


def image_workspace(tc: unittest.TestCase, prefix: str) -> None:
    """Gives `tc` a directory of its own (tc.dir, removed at its end) with a
    busybox root filesystem (tc.root) and a working directory any user may
    write (tc.work)."""
    require(os.path.exists(BUSYBOX), "busybox-static")
    tc.dir = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tc.dir, 0o755)
    tc.addCleanup(shutil.rmtree, tc.dir, True)
    tc.root = make_rootfs(tc.dir)
    tc.work = os.path.join(tc.dir, "work")
    os.mkdir(tc.work)
    os.chmod(tc.work, 0o777)


class Images(unittest.TestCase):
    def setUp(self):
        image_workspace(self, "stdmpi-img-")
        self.tarball = os.path.join(self.dir, "rootfs.tar.gz")
        subprocess.run(["tar", "-C", self.root, "-czf", self.tarball, "."], check=True, timeout=120)
        self.env = {"STDMPI_IMAGE_CACHE": os.path.join(self.dir, "cache")}

    SCRIPT = ('cat /etc/issue; test -e /usr/bin/python3 && echo host-usr || echo no-host-usr; '
              'echo "@mpi allreduce sum 1"; read s; echo "sum=$s"; '
              'echo "rank $STDMPI_RANK" > out-$STDMPI_RANK')

    def check_ran_in_image(self, job: harness.Job, n: int = 2) -> None:
        self.assertEqual(job.rc, 0, job.describe())
        for r in range(n):
            lines = lines_of_rank(job.stdout, r)
            self.assertIn("the test image", lines, job.describe())
            self.assertIn("no-host-usr", lines)
            self.assertIn(f"sum={n}", lines)
            with open(os.path.join(self.work, f"out-{r}")) as f:
                self.assertEqual(f.read(), f"rank {r}\n")

    def test_directory_and_tarball_images(self):
        for image in [self.root, self.tarball]:
            job = harness.stdmpirun("--image", image, "--tag-output", "-n", "2", "sh", "-c",
                                    self.SCRIPT, cwd=self.work, env=self.env, timeout=60)
            self.check_ran_in_image(job)
        # The tarball was unpacked once, into the cache.
        self.assertEqual(len([d for d in os.listdir(self.env["STDMPI_IMAGE_CACHE"])
                              if not d.endswith(".lock")]), 1)

    def test_bind_and_a_throwaway_upper_layer(self):
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        with open(os.path.join(data, "input.txt"), "w") as f:
            f.write("42\n")
        job = harness.stdmpirun("--image", self.root, "--bind", f"{data}:/data", "--tag-output",
                                "-n", "1", "sh", "-c",
                                "cat /data/input.txt; echo changed > /etc/issue; cat /etc/issue",
                                cwd=self.work, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(lines_of_rank(job.stdout, 0), ["42", "changed"])
        with open(os.path.join(self.root, "etc", "issue")) as f:
            self.assertEqual(f.read(), "the test image\n")  # the image itself is untouched

    def test_a_packed_layer_is_used_by_the_next_run(self):
        layer = os.path.join(self.dir, "mine.tar.gz")
        job = harness.stdmpirun("--image", self.tarball, "--pack", layer, "-n", "1", "sh", "-c",
                                "mkdir -p /opt/tool && echo v1 > /opt/tool/version && "
                                "rm /etc/issue", cwd=self.work, env=self.env, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn(f"packed the layer into {layer} (base: {self.tarball})", job.stderr)
        self.assertEqual([d for d in os.listdir(self.dir) if "stdmpi-pack" in d], [])
        job = harness.stdmpirun("--image", f"{self.tarball},{layer}", "--tag-output", "-n", "2",
                                "sh", "-c", "cat /opt/tool/version; cat /.stdmpi-layer; "
                                "test -e /etc/issue && echo issue || echo no-issue",
                                cwd=self.work, env=self.env, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        for r in (0, 1):
            lines = lines_of_rank(job.stdout, r)
            self.assertEqual(lines[0], "v1")
            self.assertIn(f"base: {self.tarball}", lines)
            self.assertEqual(lines[-1], "no-issue")  # the layer's deletion holds
        job = harness.stdmpirun("--image", self.root, "--pack", layer, "-n", "2", "true",
                                timeout=30)
        self.assertEqual(job.rc, 64)
        self.assertIn("--pack needs --image and exactly one rank", job.stderr)

    def test_pack_writes_its_note_without_following_the_programs_link(self):
        # The program makes the layer note's name a link to a file of the
        # user's on the host; after the run stdmpirun writes the note into
        # the layer, not into that file.
        victim = os.path.join(self.dir, "victim")
        with open(victim, "w") as f:
            f.write("the user's file\n")
        layer = os.path.join(self.dir, "linked.tar")
        job = harness.stdmpirun("--image", self.root, "--pack", layer, "-n", "1", "sh", "-c",
                                f"ln -s {victim} /.stdmpi-layer", cwd=self.work, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        with open(victim) as f:
            self.assertEqual(f.read(), "the user's file\n")
        listing = subprocess.run(["tar", "-tvf", layer], capture_output=True, text=True,
                                 check=True, timeout=60).stdout
        note = [line for line in listing.splitlines() if line.endswith(".stdmpi-layer")]
        self.assertEqual(len(note), 1, listing)
        self.assertTrue(note[0].startswith("-"), note)  # a regular file, not a link

    def test_errors(self):
        job = harness.stdmpirun("--image", os.path.join(self.dir, "missing.tar"), "-n", "1", "sh",
                                cwd=self.work, timeout=30)
        self.assertEqual(job.rc, 126, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(sh\): cannot start the command: image "
                                     r"\S+missing.tar: No such file or directory")
        job = harness.stdmpirun("--image", self.root, "-n", "1", "python3", "-c", "pass",
                                cwd=self.work, timeout=30)
        self.assertEqual(job.rc, 127, job.describe())
        self.assertIn("cannot run python3: exec in the image: not found in the image (looked for "
                      "python3 on PATH=", job.stderr)
        job = harness.stdmpirun("--image", self.root, "-n", "1", "/bin/notexec", cwd=self.work,
                                timeout=30)
        self.assertEqual(job.rc, 126, job.describe())
        self.assertIn("cannot run /bin/notexec: exec in the image: Permission denied", job.stderr)

    def test_as_a_normal_user(self):
        u = harness.copy_for_user("stdmpi-img")
        os.chmod(self.tarball, 0o644)
        shared = os.path.join(self.dir, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        # A cache of the user's own, made where it is missing: private.
        cache = os.path.join(shared, "user-cache")
        p = subprocess.run(["runuser", "-u", u.user, "--", u.stdmpirun(), "--image", self.tarball,
                            "--tag-output", "-n", "2", "sh", "-c", self.SCRIPT],
                           capture_output=True, text=True, timeout=60,
                           env={**u.env, "STDMPI_IMAGE_CACHE": cache}, cwd=self.work)
        self.check_ran_in_image(harness.Job(p.returncode, p.stdout, p.stderr, 0))
        st = os.stat(cache)
        self.assertEqual((st.st_uid, oct(st.st_mode & 0o777)),
                         (pwd.getpwnam(u.user).pw_uid, oct(0o700)))
        # Another user's directory, even one open to all, is not taken.
        p = subprocess.run(["runuser", "-u", u.user, "--", u.stdmpirun(), "--image", self.tarball,
                            "-n", "1", "true"], capture_output=True, text=True, timeout=60,
                           env={**u.env, "STDMPI_IMAGE_CACHE": shared}, cwd=self.work)
        self.assertEqual(p.returncode, 126, p.stderr)
        self.assertEqual(p.stderr, f"stdmpi: rank 0 (true): cannot start the command: image "
                                   f"{self.tarball}: the image cache {shared} belongs to uid 0, "
                                   "not to you (set STDMPI_IMAGE_CACHE to a directory of your "
                                   "own)\n")

if __name__ == "__main__":
    unittest.main()
