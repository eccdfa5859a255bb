"""mpi4py scripts with only their import changed: each script here is written
in the shape of mpi4py's tutorial (objects and NumPy buffers point to point,
the collectives, non-blocking calls, Split) and runs twice in the same test,
with `from mpi4py import MPI` under a plain mpirun and with
`from stdmpi import MPI` under stdmpirun. Their outputs must be the same,
line for line. Then what stdmpi adds: the same scripts outside stdmpirun (a
world of one rank, as an MPI singleton) and the errors of a misused API."""
import os
import re
import subprocess
import tempfile
import unittest

import harness
from harness import PYTHON, require, stdmpirun

# Rank 0 prints every rank's "rank R: ..." lines at the end.
TUTORIAL = r'''
IMPORT
import numpy as np

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
size = comm.Get_size()
out = []

# point to point, Python objects
if rank == 0:
    data = {"a": 7, "b": 3.14, "c": [1, 2, "x"], "d": (None, True)}
    for dest in range(1, size):
        comm.send(data, dest=dest, tag=11)
else:
    data = comm.recv(source=0, tag=11)
out.append(f"objects {data}")

# non-blocking, Python objects
req = comm.isend({"from": rank}, dest=(rank + 1) % size, tag=12)
got = comm.recv(source=(rank - 1) % size, tag=12)
req.wait()
out.append(f"ring {got}")
r1 = comm.irecv(source=(rank + 1) % size, tag=13)
r2 = comm.isend(["line one\nline two", rank], dest=(rank - 1) % size, tag=13)
res = MPI.Request.waitall([r1, r2])
out.append(f"waitall {res}")

# point to point, NumPy arrays (buffers)
if rank == 0:
    a = np.arange(1000, dtype="i")
    for dest in range(1, size):
        comm.Send([a, MPI.INT], dest=dest, tag=77)
else:
    a = np.empty(1000, dtype="i")
    st = MPI.Status()
    comm.Recv([a, MPI.INT], source=0, tag=77, status=st)
    out.append(f"status {st.Get_source()} {st.Get_tag()} {st.Get_count(MPI.INT)}")
out.append(f"buffer {int(a.sum())} {a.dtype}")
b = np.zeros(10, dtype="f8")
rq = comm.Irecv(b, source=(rank - 1) % size, tag=78)
comm.Isend(np.linspace(0, 1, 10) * rank, dest=(rank + 1) % size, tag=78).Wait()
rq.Wait()
out.append(f"Irecv {np.round(b, 6).tolist()}")

# collectives, Python objects
data = {"key1": [7, 2.72, 2 + 3j], "key2": ("abc", "xyz")} if rank == 0 else None
data = comm.bcast(data, root=0)
out.append(f"bcast {data}")
parts = comm.scatter([(i + 1) ** 2 for i in range(size)] if rank == 0 else None, root=0)
out.append(f"scatter {parts}")
gathered = comm.gather({"rank": rank, "sq": parts}, root=0)
out.append(f"gather {gathered}")
out.append(f"allgather {comm.allgather(rank * 10)}")
out.append(f"alltoall {comm.alltoall([f'{rank}>{i}' for i in range(size)])}")
out.append(f"allreduce {comm.allreduce(rank + 1, op=MPI.SUM)} {comm.allreduce(rank, op=MPI.MAX)}")
out.append(f"allreduce floats {comm.allreduce(0.5 * rank, op=MPI.SUM)}")
out.append(f"reduce {comm.reduce(rank + 1, op=MPI.PROD, root=size - 1)}")
out.append(f"lists {comm.allreduce([rank], op=MPI.SUM)}")
out.append(f"minloc {comm.allreduce((abs(rank - 1.0), rank), op=MPI.MINLOC)}")
out.append(f"maxloc {comm.allreduce((float(rank % 2), rank), op=MPI.MAXLOC)}")
out.append(f"scan {comm.scan(rank + 1)} exscan {comm.exscan(rank + 1)}")
out.append(f"user op {comm.allreduce(str(rank), op=MPI.Op.Create(lambda a, b, dt: a + b))}")
out.append(f"sendrecv {comm.sendrecv(rank, dest=(rank + 1) % size, source=(rank - 1) % size)}")
comm.barrier()

# collectives, NumPy arrays
buf = np.arange(100, dtype="f8") if rank == 0 else np.empty(100, dtype="f8")
comm.Bcast(buf, root=0)
out.append(f"Bcast {buf.sum()}")
sendbuf = np.arange(size * 4, dtype="i8").reshape(size, 4) if rank == 0 else None
recvbuf = np.empty(4, dtype="i8")
comm.Scatter(sendbuf, recvbuf, root=0)
out.append(f"Scatter {recvbuf.tolist()}")
g = np.empty([size, 4], dtype="i8") if rank == 0 else None
comm.Gather(recvbuf * 2, g, root=0)
if rank == 0:
    out.append(f"Gather {g.tolist()}")
ag = np.empty(size * 2, dtype="f8")
comm.Allgather(np.full(2, rank + 0.25), ag)
out.append(f"Allgather {ag.tolist()}")
x = np.full(5, rank + 1, dtype="f8")
y = np.empty(5, dtype="f8")
comm.Allreduce(x, y, op=MPI.SUM)
out.append(f"Allreduce {y.tolist()}")
z = np.full(3, rank + 2, dtype="i4")
comm.Allreduce(MPI.IN_PLACE, z, op=MPI.PROD)
out.append(f"Allreduce in place {z.tolist()} {z.dtype}")
m = np.empty(3, dtype="f8") if rank == size - 1 else None
comm.Reduce(np.array([rank, -rank, 2.5]), m, op=MPI.MAX, root=size - 1)
if rank == size - 1:
    out.append(f"Reduce {m.tolist()}")
a2 = np.empty(size, dtype="i8")
comm.Alltoall(np.arange(size, dtype="i8") + 10 * rank, a2)
out.append(f"Alltoall {a2.tolist()}")

# communicators
half = comm.Split(color=rank % 2, key=-rank)
out.append(f"split {half.Get_rank()} of {half.Get_size()} sum {half.allreduce(rank)}")
none = comm.Split(MPI.UNDEFINED if rank == 0 else 1, 0)
out.append(f"undefined {none == MPI.COMM_NULL}")
dup = comm.Dup()
out.append(f"dup {dup.Get_size()} {dup.bcast(rank, root=size - 1)}")
dup.Free()
half.Free()

# compute pi (the tutorial's last example)
n = 10000
h = 1.0 / n
s = sum(4.0 / (1.0 + (h * (i + 0.5)) ** 2) for i in range(rank, n, size))
pi = comm.reduce(s * h, op=MPI.SUM, root=0)
if rank == 0:
    out.append(f"pi {pi:.10f}")
out.append(f"wtime {isinstance(MPI.Wtime(), float)} {MPI.Is_initialized()} {MPI.Is_finalized()}")
# One writer, so that no launcher interleaves the lines of two ranks.
everything = comm.gather(out, root=0)
if rank == 0:
    print("\n".join(f"rank {r}: {line}" for r, lines in enumerate(everything) for line in lines))
MPI.Finalize()
'''


