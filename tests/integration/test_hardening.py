"""Breaking things on purpose: bad input, floods, a soak of random messages,
killed processes and signals. Each job must end as PROTOCOL.md says, with a
message that names the rank, without losing data, and with the shim's memory
bounded (STDMPI_REPORT_MEMORY makes each shim print its peak at its end)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import PYTHON, STDMPIRUN, scenario, stdmpirun
from test_failures import processes_matching

CLIENTS = os.path.join(harness.SOURCE, "tests", "clients")
SANITIZED = "ASAN_OPTIONS" in os.environ
MEM = {"STDMPI_REPORT_MEMORY": "1"}
MiB = 1024


def peak_kib(stderr: str):
    """The shims' peak memory (KiB) by rank, from STDMPI_REPORT_MEMORY's lines."""
    return {int(r): int(k) for r, k in
            re.findall(r"stdmpi: rank (\d+): peak memory of the shim: (\d+) KiB", stderr)}


_base = None


def base_kib() -> int:
    """A shim's peak memory in a job that does nothing, in this build."""
    global _base
    if _base is None:
        job = stdmpirun("-n", "1", "true", env=MEM, timeout=60)
        _base = peak_kib(job.stderr)[0]
    return _base


def allowed_kib(held_kib: int) -> int:
    """What a shim that holds `held_kib` of data at a time may peak at."""
    return base_kib() + held_kib + held_kib // 4 + 8 * MiB


def assert_bounded(tc: unittest.TestCase, kib: int, held_kib: int, what: str):
    """The memory bound, checked in the normal build: under ASan freed memory
    stays in quarantine (up to 256 MiB), so the peak says nothing there."""
    if not SANITIZED:
        tc.assertLess(kib, allowed_kib(held_kib), what)


