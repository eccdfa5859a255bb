"""Nilakantha's series for pi, split over the ranks of a stdmpi job.

    pi = 3 + 4/(2*3*4) - 4/(4*5*6) + 4/(6*7*8) - ...

Term k (k = 1..N) is (-1)^(k+1) * 4 / ((2k)(2k+1)(2k+2)). Each rank sums its
own contiguous block of the N terms; one allreduce adds the blocks.

    stdmpirun -n 4 python3 examples/pi.py 1e8     # N = 1e8 terms on 4 ranks
"""
import sys
import time

import stdmpi

comm = stdmpi.COMM_WORLD
n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000

start = time.perf_counter()
lo = 1 + n * comm.rank // comm.size  # this rank's terms: lo .. hi-1
hi = 1 + n * (comm.rank + 1) // comm.size
partial = 0.0
for k in range(lo, hi):
    d = 2.0 * k
    partial += (4.0 if k & 1 else -4.0) / (d * (d + 1.0) * (d + 2.0))
compute = time.perf_counter() - start

pi = 3.0 + comm.allreduce(partial, op=stdmpi.SUM)
slowest = comm.allreduce(compute, op=stdmpi.MAX)
if comm.rank == 0:
    print(f"pi = {pi!r}  ({n} terms, {comm.size} ranks, compute {slowest:.3f} s)")