def script(text: str, import_line: str) -> str:
    f = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    f.write(text.replace("IMPORT", import_line))
    f.close()
    os.chmod(f.name, 0o644)
    return f.name


def mpirun(*args: str, timeout: float = 60) -> harness.Job:
    cmd = ["mpirun", "--stdin", "none", "--oversubscribe", "--mca", "pml", "ob1"]
    if os.geteuid() == 0:
        cmd.insert(1, "--allow-run-as-root")
    return harness.run([*cmd, *args], timeout=timeout,
                       env={"PMIX_MCA_psec": "native", "OMPI_MCA_rmaps_base_oversubscribe": "1"})


def have_mpi4py() -> bool:
    return subprocess.run([PYTHON, "-c", "import mpi4py, numpy"], capture_output=True).returncode == 0


class SameOutputAsMpi4py(unittest.TestCase):
    """The tutorial under both: the same lines, for 1, 2 and 3 ranks."""

    @classmethod
    def setUpClass(cls):
        require(have_mpi4py(), "mpi4py and NumPy for /usr/bin/python3 (python3-mpi4py)")
        cls.ours = script(TUTORIAL, "from stdmpi import MPI")
        cls.theirs = script(TUTORIAL, "from mpi4py import MPI")

    def test_the_tutorial_prints_what_mpi4py_prints(self):
        for n in (1, 2, 3):
            with self.subTest(ranks=n):
                theirs = mpirun("-n", str(n), PYTHON, self.theirs)
                self.assertEqual(theirs.rc, 0, theirs.describe())
                ours = stdmpirun("-q", "-n", str(n), "--oversubscribe", PYTHON, self.ours,
                                 timeout=120)
                self.assertEqual(ours.rc, 0, ours.describe())
                want = theirs.stdout.splitlines()
                self.assertEqual(ours.stdout.splitlines(), want, ours.describe())
                # Every part of the script ran on every rank.
                self.assertEqual(len([x for x in want if ": pi " in x]), 1)
                self.assertEqual(len([x for x in want if ": wtime True True False" in x]), n)

    def test_outside_stdmpirun_it_is_one_rank_as_an_mpi_singleton(self):
        # mpi4py run without mpirun is an MPI singleton: one rank.
        theirs = harness.run([PYTHON, self.theirs], timeout=120)
        self.assertEqual(theirs.rc, 0, theirs.describe())
        env = {k: v for k, v in os.environ.items() if not k.startswith("STDMPI_")}
        ours = subprocess.run([PYTHON, self.ours], capture_output=True, text=True, timeout=120,
                              env=dict(env, PYTHONPATH=os.path.join(harness.BUILD, "share",
                                                                   "stdmpi", "python")))
        self.assertEqual(ours.returncode, 0, ours.stderr)
        self.assertEqual(ours.stdout.splitlines(), theirs.stdout.splitlines())
        self.assertIn("rank 0: pi 3.1415926544", ours.stdout)


