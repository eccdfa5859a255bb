"""Rank 0 of a mixed job: hands out blocks of the Nilakantha series to the
workers (R, NCL, any language), gathers their partial sums, checks the total.
   stdmpirun -n 1 python3 master.py N : -n 2 Rscript worker.R : -n 1 ncl worker.ncl
"""
import sys
import stdmpi

comm = stdmpi.COMM_WORLD
n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
workers = comm.size - 1
# Every rank learns N (one broadcast, all languages).
comm.bcast(str(n), root=0)
for w in range(1, comm.size):
    lo = 1 + n * (w - 1) // workers
    hi = 1 + n * w // workers
    comm.send(f"{lo} {hi}", dest=w, tag=1)
total, seen = 0.0, {}
for _ in range(workers):
    st = stdmpi.Status()
    part = comm.recv(source=stdmpi.ANY_SOURCE, tag=2, status=st)
    who, value = part.split()
    assert int(who) == st.source, (who, st.source)
    seen[st.source] = float(value)
for w in sorted(seen):
    total += seen[w]
expect = 0.0
for k in range(1, n + 1):
    d = 2.0 * k
    expect += (4.0 if k & 1 else -4.0) / (d * (d + 1.0) * (d + 2.0))
assert abs(total - expect) < 1e-12, (total, expect)
# One collective with every language in it: each rank gives its rank.
ranks = comm.allreduce(0)
assert ranks == sum(range(1, comm.size)), ranks
print(f"master: pi = {3 + total!r} from {workers} workers")
