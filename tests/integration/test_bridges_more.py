"""More of the language bridges: bash outside stdmpirun (a world of one rank
that the bridge answers by itself), texts of several lines from awk (gawk and
mawk, in a UTF-8 locale and in C), and the C bridge in an MPMD job (its
communicator 1)."""
import os
import re
import shutil
import unittest

import harness
from harness import stdmpirun

SRC = harness.SOURCE
BRIDGES = os.path.join(SRC, "tests", "bridges")
TESTS_BIN = os.path.join(harness.BUILD, "tests")
SHARE = os.path.join(harness.BUILD, "share", "stdmpi")
AWK_LIB = os.path.join(SHARE, "awk", "stdmpi.awk")
BASH_LIB = os.path.join(SHARE, "bash", "stdmpi.sh")
ONE_RANK = (" (a world of one rank: this script runs outside stdmpirun; start it with "
            "stdmpirun -n N for more ranks)")


def need(*programs):
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        raise AssertionError("not installed: " + " ".join(missing) +
                             " (scripts/setup.sh test installs them)")


def outside(*args, timeout=60, **env):
    """Runs a command as a script runs outside stdmpirun: no STDMPI_RANK."""
    return harness.run(["env", "-u", "STDMPI_RANK", "-u", "STDMPI_SIZE", *args], timeout=timeout,
                       env={"STDMPI_BASH": BASH_LIB, **env})


# Every function of the bash bridge, with good and bad arguments, in return
# mode: outside stdmpirun it must print what it prints under stdmpirun -n 1
# (the local errors add how to get more ranks).
BASH_SAME = r"""
source "$STDMPI_BASH"
mpi_errors return
t() { local name=$1; shift; if "$@"; then echo "$name: ok [${v-}]"; else echo "$name: rc=$? [$MPI_ERROR]"; fi; unset v; }
mpi_comm_rank v; echo "rank [$v]"; mpi_comm_size v; echo "size [$v]"
t ar1 mpi_allreduce -O sum "1.0 2.50 1e3 -0 0x1p3 +5 1e21 1e-7 0.0001 123456789012345678 0.1 inf -inf nan 1e400 4.9e-324 .5 5. 0.30000000000000004 1e16 -2.5e-5" v
t ar2 mpi_allreduce -O sum " 1   2 " v
t ar3 mpi_allreduce -O sum "" v
t ar4 mpi_allreduce -O sum "x" v
t ar5 mpi_allreduce -O avg 1 v
t ar6 mpi_allreduce -O band 1 v
t ar7 mpi_allreduce -O minloc "3 -4" v
t ar8 mpi_allreduce -O land "2 0 -1 nan -0" v
t ar9 mpi_allreduce -O lxor "3 0" v
t ar10 mpi_allreduce -- -5 v
t ar11 mpi_allreduce -O max "1 'a" v
t ar12 mpi_allreduce -O max "1 1e" v
t ar13 mpi_allreduce -O max "$(printf '1 \xe9t\xe9 a"b\\c')" v
t red1 mpi_reduce -O sum -r 0 1.5 v
t red2 mpi_reduce -O sum -r 1 1.5 v
t red3 mpi_reduce -O sum -r x 1.5 v
t sc1 mpi_scan -O prod 2 v
t ex1 mpi_exscan 2 v
t ex2 mpi_exscan x v
t ga1 mpi_gather -r 0 "1 2 3.0" v
t ga2 mpi_gather -r 0 "" v
t ag1 mpi_allgather 1.0 v
t sct1 mpi_scatter -r 0 "1 2" v
t sct2 mpi_scatter -r 0 v
t sct3 mpi_scatter -r 1 "1 2" v
t bc1 mpi_bcast -r 0 "  two  " v
t bc2 mpi_bcast -r 0 v
t bc3 mpi_bcast "inferred" v
t bc4 mpi_bcast v
t bc5 mpi_bcast -r 1 x v
t bc6 mpi_bcast -r x y v
t st1 mpi_status v
t pr1 mpi_probe -t 5 0 v
t ip1 mpi_iprobe -t any 1 v
t rv1 mpi_recv 1 v
t rv2 mpi_recv -t 99999 0 v
t rv3 mpi_recv -t any 0 v
t rv4 mpi_recv -- -1 v
t sd1 mpi_send -t 5 0 hello there
t sd2 mpi_send -t 6 0 "second"
t sd3 mpi_send -t 7 0 $'multi\nline\r\ntext \xc3\xbcn\xc3\xaf'
t sd4 mpi_send -t 8 0 ""
t ip4 mpi_iprobe -t any any v
t pr2 mpi_probe -t 6 any v
t pr3 mpi_probe -t 7 0 v
t rv6 mpi_recv -t 6 0 v
t st3 mpi_status v
t rv7 mpi_recv -t any any v
t st4 mpi_status v
t sr1 mpi_sendrecv -t 9 -T 7 0 "swap" 0 v
t st5 mpi_status v
t rv8 mpi_recv -t 7 0 v
t rv9 mpi_recv -t 8 0 v
t rv10 mpi_recv -t 9 0 v
t sd5 mpi_send 1 x
t sd6 mpi_send -t x 0 x
t sd7 mpi_send -t 40000 0 x
t sd8 mpi_send x x
t ba1 mpi_barrier
t er1 mpi_errors bogus
t ip5 mpi_iprobe -t any any v
mpi_wtime w; [[ $w =~ ^[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?$ ]] && echo "wtime ok" || echo "wtime [$w]"
"""


