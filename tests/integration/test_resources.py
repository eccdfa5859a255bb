"""A waiting rank must not spin: its shim sleeps while MPI has nothing for it."""
import unittest

from harness import stdmpirun

# Rank 0 waits in recv for 3 s while rank 1 sleeps, then reads how much CPU its
# shim (its parent) used in the meantime from /proc.
PROG = r'''
cpu() { read -r -a f < /proc/$PPID/stat; echo $(( ${f[13]} + ${f[14]} )); }
echo "@mpi rank"; read -r r
if [ "$r" = 0 ]; then
  before=$(cpu)
  echo "@mpi recv 1 0"; read -r msg
  after=$(cpu)
  echo "shim ticks while waiting: $((after - before)) of $(getconf CLK_TCK) per second"
else
  sleep 3
  echo "@mpi send 0 0 wake up"; read -r ok
fi
'''


class NoSpinning(unittest.TestCase):
    def test_a_long_wait_costs_almost_no_cpu(self):
        job = stdmpirun("-n", "2", "bash", "-c", PROG, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        line = [l for l in job.stdout.splitlines() if l.startswith("shim ticks")][0]
        ticks, per_second = int(line.split()[4]), int(line.split()[6])
        # 3 s of waiting; a spinning shim would burn ~3 s. Allow 0.3 s.
        self.assertLess(ticks, 0.3 * per_second, line)


if __name__ == "__main__":
    unittest.main()
