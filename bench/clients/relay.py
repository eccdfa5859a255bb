"""relay.py: relay_client's measurements from Python, through stdmpi's bridge
(under stdmpirun) or through mpi4py (under mpirun), the same code for both.

    stdmpirun -n 2 python3 relay.py stdmpi MODE ITER [ARG]
    mpirun    -n 2 python3 relay.py mpi4py MODE ITER [ARG]

MODE: pingpong BYTES (text, 8 B), pingpongb BYTES (raw bytes), bcastreduce,
Allreduce COUNT (doubles in an array('d') buffer, mpi4py's upper-case form, the
same call for both), allreduce COUNT (a list of floats in, a list out: stdmpi's
lower-case allreduce; for mpi4py, Allreduce on the list made an array and the
result made a list, since its lower-case allreduce would concatenate lists).
Rank 0 prints "MODE [ARG] microseconds", as relay_client does (one way for the
ping-pongs). STDMPI_MSGPACK_MIN_NUMBERS=1000000000 makes stdmpi's allreduce
send text (the form before the msgpack framing).
"""
import sys
import time
from array import array

lib, mode, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
arg = int(sys.argv[4]) if len(sys.argv) > 4 else 1
if lib == "mpi4py":
    from mpi4py import MPI
    comm, SUM = MPI.COMM_WORLD, MPI.SUM
else:
    import stdmpi
    comm, SUM = stdmpi.COMM_WORLD, stdmpi.SUM
rank = comm.Get_rank()
peer = 1 - rank
comm.barrier()
t0 = time.perf_counter()
if mode == "pingpong":
    msg = "x" * arg
    for _ in range(iters):
        if rank == 0:
            comm.send(msg, dest=peer, tag=0)
            comm.recv(source=peer, tag=0)
        else:
            comm.recv(source=peer, tag=0)
            comm.send(msg, dest=peer, tag=0)
    us = (time.perf_counter() - t0) / iters / 2 * 1e6
elif mode == "pingpongb":
    data = bytearray(arg)
    for _ in range(iters):
        if lib == "mpi4py":
            if rank == 0:
                comm.Send(data, dest=peer, tag=0)
                comm.Recv(data, source=peer, tag=0)
            else:
                comm.Recv(data, source=peer, tag=0)
                comm.Send(data, dest=peer, tag=0)
        else:
            if rank == 0:
                comm.send_bytes(data, peer, 0)
                data = comm.recv_bytes(peer, 0)
            else:
                data = comm.recv_bytes(peer, 0)
                comm.send_bytes(data, peer, 0)
    us = (time.perf_counter() - t0) / iters / 2 * 1e6
elif mode == "bcastreduce":
    for i in range(iters):
        comm.bcast(i if rank == 0 else None, root=0)
        comm.reduce(rank + 0.5, op=SUM, root=0)
    us = (time.perf_counter() - t0) / iters * 1e6
elif mode == "Allreduce":
    x = array("d", (i % 100 + 0.5 for i in range(arg)))
    y = array("d", bytes(8 * arg))
    for _ in range(iters):
        comm.Allreduce(x, y, op=SUM)
    us = (time.perf_counter() - t0) / iters * 1e6
elif mode == "allreduce":
    x = [i % 100 + 0.5 for i in range(arg)]
    for _ in range(iters):
        if lib == "mpi4py":
            y = array("d", bytes(8 * arg))
            comm.Allreduce(array("d", x), y, op=SUM)
            z = y.tolist()
        else:
            z = comm.allreduce(x, op=SUM)
    assert z[-1] == 2 * x[-1], z[-1]
    us = (time.perf_counter() - t0) / iters * 1e6
else:
    sys.exit(f"relay.py: unknown mode {mode}")
if rank == 0:
    print(mode, arg, f"{us:.3f}")
