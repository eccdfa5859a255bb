"""examples/pi.py's computation with mpi4py (the competitor), or with no MPI
at all (`serial`): the same terms in the same order.

    mpirun -n 2 python3 pi_mpi4py.py TERMS      python3 pi_mpi4py.py TERMS serial
"""
import sys

n = int(float(sys.argv[1]))
if len(sys.argv) > 2 and sys.argv[2] == "serial":
    rank, size, comm = 0, 1, None
else:
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
lo = 1 + n * rank // size
hi = 1 + n * (rank + 1) // size
partial = 0.0
for k in range(lo, hi):
    d = 2.0 * k
    partial += (4.0 if k & 1 else -4.0) / (d * (d + 1.0) * (d + 2.0))
total = partial if comm is None else comm.allreduce(partial)
if rank == 0:
    print(f"pi = {3.0 + total!r}  ({n} terms, {size} ranks)")
