"""A waiting rank must not spin: its shim sleeps while MPI has nothing for it."""
import os
import shutil
import tempfile
import unittest

from harness import stdmpirun

# Rank 0 waits in recv while a background job of its program looks at its
# shim 30 times, 0.1 s apart, and notes the state of the shim's main thread
# (the event loop) from /proc: S (asleep in the kernel) or R (running or
# ready to run). Then it tells rank 1 (the file $D/sampled) to send. The
# program's parent is stdmpi-init, whose parent is the shim.
PROG = r'''
read -r -a init < /proc/$PPID/stat
shim=${init[3]}
grep -q stdmpi-shim /proc/$shim/cmdline || { echo "no shim found at pid $shim"; exit 1; }
echo "@mpi rank"; read -r r
if [ "$r" = 0 ]; then
  (
    states=""
    for i in $(seq 30); do
      read -r -a f < /proc/$shim/stat
      states="$states${f[2]}"
      sleep 0.1
    done
    echo "$states" > "$D/states"
    touch "$D/sampled"
  ) &
  echo "@mpi recv 1 0"; read -r msg
  wait
  echo "got: $msg"
  echo "shim states while waiting: $(cat "$D/states")"
else
  while [ ! -e "$D/sampled" ]; do sleep 0.05; done
  echo "@mpi send 0 0 wake up"; read -r ok
fi
'''


class NoSpinning(unittest.TestCase):
    def test_a_waiting_shim_sleeps(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        job = stdmpirun("-n", "2", "bash", "-c", PROG, env={"D": d}, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("got: wake up\n", job.stdout)
        line = [l for l in job.stdout.splitlines() if l.startswith("shim states")][0]
        states = line.split(": ", 1)[1]
        self.assertEqual(len(states), 30, line)
        self.assertEqual(set(states) - set("SR"), set(), line)
        # A shim that polls MPI without sleeping is always R; one that sleeps
        # between its polls is seen running only now and then.
        self.assertGreaterEqual(states.count("S"), 24, line)


if __name__ == "__main__":
    unittest.main()
