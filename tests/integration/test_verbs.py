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


if __name__ == "__main__":
    unittest.main()
