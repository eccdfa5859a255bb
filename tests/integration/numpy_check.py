"""Runs as every rank of a job (any size) and checks the Python bridge's NumPy
paths with exact values: arrays in the reductions (text form and msgpack
form), their shape and dtype kept, the buffer forms (Allreduce, Reduce) on
NumPy arrays, and arrays as objects in send/recv and bcast. Prints
"rank R numpy ok" at the end; a failed check raises (the job fails).
NumPy must be importable: this script is run only where it is.
"""
import numpy as np

import stdmpi

comm = stdmpi.COMM_WORLD
rank, size = comm.rank, comm.size
ranks_sum = size * (size - 1) // 2


def same(got, want, dtype):
    assert isinstance(got, np.ndarray), type(got)
    assert got.dtype == dtype, (got.dtype, dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert (got == want).all(), (got, want)


# Small arrays (text form), shape and dtype kept: float64 and int64.
a = np.arange(6, dtype=np.float64).reshape(2, 3) + rank
same(comm.allreduce(a), np.arange(6, dtype=np.float64).reshape(2, 3) * size + ranks_sum,
     np.float64)
i = np.array([[1, -2], [3, 2 ** 40]], dtype=np.int64) * (rank + 1)
same(comm.allreduce(i, op=stdmpi.MAX), np.array([[size, -2], [3 * size, 2 ** 40 * size]]),
     np.int64)
# Integer kinds other than int64 go as i64; the result is int64.
same(comm.allreduce(np.array([rank, 1], dtype=np.int32)), np.array([ranks_sum, size]), np.int64)
# A 0-d array keeps its shape.
same(comm.allreduce(np.array(2.5)), np.array(2.5 * size), np.float64)
# A non-contiguous view is sent as its values.
v = np.arange(10, dtype=np.float64)[::3]  # 0 3 6 9
same(comm.allreduce(v, op=stdmpi.MIN), v, np.float64)
# Bitwise ops force i64.
same(comm.allreduce(np.array([1 << rank]), op=stdmpi.BOR), np.array([(1 << size) - 1]), np.int64)

# reduce, scan and exscan with arrays.
r = comm.reduce(np.array([rank, 1.5]), root=size - 1)
if rank == size - 1:
    same(r, np.array([ranks_sum, 1.5 * size]), np.float64)
else:
    assert r is None, r
same(comm.scan(np.array([1, rank], dtype=np.int64)),
     np.array([rank + 1, rank * (rank + 1) // 2]), np.int64)
ex = comm.exscan(np.array([1.0, 2.0]))
if rank == 0:
    assert ex is None, ex
else:
    same(ex, np.array([1.0 * rank, 2.0 * rank]), np.float64)

# Large arrays (the msgpack form), exact.
n = 5000
big = np.arange(2 * n, dtype=np.float64).reshape(n, 2) + 0.25 * rank
same(comm.allreduce(big), np.arange(2 * n, dtype=np.float64).reshape(n, 2) * size +
     0.25 * ranks_sum, np.float64)
bigi = np.arange(n, dtype=np.int64) * (rank + 1) + 2 ** 60
same(comm.allreduce(bigi, op=stdmpi.MAX), np.arange(n, dtype=np.int64) * size + 2 ** 60,
     np.int64)

# The buffer forms write into NumPy arrays.
src = np.arange(n, dtype=np.float64) + 0.5
out = np.zeros(n)
comm.Allreduce(src, out)
assert (out == src * size).all()
isrc = np.full(3, rank, dtype=np.int64)
iout = np.zeros(3, dtype=np.int64)
comm.Allreduce(isrc, iout, op=stdmpi.MAX)
assert (iout == size - 1).all(), iout
root_out = np.zeros(n) if rank == 0 else None
comm.Reduce(src * (rank + 1), root_out, op=stdmpi.MAX, root=0)
if rank == 0:
    assert (root_out == src * size).all()
# A 2-d recvbuf gets the numbers in its own (C) order.
grid = np.zeros((2, 3))
comm.Allreduce(np.arange(6, dtype=np.float64).reshape(2, 3), grid)
assert (grid == np.arange(6).reshape(2, 3) * size).all(), grid

# Arrays as objects: they travel whole (dtype, shape, values).
obj = comm.bcast(np.linspace(0, 1, 5).reshape(5, 1) if rank == 0 else None, root=0)
same(obj, np.linspace(0, 1, 5).reshape(5, 1), np.float64)
if size >= 2:
    if rank == 0:
        comm.send(np.array([[1, 2], [3, 4]], dtype=np.int16), dest=1, tag=21)
    elif rank == 1:
        same(comm.recv(source=0, tag=21), np.array([[1, 2], [3, 4]]), np.int16)

comm.barrier()
print(f"rank {rank} numpy ok")
