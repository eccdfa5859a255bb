"""A waiting rank must not spin: its shim sleeps while MPI has nothing for it."""
import unittest

from harness import stdmpirun

# Rank 0 waits in recv for 3 s while rank 1 sleeps, then reads how much CPU its
# shim used in the meantime from /proc. The program's parent is stdmpi-init,
# whose parent is the shim.
PROG = r'''
read -r -a init < /proc/$PPID/stat
shim=${init[3]}
grep -q stdmpi-shim /proc/$shim/cmdline || { echo "no shim found at pid $shim"; exit 1; }
cpu() { read -r -a f < /proc/$shim/stat; echo $(( ${f[13]} + ${f[14]} )); }
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