class BadInput(unittest.TestCase):
    def test_binary_garbage_in_a_request(self):
        with tempfile.NamedTemporaryFile("wb", suffix=".bin", delete=False) as f:
            f.write(b"@mpi \x00\xff\x01garbage\n")
        job = stdmpirun("-n", "1", "bash", "-c", f'cat {f.name}; read x', timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn('request failed: unknown verb "\\x00\\xff\\x01garbage"\n', job.stderr)
        self.assertIn('the request: "@mpi \\x00\\xff\\x01garbage"\n', job.stderr)

    def test_a_100_MB_line_without_newline(self):
        # The program would then sleep for 10 minutes: the shim ends the job
        # over the line (status 65), within the run's time limit.
        prog = ("import sys, time\nb = b'x' * (1 << 20)\n"
                "for i in range(100): sys.stdout.buffer.write(b)\n"
                "sys.stdout.buffer.flush(); time.sleep(600)\n")
        job = stdmpirun("-n", "1", "--max-line", "8M", PYTHON, "-c", prog, env=MEM, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("an output line grew past the limit of 8 MiB without a newline (it starts "
                      '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"...); end lines with a newline, '
                      "or raise the limit with stdmpirun --max-line", job.stderr)
        assert_bounded(self, peak_kib(job.stderr)[0], 8 * MiB, job.describe())

    def test_a_huge_byte_count_ends_the_job_at_once(self):
        job = stdmpirun("-n", "1", "bash", "-c", 'echo "@mpi sendb 0 0 99999999999"; read x',
                        env=MEM, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("request failed: byte count 99999999999 over the limit of 1073741824 bytes "
                      "(raise it with stdmpirun --max-message, or send in pieces)", job.stderr)
        assert_bounded(self, peak_kib(job.stderr)[0], 1 * MiB, job.describe())

    def test_the_byte_limit_is_inclusive_in_fatal_mode(self):
        # --max-message 1K: 1024 bytes pass, 1025 end the job (status 65)
        # with the reason, naming the rank and the request.
        prog = ('head -c {n} /dev/zero > "$F"; echo "@mpi sendb 0 0 {n}"; cat "$F"; read -r ok; '
                'echo "@mpi recvb 0 0"; read -r n; head -c "$n" > /dev/null; echo "sent $ok $n"')
        with tempfile.TemporaryDirectory() as d:
            env = {"F": os.path.join(d, "payload")}
            job = stdmpirun("-n", "1", "--max-message", "1K", "bash", "-c", prog.format(n=1024),
                            env=env, timeout=30)
            self.assertEqual(job.rc, 0, job.describe())
            self.assertEqual(job.stdout, "sent ok 1024\n")
            job = stdmpirun("-n", "1", "--max-message", "1K", "bash", "-c", prog.format(n=1025),
                            env=env, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertNotIn("sent ok", job.stdout)
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(bash -c .*\): request failed: byte count "
                                     r"1025 over the limit of 1024 bytes \(raise it with stdmpirun "
                                     r"--max-message, or send in pieces\)\n")
        self.assertIn('the request: "@mpi sendb 0 0 1025"', job.stderr)

    def test_a_negative_byte_count(self):
        job = stdmpirun("-n", "1", "bash", "-c", 'echo "@mpi sendb 0 0 -5"; read x', timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn('request failed: bad byte count "-5": expected a number of bytes >= 0',
                      job.stderr)

    def test_bytes_over_the_limit_stream_by_in_errors_return_mode(self):
        # 50 MB announced with --max-message 1M: skipped as they arrive, never held.
        prog = ("import sys\nw = sys.stdout.buffer\n"
                "def req(s):\n    w.write(s); w.flush(); return sys.stdin.readline()\n"
                "assert req(b'@mpi errors return\\n') == 'ok\\n'\n"
                "w.write(b'@mpi sendb 0 0 50000000\\n')\n"
                "for i in range(50): w.write(b'\\n@mpi rank\\n' + bytes(1000000 - 11))\n"
                "w.flush(); print(sys.stdin.readline().strip(), file=sys.stderr)\n"
                "print(req(b'@mpi rank\\n').strip(), file=sys.stderr)\n")
        job = stdmpirun("-n", "1", "--max-message", "1M", PYTHON, "-c", prog, env=MEM,
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("@error byte count 50000000 over the limit of 1048576 bytes (raise it with "
                      "stdmpirun --max-message, or send in pieces)\n0\n", job.stderr)
        assert_bounded(self, peak_kib(job.stderr)[0], 1 * MiB, job.describe())


class Flood(unittest.TestCase):
    def test_a_gigabyte_of_output_while_the_reader_is_slow(self):
        # Rank 0 prints 1 GB in 10^7 numbered lines. Rank 1 receives a 16 MiB
        # message from it first and reads that reply slowly, then says on
        # stderr that it is done (two ranks printing a lot at once may have
        # their lines cut into each other by Open MPI's forwarding: see
        # README). Nobody reads the job's stdout for 3 s, then the test reads
        # it in small bites. Every line must arrive, in order, and the shims
        # must not hold the flood in memory (back-pressure).
        lines, width = 10_000_000, 100
        prog = ("import os, sys, time\nrank = int(os.environ['STDMPI_RANK'])\n"
                "w, r = sys.stdout.buffer, sys.stdin.buffer\npad = b'x' * 200\n"
                "if rank == 0:\n"
                "    w.write(b'@mpi sendb 1 0 %d\\n' % (16 << 20) + bytes(16 << 20)); w.flush()\n"
                "    assert r.readline() == b'ok\\n'\n"
                f"    for i in range(0, {lines}, 10000):\n"
                "        w.write(b''.join(b'%d %d ' % (rank, j) + pad[:"
                f"{width} - 2 - len(b'%d %d ' % (rank, j))] + b'.\\n' "
                "for j in range(i, i + 10000)))\n"
                "else:\n"
                "    w.write(b'@mpi recvb 0 0\\n'); w.flush()\n"
                "    n = int(r.readline()); got = 0\n"
                "    while got < n:\n"
                "        got += len(r.read(min(65536, n - got))); time.sleep(0.01)\n"
                "    print('rank 1 read', got, file=sys.stderr)\n"
                "w.flush()\n")
        p = subprocess.Popen([STDMPIRUN, "-n", "2", PYTHON, "-c", prog], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=dict(os.environ, **MEM))
        self.addCleanup(harness.stop_process, p)
        time.sleep(3)
        nxt = {0: 0, 1: 0}
        total = 0
        bad = []
        partial = b""
        deadline = time.monotonic() + 400
        while True:
            chunk = p.stdout.read1(16384)
            if not chunk:
                break
            total += len(chunk)
            data = partial + chunk
            cut = data.rfind(b"\n") + 1
            partial = data[cut:]
            for line in data[:cut].splitlines():
                f = line.split(b" ", 2)
                r, i = int(f[0]), int(f[1])
                if i != nxt[r] and len(bad) < 5:
                    bad.append(f"rank {r}: line {i} after line {nxt[r] - 1}")
                nxt[r] = i + 1
                if r == 0 and len(line) != width - 1 and len(bad) < 5:
                    bad.append(f"rank 0 line {i}: {len(line)} bytes")
            if time.monotonic() > deadline:
                p.kill()
                self.fail("the flood did not end within 400 s")
        err = p.stderr.read().decode()
        p.wait(timeout=60)
        p.stdout.close()
        p.stderr.close()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(bad, [])
        self.assertEqual(partial, b"")
        self.assertEqual(nxt, {0: lines, 1: 0})
        self.assertEqual(total, lines * width)
        self.assertIn(f"rank 1 read {16 << 20}\n", err)
        peaks = peak_kib(err)
        self.assertEqual(sorted(peaks), [0, 1], err)
        # The shim pauses its reading at 4 MiB queued for the job's stdout;
        # rank 1's holds the 16 MiB reply its program reads slowly.
        assert_bounded(self, peaks[0], 24 * MiB, err)
        assert_bounded(self, peaks[1], 24 * MiB, err)


class Soak(unittest.TestCase):
    def test_random_messages_between_4_ranks(self):
        # The short version; scripts/soak.sh runs the long one (10^6 messages).
        job = stdmpirun("-n", "4", "--oversubscribe", PYTHON, os.path.join(CLIENTS, "soak.py"),
                        "1500", "11", env=MEM, timeout=300)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertRegex(job.stdout, r"^soak ok: 4 ranks, 1500 messages, \d+ bytes\n$")
        # Messages go up to 1 MiB and a reply holds one whole.
        for rank, kib in peak_kib(job.stderr).items():
            assert_bounded(self, kib, 4 * MiB, f"rank {rank}\n" + job.describe())


    def test_large_replies_back_to_back(self):
        # 1 MiB replies that the program reads at once and answers with its
        # next request: the lockstep check must not mistake a reply already
        # in the pipe (its write not yet acknowledged by libuv) for unread.
        relay = os.path.join(harness.SOURCE, "bench", "clients", "relay.py")
        job = stdmpirun("-n", "2", PYTHON, relay, "stdmpi", "pingpongb", "300", "1048576",
                        timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertRegex(job.stdout, r"^pingpongb 1048576 [\d.]+\n$")


class Killed(unittest.TestCase):
    def _start(self, marker: str, n: int, prog: str, options=()):
        p = subprocess.Popen([STDMPIRUN, "-n", str(n), "--oversubscribe", *options,
                              "bash", "-c", prog],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(harness.stop_process, p)
        deadline = time.time() + 20
        while time.time() < deadline:
            sleepers = [l for l in processes_matching(f"sleep {marker}")
                        if l.split(None, 2)[2].startswith("sleep ")]
            if len(sleepers) >= n:
                return p
            time.sleep(0.05)
        p.kill()
        self.fail("the job's programs did not start")

    def _wait_gone(self, marker: str, within: float = 30):
        # A generous bound: the programs would sleep for 6 minutes.
        deadline = time.monotonic() + within
        while processes_matching(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(processes_matching(marker), [])

    def test_sigint_and_sigterm_end_every_program(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                marker = "373.5" if sig == signal.SIGINT else "373.75"
                # Programs that ignore both signals, with a child of their own:
                # stdmpi must end them all the same (they would sleep 6 minutes).
                prog = (f"trap '' INT TERM; sleep {marker} & echo '@mpi barrier'; read x; "
                        f"sleep {marker}")
                p = self._start(marker, 3, prog)
                p.send_signal(sig)
                self._wait_gone(marker)
                _, err = p.communicate(timeout=30)
                self.assertEqual(p.returncode, 128 + sig)
                self.assertEqual(err, f"stdmpirun: {sig.name} received; ending the job\n")

    def test_a_killed_shim_ends_the_job_and_its_program(self):
        # Lines that look like a shim's report (a program's own, or a shim's
        # warning) must not silence the news that a shim was killed.
        cases = {
            "plain": ("", []),
            "a program's look-alike line": (
                "echo 'stdmpi: rank 0 (x): ending the job' >&2; ", []),
            "a shim's warning": ("", ["--report-bindings"]),
        }
        for i, (case, (prelude, options)) in enumerate(cases.items()):
            with self.subTest(case=case):
                marker = f"379.2{i}"
                p = self._start(marker, 3, f"{prelude}echo '@mpi barrier'; read x; sleep {marker}",
                                options)
                shims = [l for l in processes_matching(marker)
                         if "stdmpi-shim" in l.split(None, 2)[2]
                         and not l.split(None, 2)[2].startswith(("mpirun", "/usr/bin/mpirun"))]
                self.assertEqual(len(shims), 3, shims)
                os.kill(int(shims[1].split()[0]), signal.SIGKILL)
                try:
                    _, err = p.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
                    self.fail("the job went on after a shim was killed")
                self.assertNotEqual(p.returncode, 0)
                self.assertRegex(err, r"stdmpirun: the process of rank [0-2] on \S+ \(its "
                                      r"stdmpi-shim, or the rank itself if it is a native MPI "
                                      r"program\) was killed by signal 9 \(Killed\); ending the "
                                      r"job\n")
                if prelude:
                    self.assertIn("stdmpi: rank 0 (x): ending the job\n", err)
                self._wait_gone(marker)

    def test_a_program_killed_in_the_middle_of_a_collective(self):
        marker = "381.5"
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        # After a barrier (every shim is up), ranks 0 and 1 enter a broadcast
        # that rank 2, asleep, never joins. The test asks for reports
        # (SIGQUIT) until both say they wait in it, then kills rank 1's program.
        prog = (f'echo "@mpi barrier"; read ok; echo $$ > {d}/$STDMPI_RANK; '
                f'if [ "$STDMPI_RANK" = 2 ]; then echo "past the barrier" >&2; sleep {marker}; fi; '
                f'echo "@mpi bcast 0 hello"; read x; sleep {marker}')
        bg = harness.Background([STDMPIRUN, "-n", "3", "--oversubscribe", "bash", "-c", prog])
        self.addCleanup(bg.stop)
        bg.wait_for_stderr(r"^past the barrier\n")
        bg.wait_for_stderr(r"^stdmpi: rank [01] \(bash -c .*\): waiting in bcast root 0, waiting "
                           r"for every rank to reach it for \d+\.\d s\n", count=2,
                           signal_to_send=signal.SIGQUIT)
        reports = len(bg.stderr_lines())
        with open(f"{d}/1") as f:
            os.kill(int(f.read()), signal.SIGKILL)
        job = bg.finish(timeout=60)
        # After the reports (a late one of the last SIGQUIT's may follow).
        err = "".join(line for line in job.stderr.splitlines(keepends=True)[reports:]
                      if not re.search(r"\): (waiting in |its program is running)", line))
        self.assertEqual(job.rc, 137, job.describe())
        self.assertRegex(err, r"stdmpi: rank 1 \(bash -c .*\): killed by signal 9 \(SIGKILL\); "
                              r"ending the job\n")
        self.assertEqual(err.count("stdmpi: rank"), 1, job.stderr)
        self._wait_gone(marker)


if __name__ == "__main__":
    unittest.main()
