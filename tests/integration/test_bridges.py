"""The language bridges in real jobs: R, NCL, bash, awk (gawk and mawk), C;
the pi agreement test across languages; a mixed-language job; a native MPI
program as a rank; line-buffering for programs that do not flush."""
import os
import re
import shutil
import tempfile
import unittest

import harness
from harness import PYTHON, stdmpirun

SRC = harness.SOURCE
BRIDGES = os.path.join(SRC, "tests", "bridges")
TESTS_BIN = os.path.join(harness.BUILD, "tests")
SHARE = os.path.join(harness.BUILD, "share", "stdmpi")
AWK_LIB = os.path.join(SHARE, "awk", "stdmpi.awk")


def need(*programs):
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        raise AssertionError("not installed: " + " ".join(missing) +
                             " (scripts/setup.sh test installs them)")


def write(text: str, suffix: str) -> str:
    f = tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False)
    f.write(text)
    f.close()
    return f.name


class BridgeChecks(unittest.TestCase):
    """Each bridge's every function, with 1, 2 and 3 ranks."""

    def run_check(self, lang, cmd, pattern):
        for n in (1, 2, 3):
            with self.subTest(lang=lang, ranks=n):
                job = stdmpirun("-q", "-n", str(n), *cmd, timeout=180)
                self.assertEqual(job.rc, 0, job.describe())
                self.assertEqual(sorted(re.findall(pattern, job.stdout)),
                                 [str(r) for r in range(n)], job.describe())

    def test_r(self):
        need("Rscript")
        self.run_check("R", ["Rscript", os.path.join(BRIDGES, "check.R")], r"rank (\d) R bridge ok")

    def test_ncl(self):
        need("ncl")
        self.run_check("NCL", ["ncl", os.path.join(BRIDGES, "check.ncl")],
                       r"rank (\d) NCL bridge ok")

    def test_bash(self):
        self.run_check("bash", ["bash", os.path.join(BRIDGES, "check.sh")],
                       r"rank (\d) bash bridge ok")

    def test_gawk_and_mawk(self):
        need("gawk", "mawk")
        for awk in ("gawk", "mawk"):
            self.run_check(awk, [awk, "-f", AWK_LIB, "-f", os.path.join(BRIDGES, "check.awk")],
                           r"rank (\d) awk bridge ok")

    def test_c_and_cxx(self):
        for prog in ("c_bridge_check", "c_bridge_check_cxx"):
            self.run_check(prog, [os.path.join(TESTS_BIN, prog)], r"rank (\d) c bridge ok")


