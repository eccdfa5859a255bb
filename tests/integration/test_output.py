"""Ordinary output: forwarded unchanged, in order, complete, tagged when asked;
and the --trace of the requests."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
from harness import PROTOCLIENT, PYTHON, scenario, stdmpirun




class Output(unittest.TestCase):
    def test_order_of_each_rank_is_kept_around_requests(self):
        body = ""
        for i in range(300):
            body += f"* print rank {{rank}} line {i}\n"
            if i % 7 == 0:
                body += "* @mpi allreduce sum 1 => 3\n"
            if i % 50 == 0:
                body += "* @mpi barrier => ok\n"
        job = stdmpirun("-n", "3", "--oversubscribe", "--tag-output", PROTOCLIENT, scenario(body),
                        timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        for r in range(3):
            self.assertEqual(harness.lines_of_rank(job.stdout, r),
                             [f"rank {r} line {i}" for i in range(300)])

    def test_output_printed_while_a_request_waits_arrives_whole_and_in_order(self):
        # A thread prints while the main thread waits in a recv that rank 1
        # answers late: those lines reach the shim during the request, wait
        # aside, and come out complete, in order, with the reply honoured.
        prog = r'''
import os, sys, threading, time
rank = os.environ["STDMPI_RANK"]
out = sys.stdout
def req(line):
    out.write(line + "\n"); out.flush()
    return sys.stdin.readline().rstrip("\n")
if rank == "0":
    def chatter():  # over about 0.2 s, while the recv waits 0.5 s
        for i in range(100):
            os.write(1, b"during %d\n" % i)
            time.sleep(0.002)
    t = threading.Thread(target=chatter)
    os.write(1, b"before\n")
    sys.stdout.write("@mpi recv 1 3\n"); sys.stdout.flush()
    t.start(); t.join()
    got = sys.stdin.readline().rstrip("\n")
    print("got " + got, flush=True)
else:
    time.sleep(0.5)
    print(req("@mpi send 0 3 late"), flush=True)
'''
        job = stdmpirun("-n", "2", "--tag-output", PYTHON, "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(harness.lines_of_rank(job.stdout, 0),
                         ["before"] + [f"during {i}" for i in range(100)] + ["got late"],
                         job.describe())
        self.assertEqual(harness.lines_of_rank(job.stdout, 1), ["ok"])

    def test_bytes_pass_unchanged(self):
        # Lines that look almost like requests, CRs, odd bytes, no final newline.
        prog = (r"printf '@mpix not a request\n @mpi neither\n@mpi-like\ncr\r\n\tx\x01\xff\n'; "
                r"echo '@mpi rank'; read r; printf 'last line without newline'")
        job = stdmpirun("-n", "1", "bash", "-c", prog, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout_bytes,
                         b"@mpix not a request\n @mpi neither\n@mpi-like\ncr\r\n\tx\x01\xff\n"
                         b"last line without newline")

    def test_tag_output_prefixes_stdout_and_stderr(self):
        job = stdmpirun("-n", "2", "--tag-output", "bash", "-c",
                        'echo out; echo err >&2; printf "a\\nb"', timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        for r in (0, 1):
            self.assertIn(f"[{r}] out\n", job.stdout)
            self.assertIn(f"[{r}] a\n", job.stdout)
            self.assertIn(f"[{r}] b", job.stdout)
            self.assertIn(f"[{r}] err\n", job.stderr)

    def test_a_flood_of_output_arrives_complete(self):
        # 18 MB from each of two ranks at once. Open MPI's forwarding may cut
        # lines of different ranks where its chunks end, so each rank writes
        # with its own alphabet: its stream is then recovered byte for byte.
        prog = ("import sys, stdmpi\n"
                "r = stdmpi.COMM_WORLD.rank\n"
                "digits = 'abcdefghij' if r == 0 else 'klmnopqrst'\n"
                "fill = 'x' if r == 0 else 'y'\n"
                "for i in range(200000):\n"
                "    num = ''.join(digits[int(c)] for c in f'{i:08d}')\n"
                "    sys.stdout.write(num + fill * 80 + '\\n')\n"
                "sys.stdout.flush()\n"
                "stdmpi.COMM_WORLD.barrier()\n")
        job = stdmpirun("-n", "2", PYTHON, "-c", prog, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        out = job.stdout_bytes
        self.assertEqual(out.count(b"\n"), 400000)
        for digits, fill in (("abcdefghij", "x"), ("klmnopqrst", "y")):
            alphabet = set((digits + fill).encode())
            got = bytes(b for b in out if b in alphabet)
            want = "".join("".join(digits[int(c)] for c in f"{i:08d}") + fill * 80
                           for i in range(200000)).encode()
            self.assertEqual(len(got), len(want))
            self.assertTrue(got == want, "a rank's output was reordered or changed")

    def test_a_last_piece_without_newline_is_printed_on_stdout_and_stderr(self):
        # Output that ends without a newline is still output: the merged
        # streams (and, with the merge off, mpirun's) print a rank's last
        # piece at the end of the job, on stdout and on stderr, also one that
        # stderr's filter of Open MPI's boxes holds back as it arrives (a run
        # of dashes might become a rule; a rule opens a box).
        prog = 'echo out; printf "stdout tail"; echo err >&2; printf "%s" "$TAIL" >&2'
        rule = "-" * 74
        for merge in ("1", "0"):
            for tail in ("last words", "-----", f"{rule}\nan unclosed box"):
                with self.subTest(merge=merge, tail=tail):
                    job = stdmpirun("-n", "1", "sh", "-c", prog, timeout=30,
                                    env={"STDMPI_MERGE_OUTPUT": merge, "TAIL": tail})
                    self.assertEqual(job.rc, 0, job.describe())
                    self.assertEqual(job.stdout, "out\nstdout tail")
                    self.assertEqual(job.stderr, "err\n" + tail)
                    # Two ranks: each one's pieces, whole.
                    job = stdmpirun("-n", "2", "sh", "-c", prog, timeout=30,
                                    env={"STDMPI_MERGE_OUTPUT": merge, "TAIL": tail})
                    self.assertEqual(job.rc, 0, job.describe())
                    self.assertEqual(job.stdout.count("stdout tail"), 2, job.describe())
                    self.assertEqual(job.stdout.count("out\n"), 2, job.describe())
                    self.assertEqual(job.stderr.count(tail), 2, job.describe())
                    self.assertEqual(job.stderr.count("err\n"), 2, job.describe())

    def test_a_last_piece_is_printed_when_another_rank_ends_the_job(self):
        # Rank 0 leaves a piece of a line on stderr and waits; rank 1, once
        # rank 0 has written it, fails and ends the job. (The piece comes from
        # the environment: the command line, quoted in stdmpi's message, must
        # not hold it.)
        prog = ('if [ "$STDMPI_RANK" = 0 ]; then printf "%s" "$PIECE" >&2; '
                'echo "@mpi send 1 0 go"; read ok; echo "@mpi recv 1 0"; read x; '
                'else echo "@mpi recv 0 0"; read x; exit 3; fi')
        for merge in ("1", "0"):
            with self.subTest(merge=merge):
                job = stdmpirun("-n", "2", "sh", "-c", prog, timeout=30,
                                env={"STDMPI_MERGE_OUTPUT": merge, "PIECE": "rank 0 partial piece"})
                self.assertEqual(job.rc, 3, job.describe())
                self.assertEqual(job.stderr.count("rank 0 partial piece"), 1, job.describe())
                self.assertRegex(job.stderr, r"stdmpi: rank 1 \(sh -c .*\): exited with status 3; "
                                             r"ending the job\n")

    def test_the_report_of_a_rank_starts_on_a_line_of_its_own(self):
        # A program that fails after a piece of a line on stderr: stdmpi's
        # report of it follows on a new line, not glued to the piece.
        prog = 'printf "%s" "$PIECE" >&2; exit 3'
        for merge in ("1", "0"):
            with self.subTest(merge=merge):
                job = stdmpirun("-n", "1", "sh", "-c", prog, timeout=30,
                                env={"STDMPI_MERGE_OUTPUT": merge, "PIECE": "last words"})
                self.assertEqual(job.rc, 3, job.describe())
                self.assertRegex(job.stderr, r"(^|\n)last words\nstdmpi: rank 0 \(sh -c .*\): "
                                             r"exited with status 3; ending the job\n")

    def test_a_reader_that_goes_away_ends_the_job_cleanly(self):
        # `stdmpirun ... | head -1`: when the output's reader is gone, the job
        # ends (status 141, as SIGPIPE would give), no rank's program is
        # left running, and stdmpirun's temporary directory is removed.
        marker = f"stdmpi-pipe-{os.getpid()}"
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.Popen([harness.STDMPIRUN, "-n", "2", "sh", "-c",
                                  f'while :; do echo "{marker}"; done'],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL, env=dict(os.environ, TMPDIR=tmp))
            self.addCleanup(harness.stop_process, p)
            self.assertEqual(p.stdout.readline().decode().strip(), marker)
            p.stdout.close()
            self.assertEqual(p.wait(60), 141)
            self.assertEqual(os.listdir(tmp), [])
            harness.wait_gone(self, marker)

    def test_a_dashed_line_is_not_held_while_the_program_runs(self):
        # A rule of dashes might open one of Open MPI's boxes, which stdmpirun
        # holds back to see; a program's own rule must come out while it
        # runs: the program waits for the test, which waits for the rule.
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        go = os.path.join(d, "go")
        rule = "-" * 74
        prog = f'echo "{rule}" >&2; while [ ! -e {go} ]; do sleep 0.05; done; echo done'
        for merge in ("1", "0"):
            with self.subTest(merge=merge):
                if os.path.exists(go):
                    os.unlink(go)
                bg = harness.Background([harness.STDMPIRUN, "-n", "1", "sh", "-c", prog],
                                        env={"STDMPI_MERGE_OUTPUT": merge})
                self.addCleanup(bg.stop)
                bg.wait_for_stderr("^-{74}$", timeout=30)
                open(go, "w").close()
                job = bg.finish()
                self.assertEqual(job.rc, 0, job.describe())
                self.assertEqual(job.stdout, "done\n")

    def test_a_request_glued_after_output_text_is_warned_of(self):
        # "50%" without a newline, then a request: one output line, so the
        # program waits for a reply that never comes. The shim says so at
        # once, and the hang report points at it.
        job = stdmpirun("-q", "-n", "1", "--timeout", "3", "bash", "-c",
                        'printf "50%%"; echo "@mpi barrier"; read -r r; echo "got $r"',
                        timeout=60)
        self.assertEqual(job.rc, 124, job.describe())
        self.assertIn("50%@mpi barrier", job.stdout)
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(bash .*\): warning: an output line holds a "
                         r"request after other text \(\"50%@mpi barrier\"\): it is output, not a "
                         r"request, and the program may wait for its reply for ever; end printed "
                         r"text with a newline before a request")
        self.assertIn("has made no request yet (an output line held a request after other "
                      "text: see the warning above)", job.stderr)

    def test_stderr_is_forwarded(self):
        job = stdmpirun("-n", "1", PROTOCLIENT, scenario("0 eprint to stderr\n0 print to stdout\n"),
                        timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "to stdout\n")
        self.assertEqual(job.stderr, "to stderr\n")


if __name__ == "__main__":
    unittest.main()


class WholeLines(unittest.TestCase):
    FLOOD = ("import os, sys\n"
             "r = os.environ['STDMPI_RANK']\n"
             "sys.stdout.write((r * 99 + '\\n') * 100000)\n"
             "sys.stderr.write(('e' + r * 98 + '\\n') * 20000)\n")

    def test_lines_of_ranks_never_cut_into_each_other(self):
        # mpirun forwards output in pieces of 4095 bytes, cut anywhere; the
        # ranks on stdmpirun's machine send theirs to stdmpirun, which writes
        # whole lines. (With STDMPI_MERGE_OUTPUT=0 this fails on this
        # machine: thousands of mixed lines.)
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        job = stdmpirun("-n", "2", PYTHON, "-c", self.FLOOD, env={"TMPDIR": tmp}, timeout=120)
        self.assertEqual(job.rc, 0, job.stderr[-2000:])
        out = job.stdout.splitlines()
        self.assertEqual(len(out), 200000)
        self.assertEqual(out.count("0" * 99), 100000)
        self.assertEqual(out.count("1" * 99), 100000)
        err = job.stderr.splitlines()
        self.assertEqual(err.count("e" + "0" * 98), 20000)
        self.assertEqual(err.count("e" + "1" * 98), 20000)
        self.assertEqual(len(err), 40000)
        # stdmpirun's socket and its directory are gone.
        self.assertEqual([n for n in os.listdir(tmp) if n.startswith("stdmpirun-")], [])


class Trace(unittest.TestCase):
    def test_every_request_with_its_start_and_duration(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "job.json")
        # Rank 1's sendrecv sends rank 0 the word "go" and waits for rank 0's
        # answer, which rank 0 sends only after it got "go": so the sendrecv
        # started before rank 0's send did and ended after it, whatever the
        # speed of either.
        s = scenario("* @mpi barrier => ok\n0 @mpi recv 1 6 => go\n0 @mpi send 1 5 hi\n"
                     "1 @mpi sendrecv 0 6 0 5 go => hi\n* @mpi barrier => ok\n"
                     "* @mpi allreduce:i64 sum 1 => 2\n")
        job = stdmpirun("-n", "2", "--trace", path, PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        # 9 requests, 2 start-up steps and 2 names for each rank.
        self.assertIn(f"stdmpirun: trace of 2 rank(s), 17 events, in {path} (open it in "
                      "https://ui.perfetto.dev)\n", job.stderr)
        with open(path) as f:
            events = json.load(f)
        self.assertEqual(os.listdir(d), ["job.json"])  # the parts are gone
        names = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
        self.assertEqual(names, {0: f"rank 0: {PROTOCLIENT} {s}", 1: f"rank 1: {PROTOCLIENT} {s}"})
        reqs = [e for e in events if e.get("cat") == "request"]
        self.assertEqual(sorted((e["pid"], e["name"]) for e in reqs),
                         [(0, "allreduce:i64"), (0, "barrier"), (0, "barrier"), (0, "recv"),
                          (0, "send"), (1, "allreduce:i64"), (1, "barrier"), (1, "barrier"),
                          (1, "sendrecv")])
        by = {(e["pid"], e["name"]): e for e in reqs}
        sr, recv, send = by[(1, "sendrecv")], by[(0, "recv")], by[(0, "send")]
        self.assertEqual(sr["args"], {"request": "@mpi sendrecv 0 6 0 5 go", "ok": True,
                                      "reply_bytes": 3})
        self.assertEqual(recv["args"], {"request": "@mpi recv 1 6", "ok": True, "reply_bytes": 3})
        for e in reqs:
            self.assertGreaterEqual(e["dur"], 0, e)
        # Times are in microseconds from the job's start, on one clock for
        # all ranks: the sendrecv began before rank 0's recv of its "go"
        # ended, and ended after rank 0's send (of its answer) began.
        self.assertLess(sr["ts"], recv["ts"] + recv["dur"])
        self.assertLessEqual(recv["ts"] + recv["dur"], send["ts"])
        self.assertGreater(sr["ts"] + sr["dur"], send["ts"])
        # Each rank's requests follow one another, in the scenario's order.
        for r in (0, 1):
            mine = sorted((e for e in reqs if e["pid"] == r), key=lambda e: e["ts"])
            order = [e["name"] for e in mine]
            self.assertEqual(order, ["barrier", "recv", "send", "barrier", "allreduce:i64"]
                             if r == 0 else ["barrier", "sendrecv", "barrier", "allreduce:i64"])
            for a, b in zip(mine, mine[1:]):
                self.assertLessEqual(a["ts"] + a["dur"], b["ts"], (a, b))

    def test_the_start_of_each_rank(self):
        # Under mpirun each program starts before its shim's MPI_Init has
        # returned (they overlap); with STDMPI_START_EARLY=0 only after it.
        for early in (True, False):
            with self.subTest(early=early):
                d = tempfile.mkdtemp()
                self.addCleanup(shutil.rmtree, d, True)
                path = os.path.join(d, "job.json")
                env = {} if early else {"STDMPI_START_EARLY": "0"}
                job = stdmpirun("-n", "2", "--trace", path, PROTOCLIENT,
                                scenario("* @mpi barrier => ok\n"), env=env, timeout=30)
                self.assertEqual(job.rc, 0, job.describe())
                with open(path) as f:
                    events = json.load(f)
                steps = {(e["pid"], e["name"]): e for e in events if e.get("cat") == "startup"}
                self.assertEqual(sorted(steps), [(0, "MPI_Init"), (0, "start the program"),
                                                 (1, "MPI_Init"), (1, "start the program")])
                for r in (0, 1):
                    init, start = steps[(r, "MPI_Init")], steps[(r, "start the program")]
                    barrier = next(e for e in events
                                   if e.get("cat") == "request" and e["pid"] == r)
                    self.assertGreater(init["dur"], 0)
                    self.assertGreaterEqual(start["dur"], 0)
                    # The program made its request after it had started.
                    self.assertGreaterEqual(barrier["ts"], start["ts"] + start["dur"])
                    if early:
                        self.assertLess(start["ts"] + start["dur"], init["ts"])
                    else:
                        self.assertGreaterEqual(start["ts"], init["ts"] + init["dur"])
                    self.assertGreater(barrier["ts"], start["ts"])
