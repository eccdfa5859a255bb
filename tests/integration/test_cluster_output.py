"""Output as users expect it from mpirun: per-rank files (--output-filename),
timestamps, stderr merged into stdout, progress bars shown as they redraw,
and --version naming what stdmpi runs on."""
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from harness import PYTHON, STDMPIRUN, stdmpirun

# Rank r prints two lines on stdout and one on stderr, and a line without its
# LF at the end of each stream.
SPEAKER = r'''
import os, sys
r = os.environ["STDMPI_RANK"]
print(f"out {r} a", flush=True)
sys.stderr.write(f"err {r} a\n"); sys.stderr.flush()
print(f"out {r} b", flush=True)
sys.stdout.write(f"out {r} end"); sys.stderr.write(f"err {r} end")
'''


def read_file(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class OutputFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-outfiles-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_each_rank_writes_its_own_files_in_open_mpi_layout(self):
        out = os.path.join(self.dir, "out")
        job = stdmpirun("-n", "3", "--oversubscribe", "--output-filename", out, PYTHON, "-c",
                        SPEAKER, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "", job.describe())
        self.assertEqual(job.stderr, "", job.describe())
        self.assertEqual(sorted(os.listdir(os.path.join(out, "1"))), ["rank.0", "rank.1", "rank.2"])
        for r in range(3):
            d = os.path.join(out, "1", f"rank.{r}")
            self.assertEqual(sorted(os.listdir(d)), ["stderr", "stdout"])
            self.assertEqual(read_file(os.path.join(d, "stdout")), f"out {r} a\nout {r} b\nout {r} end")
            self.assertEqual(read_file(os.path.join(d, "stderr")), f"err {r} a\nerr {r} end")

    def test_a_relative_dir_is_the_launch_directory_and_a_rerun_replaces_the_files(self):
        for word in ["first run, longer", "second"]:
            job = stdmpirun("-n", "1", "--output-filename", "rel", "sh", "-c", f"echo {word}",
                            timeout=60, cwd=self.dir)
            self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(read_file(os.path.join(self.dir, "rel", "1", "rank.0", "stdout")), "second\n")

    def test_merged_stderr_goes_into_the_stdout_file_and_no_stderr_file_is_made(self):
        out = os.path.join(self.dir, "out")
        job = stdmpirun("-n", "2", "--output-filename", out, "--merge-stderr-to-stdout", PYTHON,
                        "-c", SPEAKER, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        for r in range(2):
            d = os.path.join(out, "1", f"rank.{r}")
            self.assertEqual(os.listdir(d), ["stdout"])
            lines = read_file(os.path.join(d, "stdout")).replace("end", "end\n").splitlines()
            self.assertEqual(sorted(lines), sorted([f"out {r} a", f"err {r} a", f"out {r} b",
                                                    f"out {r} end", f"err {r} end"]))

    def test_stdmpi_messages_stay_on_the_terminal(self):
        out = os.path.join(self.dir, "out")
        job = stdmpirun("-n", "2", "--output-filename", out, "sh", "-c",
                        'echo "before $STDMPI_RANK"; echo "oops" >&2; [ $STDMPI_RANK = 1 ] && exit 3; '
                        "sleep 20", timeout=60)
        self.assertEqual(job.rc, 3, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 1 \(.*\): exited with status 3; ending the job")
        self.assertNotIn("oops", job.stderr.splitlines())
        self.assertEqual(read_file(os.path.join(out, "1", "rank.1", "stdout")), "before 1\n")
        self.assertEqual(read_file(os.path.join(out, "1", "rank.1", "stderr")), "oops\n")

    def test_a_link_a_program_put_in_place_of_its_file_is_not_followed(self):
        # The program replaces its own stdout file with a link to a file of
        # the user's; the next run creates a new file and leaves the target be.
        out = os.path.join(self.dir, "out")
        victim = os.path.join(self.dir, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.makedirs(os.path.join(out, "1", "rank.0"))
        os.symlink(victim, os.path.join(out, "1", "rank.0", "stdout"))
        job = stdmpirun("-n", "1", "--output-filename", out, "sh", "-c", "echo new", timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(read_file(victim), "precious\n")
        path = os.path.join(out, "1", "rank.0", "stdout")
        self.assertFalse(os.path.islink(path))
        self.assertEqual(read_file(path), "new\n")

    def test_a_program_that_swaps_dir_for_a_link_cannot_redirect_the_files(self):
        # Rank 0's program replaces DIR with a link to another directory
        # before the other ranks' output arrives: every file still lands in
        # the DIR opened before the job, and the other directory is untouched.
        out = os.path.join(self.dir, "out")
        elsewhere = os.path.join(self.dir, "elsewhere")
        os.makedirs(os.path.join(elsewhere, "1", "rank.1"))
        with open(os.path.join(elsewhere, "1", "rank.1", "stdout"), "w") as f:
            f.write("precious\n")
        prog = (f'if [ $STDMPI_RANK = 0 ]; then mv {out} {out}.moved && ln -s {elsewhere} {out}; '
                "echo '@mpi barrier'; read ok; else echo '@mpi barrier'; read ok; fi; "
                'echo "after $STDMPI_RANK"')
        for env in [{}, {"STDMPI_MERGE_OUTPUT": "0"}]:
            shutil.rmtree(out + ".moved", True)
            if os.path.islink(out):
                os.unlink(out)
            job = stdmpirun("-n", "2", "--output-filename", out, "sh", "-c", prog, env=env,
                            timeout=60)
            self.assertEqual(job.rc, 0, job.describe())
            self.assertEqual(read_file(os.path.join(elsewhere, "1", "rank.1", "stdout")),
                             "precious\n")
            self.assertEqual(os.listdir(os.path.join(elsewhere, "1")), ["rank.1"])
            self.assertEqual(read_file(os.path.join(out + ".moved", "1", "rank.1", "stdout")),
                             "after 1\n")

    def test_dir_given_as_a_link_is_refused(self):
        real = os.path.join(self.dir, "real")
        os.makedirs(real)
        os.symlink(real, os.path.join(self.dir, "link"))
        job = stdmpirun("-n", "1", "--output-filename", os.path.join(self.dir, "link"), "true",
                        timeout=60)
        self.assertNotEqual(job.rc, 0, job.describe())
        self.assertIn("is a symbolic link (give the directory it points to)", job.stderr)

    def test_a_program_cannot_write_into_another_ranks_file(self):
        # Rank 1 finds stdmpirun's socket and speaks as rank 0: it is not a
        # shim (it lacks the job's mark), so rank 0's file keeps its lines.
        prog = r'''
import glob, os, socket, time
if os.environ["STDMPI_RANK"] == "1":
    for path in glob.glob("/tmp/stdmpirun-*/out") + glob.glob(os.environ.get("TMPDIR", "/tmp") + "/stdmpirun-*/out"):
        for hello in [b"1 0\nforged\n", b"1 0 x\nforged\n", b"1 5\nforged\n", b"1 5 x\nforged\n"]:
            try:
                s = socket.socket(socket.AF_UNIX); s.connect(path); s.sendall(hello); s.close()
            except OSError:
                pass
    time.sleep(0.3)
print("mine", os.environ["STDMPI_RANK"], flush=True)
'''
        out = os.path.join(self.dir, "out")
        job = stdmpirun("-n", "2", "--output-filename", out, PYTHON, "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(read_file(os.path.join(out, "1", "rank.0", "stdout")), "mine 0\n")
        self.assertEqual(read_file(os.path.join(out, "1", "rank.1", "stdout")), "mine 1\n")
        self.assertEqual(sorted(os.listdir(os.path.join(out, "1"))), ["rank.0", "rank.1"])

    def test_a_dir_that_cannot_be_made_is_said_before_anything_runs(self):
        blocker = os.path.join(self.dir, "file")
        with open(blocker, "w") as f:
            f.write("x")
        job = stdmpirun("-n", "1", "--output-filename", os.path.join(blocker, "sub"), "sh", "-c",
                        "echo ran", timeout=60)
        self.assertNotEqual(job.rc, 0, job.describe())
        self.assertIn("--output-filename: cannot create", job.stderr)
        self.assertNotIn("ran", job.stdout)

    def test_files_without_the_merger_are_written_by_the_shims(self):
        # As on another host: no socket to stdmpirun, each shim writes its own.
        out = os.path.join(self.dir, "out")
        job = stdmpirun("-n", "2", "--output-filename", out, "--timestamp-output", PYTHON, "-c",
                        SPEAKER, env={"STDMPI_MERGE_OUTPUT": "0"}, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        for r in range(2):
            text = read_file(os.path.join(out, "1", f"rank.{r}", "stdout"))
            self.assertEqual(re.sub(r"^\[[-0-9 :.]+\] ", "", text, flags=re.M),
                             f"out {r} a\nout {r} b\nout {r} end")


class Prefixes(unittest.TestCase):
    def test_timestamps_are_the_local_time_of_each_line(self):
        before = time.time()
        # What a program prints while MPI starts waits in its pipe until the
        # shim runs: "zero" may carry a later time; "one" comes later.
        job = stdmpirun("-n", "2", "--timestamp-output", "--tag-output", "sh", "-c",
                        "echo zero; sleep 1; echo one; sleep 0.5; echo two", timeout=60)
        after = time.time()
        self.assertEqual(job.rc, 0, job.describe())
        stamps = {}
        for line in job.stdout.splitlines():
            m = re.fullmatch(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3})\] \[(\d)\] (zero|one|two)", line)
            self.assertIsNotNone(m, line)
            t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000
            self.assertGreaterEqual(t, before - 1)
            self.assertLessEqual(t, after + 1)
            stamps[(m.group(3), m.group(4))] = t
        self.assertEqual(len(stamps), 6, job.stdout)
        for r in "01":
            self.assertGreaterEqual(stamps[(r, "two")] - stamps[(r, "one")], 0.4)
            self.assertLessEqual(stamps[(r, "zero")], stamps[(r, "one")])

    def test_merged_stderr_never_cuts_a_stdout_line(self):
        prog = ("import sys, time\n"
                "sys.stderr.write('ERROR: disk '); sys.stderr.flush(); time.sleep(0.2)\n"
                "print('stdout line', flush=True); time.sleep(0.2)\n"
                "sys.stderr.write('full\\n'); sys.stderr.write('no newline'); sys.stderr.flush()\n")
        job = stdmpirun("-n", "1", "--merge-stderr-to-stdout", PYTHON, "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "stdout line\nERROR: disk full\nno newline")

    def test_merged_stderr_comes_on_stdout(self):
        job = stdmpirun("-n", "2", "--merge-stderr-to-stdout", PYTHON, "-c", SPEAKER, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stderr, "", job.describe())
        for r in range(2):
            self.assertIn(f"err {r} a\n", job.stdout)
            self.assertIn(f"out {r} a\n", job.stdout)


class ProgressBars(unittest.TestCase):
    def stream(self, args, seconds=30):
        """Runs stdmpirun ARGS and returns [(time since start, stream, bytes)]."""
        p = subprocess.Popen([STDMPIRUN, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        start = time.monotonic()
        got = []
        fds = {p.stdout.fileno(): "out", p.stderr.fileno(): "err"}
        try:
            while fds and time.monotonic() - start < seconds:
                ready, _, _ = select.select(list(fds), [], [], 1)
                for fd in ready:
                    data = os.read(fd, 65536)
                    if not data:
                        del fds[fd]
                        continue
                    got.append((time.monotonic() - start, fds[fd], data))
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
        return got

    def first_time(self, got, stream, text):
        seen = b""
        for t, s, data in got:
            if s == stream:
                seen += data
                if text in seen:
                    return t
        self.fail(f"{text!r} never came on {stream}: {got}")

    def test_a_carriage_return_sends_the_bar_at_once(self):
        # The bar's end comes 2 s after its start: the start must show long
        # before (a wide margin: the job's own start takes a fraction of that).
        prog = ("import sys, time\n"
                "print('start', flush=True)\n"
                "sys.stdout.write('bar 50%\\r'); sys.stdout.flush()\n"
                "sys.stderr.write('err 50%\\r'); sys.stderr.flush()\n"
                "time.sleep(2)\n"
                "print('bar 100%'); sys.stderr.write('err 100%\\n')\n")
        for extra in [[], ["--tag-output"]]:
            got = self.stream(["-n", "1", *extra, PYTHON, "-c", prog])
            out = b"".join(d for _, s, d in got if s == "out")
            prefix = b"[0] " if extra else b""
            # With --tag-output each redraw says whose it is.
            self.assertEqual(out, prefix + b"start\n" + prefix + b"bar 50%\r" + prefix + b"bar 100%\n",
                             got)
            bar = self.first_time(got, "out", b"bar 50%\r")
            done = self.first_time(got, "out", b"bar 100%")
            self.assertLess(bar, done - 1.0, got)
            err_bar = self.first_time(got, "err", b"err 50%\r")
            self.assertLess(err_bar, self.first_time(got, "err", b"err 100%") - 1.0, got)

    def test_requests_still_work_after_a_bar(self):
        prog = ("import sys\n"
                "sys.stdout.write('working\\r'); sys.stdout.flush()\n"
                "sys.stdout.write('\\n@mpi allreduce sum 2\\n'); sys.stdout.flush()\n"
                "print('sum', sys.stdin.readline().strip(), flush=True)\n")
        job = stdmpirun("-n", "2", PYTHON, "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout.count("working\r\n"), 2, job.describe())
        self.assertEqual(job.stdout.count("sum 4\n"), 2, job.describe())


class ConfigFiles(unittest.TestCase):
    """A site's file, the user's file, STDMPI_OPTIONS and the command line, in
    that order; each job run for real with what they say."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="stdmpi-conf-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.site = os.path.join(self.dir, "site.conf")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(os.path.join(self.home, ".config", "stdmpi"))
        self.user = os.path.join(self.home, ".config", "stdmpi", "stdmpi.conf")

    def write(self, path, text):
        with open(path, "w") as f:
            f.write(text)

    def job(self, *args, options=None):
        env = {"STDMPI_SYSTEM_CONF": self.site, "HOME": self.home, "XDG_CONFIG_HOME": ""}
        if options is not None:
            env["STDMPI_OPTIONS"] = options
        return stdmpirun(*args, env=env, timeout=60)

    def test_precedence_site_then_user_then_environment_then_command_line(self):
        self.write(self.site, "# the site's defaults\ntag-output = true\nisolate = host\n")
        job = self.job("-n", "2", "sh", "-c", "echo hi")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), ["[0] hi", "[1] hi"])
        self.write(self.user, "tag-output = false\n")
        job = self.job("-n", "2", "sh", "-c", "echo hi")
        self.assertEqual(job.stdout, "hi\nhi\n", job.describe())
        job = self.job("-n", "2", "sh", "-c", "echo hi", options="--tag-output")
        self.assertEqual(sorted(job.stdout.splitlines()), ["[0] hi", "[1] hi"])
        job = self.job("--timestamp-output", "-n", "1", "sh", "-c", "echo hi",
                       options="--tag-output")
        self.assertRegex(job.stdout, r"^\[[-0-9 :.]+\] \[0\] hi\n$")

    def test_dry_run_says_where_each_option_came_from(self):
        self.write(self.site, "isolate = host\ntimeout = 600\nmca = btl tcp,self\n")
        self.write(self.user, "timeout = 30\n")
        job = self.job("--dry-run", "--timeout", "5", "-n", "2", "true", options="--max-line 1M")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn(f"stdmpirun: option --isolate host: {self.site} line 1\n", job.stderr)
        self.assertIn(f"stdmpirun: option --mca btl tcp,self: {self.site} line 3\n", job.stderr)
        self.assertIn(f"stdmpirun: option --timeout 30: {self.user} line 1 "
                      "(replaced by the command line)\n", job.stderr)
        self.assertIn("stdmpirun: option --max-line 1M: STDMPI_OPTIONS\n", job.stderr)
        self.assertIn("stdmpirun: option --timeout 5: the command line\n", job.stderr)
        self.assertNotIn("--timeout 600", job.stderr)
        # ... and the shims get what the site asked for.
        self.assertIn("--isolate host", job.stdout)
        self.assertIn("--mca btl tcp,self", job.stdout)

    def test_a_bad_line_names_its_file_and_line_and_help_still_works(self):
        self.write(self.site, "isolate = host\nisolate = bogus\n")
        job = self.job("-n", "1", "true")
        self.assertEqual(job.rc, 64, job.describe())
        self.assertEqual(job.stderr, f"stdmpirun: {self.site} line 2: --isolate bogus: expected "
                                     "none or host\n")
        self.assertEqual(self.job("--help").rc, 0)
        os.remove(self.site)
        job = self.job("-n", "1", "true", options="-n 4")
        self.assertEqual(job.rc, 64, job.describe())
        self.assertIn("STDMPI_OPTIONS: \"-n\" is not an option for every job", job.stderr)


class Version(unittest.TestCase):
    def test_a_missing_or_slow_launcher_is_said_and_not_waited_for(self):
        d = tempfile.mkdtemp(prefix="stdmpi-version-")
        self.addCleanup(shutil.rmtree, d, True)
        slow = os.path.join(d, "mpirun")
        with open(slow, "w") as f:
            f.write("#!/bin/sh\necho 'mpirun (slow) 9.9'\nsleep 97 &\nexec sleep 98\n")
        os.chmod(slow, 0o755)
        job = harness.run([STDMPIRUN, "--version"], env={"STDMPI_MPIRUN": slow, "STDMPI_SRUN":
                                                           os.path.join(d, "none")}, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertLess(job.seconds, 5, job.describe())
        self.assertIn(f"launcher: {slow} (mpirun (slow) 9.9)\n", job.stdout)
        self.assertIn(f"launcher: {d}/none (not found)\n", job.stdout)
        time.sleep(0.5)
        left = subprocess.run(["pgrep", "-f", "sleep 9[78]"], capture_output=True, text=True)
        self.assertEqual(left.stdout, "", "what the launcher started was left running")

    def test_version_names_stdmpi_mpi_hwloc_libuv_and_the_launcher(self):
        job = harness.run([STDMPIRUN, "--version"], timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        lines = job.stdout.splitlines()
        self.assertRegex(lines[0], r"^stdmpirun \(stdmpi\) \d+\.\d+\.\d+$")
        libuv = subprocess.run(["pkg-config", "--modversion", "libuv"], capture_output=True,
                               text=True).stdout.strip()
        hwloc = subprocess.run(["pkg-config", "--modversion", "hwloc"], capture_output=True,
                               text=True).stdout.strip()
        self.assertIn(f"libuv: {libuv}", lines)
        self.assertTrue(any(l.startswith(f"hwloc: {hwloc} ") for l in lines), lines)
        ompi = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
        m = re.search(r"\(Open MPI\) (\S+)", ompi)
        self.assertIsNotNone(m, ompi)
        self.assertIn(f"MPI library: Open MPI v{m.group(1)}", lines)
        self.assertTrue(any(re.match(r"launcher: \S*mpirun \(mpirun \(Open MPI\) ", l) for l in lines),
                        lines)


if __name__ == "__main__":
    unittest.main()