class BashOutsideStdmpirun(unittest.TestCase):
    """MPI-Bash's functions answer as an MPI singleton would: rank 0 of 1."""

    def test_the_bridge_check_as_a_world_of_one_rank(self):
        job = outside("bash", os.path.join(BRIDGES, "check.sh"))
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "rank 0 bash bridge ok\n")
        self.assertEqual(job.stderr, "")
        self.assertLess(job.seconds, 20)

    def test_the_same_answers_as_stdmpirun_with_one_rank(self):
        script = os.path.join(self.tmp(), "same.sh")
        with open(script, "w") as f:
            f.write(BASH_SAME)
        job = stdmpirun("-q", "-n", "1", "bash", script, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        local = outside("bash", script)
        self.assertEqual(local.rc, 0, local.describe())
        self.assertEqual(local.stderr, "")
        self.assertEqual(local.stdout.replace(ONE_RANK, ""), job.stdout)
        lines = local.stdout.splitlines()
        self.assertIn("ar1: ok [1 2.5 1000 -0 8 5 1e+21 1e-07 1e-04 123456789012345680 0.1 inf "
                      "-inf nan inf 5e-324 0.5 5 0.30000000000000004 1e+16 -2.5e-05]", lines)
        self.assertIn("rv1: rc=1 [SRC 1 out of range: the only rank is 0" + ONE_RANK + "]", lines)
        self.assertIn("rv3: rc=1 [recvb from rank 0 any tag can never complete: this rank sent "
                      "itself no message with any tag, and no other rank can send one in its "
                      "place" + ONE_RANK + "]", lines)
        self.assertIn("rv7: ok [hello there]", lines)
        self.assertIn("st4: ok [0 5 11]", lines)
        self.assertIn('ar13: rc=1 [not a number: "\\xe9t\\xe9"]', lines)

    def test_a_failed_call_ends_the_script_as_it_would_end_a_job(self):
        prog = 'source "$STDMPI_BASH"; echo before; mpi_send -t 3 1 "to nobody"; echo after'
        job = outside("bash", "-c", prog)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertEqual(job.stdout, "before\n")
        self.assertEqual(job.stderr,
                         "stdmpi: rank 0: request failed: DEST 1 out of range: the only rank is 0"
                         + ONE_RANK + '\nstdmpi:   the request: "@mpi send 1 3 to nobody"\n')

    def test_a_receive_nothing_can_satisfy_fails_at_once(self):
        prog = ('source "$STDMPI_BASH"; mpi_send -t 1 0 queued; mpi_recv -t 1 0 m; echo "[$m]"; '
                'mpi_recv any msg; echo after')
        job = outside("bash", "-c", prog, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertEqual(job.stdout, "[queued]\n")
        self.assertIn("stdmpi: rank 0: request failed: recvb from any rank tag 0 can never "
                      "complete: this rank sent itself no message with tag 0, and no other rank "
                      "can send one in its place" + ONE_RANK + "\n", job.stderr)
        self.assertLess(job.seconds, 10)

    def test_abort_and_the_inferred_root(self):
        job = outside("bash", "-c", 'source "$STDMPI_BASH"; mpi_abort 7 "bye now"; echo after')
        self.assertEqual(job.rc, 7, job.describe())
        self.assertEqual((job.stdout, job.stderr),
                         ("", "stdmpi: rank 0: called abort with code 7: bye now\n"))
        job = outside("bash", "-c", 'source "$STDMPI_BASH"; mpi_bcast v; echo "got [$v]"')
        self.assertEqual(job.rc, 1, job.describe())
        self.assertEqual((job.stdout, job.stderr),
                         ("", "stdmpi: rank 0: mpi_bcast: 0 ranks gave a message, and without "
                              "-r ROOT exactly one must\n"))

    def tmp(self) -> str:
        import tempfile
        d = tempfile.mkdtemp(prefix="stdmpi-bash-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


# Texts of several lines between two awk ranks, UTF-8 in them; what each
# rank prints (--tag-output) is compared line by line.
AWK_LINES = r"""
BEGIN {
  r = mpi_rank()
  t = "naïve ☃\nsecond line"
  if (r == 0) {
    print "send " mpi_send(1, 3, t)
    print "send " mpi_send(1, 4, "one line")
    print "send " mpi_send(1, 5, "ends with LF\n")
    print "send " mpi_send(1, 6, "\n")
    print "send " mpi_send(1, 7, "cr\r")
    print "send " mpi_send(1, 8, "it's \"quoted\" $HOME `x` \\n\nend")
    mpi_errors("return")
    print "bad [" mpi_send(5, 0, "a\nb") "] " MPI_ERROR
  } else {
    m = mpi_recv(0, 3); print "recv " (m == t ? "same" : "DIFFERENT") " status " mpi_status()
    m = mpi_recv(0, -1); print "recv [" m "] status " mpi_status()
    m = mpi_recv(-1, 5); print "recv " (m == "ends with LF\n" ? "same" : "DIFFERENT") " status " mpi_status()
    m = mpi_recv(0, 6); print "recv " (m == "\n" ? "same" : "DIFFERENT") " status " mpi_status()
    m = mpi_recv(0, 7); print "recv " (m == "cr\r" ? "same" : "DIFFERENT") " status " mpi_status()
    m = mpi_recv(0, 8); print "recv [" m "] status " mpi_status()
    mpi_errors("return")
    MPI_ERROR = "unchanged"
  }
  s = mpi_sendrecv(1 - r, 9, "from " r "\n☃", 1 - r, 9)
  print "sendrecv [" s "] " mpi_status()
  if (r == 0) mpi_send(1, 11, "x\ny")
  s = mpi_sendrecv(1 - r, 12, "plain " r, 1 - r, r == 1 ? 11 : 12)
  print "sendrecv [" s "] " mpi_status() " " MPI_ERROR
  if (r == 1) print "left [" mpi_recv(0, 12) "] " MPI_ERROR
}
"""
AWK_LINES_WANT = {
    0: ["send ok"] * 6 + ["bad [] DEST 5 out of range: ranks are 0..1",
                          "sendrecv [from 1", "☃] 1 9 10",
                          "sendrecv [plain 1] 1 12 7 DEST 5 out of range: ranks are 0..1"],
    1: ["recv same status 0 3 22", "recv [one line] status 0 4 8", "recv same status 0 5 13",
        "recv same status 0 6 1", "recv same status 0 7 3",
        "recv [it's \"quoted\" $HOME `x` \\n", "end] status 0 8 30",
        "sendrecv [from 0", "☃] 0 9 10", "sendrecv [x", "y] 0 11 3 unchanged",
        "left [plain 0] unchanged"],
}


class AwkTextOfSeveralLines(unittest.TestCase):
    """Byte counts that hold whatever awk calls a character."""

    def test_exact_texts_with_gawk_and_mawk_in_utf8_and_c(self):
        need("gawk", "mawk")
        prog = os.path.join(self.tmp(), "lines.awk")
        with open(prog, "w", encoding="utf-8") as f:
            f.write(AWK_LINES)
        for awk in ("gawk", "mawk"):
            for locale in ("C.UTF-8", "C"):
                with self.subTest(awk=awk, locale=locale):
                    job = stdmpirun("--tag-output", "-n", "2", awk, "-f", AWK_LIB, "-f", prog,
                                    timeout=60, env={"LC_ALL": locale})
                    self.assertEqual(job.rc, 0, job.describe())
                    for r in (0, 1):
                        self.assertEqual(harness.lines_of_rank(job.stdout, r), AWK_LINES_WANT[r],
                                         job.describe())
                    self.assertEqual(job.stderr, "")

    def test_the_bridge_check_in_utf8_and_c(self):
        need("gawk", "mawk")
        for awk in ("gawk", "mawk"):
            for locale in ("C.UTF-8", "C"):
                with self.subTest(awk=awk, locale=locale):
                    job = stdmpirun("-q", "-n", "2", awk, "-f", AWK_LIB, "-f",
                                    os.path.join(BRIDGES, "check.awk"), timeout=60,
                                    env={"LC_ALL": locale})
                    self.assertEqual(job.rc, 0, job.describe())
                    self.assertEqual(sorted(job.stdout.splitlines()),
                                     ["rank 0 awk bridge ok", "rank 1 awk bridge ok"])

    def test_a_bad_receive_still_ends_the_job_with_the_shims_report(self):
        # mpi_recv asks in return mode (to take a text of several lines with
        # recvb); in fatal mode any other failure must still end the job.
        need("mawk")
        prog = os.path.join(self.tmp(), "bad.awk")
        with open(prog, "w") as f:
            f.write('BEGIN { if (mpi_rank() == 0) print "got [" mpi_recv(5, 0) "]" }\n')
        job = stdmpirun("-n", "2", "mawk", "-f", AWK_LIB, "-f", prog, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertNotIn("got", job.stdout)
        self.assertIn("request failed: SRC 5 out of range: ranks are 0..1\n"
                      'stdmpi:   the request: "@mpi recv 5 0"', job.stderr)

    def tmp(self) -> str:
        import tempfile
        d = tempfile.mkdtemp(prefix="stdmpi-awk-")
        self.addCleanup(shutil.rmtree, d, True)
        return d


class CBridgeMpmd(unittest.TestCase):
    def test_communicator_1_is_each_programs_ranks(self):
        # c_bridge_check checks stdmpi_comm_get(1) against the ranks that
        # share its STDMPI_APPNUM: here 1 and 2 of them.
        job = stdmpirun("-q", "-n", "1", os.path.join(TESTS_BIN, "c_bridge_check"), ":",
                        "-n", "2", os.path.join(TESTS_BIN, "c_bridge_check_cxx"), timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(re.findall(r"rank (\d) c bridge ok", job.stdout)),
                         ["0", "1", "2"], job.describe())


if __name__ == "__main__":
    unittest.main()