class Misuse(unittest.TestCase):
    """What mpi4py leaves undefined or to a hang, stdmpi names."""

    def run_py(self, text: str, n: int = 2) -> harness.Job:
        return stdmpirun("-q", "-n", str(n), PYTHON, script(text, "from stdmpi import MPI"),
                         timeout=60)

    def test_a_recv_nobody_can_answer_raises_with_the_reason(self):
        job = self.run_py("IMPORT\ncomm = MPI.COMM_WORLD\n"
                          "if comm.rank == 1:\n"
                          "    try:\n"
                          "        comm.recv(source=0, tag=5)\n"
                          "    except MPI.Exception as e:\n"
                          "        print('caught:', e)\n")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("caught: recvb from rank 0 tag 5 can never complete: rank 0's program "
                      "exited with status 0 without sending it", job.stdout)

    def test_a_recv_buffer_too_small_is_a_truncation_error(self):
        job = self.run_py("IMPORT\nimport numpy as np\ncomm = MPI.COMM_WORLD\n"
                          "if comm.rank == 0:\n"
                          "    comm.Send(np.zeros(8), dest=1, tag=1)\n"
                          "else:\n"
                          "    try:\n"
                          "        comm.Recv(np.zeros(4), source=0, tag=1)\n"
                          "    except MPI.Exception as e:\n"
                          "        print('caught:', e)\n")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("caught: message truncated: 64 bytes arrived for a Recv buffer of 32 bytes",
                      job.stdout)

    def test_ranks_that_mix_a_number_and_an_object_in_allreduce_are_told(self):
        job = self.run_py("IMPORT\ncomm = MPI.COMM_WORLD\n"
                          "try:\n"
                          "    comm.allreduce(1 if comm.rank == 0 else [1])\n"
                          "except MPI.Exception as e:\n"
                          "    print('caught:', e)\n")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(len(re.findall(r"caught: ranks disagree on the collective", job.stdout)),
                         2, job.describe())


if __name__ == "__main__":
    unittest.main()
