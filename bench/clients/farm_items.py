"""farm_items.py: no-op items handed to keep-alive Python workers, through
stdmpi's task farm or mpi4py.futures; prints items per second.

    stdmpirun -n W --tasks ITEMS python3 farm_items.py stdmpi N       (W workers)
    mpirun -n W+1 python3 -m mpi4py.futures farm_items.py mpi4py N    (1 master, W workers)

stdmpi: each worker asks for items with `@mpi task` until `end`; rank 0
prints the rate (N items over its own time from its first item to `end`:
the last items end at about the same time on every rank). mpi4py: the
master maps a no-op over N items with chunksize=1 (one item a message, as the
farm does). The clock covers the items only, not the start of the job.
"""
import os
import sys
import time


def noop(x):
    return x


def with_mpi4py(n: int) -> None:
    from mpi4py.futures import MPIPoolExecutor
    with MPIPoolExecutor() as ex:
        list(ex.map(noop, range(100), chunksize=1))  # the workers are up
        t0 = time.perf_counter()
        list(ex.map(noop, range(n), chunksize=1))
        dt = time.perf_counter() - t0
    print(f"items/s {n / dt:.0f}")


def with_stdmpi(n: int) -> None:
    def ask(line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return sys.stdin.readline().rstrip("\n")
    reply = ask("@mpi task")  # the first item: every worker is up
    t0 = time.perf_counter()
    while reply != "end":
        reply = ask("@mpi task")
    dt = time.perf_counter() - t0
    if os.environ["STDMPI_RANK"] == "0":
        print(f"items/s {n / dt:.0f}")


if __name__ == "__main__":
    (with_mpi4py if sys.argv[1] == "mpi4py" else with_stdmpi)(int(sys.argv[2]))
