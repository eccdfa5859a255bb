"""The shared region between a rank's program and its shim (docs/protocol.md,
"Arrays through shared memory"): the `:shm=OFF` form from a raw-protocol
program (errors included), the Python bridge's use of it at sizes around its
threshold, both directions, on several ranks, with results equal to the pipe
path's; MPI.Alloc_mem arrays; and the region's lifetime (nothing of it stays
after the job, also when the program or the whole job is killed)."""
import hashlib
import os
import signal
import time
import unittest

import harness
from harness import PYTHON, Background, lines_of_rank, stdmpirun

# A raw-protocol rank: the region by hand (mmap of STDMPI_SHM_FD), and the
# shim's answers to requests that name bytes outside it.
RAW = r'''
import mmap, os, struct, sys
def req(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
    return sys.stdin.readline().rstrip("\n")
rank = int(os.environ["STDMPI_RANK"])
fd = int(os.environ["STDMPI_SHM_FD"])
out = []
assert os.fstat(fd).st_size == 0
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096)
# In place at 8, and from 64 into 2048.
struct.pack_into("<3d", m, 8, rank + 0.5, -1.0, 2.0 ** 40)
out.append("allreduce " + req("@mpi allreduce:shm=8 sum 24") + " " +
           repr(struct.unpack_from("<3d", m, 8)))
struct.pack_into("<2q", m, 64, rank, 7 - rank)
out.append("scan " + req("@mpi scan:i64:shm=64,2048 max 16") + " " +
           repr(struct.unpack_from("<2q", m, 2048)))
# Bytes: rank 0 sends 3000 bytes from 1000; rank 1 receives them at 100000,
# past the region's end: the shim grows the region to hold them.
if rank == 0:
    m[1000:4000] = bytes(range(256)) * 11 + bytes(184)
    out.append("sendb " + req("@mpi sendb:shm=1000 1 5 3000"))
else:
    n = req("@mpi recvb:shm=100000 0 5")
    size = os.fstat(fd).st_size
    big = mmap.mmap(fd, size)
    out.append(f"recvb {n} size {size} same " +
               str(big[100000:103000] == bytes(range(256)) * 11 + bytes(184)))
# Every rank's 4 bytes gathered into every rank's region at 512.
m[16:20] = b"r%03d" % rank
out.append("allgatherb " + req("@mpi allgatherb:shm=16,512 4") + " " + m[512:520].decode())
out.append(req("@mpi errors return"))
# Past the region's end (rank 1's region grew with its recvb, so it asks
# farther), misaligned numbers, overlapping ranges: every rank fails alike.
past = 4096 if rank == 0 else 200000
out.append(req(f"@mpi allreduce:shm={past} sum 8"))
near = os.fstat(fd).st_size - 10
out.append(req(f"@mpi sendb:shm={near} 1 0 100"))
out.append(req("@mpi allreduce:shm=0,8 sum 16"))
# Shrinking is refused: the shim's mapping never loses pages.
try:
    os.ftruncate(fd, 0)
    out.append("shrunk")
except OSError as e:
    out.append("shrink refused: " + e.strerror)
for line in out:
    print(line)
'''