class BridgeErrors(unittest.TestCase):
    def test_r_error_is_an_r_error(self):
        need("Rscript")
        job = stdmpirun("-n", "2", "Rscript", "-e", "library(stdmpi); send('x', rank.dest = 7)",
                        timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi: DEST 7 out of range: ranks are 0..1", job.stderr)

    def test_r_outside_a_job(self):
        need("Rscript")
        job = harness.run(["Rscript", "-e", "library(stdmpi); allreduce(1)"], timeout=60,
                          env={"R_LIBS": os.path.join(SHARE, "R"), "STDMPI_RANK": ""})
        self.assertNotEqual(job.rc, 0)
        self.assertIn("not running as a stdmpi rank", job.stderr)

    def test_ncl_bad_request_ends_the_job(self):
        need("ncl")
        s = write('load "$STDMPI_NCL"\nx = mpi_allreduce((/1.0/), "avg")\n', ".ncl")
        job = stdmpirun("-n", "2", "ncl", s, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn('request failed: unknown op "avg"', job.stderr)

    def test_ncl_fatal_line_fails_the_rank(self):
        need("ncl")
        s = write('load "$STDMPI_NCL"\nmpi_barrier()\nx = no_such_variable + 1\n', ".ncl")
        job = stdmpirun("-n", "2", "ncl", s, timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank \d \(ncl .*\): NCL reported an error "
                                     r"\(\"fatal:Variable \(no_such_variable\) is undefined\"\)")

    def test_bash_error_returns_1_in_return_mode(self):
        prog = ('source "$STDMPI_BASH"; mpi_errors return; '
                'if mpi_recv -t 99999 0 x; then echo accepted; else echo "error: $MPI_ERROR"; fi')
        job = stdmpirun("-n", "1", "bash", "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, 'error: bad TAG "99999": expected 0..32767 or any\n')

    def test_bash_bcast_without_a_root_ends_the_job(self):
        # MPI-Bash's mpi_bcast infers the root from the rank that gives a
        # message; when none does, the job ends saying so (it used to
        # broadcast an empty string from rank 0).
        prog = 'source "$STDMPI_BASH"; mpi_bcast v; echo "got [$v]"'
        job = stdmpirun("-n", "2", "bash", "-c", prog, timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertNotIn("got", job.stdout)
        self.assertRegex(job.stderr, r"stdmpi: rank [01]: mpi_bcast: 0 ranks gave a message, and "
                                     r"without -r ROOT exactly one must\n")

    def test_awk_bad_request_ends_the_job(self):
        need("gawk")
        s = write('BEGIN { mpi_bcast("x", "y") }\n', ".awk")
        job = stdmpirun("-n", "2", "gawk", "-f", AWK_LIB, "-f", s, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn('bad ROOT "x"', job.stderr)

    def test_c_error_mode(self):
        # c_bridge_check ends with errors-return checks; here the fatal default.
        src = write('#include <stdmpi.h>\nint main(void) { stdmpi_send(5, 0, "x"); return 0; }\n',
                    ".c")
        exe = src[:-2]
        cc = harness.run(["cc", f"-I{harness.BUILD}/include", src, "-o", exe], timeout=120)
        self.assertEqual(cc.rc, 0, cc.describe())
        job = stdmpirun("-n", "2", exe, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("DEST 5 out of range", job.stderr)


class Ncl(unittest.TestCase):
    """What the shim does so that NCL works with no effort from its user."""

    def test_raw_protocol_script_without_options_or_exit(self):
        # No -Q, no -n, no `exit`, print() instead of any bridge: still works,
        # and the job ends (an NCL left waiting for more input would run into
        # the run's time limit).
        need("ncl")
        s = write('print("@mpi allreduce sum 2")\n'
                  'x = asciiread("/dev/stdin", 1, "string")\n'
                  'print("sum is " + x)\n', ".ncl")
        job = stdmpirun("-n", "2", "ncl", s, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "sum is 4\nsum is 4\n")  # no banner, no (0) prefix


# Every function of the awk bridge with exact values, on 2 ranks: what each
# rank prints is compared line by line (the lines after "#" are rank 1's).
AWK_VALUES = r"""
BEGIN {
  r = mpi_rank(); n = mpi_size()
  print "rank " r " of " n
  print "allreduce sum " mpi_allreduce("sum", (r + 1) " 0.5")
  print "allreduce max " mpi_allreduce("max", 10 * r)
  print "allreduce lxor " mpi_allreduce("lxor", r == 0 ? 2 : 1)
  print "reduce " mpi_reduce("sum", 1, r + 1)
  print "scan " mpi_scan("sum", r == 0 ? 1 : 10)
  print "exscan " mpi_exscan("sum", r == 0 ? 1 : 10)
  print "bcast [" mpi_bcast(1, " from rank " r " ") "]"
  print "gather " mpi_gather(0, r " " r * 2)
  print "allgather " mpi_allgather(r * 3)
  print "scatter " mpi_scatter(1, r == 1 ? "5 6 7 8" : "")
  if (r == 0) {
    print "send " mpi_send(1, 3, "a  b")
    print "recv " mpi_recv(1, 4)
    print "status " mpi_status()
  } else {
    print "probe " mpi_probe(0, 3)
    print "recv " mpi_recv(-1, -1)
    print "status " mpi_status()
    print "send " mpi_send(0, 4, "back")
  }
  print "sendrecv " mpi_sendrecv(1 - r, 5, "from " r, 1 - r, 5)
  print "iprobe " mpi_iprobe(-1, -1)
  t0 = mpi_wtime(); system("sleep 0.2"); t1 = mpi_wtime()
  print ((t0 + 0 > 0 && t1 - t0 >= 0.19) ? "wtime ok" : "wtime: " t0 " then " t1)
  print "barrier " mpi_barrier()
  print "errors " mpi_errors("return")
  print "bad recv [" mpi_recv(5, 0) "] " MPI_ERROR
  print "bad allreduce [" mpi_allreduce("sum", "x") "] " MPI_ERROR
}
"""
AWK_WANT = {
    0: ["rank 0 of 2", "allreduce sum 3 1", "allreduce max 10", "allreduce lxor 0", "reduce ok",
        "scan 1", "exscan ok", "bcast [ from rank 1 ]", "gather 0 0 1 2", "allgather 0 3",
        "scatter 5 6", "send ok", "recv back", "status 1 4 4", "sendrecv from 1", "iprobe none",
        "wtime ok", "barrier ok", "errors ok",
        "bad recv [] SRC 5 out of range: ranks are 0..1",
        'bad allreduce [] not a number: "x"'],
    1: ["rank 1 of 2", "allreduce sum 3 1", "allreduce max 10", "allreduce lxor 0", "reduce 3",
        "scan 11", "exscan 1", "bcast [ from rank 1 ]", "gather ok", "allgather 0 3",
        "scatter 7 8", "probe 0 3 4", "recv a  b", "status 0 3 4", "send ok", "sendrecv from 0",
        "iprobe none", "wtime ok", "barrier ok", "errors ok",
        "bad recv [] SRC 5 out of range: ranks are 0..1",
        'bad allreduce [] not a number: "x"'],
}
CHECK_AWK_OK = ["rank 0 awk bridge ok", "rank 1 awk bridge ok"]


class Awk(unittest.TestCase):
    def check_values(self, job: harness.Job) -> None:
        self.assertEqual(job.rc, 0, job.describe())
        for r in (0, 1):
            self.assertEqual(harness.lines_of_rank(job.stdout, r), AWK_WANT[r], job.describe())
        self.assertEqual(job.stderr, "")

    def test_every_function_gives_the_right_values(self):
        prog = write(AWK_VALUES, ".awk")
        for awk in ("gawk", "mawk", "awk"):
            with self.subTest(awk=awk):
                need(awk)
                job = stdmpirun("--tag-output", "-n", "2", awk, "-f", AWK_LIB, "-f", prog,
                                timeout=60)
                self.check_values(job)

    def test_plain_awk_whatever_it_is(self):
        need("awk")
        job = stdmpirun("-n", "2", "awk", "-f", AWK_LIB, "-f", os.path.join(BRIDGES, "check.awk"),
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), CHECK_AWK_OK, job.describe())

    def test_the_documented_entry_point(self):
        # awk -f "$STDMPI_AWK": the literal variable, as a shell-less launcher
        # or single quotes pass it, is filled in by the shim.
        need("awk")
        job = stdmpirun("-n", "2", "awk", "-f", "$STDMPI_AWK", "-f",
                        os.path.join(BRIDGES, "check.awk"), timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), CHECK_AWK_OK, job.describe())
        job = stdmpirun("-n", "2", "sh", "-c",
                        f'awk -f "$STDMPI_AWK" -f {os.path.join(BRIDGES, "check.awk")}', timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), CHECK_AWK_OK, job.describe())
        job = stdmpirun("--tag-output", "-n", "2", "awk", "-f", "$STDMPI_AWK", "-f",
                        write(AWK_VALUES, ".awk"), timeout=60)
        self.check_values(job)

    def test_mawk_with_the_option_already_given(self):
        need("mawk")
        job = stdmpirun("-n", "2", "mawk", "-W", "interactive", "-f", AWK_LIB, "-f",
                        os.path.join(BRIDGES, "check.awk"), timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), CHECK_AWK_OK, job.describe())
        job = stdmpirun("--tag-output", "-n", "2", "mawk", "-W", "interactive", "-f", AWK_LIB,
                        "-f", write(AWK_VALUES, ".awk"), timeout=60)
        self.check_values(job)


class LineBuffered(unittest.TestCase):
    def test_a_program_that_never_flushes(self):
        job = stdmpirun("-n", "2", "--line-buffered", os.path.join(TESTS_BIN, "noflush"),
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), ["done", "done", "sum 2", "sum 2"])


class PiAgreement(unittest.TestCase):
    """The same Nilakantha split in every language gives the C result."""

    TERMS = "200000"

    def commands(self):
        ex = os.path.join(SRC, "examples")
        return {
            "c": [os.path.join(TESTS_BIN, "pi_c"), self.TERMS],
            "python": [PYTHON, os.path.join(ex, "pi.py"), self.TERMS],
            "r": ["Rscript", os.path.join(ex, "pi.R"), self.TERMS],
            "ncl": ["ncl", f"terms={self.TERMS}", os.path.join(ex, "pi.ncl")],
            "bash": ["bash", os.path.join(ex, "pi.sh"), self.TERMS],
            "awk": ["awk", "-v", f"terms={self.TERMS}", "-f", AWK_LIB, "-f",
                    os.path.join(ex, "pi.awk")],
        }

    def test_every_language_agrees_with_c(self):
        need("Rscript", "ncl", "awk")
        results = {}
        for lang, cmd in self.commands().items():
            for n in (1, 2, 4):
                job = stdmpirun("-q", "-n", str(n), *cmd, timeout=300)
                self.assertEqual(job.rc, 0, f"{lang} on {n} ranks\n" + job.describe())
                m = re.search(r"pi = (\S+)  \(200000 terms, (\d) ranks", job.stdout)
                self.assertIsNotNone(m, f"{lang}: {job.stdout!r}")
                self.assertEqual(int(m.group(2)), n)
                results[(lang, n)] = float(m.group(1))
        for n in (1, 2, 4):
            for lang in self.commands():
                with self.subTest(lang=lang, ranks=n):
                    self.assertLess(abs(results[(lang, n)] - results[("c", n)]), 1e-12)


class MixedJobs(unittest.TestCase):
    def test_python_master_with_r_and_ncl_workers(self):
        need("Rscript", "ncl")
        d = os.path.join(SRC, "tests", "mpmd")
        job = stdmpirun("-q", "-n", "1", PYTHON, os.path.join(d, "master.py"), "100000", ":",
                        "-n", "2", "Rscript", os.path.join(d, "worker.R"), ":",
                        "-n", "1", "ncl", os.path.join(d, "worker.ncl"), timeout=180)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("master: pi = 3.14159265358979", job.stdout)
        self.assertIn("R worker 1 done (n = 100000)", job.stdout)
        self.assertIn("R worker 2 done (n = 100000)", job.stdout)
        self.assertIn("NCL worker 3 done (n = 100000)", job.stdout)

    def test_python_and_r_exchange_objects(self):
        need("Rscript")
        py = ("import stdmpi; c = stdmpi.COMM_WORLD\n"
              "c.send([1.5, 2, 3], dest=1, tag=1)\n"
              "c.send('plain text', dest=1, tag=2)\n"
              "back = c.recv(source=1, tag=3)\n"
              "assert back == [4.5, 5.0], back\n"
              "assert c.recv(source=1, tag=4) == 'from R'\n"
              "print('python ok')\n")
        r = ("library(stdmpi)\n"
             "v <- recv(0, 1L); stopifnot(identical(v, c(1.5, 2, 3)))\n"
             "stopifnot(recv(0, 2L) == 'plain text')\n"
             "send(c(4.5, 5), 0, 3L); send('from R', 0, 4L)\n"
             "cat('R ok\\n')\n")
        job = stdmpirun("-n", "1", PYTHON, "-c", py, ":", "-n", "1", "Rscript", "-e", r,
                        timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.split()), ["R", "ok", "ok", "python"])


