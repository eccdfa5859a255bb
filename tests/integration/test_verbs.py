"""Replies that a protocol scenario cannot check against one expected line:
`@mpi wtime`, whose value moves; and a receive of a message over
--max-message, which only a sender the limit does not bind (a native MPI
rank) can send. MPI_Wtime counts from an arbitrary moment
(in Open MPI, its first call), so only differences are checked, never an
absolute time."""
import math
import re
import unittest

import os

import harness
from harness import PYTHON, scenario, stdmpirun

# A raw-protocol rank: three wtime requests around a sleep that the program
# measures itself with its monotonic clock.
PROG = r'''
import os, sys, time
def req(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
    return sys.stdin.readline().rstrip("\n")
r = os.environ["STDMPI_RANK"]
t0 = req("@mpi wtime")
a = time.monotonic(); time.sleep(0.25); slept = time.monotonic() - a
t1 = req("@mpi wtime")
t2 = req("@mpi wtime")
print(f"rank {r}: {t0} {t1} {t2} slept {slept!r}")
'''


class Wtime(unittest.TestCase):
    def test_wtime_moves_with_the_time_that_passes(self):
        job = stdmpirun("-n", "2", PYTHON, "-c", PROG, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        got = re.findall(r"^rank (\d): (\S+) (\S+) (\S+) slept (\S+)$", job.stdout, re.M)
        self.assertEqual(sorted(g[0] for g in got), ["0", "1"], job.describe())
        for rank, *texts, slept in got:
            with self.subTest(rank=rank):
                # The protocol's f64 form: plain decimal or exponent, never nan/inf.
                for t in texts:
                    self.assertRegex(t, r"^[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?$", job.stdout)
                t0, t1, t2 = (float(t) for t in texts)
                self.assertTrue(all(math.isfinite(t) for t in (t0, t1, t2)), texts)
                # The shim starts MPI's clock when it starts: a first wtime is
                # not the clock's zero.
                self.assertGreater(t0, 0, texts)
                # The sleep between the first two shows, whole (1 ms for the
                # difference between the two clocks' readings); the clock
                # never goes back.
                self.assertGreater(t1 - t0, 0, texts)
                self.assertGreaterEqual(t1 - t0, float(slept) - 1e-3, (texts, slept))
                self.assertGreaterEqual(t2, t1, texts)


class ReceiveLimit(unittest.TestCase):
    def test_a_message_over_the_limit_stays_queued(self):
        # Rank 0, a native MPI program, sends 1025 bytes; rank 1's receives
        # fail with the reason, the message stays there for probes, and the
        # rank goes on.
        s = scenario("""* @mpi errors return => ok
1 @mpi recv 0 6 => @error the message from rank 0 tag 6 has 1025 bytes, over the limit of 1024 (raise it with stdmpirun --max-message); it stays queued
1 @mpi recvb 0 6 => @error the message from rank 0 tag 6 has 1025 bytes, over the limit of 1024 (raise it with stdmpirun --max-message); it stays queued
1 @mpi probe 0 6 => 0 6 1025
1 @mpi iprobe 0 6 => 0 6 1025
1 @mpi send 0 9 done => ok
""")
        native = os.path.join(harness.BUILD, "tests", "native_rank")
        job = stdmpirun("--max-message", "1K", "-n", "1", "--native", native, "send", "1025", "6",
                        ":", "-n", "1", harness.PROTOCLIENT, s, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("native ok", job.stdout)


class NonBlocking(unittest.TestCase):
    """isend/irecv: what a scenario's one expected line per request cannot
    show (stderr at the end, a job that ends, progress while computing)."""

    def test_requests_never_waited_for_are_reported_at_the_end(self):
        s = scenario("""0 @mpi isendb 1 5 {rand:2000000:1} => 1
0 @mpi isend 1 6 small => 2
1 @mpi irecv 0 31 => 1
1 @mpi irecv 0 6 => 2
1 sleep 0.3
""")
        job = stdmpirun("-n", "2", harness.PROTOCLIENT, s, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(.*\): warning: 2 non-blocking request\(s\) "
                         r"never waited for: request 1 \(send to rank 1 tag 5 \(2000000 bytes\), "
                         r"not completed\), request 2 \(send to rank 1 tag 6 \(5 bytes\), completed\)")
        self.assertRegex(job.stderr, r"stdmpi: rank 1 \(.*\): warning: 2 non-blocking request\(s\) "
                         r"never waited for: request 1 \(irecv from rank 0 tag 31, not completed\), "
                         r"request 2 \(irecv from rank 0 tag 6.*, completed: its message was never "
                         r"read\)")

    def test_a_wait_for_a_send_to_a_finished_rank_ends_the_job(self):
        s = scenario("""* @mpi errors return => ok
0 @mpi isendb 1 5 {rand:2000000:1} => 1
0 @mpi wait 1 => never
""")
        job = stdmpirun("-n", "2", harness.PROTOCLIENT, s, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(.*\): request failed: request 1: send to "
                         r"rank 1 tag 5 \(2000000 bytes\) can never complete: rank 1's program "
                         r"exited with status 0 without receiving it")

    def test_a_large_exchange_completes_while_both_programs_compute(self):
        # Neither program makes a request during the sleep: the shims move
        # the 4 MB on their own, so test says 1 at once afterwards.
        s = scenario("""0 @mpi isendb 1 12 {rand:4000000:2} => 1
1 @mpi irecvb 0 12 => 1
* sleep 0.5
* @mpi test 1 => 1
1 @mpi wait 1 => {rand:4000000:2}
0 @mpi wait 1 => ok
""")
        job = stdmpirun("-n", "2", harness.PROTOCLIENT, s, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())


# Rank 1 posts an irecv that matches anything from rank 0, then a blocking
# recv of the same; rank 0 sends two messages only once both are posted (the
# recv is under way when they arrive). The irecv, posted first, gets the
# first message every round, however the two arrive between the shim's polls.
ORDER = r'''
import os, sys
def req(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
    return sys.stdin.readline().rstrip("\n")
rank = int(os.environ["STDMPI_RANK"])
wrong = 0
for i in range(ROUNDS):
    if rank == 0:
        assert req("@mpi recv 1 99") == "posted", i
        assert req(f"@mpi send 1 {i % 7} first {i}") == "ok", i
        assert req(f"@mpi send 1 {i % 5} second {i}") == "ok", i
    else:
        rid = req("@mpi irecv 0 any")
        assert req("@mpi send 0 99 posted") == "ok", i
        got = req("@mpi recv 0 any")
        first = req("@mpi wait " + rid)
        if (first, got) != (f"first {i}", f"second {i}"):
            wrong += 1
            sys.stderr.write(f"round {i}: irecv got {first!r}, recv got {got!r}\n")
if rank == 1:
    print(f"rounds with the wrong order: {wrong}")
'''


class ReceiveOrder(unittest.TestCase):
    def test_an_irecv_posted_first_matches_first_however_the_messages_arrive(self):
        job = stdmpirun("-n", "2", PYTHON, "-c", ORDER.replace("ROUNDS", "400"), timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("rounds with the wrong order: 0\n", job.stdout, job.describe())


class Communicators(unittest.TestCase):
    """What a one-program scenario cannot show: an MPMD job's communicator
    per program, and a wait in a split communicator that can never end."""

    def test_workers_reduce_in_their_own_communicator_while_the_master_waits(self):
        master = scenario("""0 print master appnum {env:STDMPI_APPNUM}
0 @mpi size:c1 => 1
0 @mpi rank:c1 => 0
0 @mpi recv 1 0 => 6
""")
        workers = scenario("""* print worker appnum {env:STDMPI_APPNUM}
* @mpi size:c1 => 3
1 @mpi rank:c1 => 0
3 @mpi rank:c1 => 2
* @mpi allreduce:c1:i64 sum {rank} => 6
1 @mpi send 0 0 6 => ok
""")
        job = stdmpirun("-n", "1", harness.PROTOCLIENT, master, ":", "-n", "3",
                        harness.PROTOCLIENT, workers, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()),
                         ["master appnum 0"] + ["worker appnum 1"] * 3, job.describe())

    def test_a_collective_a_member_never_calls_fails_on_its_communicator(self):
        s = scenario("""0,2 @mpi split 0 0 =~ ^2 [01] 2$
1,3 @mpi split 1 0 =~ ^2 [01] 2$
0,2 @mpi allreduce:c2 sum 1 => 2
1 @mpi barrier:c2 => never
""")
        job = stdmpirun("-n", "4", "--oversubscribe", harness.PROTOCLIENT, s, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertRegex(job.stderr, r"stdmpi: rank 1 \(.*\): request failed: barrier on "
                         r"communicator 2 can never complete: rank 3's program exited with "
                         r"status 0 after 0 collective\(s\), without calling this one \(this "
                         r"rank's collective number 1\)")

    def test_a_finished_rank_counts_what_it_sent_on_a_communicator(self):
        # key -rank reverses the order: world rank 2 is rank 0 of
        # communicator 2, world rank 0 its rank 1. World rank 2 sends one
        # message (tag 1) and ends; a receive of tag 2 can never complete,
        # and the message it did send is counted.
        s = scenario("""* @mpi errors return => ok
0 @mpi split 0 0 => 2 1 2
2 @mpi split 0 -2 => 2 0 2
1,3 @mpi split 1 0 =~ ^2 [01] 2$
2 @mpi send:c2 1 1 first => ok
0 @mpi recv:c2 0 2 => @error recv from rank 0 tag 2 on communicator 2 can never complete: rank 2's program exited with status 0 without sending it (1 message(s) from it with another tag are unreceived)
0 @mpi recv:c2 0 1 => first
""")
        job = stdmpirun("-n", "4", "--oversubscribe", harness.PROTOCLIENT, s, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())


if __name__ == "__main__":
    unittest.main()