class RawProtocol(unittest.TestCase):
    def test_requests_name_bytes_in_the_region_and_bad_ranges_fail(self):
        job = stdmpirun("--tag-output", "-n", "2", PYTHON, "-c", RAW, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        for rank in (0, 1):
            lines = lines_of_rank(job.stdout, rank)
            self.assertEqual(lines[0], "allreduce 24 (2.0, -2.0, 2199023255552.0)", job.describe())
            self.assertEqual(lines[1], f"scan 16 ({rank}, 7)", job.describe())
            self.assertEqual(lines[3], "allgatherb 4 4 r000r001", job.describe())
            self.assertEqual(lines[4], "ok")
            past = 4096 if rank == 0 else 200000
            end = 4096 if rank == 0 else 103000
            self.assertRegex(lines[5], f"^@error (bytes {past}..{past + 8} are past the end of "
                             rf"the shared region \({end} bytes\): grow it \(ftruncate its "
                             r"descriptor\) first|collective allreduce sum abandoned: rank "
                             r"[01] gave a bad request for it)$")
            self.assertEqual(lines[6], f"@error bytes {end - 10}..{end + 90} are past the end "
                             f"of the shared region ({end} bytes): grow it (ftruncate its "
                             "descriptor) first")
            self.assertEqual(lines[7], "@error the numbers at 0 and the result at 8 overlap "
                             "(16 bytes each): give the same offset to reduce in place, or "
                             "ranges apart")
            self.assertEqual(lines[8], "shrink refused: Operation not permitted")
        self.assertEqual(lines_of_rank(job.stdout, 0)[2], "sendb ok")
        self.assertEqual(lines_of_rank(job.stdout, 1)[2], "recvb 3000 size 103000 same True")
        # Both ranks report the past-the-end allreduce; at least one with the reason.
        self.assertIn("are past the end", job.stdout)

    def test_an_empty_message_is_received_into_an_empty_region(self):
        # Nothing mapped yet and nothing to place: the receive still completes.
        prog = r'''
import mmap, os, sys
def req(line, data=b""):
    sys.stdout.buffer.write(line.encode() + b"\n" + data); sys.stdout.flush()
    return sys.stdin.readline().rstrip("\n")
fd = int(os.environ["STDMPI_SHM_FD"])
if os.environ["STDMPI_RANK"] == "0":
    print(req("@mpi sendb 1 2 0"), req("@mpi sendb 1 3 5", b"hello"))
else:
    empty = req("@mpi recvb:shm=0 0 2")
    size = os.fstat(fd).st_size
    five = req("@mpi recvb:shm=0 0 3")
    print(empty, size, five, mmap.mmap(fd, os.fstat(fd).st_size)[:5].decode())
'''
        job = stdmpirun("--tag-output", "-n", "2", PYTHON, "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(lines_of_rank(job.stdout, 0), ["ok ok"], job.describe())
        self.assertEqual(lines_of_rank(job.stdout, 1), ["0 0 5 hello"], job.describe())

    def test_the_region_may_not_grow_past_four_times_the_message_limit(self):
        prog = r'''
import os, sys
def req(line, data=b""):
    sys.stdout.buffer.write(line.encode() + b"\n" + data); sys.stdout.flush()
    return sys.stdin.readline().rstrip("\n")
req("@mpi errors return")
print(req("@mpi sendb:shm=4000 0 0 100"))
print(req("@mpi sendb 0 0 5", b"hello"))
print(req("@mpi recvb:shm=4094 0 0"))
print(req("@mpi iprobe any any"))
'''
        job = stdmpirun("--max-message", "1K", "-n", "1", PYTHON, "-c", prog, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout.splitlines(), [
            "@error bytes 4000..4100 are past the shared region's limit of 4096 bytes "
            "(4 x --max-message)",
            "ok",
            "@error the message from rank 0 tag 0 (5 bytes) cannot be placed in the shared "
            "region, and is lost: bytes 4094..4099 are past the shared region's limit of 4096 "
            "bytes (4 x --max-message)",
            "none"], job.describe())


# The Python bridge: every operation that carries a payload, at sizes
# around the threshold (1024 bytes) and large, printing a digest of each
# result; run once with the region and once with pipes only, the outputs must
# be the same, and the region must have been used (it grew) or not.
BRIDGE = r'''
import hashlib, os, sys
import numpy as np
from array import array
from stdmpi import MPI
import stdmpi
comm = MPI.COMM_WORLD
r, n = comm.rank, comm.size
def h(b):
    return hashlib.sha256(bytes(b)).hexdigest()[:16]
for count in (127, 128, 129, 4096, 131072, 1000003):
    x = np.arange(count, dtype=np.float64) * (r + 1) + 0.25
    y = np.empty_like(x)
    comm.Allreduce(x, y, op=MPI.SUM)
    want = np.arange(count) * (n * (n + 1) / 2) + 0.25 * n
    assert np.array_equal(y, want), count
    a = array("q", range(r, r + count)); b = array("q", bytes(8 * count))
    comm.Allreduce(a, b, op=MPI.MAX)
    assert b[0] == n - 1 and b[-1] == n - 1 + count - 1, count
    rd = np.zeros(count) if r == 1 else None
    comm.Reduce(x, rd, op=MPI.MIN, root=1)
    if r == 1:
        assert np.array_equal(rd, np.arange(count) + 0.25), count
    sc = comm.scan(x, op=MPI.SUM)
    assert np.array_equal(sc, np.arange(count) * ((r + 1) * (r + 2) / 2) + 0.25 * (r + 1)), count
    low = stdmpi.COMM_WORLD.allreduce(list(range(count)), op=stdmpi.SUM)
    assert low[-1] == n * (count - 1), count
    # Buffers point to point, both directions, ring order.
    nbytes = count * 8 - 3
    mine = bytes([(r * 7 + i) % 251 for i in range(min(nbytes, 300))]) * (nbytes // 300 + 1)
    mine = mine[:nbytes]
    got = bytearray(nbytes)
    right, left = (r + 1) % n, (r - 1) % n
    if r % 2 == 0:
        comm.Send(mine, dest=right, tag=count % 30000)
        comm.Recv(got, source=left, tag=count % 30000)
    else:
        comm.Recv(got, source=left, tag=count % 30000)
        comm.Send(mine, dest=right, tag=count % 30000)
    obj = comm.sendrecv({"from": r, "blob": mine[:count]}, dest=left, source=right)
    assert obj["from"] == right
    root_blob = comm.bcast(b"b" * count + bytes([count % 256]) if r == 0 else None, root=0)
    parts = comm.allgather(mine[: count + r])
    one = comm.gather(mine[:count], root=n - 1)
    mine_back = comm.scatter([bytes([i]) * count for i in range(n)] if r == 0 else None, root=0)
    assert mine_back == bytes([r]) * count
    swapped = comm.alltoall([bytes([r, i]) * count for i in range(n)])
    assert swapped == [bytes([i, r]) * count for i in range(n)]
    req = comm.Isend(mine, dest=right, tag=1)
    got2 = bytearray(nbytes)
    rq = comm.Irecv(got2, source=left, tag=1)
    rq.Wait(); req.Wait()
    assert got2 == got
    print(count, h(y), h(b), h(got), h(obj["blob"]), h(root_blob),
          h(b"".join(parts)), h(b"".join(one)) if one else "-", flush=True)
fd = os.environ.get("STDMPI_SHM_FD")
print("region", "used" if fd and os.fstat(int(fd)).st_size > 0 else "unused")
'''


class PythonBridge(unittest.TestCase):
    def run_bridge(self, ranks: int, env):
        job = stdmpirun("--tag-output", "-n", str(ranks), "--oversubscribe", PYTHON, "-c", BRIDGE,
                        timeout=300, env=env)
        self.assertEqual(job.rc, 0, job.describe())
        return job

    def test_the_same_results_through_the_region_and_through_the_pipes(self):
        for ranks in (2, 4):
            with self.subTest(ranks=ranks):
                shm = self.run_bridge(ranks, None)
                pipes = self.run_bridge(ranks, {"STDMPI_SHM": "0"})
                for rank in range(ranks):
                    a = lines_of_rank(shm.stdout, rank)
                    b = lines_of_rank(pipes.stdout, rank)
                    self.assertEqual(len(a), 7, shm.describe())
                    self.assertEqual(a[:-1], b[:-1])
                    self.assertEqual(a[-1], "region used")
                    self.assertEqual(b[-1], "region unused")

    def test_alloc_mem_arrays_are_reduced_where_they_are(self):
        prog = r'''
import os, numpy as np
from stdmpi import MPI
comm = MPI.COMM_WORLD
r, n = comm.rank, comm.size
N = 300000
x = np.frombuffer(MPI.Alloc_mem(8 * N), dtype="d"); x[:] = np.arange(N) + r
y = np.frombuffer(MPI.Alloc_mem(8 * N), dtype="d")
q = np.frombuffer(MPI.Alloc_mem(8 * 10), dtype="q"); q[:] = r
fd = int(os.environ["STDMPI_SHM_FD"])
size = os.fstat(fd).st_size
comm.Allreduce(x, y, op=MPI.SUM)
ok = [np.array_equal(y, n * np.arange(N) + n * (n - 1) / 2)]
comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)
ok.append(np.array_equal(x, y))
comm.Exscan(MPI.IN_PLACE, q, op=MPI.SUM)
ok.append(r == 0 or np.array_equal(q, np.full(10, r * (r - 1) // 2)))
# Arrays that live in the region were reduced where they are: no scratch
# block was made for copies, so the region holds the three blocks alone.
blocks_only = os.fstat(fd).st_size == size == 2 * (-(-8 * N // 4096) * 4096) + 4096
z = np.zeros(N)
comm.Allreduce(x, z, op=MPI.MAX)          # into plain memory (a scratch block)
ok.append(np.array_equal(z, y))
comm.Allreduce(np.ones(N), y, op=MPI.SUM)  # from plain memory
ok.append(np.array_equal(y, np.full(N, float(n))))
print(r, ok, blocks_only, os.fstat(fd).st_size > size)
'''
        job = stdmpirun("-n", "3", "--oversubscribe", PYTHON, "-c", prog, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()),
                         [f"{r} [True, True, True, True, True] True True" for r in range(3)],
                         job.describe())


class Lifetime(unittest.TestCase):
    """The region has no name; it goes with the processes that hold it."""

    def shm_entries(self):
        # Only stdmpi's: other jobs (tests run side by side) come and go there.
        return sorted(e for e in os.listdir("/dev/shm") if "stdmpi" in e)

    def job_pids(self, lines):
        """The pids a program printed: itself and its ancestors up to its shim."""
        pids = []
        for line in lines:
            if line.startswith("pids "):
                pids += [int(p) for p in line.split()[1:]]
        return pids

    # Prints its pid and those of its ancestors up to and with the shim, fills
    # part of the region, then (rank 1) kills itself in the middle of writing.
    PROG = r'''
import os, signal, sys, mmap, time
fd = int(os.environ["STDMPI_SHM_FD"])
pids, p = [os.getpid()], os.getppid()
while p > 1:
    pids.append(p)
    with open(f"/proc/{p}/comm") as f:
        if f.read().strip() == "stdmpi-shim":
            break
    with open(f"/proc/{p}/stat") as f:
        p = int(f.read().rsplit(")", 1)[1].split()[1])
print("pids", *pids, flush=True)
os.ftruncate(fd, 64 << 20)
m = mmap.mmap(fd, 64 << 20)
print("ready", flush=True)
sys.stderr.write("ready\n"); sys.stderr.flush()
if os.environ["STDMPI_RANK"] == "1" and MODE == "self":
    m[: 32 << 20] = b"x" * (32 << 20)
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
'''

    def assert_gone(self, pids):
        deadline = time.monotonic() + 20
        left = pids
        while time.monotonic() < deadline:
            left = [p for p in pids if os.path.exists(f"/proc/{p}")]
            if not left:
                return
            time.sleep(0.1)
        self.fail(f"processes of the job still run: {left}")

    def test_a_program_killed_mid_write_leaves_no_region(self):
        before = self.shm_entries()
        job = stdmpirun("-n", "2", PYTHON, "-c", self.PROG.replace("MODE", "'self'"),
                        timeout=120)
        self.assertEqual(job.rc, 137, job.describe())
        self.assertIn("killed by signal 9", job.stderr)
        pids = self.job_pids(job.stdout.splitlines())
        self.assertGreaterEqual(len(pids), 4, job.describe())
        self.assert_gone(pids)
        self.assertEqual(self.shm_entries(), before)

    def test_a_job_killed_with_sigkill_leaves_no_region(self):
        before = self.shm_entries()
        bg = Background([harness.STDMPIRUN, "-n", "2", PYTHON, "-c",
                         self.PROG.replace("MODE", "'none'")])
        self.addCleanup(bg.stop)
        bg.wait_for_stderr("^ready", timeout=60, count=2)
        bg.p.send_signal(signal.SIGKILL)
        job = bg.finish(timeout=60)
        self.assertEqual(job.rc, -9)
        pids = self.job_pids(job.stdout.splitlines())
        self.assertGreaterEqual(len(pids), 4, job.describe())
        self.assert_gone(pids)
        self.assertEqual(self.shm_entries(), before)


if __name__ == "__main__":
    unittest.main()
