"""PROTOCOL.md's failure semantics on real jobs: the job's status, one message
naming the rank and the reason, nothing left running, nobody left waiting."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import processes_matching, wait_gone
from harness import PROTOCLIENT, scenario, stdmpirun




class ChildFailures(unittest.TestCase):
    def test_exit_3_while_others_wait_in_allreduce(self):
        # Ranks 0, 2 and 3 tell rank 1 they are going into the allreduce;
        # rank 1 exits once it heard from all three. Waiting there for ever
        # would end in the run's time limit.
        s = scenario("0,2,3 @mpi send 1 0 {rank} enters => ok\n0,2,3 @mpi allreduce sum 1\n"
                     "1 @mpi recv any 0 =~ ^[023] enters$\n1 @mpi recv any 0 =~ ^[023] enters$\n"
                     "1 @mpi recv any 0 =~ ^[023] enters$\n1 exit 3\n")
        job = stdmpirun("-n", "4", "--oversubscribe", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 3, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 1 \(\S*protoclient \S+\): exited with status 3; "
                                     r"ending the job")
        # Open MPI's own MPI_ABORT box repeats it: filtered out.
        self.assertNotIn("MPI_ABORT was invoked", job.stderr)
        self.assertEqual(job.stderr.count("stdmpi: rank"), 1, job.describe())

    def test_exit_while_peer_waits_in_recv(self):
        s = scenario("0 @mpi recv 1 0\n1 exit 2\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 2, job.describe())
        self.assertIn("stdmpi: rank 1 (", job.stderr)

    def test_programs_that_end_while_mpi_starts(self):
        # Started before MPI_Init, these programs are gone before the shims
        # listen for their end: it must still be seen, with their output.
        job = stdmpirun("-n", "2", "sh", "-c", 'echo "out $STDMPI_RANK"; echo err >&2; exit 5',
                        timeout=30)
        self.assertEqual(job.rc, 5, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank [01] \(sh -c .*\): exited with status 5; "
                                     r"ending the job\n")
        self.assertIn("err\n", job.stderr)
        job = stdmpirun("-n", "2", "sh", "-c", 'echo "out $STDMPI_RANK"', timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()), ["out 0", "out 1"])
        self.assertEqual(job.stderr, "")

    def test_killed_by_signal(self):
        s = scenario("* @mpi barrier\n0 kill 9\n1 @mpi recv 0 0\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 137, job.describe())
        self.assertIn("stdmpi: rank 0 (", job.stderr)
        self.assertIn("killed by signal 9 (SIGKILL); ending the job", job.stderr)

    def test_output_printed_before_a_failure_is_kept(self):
        lines = "".join(f"1 print line {i}\n" for i in range(200))
        s = scenario(lines + "1 eprint about to fail\n1 exit 4\n0 @mpi barrier\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 4, job.describe())
        self.assertEqual([l for l in job.stdout.splitlines() if l.startswith("line ")],
                         [f"line {i}" for i in range(200)])
        # The child's last words come before stdmpi's message.
        self.assertLess(job.stderr.index("about to fail"), job.stderr.index("stdmpi: rank 1"))

    def test_a_rank_that_exits_0_early_does_not_fail_the_job(self):
        # Rank 1 learns that rank 0's program has exited (a receive from it
        # fails, naming the exit), then goes on.
        s = scenario("0 exit 0\n1 @mpi errors return => ok\n"
                     "1 @mpi recv 0 0 => @error recv from rank 0 tag 0 can never complete: rank 0's "
                     "program exited with status 0 without sending it\n"
                     "1 @mpi errors fatal => ok\n1 print still here\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("still here", job.stdout)

    def test_nothing_is_left_running(self):
        # Each rank's program starts a background process in its process group;
        # the job fails; both sleepers must be gone afterwards.
        marker = "387.25"
        prog = f"sleep {marker} & echo '@mpi rank'; read r; if [ $r = 1 ]; then exit 5; fi; " \
               f"echo '@mpi barrier'; read x"
        job = stdmpirun("-n", "2", "bash", "-c", prog, timeout=30)
        self.assertEqual(job.rc, 5, job.describe())
        wait_gone(self, f"sleep {marker}")

    def test_sigterm_to_stdmpirun_ends_every_child(self):
        marker = "391.5"
        prog = f"sleep {marker} & echo '@mpi barrier'; read x; sleep {marker}"
        p = subprocess.Popen([harness.STDMPIRUN, "-n", "2", "bash", "-c", prog],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(harness.stop_process, p)
        def sleepers():  # the sleep processes themselves, 2 per rank
            return [l for l in processes_matching(f"sleep {marker}")
                    if l.split(None, 2)[2].startswith("sleep ")]
        deadline = time.time() + 20
        while len(sleepers()) < 4 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(sleepers()), 4)
        p.send_signal(signal.SIGTERM)
        try:  # the programs would sleep for 6 minutes
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail("stdmpirun did not end within 60 s of SIGTERM")
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)
        # One line says what happened; no rank is blamed for it.
        err = err.decode()
        self.assertTrue(err.startswith("stdmpirun: SIGTERM received; ending the job\n"), err)
        self.assertNotIn("stdmpi: rank", err)
        # The marker is in the command line of this job's mpirun, shims, bash
        # and sleepers alike (other tests may be running jobs meanwhile).
        wait_gone(self, f"sleep {marker}")


class HangReports(unittest.TestCase):
    HANG = ('if [ "$STDMPI_RANK" = 1 ]; then echo "@mpi recv 0 5"; read x; echo "got $x"; '
            'else sleep 600; echo "@mpi send 1 5 late"; read ok; fi')

    def test_timeout_reports_each_rank_then_ends_the_job(self):
        # Rank 0 would sleep for 10 minutes: the job ends by --timeout
        # (status 124), well within the run's time limit.
        job = stdmpirun("--timeout", "1.5", "-n", "2", "sh", "-c", self.HANG, timeout=60)
        self.assertEqual(job.rc, 124, job.describe())
        self.assertNotIn("got late", job.stdout)
        err = job.stderr
        self.assertIn("stdmpirun: the job ran past --timeout 1.5 s; what each rank is doing:\n",
                      err)
        self.assertRegex(err, r"stdmpi: rank 1 \(sh -c .*\): waiting in recv from rank 0 tag 5 "
                              r"for \d+\.\d s\n")  # from the request, after startup
        self.assertRegex(err, r"stdmpi: rank 0 \(sh -c .*\): its program is running and has "
                              r"made no request yet\n")
        self.assertIn("stdmpirun: ending the job (--timeout)\n", err)
        self.assertNotIn("Forwarding signal", err)

    def test_timeout_kills_a_launcher_that_does_not_end(self):
        # The launcher passes no SIGTERM on (a wrapper around the real
        # mpirun that ignores it, and passes SIGUSR1, the report, on): after
        # the grace period --timeout kills it, and the ranks' programs end
        # with their shims.
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        wrapper = os.path.join(d, "stubborn-mpirun")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\ntrap "" TERM INT HUP\nmpirun "$@" &\nchild=$!\n'
                    'trap \'kill -USR1 $child\' USR1\n'
                    'while kill -0 $child 2>/dev/null; do wait $child; done\n')
        os.chmod(wrapper, 0o755)
        marker = f"sleep 97{os.getpid() % 100000:05d}"
        job = stdmpirun("--timeout", "1", "-n", "2", "sh", "-c", marker, timeout=60,
                        env={"STDMPI_MPIRUN": wrapper})
        self.assertEqual(job.rc, 124, job.describe())
        self.assertIn("stdmpirun: ending the job (--timeout)\n", job.stderr)
        self.assertIn("stdmpirun: the job did not end; killing it\n", job.stderr)
        wait_gone(self, marker)
        wait_gone(self, wrapper)

    def test_sigquit_reports_and_the_job_goes_on(self):
        # Rank 0 sends only once the test has seen the report it asked for
        # with SIGQUIT (the file $GO appears), so the report must come while
        # rank 1 waits, and the job must go on after it.
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        go = os.path.join(d, "go")
        prog = ('echo "@mpi barrier"; read ok; '
                'if [ "$STDMPI_RANK" = 1 ]; then echo "@mpi recv 0 5"; read x; echo "got $x"; '
                'else echo "rank 0 waits for the test" >&2; '
                'while [ ! -e "$GO" ]; do sleep 0.05; done; echo "@mpi send 1 5 late"; read ok; fi')
        bg = harness.Background([harness.STDMPIRUN, "-n", "2", "sh", "-c", prog], env={"GO": go})
        self.addCleanup(bg.stop)
        bg.wait_for_stderr(r"^rank 0 waits for the test\n")
        bg.wait_for_stderr(r"^stdmpi: rank 1 \(sh -c .*\): waiting in recv from rank 0 tag 5 "
                           r"for \d+\.\d s\n", signal_to_send=signal.SIGQUIT)
        open(go, "w").close()
        job = bg.finish(timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "got late\n")
        self.assertRegex(job.stderr, r"stdmpi: rank 1 \(sh -c .*\): waiting in recv from rank 0 "
                                     r"tag 5 for \d+\.\d s\n")
        self.assertNotIn("ending the job", job.stderr)

    def test_sigusr2_reaches_the_programs(self):
        # "ready" comes after a barrier: every shim is then up and passes
        # SIGUSR2 on to its program.
        prog = ("trap 'echo got-usr2; exit 0' USR2; echo '@mpi barrier'; read ok; echo ready >&2; "
                "while :; do sleep 0.1; done")
        bg = harness.Background([harness.STDMPIRUN, "-n", "2", "sh", "-c", prog])
        self.addCleanup(bg.stop)
        bg.wait_for_stderr(r"^ready\n$", count=2)
        bg.p.send_signal(signal.SIGUSR2)
        job = bg.finish(timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "got-usr2\ngot-usr2\n")


class FatalRequests(unittest.TestCase):
    def test_bad_request_names_rank_reason_and_request(self):
        s = scenario("0 @mpi barrier\n1 @mpi allreduc sum 1\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 1 \(.*\): request failed: unknown verb "
                                     r"\"allreduc\" \(did you mean \"allreduce\"\?\)")
        self.assertIn('the request: "@mpi allreduc sum 1"', job.stderr)
        self.assertIn('"@mpi errors return"', job.stderr)

    def test_disagreement_is_reported_once(self):
        s = scenario("0 @mpi allreduce sum 1 2\n1-3 @mpi allreduce sum 1\n")
        job = stdmpirun("-n", "4", "--oversubscribe", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertEqual(len(re.findall("request failed", job.stderr)), 1, job.describe())
        self.assertIn("stdmpi: rank 0 (", job.stderr)
        self.assertIn("count mismatch in allreduce sum: this rank gave 2 numbers, the ranks gave "
                      "between 1 and 2", job.stderr)

    def test_abort_verb_sets_the_status(self):
        s = scenario("0 @mpi recv 1 0\n1 @mpi abort 7 out of cheese\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 7, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 1 \(.*\): called abort with code 7: out of cheese")
        # Rank 0, left waiting in its recv, is ended by the abort, not by a
        # failure of its own.
        self.assertEqual(job.stderr.count("stdmpi: rank"), 1, job.describe())

    def test_abort_0(self):
        s = scenario("0 @mpi abort 0\n1 @mpi barrier\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("called abort with code 0", job.stderr)

    def test_output_line_too_long(self):
        s = scenario("0 print " + "x" * 3000 + "\n")
        job = stdmpirun("-n", "1", "--max-line", "1K", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("an output line grew past the limit of 1 KiB without a newline", job.stderr)

    def test_request_too_long_is_an_error_reply_in_return_mode(self):
        s = scenario("0 @mpi errors return => ok\n"
                     "0 @mpi send 0 0 " + "y" * 3000 + " =~ ^@error request line longer than the "
                     "limit of 1 KiB \\(raise it with stdmpirun --max-line\\)$\n"
                     "0 @mpi rank => 0\n")
        job = stdmpirun("-n", "1", "--max-line", "1K", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())

    def test_promised_bytes_that_never_come(self):
        s = scenario("0 raw @mpi sendb 0 0 100\\nonly this\n0 exit 0\n")
        job = stdmpirun("-n", "1", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("the request announced raw bytes, but the command's stdout ended after 9 "
                      "of them", job.stderr)


class PeersThatFinished(unittest.TestCase):
    """A rank whose program can make no more requests (it exited 0, or closed
    its stdout) tells the others; a wait for it that can never end fails at
    once, naming both ranks, instead of hanging the job."""

    def test_exit_0_while_peer_waits_in_recv(self):
        s = scenario("0 @mpi recv 1 0\n1 exit 0\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(\S*protoclient \S+\): request failed: recv "
                                     r"from rank 1 tag 0 can never complete: rank 1's program "
                                     r"exited with status 0 without sending it\n")
        self.assertIn('the request: "@mpi recv 1 0"', job.stderr)

    def test_a_message_with_another_tag_is_counted(self):
        s = scenario("1 @mpi send 0 7 hello\n0 @mpi recv 1 5\n1 exit 0\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("recv from rank 1 tag 5 can never complete: rank 1's program exited with "
                      "status 0 without sending it (1 message(s) from it with another tag are "
                      "unreceived)", job.stderr)

    def test_messages_sent_before_exiting_are_still_received(self):
        # Exiting right after sending is fine: nothing is lost, nothing fails.
        # The large message is received while rank 1 sends it (its send
        # completes only then), the two small ones only after rank 0 learned
        # that rank 1's program has exited: a receive with a tag rank 1 never
        # used fails, counting the two messages that wait.
        s = scenario("1 @mpi send 0 3 first\n1 @mpi sendb 0 3 {rand:3000:4}\n"
                     "1 @mpi sendb 0 5 {rand:300000:5}\n1 exit 0\n"
                     "0 @mpi recvb 1 5 => {rand:300000:5}\n"
                     "0 @mpi errors return => ok\n"
                     "0 @mpi recv 1 4 => @error recv from rank 1 tag 4 can never complete: rank 1's "
                     "program exited with status 0 without sending it (2 message(s) from it with "
                     "another tag are unreceived)\n"
                     "0 @mpi errors fatal => ok\n"
                     "0 @mpi recv 1 3 => first\n0 @mpi recvb 1 3 => {rand:3000:4}\n"
                     "0 print done\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "done\n")

    def test_with_a_native_rank_in_the_job(self):
        # The shims' own communicator leaves the native rank out, so its ranks
        # differ from the world's: the answer must still count rank 2's
        # message to rank 1 (sent with another tag). The native rank is left
        # waiting for rank 1's text, not in MPI_Finalize: Open MPI 4.1's
        # mpirun may crash or hang when a job aborts while a rank finalizes.
        s = scenario("1-2 @mpi recv 0 1 => hello {rank} from native\n"
                     "2 @mpi send 0 2 hello native from 2\n2 @mpi send 1 7 hello\n"
                     "1 @mpi recv 2 5\n2 exit 0\n")
        native = os.path.join(harness.BUILD, "tests", "native_rank")
        job = stdmpirun("--oversubscribe", "-n", "1", "--native", native, ":", "-n", "2",
                        PROTOCLIENT, s, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("stdmpi: rank 1 (", job.stderr)
        self.assertIn("recv from rank 2 tag 5 can never complete: rank 2's program exited with "
                      "status 0 without sending it (1 message(s) from it with another tag are "
                      "unreceived)", job.stderr)

    def test_exit_0_while_peers_wait_in_a_collective(self):
        s = scenario("* @mpi barrier\n0,2,3 @mpi allreduce sum 1\n1 exit 0\n")
        job = stdmpirun("-n", "4", "--oversubscribe", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("request failed: allreduce can never complete: rank 1's program exited with "
                      "status 0 after 1 collective(s), without calling this one (this rank's "
                      "collective number 2)", job.stderr)
        # Every waiting rank sees it; one reports it.
        self.assertEqual(job.stderr.count("request failed"), 1, job.describe())
        self.assertIn("stdmpi: rank 0 (", job.stderr)

    def test_exit_0_while_peer_sends_a_large_message(self):
        s = scenario("0 @mpi sendb 1 3 {rand:1000000:1}\n1 exit 0\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("request failed: send to rank 1 tag 3 (1000000 bytes) can never complete: "
                      "rank 1's program exited with status 0 without receiving it", job.stderr)
        # The send stays posted in MPI, so `errors return` could not help here.
        self.assertNotIn('"@mpi errors return"', job.stderr)

    def test_errors_return_mode_gets_an_error_reply(self):
        s = scenario("0 @mpi errors return => ok\n"
                     "0 @mpi recv 1 0 =~ ^@error recv from rank 1 tag 0 can never complete: "
                     "rank 1's program exited with status 0 without sending it$\n"
                     "0 print went on\n1 exit 0\n")
        job = stdmpirun("-n", "2", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "went on\n")

    def test_recv_from_itself_with_nothing_sent(self):
        s = scenario("0 @mpi send 0 1 to me\n0 @mpi recv 0 1 => to me\n0 @mpi recv 0 2\n")
        job = stdmpirun("-n", "1", PROTOCLIENT, s, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("recv from rank 0 tag 2 can never complete: this rank sent itself no "
                      "message with tag 2", job.stderr)

    def test_closed_stdout_but_still_running(self):
        marker = "383.75"
        prog = (f'if [ "$STDMPI_RANK" = 1 ]; then exec >&-; sleep {marker}; fi; '
                f'echo "@mpi recv 1 0"; read x')
        job = stdmpirun("-n", "2", "bash", "-c", prog, timeout=30)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("recv from rank 1 tag 0 can never complete: rank 1's program closed its "
                      "stdout (it still runs, but can make no more requests) without sending it",
                      job.stderr)
        wait_gone(self, f"sleep {marker}")


class Lockstep(unittest.TestCase):
    def test_a_request_before_the_reply_was_read(self):
        # The program never reads the first reply before the shim has seen
        # the second request: it would read only after 10 minutes, and the
        # shim ends the job long before (within the run's time limit).
        job = stdmpirun("-n", "1", "bash", "-c",
                        'echo "@mpi rank"; echo "@mpi size"; sleep 600; read x', timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn('stdmpi: rank 0 (bash -c "echo \\"@mpi rank\\"; echo \\"@mpi size\\"; sleep 600; '
                      'read x"): the command made a request before reading the whole reply to its '
                      'previous one (2 byte(s) unread): "@mpi size"\n', job.stderr)

    def test_an_unread_reply_shows_in_the_report(self):
        job = stdmpirun("--timeout", "1.5", "-n", "1", "bash", "-c", 'echo "@mpi size"; sleep 60',
                        timeout=30)
        self.assertEqual(job.rc, 124, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(.*\): its program has not read the reply "
                                     r"to its last request \(2 byte\(s\) unread, request made "
                                     r"\d+\.\d s ago\)\n")


class CannotRun(unittest.TestCase):
    def test_command_not_found(self):
        job = stdmpirun("-n", "2", "no-such-command-xyz", timeout=30)
        self.assertEqual(job.rc, 127, job.describe())
        self.assertIn("command not found: no-such-command-xyz", job.stderr)

    def test_not_executable(self):
        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
            f.write("echo hi\n")
        job = stdmpirun("-n", "1", f.name, timeout=30)
        self.assertEqual(job.rc, 126, job.describe())
        self.assertIn(f"{f.name}: permission denied (not executable)", job.stderr)

    def test_shim_reports_when_started_without_stdmpirun(self):
        args = ["mpirun", "--oversubscribe", "-n", "2", harness.SHIM, "--", "/nonexistent/prog"]
        if os.geteuid() == 0:
            args.insert(1, "--allow-run-as-root")
        job = harness.run(args, timeout=30, env={"OMPI_MCA_pml": "ob1"})
        self.assertEqual(job.rc, 127, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank [01] \(/nonexistent/prog\): cannot start the "
                                     r"command: /nonexistent/prog: No such file or directory")


if __name__ == "__main__":
    unittest.main()
