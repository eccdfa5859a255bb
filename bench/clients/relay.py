"""relay.py: relay_client's measurements from Python, the same code through
stdmpi (`from stdmpi import MPI`, under stdmpirun) and through mpi4py (`from
mpi4py import MPI`, under mpirun).

    stdmpirun -n 2 python3 relay.py stdmpi MODE ITER [ARG]
    mpirun    -n 2 python3 relay.py mpi4py MODE ITER [ARG]

MODE:
  pingpong BYTES     a str of BYTES characters, send/recv (objects), one way
  pingpongb BYTES    a bytearray buffer, Send/Recv (buffers), one way
  bcastreduce        one bcast of an int and one reduce of a float (objects)
  Allreduce COUNT    Allreduce of COUNT doubles, array('d') buffers
  Allreduce_np COUNT Allreduce of COUNT doubles, NumPy float64 buffers
  Allreduce_alloc COUNT  the same on NumPy arrays made on MPI.Alloc_mem
                     memory (stdmpi: in the region it shares with its shim)
  allreduce COUNT    allreduce of a NumPy float64 array (lower case: a new
                     array comes back)

Every input is built before the clock starts: only the operation is timed,
ITER times after a barrier. Rank 0 prints "MODE ARG microseconds" (the mean
per operation; one way for the ping-pongs). The result of the last operation
is checked.
"""
import sys
import time
from array import array

lib, mode, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
arg = int(sys.argv[4]) if len(sys.argv) > 4 else 1
if lib == "mpi4py":
    from mpi4py import MPI
else:
    from stdmpi import MPI
comm = MPI.COMM_WORLD
rank = comm.Get_rank()
peer = 1 - rank

if mode == "pingpong":
    msg = "x" * arg

    def op():
        if rank == 0:
            comm.send(msg, dest=peer, tag=0)
            return comm.recv(source=peer, tag=0)
        got = comm.recv(source=peer, tag=0)
        comm.send(got, dest=peer, tag=0)
        return got

    def check(r):
        assert r == msg
    per = 2
elif mode == "pingpongb":
    buf = bytearray(b"\x07" * arg)

    def op():
        if rank == 0:
            comm.Send(buf, dest=peer, tag=0)
            comm.Recv(buf, source=peer, tag=0)
        else:
            comm.Recv(buf, source=peer, tag=0)
            comm.Send(buf, dest=peer, tag=0)

    def check(r):
        assert buf[-1] == 7
    per = 2
elif mode == "bcastreduce":
    def op():
        v = comm.bcast(17 if rank == 0 else None, root=0)
        return v, comm.reduce(rank + 0.5, op=MPI.SUM, root=0)

    def check(r):
        assert r[0] == 17 and (rank != 0 or r[1] == 2.0), r
    per = 1
elif mode in ("Allreduce", "Allreduce_np", "Allreduce_alloc", "allreduce"):
    if mode == "Allreduce":
        x = array("d", (i % 100 + 0.5 for i in range(arg)))
        y = array("d", bytes(8 * arg))
    elif mode == "Allreduce_alloc":
        import numpy as np
        x = np.frombuffer(MPI.Alloc_mem(8 * arg), dtype=np.float64)
        y = np.frombuffer(MPI.Alloc_mem(8 * arg), dtype=np.float64)
        x[:] = np.arange(arg, dtype=np.float64) % 100 + 0.5
    else:
        import numpy as np
        x = np.arange(arg, dtype=np.float64) % 100 + 0.5
        y = np.zeros(arg)

    if mode == "allreduce":
        def op():
            return comm.allreduce(x, op=MPI.SUM)
    else:
        def op():
            comm.Allreduce(x, y, op=MPI.SUM)
            return y

    def check(r):
        assert r[-1] == 2 * x[-1] and r[0] == 2 * x[0], (r[0], r[-1])
    per = 1
else:
    sys.exit(f"relay.py: unknown mode {mode}")

op()  # once before the clock: first-call costs (imports, buffers) are not the operation
comm.Barrier()
t0 = time.perf_counter()
for _ in range(iters):
    r = op()
us = (time.perf_counter() - t0) / iters / per * 1e6
check(r)
if rank == 0:
    print(mode, arg, f"{us:.3f}")