class NativeRanks(unittest.TestCase):
    SCRIPT = (
        "import sys, stdmpi\n"
        "c = stdmpi.COMM_WORLD\n"
        "r = c.rank\n"
        "got = c.recv(source=0, tag=1)\n"
        "assert got == f'hello {r} from native', got\n"
        "c.send(f'hello native from {r}', dest=0, tag=2)\n"
        "s = c.allreduce([float(r), 0.5])\n"
        "assert s == [100.0 + sum(range(1, c.size)), 0.5 * c.size], s\n"
        "c.barrier()\n"
        "def raw(line):\n"
        "    sys.stdout.write(line + '\\n'); sys.stdout.flush()\n"
        "    return sys.stdin.readline().rstrip('\\n')\n"
        "assert raw('@mpi gather 0' + (' ' + str(r)) * r) == 'ok'\n"
        "print(f'script rank {r} ok')\n")

    def test_native_mpi_program_joins_script_ranks(self):
        job = stdmpirun("-q", "-n", "1", "--native", os.path.join(TESTS_BIN, "native_rank"), ":",
                        "-n", "3", PYTHON, "-c", self.SCRIPT, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("native ok", job.stdout)
        for r in (1, 2, 3):
            self.assertIn(f"script rank {r} ok", job.stdout)

    def test_a_gather_with_a_native_rank_is_not_refused_for_the_limit(self):
        # A native rank cannot know --max-message: were the shims to refuse a
        # gather past it, the native rank would wait in MPI_Gatherv forever.
        # Only MPI's 2^31 count refuses a gather with a native rank in it.
        sh = 'echo "@mpi gather 0 $STDMPI_RANK"; read r; echo "script rank $STDMPI_RANK: $r"'
        job = stdmpirun("-q", "--max-message", "1K", "-n", "1", "--native",
                        os.path.join(TESTS_BIN, "native_rank"), "gather", "200", ":",
                        "-n", "2", "sh", "-c", sh, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("native gathered 202: 1 2\n", job.stdout)
        self.assertIn("script rank 1: ok\n", job.stdout)
        self.assertIn("script rank 2: ok\n", job.stdout)

    def test_a_native_root_cannot_broadcast_to_scripts(self):
        py = ("import stdmpi\n"
              "try:\n"
              "    stdmpi.COMM_WORLD.bcast(None, root=0)\n"
              "except stdmpi.StdmpiError as e:\n"
              "    print(e)\n")
        job = stdmpirun("-q", "-n", "1", "--native", os.path.join(TESTS_BIN, "native_rank"), "idle",
                        ":", "-n", "2", PYTHON, "-c", py, timeout=60)
        self.assertIn("bcastb root 0 is a native MPI rank: the other ranks cannot learn the size "
                      "of what it sends; send it point to point instead", job.stdout,
                      job.describe())


if __name__ == "__main__":
    unittest.main()
