"""Runs as every rank of a job (any size) and checks the whole Python bridge.

Each check asserts exact values; a failure raises, the rank exits 1 and the
job fails with the assertion in its stderr. Prints "bridge ok" at the end.
"""
import hashlib
import math
import os
import sys
import time

import stdmpi

comm = stdmpi.COMM_WORLD
rank, size = comm.rank, comm.size
assert (comm.Get_rank(), comm.Get_size()) == (rank, size)
assert rank == int(os.environ["STDMPI_RANK"]) and size == int(os.environ["STDMPI_SIZE"])
assert os.environ["PYTHONUNBUFFERED"] == "1"
print(f"rank {rank} of {size} starting")

# allreduce: numbers, lists, every op, types kept.
assert comm.allreduce(1) == size and isinstance(comm.allreduce(1), int)
assert comm.allreduce(0.5) == 0.5 * size and isinstance(comm.allreduce(0.5), float)
assert comm.allreduce([rank, 1.5]) == [size * (size - 1) // 2, 1.5 * size]
assert comm.allreduce(rank, op=stdmpi.MAX) == size - 1
assert comm.allreduce(rank, op=stdmpi.MIN) == 0
assert comm.allreduce(2, op=stdmpi.PROD) == 2 ** size
assert comm.allreduce(rank, op="max") == size - 1
assert comm.allreduce(1 if rank == 0 else 0, op=stdmpi.LOR) == 1
assert comm.allreduce(1 if rank == 0 else 0, op=stdmpi.LAND) == (1 if size == 1 else 0)
assert comm.allreduce(1 << rank, op=stdmpi.BOR) == (1 << size) - 1
assert comm.allreduce(7, op=stdmpi.BAND) == 7
big = 2 ** 62 + rank
assert comm.allreduce(big, op=stdmpi.MAX, dtype="i64") == 2 ** 62 + size - 1
# Mixed int/float across ranks is fine: doubles on the wire.
mixed = comm.allreduce(0 if rank == 0 else 0.25)
assert math.isclose(mixed, 0.25 * (size - 1))
assert comm.allreduce(float("inf"), op=stdmpi.MAX) == float("inf")
assert math.isnan(comm.allreduce(float("nan")))
assert comm.allreduce(10 - rank, op=stdmpi.MINLOC) == (10 - (size - 1), size - 1)
assert comm.allreduce(10 + rank, op=stdmpi.MAXLOC) == (10 + size - 1, size - 1)
assert comm.allreduce([1.5, -rank], op=stdmpi.MINLOC) == [(1.5, 0), (-(size - 1), size - 1)]

# reduce / scan / exscan.
r = comm.reduce(rank, op=stdmpi.SUM, root=size - 1)
assert r == (size * (size - 1) // 2 if rank == size - 1 else None)
assert comm.scan(1) == rank + 1
ex = comm.exscan(1)
assert ex == (None if rank == 0 else rank)

# bcast of every kind of object, from the first and the last rank.
for root in {0, size - 1}:
    for obj in ["text", "", "two\nlines", "Grüße 世界", b"\x00\n\xff", {"a": [1, 2.5, None, True]},
                (1, "tuple"), {1, 2}, 42, 3.25, None, "\x1e@j:not json"]:
        got = comm.bcast(obj if rank == root else None, root=root)
        assert got == obj and type(got) is type(obj), (root, obj, got)

# point to point, every type, with status.
if size >= 2:
    if rank == 0:
        comm.send("hello world", dest=1, tag=3)
        comm.send(b"\x00bytes\n", dest=1, tag=4)
        comm.send({"k": [1, 2]}, dest=1, tag=5)
        comm.send("multi\nline", dest=1, tag=6)
        comm.send_bytes(b"raw\x00", dest=1, tag=7)
        payload = os.urandom(3 << 20)
        comm.send(payload, dest=1, tag=8)
        comm.send(hashlib.sha256(payload).hexdigest(), dest=1, tag=9)
        assert comm.recv(source=1, tag=10) == "back"
    elif rank == 1:
        st = stdmpi.Status()
        assert comm.recv(source=0, tag=3, status=st) == "hello world"
        assert (st.Get_source(), st.Get_tag(), st.Get_count()) == (0, 3, 11)
        assert comm.recv(source=0, tag=4) == b"\x00bytes\n"
        assert comm.recv(source=stdmpi.ANY_SOURCE, tag=5) == {"k": [1, 2]}
        assert comm.recv(0, 6) == "multi\nline"
        assert comm.recv_bytes(0, 7) == b"raw\x00"
        data = comm.recv(0, 8)
        assert hashlib.sha256(data).hexdigest() == comm.recv(0, 9)
        comm.send("back", dest=0, tag=10)
    comm.barrier()
    # probe / iprobe.
    if rank == 1:
        comm.send("probe me", dest=0, tag=11)
    if rank == 0:
        st = stdmpi.Status()
        assert comm.probe(source=1, tag=11, status=st)
        assert st.source == 1 and st.tag == 11 and st.count == 8
        assert comm.iprobe(1, 11)
        assert comm.recv(1, 11) == "probe me"
        assert not comm.iprobe(1, 11)
    # sendrecv in a ring.
    right, left = (rank + 1) % size, (rank - 1) % size
    got = comm.sendrecv(f"from {rank}", dest=right, sendtag=12, source=left, recvtag=12)
    assert got == f"from {left}", got

# gather / allgather / scatter keep each rank's shape and type.
g = comm.gather(rank, root=0)
assert g == (list(range(size)) if rank == 0 else None)
assert comm.allgather(float(rank)) == [float(r) for r in range(size)]
ag = comm.allgather(list(range(rank)))
assert ag == [list(range(r)) for r in range(size)], ag
assert comm.allgather([rank * 0.5]) == [[r * 0.5] for r in range(size)]
s = comm.scatter([10 * r for r in range(size)] if rank == 0 else None, root=0)
assert s == 10 * rank and isinstance(s, int)
s = comm.scatter([[r, r + 0.5] for r in range(size)] if rank == size - 1 else None, root=size - 1)
assert s == [rank, rank + 0.5]

# Errors raise StdmpiError with the shim's reason; the rank goes on.
try:
    comm.send("x", dest=size + 5)
    raise AssertionError("no error")
except stdmpi.StdmpiError as e:
    assert f"DEST {size + 5} out of range" in e.reason, e.reason
try:
    comm.allreduce([1] * (rank + 1))  # count mismatch on more than one rank
    assert size == 1
except stdmpi.StdmpiError as e:
    assert size > 1 and "count mismatch" in str(e), e
comm.barrier()

# Wtime moves forward, by the time that passes (a difference, never an
# absolute time: MPI_Wtime counts from an arbitrary moment).
t0 = stdmpi.Wtime()
before = time.monotonic()
time.sleep(0.05)
slept = time.monotonic() - before
t1 = stdmpi.Wtime()
assert math.isfinite(t0) and math.isfinite(t1), (t0, t1)
assert 0 < t0 < t1 and t1 - t0 >= slept - 1e-3, (t0, t1, slept)

# NumPy arrays. STDMPI_TEST_NUMPY=1: NumPy must be there (ImportError fails
# the check); 0: skipped; unset: used when it is there.
want_numpy = os.environ.get("STDMPI_TEST_NUMPY")
if want_numpy == "1":
    import numpy as np
elif want_numpy == "0":
    np = None
else:
    try:
        import numpy as np
    except ImportError:
        np = None
if np is not None:
    a = comm.allreduce(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert a.shape == (2, 3) and a.dtype == np.float64 and a[1, 2] == 5.0 * size
    b = comm.allreduce(np.array([1, 2], dtype=np.int64), op=stdmpi.MAX)
    assert b.dtype == np.int64 and list(b) == [1, 2]

# Large arrays (the msgpack framing from stdmpi.MSGPACK_MIN_NUMBERS numbers on):
# exact values, every shape of result, and the mpi4py-style buffer forms.
from array import array

n = 5000
x = [i + 0.25 * rank for i in range(n)]
assert comm.allreduce(x) == [size * i + 0.25 * size * (size - 1) / 2 for i in range(n)]
ints = comm.allreduce(list(range(n)))
assert ints == [size * i for i in range(n)] and all(type(v) is int for v in ints)
assert comm.allreduce([2 ** 60 + i for i in range(n)], dtype="i64", op=stdmpi.MAX) == \
    [2 ** 60 + i for i in range(n)]
assert comm.allreduce([float(i * (rank + 1)) for i in range(n)], op=stdmpi.MAXLOC) == \
    [(float(i * size), size - 1 if i else 0) for i in range(n)]
gathered = comm.allgather([float(rank)] * n)
assert gathered == [[float(r)] * n for r in range(size)]
part = comm.scatter([[float(r)] * n for r in range(size)] if rank == 0 else None, root=0)
assert part == [float(rank)] * n
reduced, full = comm.reduce(x, root=0), comm.allreduce(x)
assert reduced == (full if rank == 0 else None)
src = array("d", (i + 0.5 for i in range(n)))
dst = array("d", bytes(8 * n))
comm.Allreduce(src, dst, op=stdmpi.SUM)
assert dst == array("d", (size * (i + 0.5) for i in range(n)))
isrc, idst = array("q", [rank] * 3), array("q", bytes(24))
comm.Allreduce(isrc, idst, op=stdmpi.BOR)
want_or = 0
for r in range(size):
    want_or |= r
assert list(idst) == [want_or] * 3, idst
root_dst = array("d", bytes(8 * n)) if rank == size - 1 else None
comm.Reduce(src, root_dst, op=stdmpi.MAX, root=size - 1)
if rank == size - 1:
    assert root_dst == src
for bad_out, err, what in ((memoryview(bytes(8 * n)).cast("d"), TypeError, "writable"),
                           (array("d", bytes(8)), ValueError, "recvbuf holds 8 bytes"),
                           (array("q", bytes(8 * n)), ValueError, "must hold f64 numbers")):
    try:
        comm.Allreduce(src, bad_out)
        raise AssertionError("no error")
    except err as e:
        assert what in str(e), e
comm.Allreduce(src, dst)  # still in step after those
assert dst == array("d", (size * (i + 0.5) for i in range(n)))
for bad, what in ((array("f", [1.0]), "8-byte floats or integers"), ("text", "buffer")):
    try:
        comm.Allreduce(bad, dst)
        raise AssertionError("no error")
    except TypeError as e:
        assert what in str(e), e
if np is not None:
    a = np.arange(2 * n, dtype=np.float64).reshape(n, 2)
    got = comm.allreduce(a)
    assert got.shape == (n, 2) and got.dtype == np.float64 and (got == a * size).all()
    out = np.empty(2 * n)
    comm.Allreduce(a.ravel(), out)
    assert (out == a.ravel() * size).all()
    print(f"rank {rank} numpy checked")

sys.stdout.write(f"rank {rank} bridge ok\n")
