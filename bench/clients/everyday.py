"""everyday.py: everyday MPI from Python, the same code through stdmpi (under
stdmpirun) and through mpi4py (under mpirun); only the import differs.

    stdmpirun -n 2 python3 everyday.py stdmpi MODE ITER [ARG]
    mpirun    -n 2 python3 everyday.py mpi4py MODE ITER [ARG]

MODE:
  overlap BYTES   a compute loop overlapping an exchange of BYTES with the
                  other rank (Irecv + Isend of NumPy-free bytearray buffers,
                  mpi4py's upper-case calls, the same for both; the wait comes
                  after the computing). Rank 0 prints four numbers, in ms:
                  compute alone, exchange alone (Isend/Irecv then wait at
                  once), both overlapped, and the part of the exchange hidden
                  behind the computing (1 = all of it).
  gather SIZE     comm.gather of a Python object of about SIZE bytes (a dict
                  with a bytes value) to rank 0; prints microseconds a call.
  allgather SIZE  the same with comm.allgather.

Each timing covers the operation alone: buffers and objects are built
before the clock starts, and the clock stops when the call returns.
"""
import statistics
import sys
import time

lib, mode, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
arg = int(sys.argv[4]) if len(sys.argv) > 4 else 1
if lib == "mpi4py":
    from mpi4py import MPI
else:
    from stdmpi import MPI
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
peer = (rank + 1) % size


def compute(n: int) -> float:
    s = 0.0
    for i in range(n):
        s += i * 0.5
    return s


def exchange_start(send: bytearray, recv: bytearray):
    return [comm.Irecv(recv, source=(rank - 1) % size, tag=5), comm.Isend(send, dest=peer, tag=5)]


if mode == "overlap":
    send, recv = bytearray(b"x" * arg), bytearray(arg)
    work = 400_000  # about 20 ms of Python on a current core
    alone, xchg, both = [], [], []
    for _ in range(iters):
        comm.barrier()
        t0 = time.perf_counter()
        compute(work)
        alone.append(time.perf_counter() - t0)
        comm.barrier()
        t0 = time.perf_counter()
        MPI.Request.Waitall(exchange_start(send, recv))
        xchg.append(time.perf_counter() - t0)
        comm.barrier()
        t0 = time.perf_counter()
        reqs = exchange_start(send, recv)
        compute(work)
        MPI.Request.Waitall(reqs)
        both.append(time.perf_counter() - t0)
    a, x, b = (statistics.median(v) * 1e3 for v in (alone, xchg, both))
    hidden = max(0.0, min(1.0, (a + x - b) / x)) if x > 0 else 0.0
    if rank == 0:
        print(f"overlap {arg} {a:.3f} {x:.3f} {b:.3f} {hidden:.2f}")
elif mode in ("gather", "allgather"):
    obj = {"rank": rank, "name": f"rank-{rank}", "payload": b"y" * arg}
    times = []
    for _ in range(iters):
        comm.barrier()
        t0 = time.perf_counter()
        out = comm.gather(obj, root=0) if mode == "gather" else comm.allgather(obj)
        times.append(time.perf_counter() - t0)
    if rank == 0:
        assert [o["rank"] for o in out] == list(range(size)), out
        print(f"{mode} {arg} {statistics.median(times) * 1e6:.1f}")
else:
    sys.exit(f"everyday.py: unknown mode {mode}")
