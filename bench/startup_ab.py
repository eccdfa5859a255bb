#!/usr/bin/env python3
"""Startup of short jobs, every row once per round so that a noisy machine's
drift hits them all; prints a Markdown table of medians and bests (seconds).

    bench/startup_ab.py [-n RANKS] [--reps N] [--before OTHER/stdmpirun]

--before adds rows for another build of stdmpirun (an older commit), so that
before and after are measured in the same run. Run from the repository root
after building (build/bin/stdmpirun, build/bench/mpi_relay)."""
import argparse
import os
import shutil
import statistics
import subprocess
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", default="2", help="ranks (default 2)")
    ap.add_argument("--reps", type=int, default=21, help="rounds (default 21)")
    ap.add_argument("--before", help="another stdmpirun to compare with")
    a = ap.parse_args()
    py = "/usr/bin/python3"
    mpirun = ["mpirun", "--stdin", "none", "--mca", "pml", "ob1", "-n", a.n]
    if os.geteuid() == 0:
        mpirun.insert(1, "--allow-run-as-root")
    env = dict(os.environ, PMIX_MCA_psec=os.environ.get("PMIX_MCA_psec", "native"))
    late = dict(env, STDMPI_START_EARLY="0")
    rows = []
    if a.before:
        rows.append(("stdmpirun, before: `python3 -c pass`",
                     [a.before, "-q", "-n", a.n, py, "-c", "pass"], env))
    rows += [
        ("stdmpirun: `python3 -c pass`", ["build/bin/stdmpirun", "-q", "-n", a.n, py, "-c", "pass"],
         env),
        ("stdmpirun, `STDMPI_START_EARLY=0`",
         ["build/bin/stdmpirun", "-q", "-n", a.n, py, "-c", "pass"], late),
        ("mpirun `python3 -c 'from mpi4py import MPI'`",
         mpirun + [py, "-c", "from mpi4py import MPI"], env),
    ]
    if a.before:
        rows.append(("stdmpirun, before: `/bin/true`", [a.before, "-q", "-n", a.n, "/bin/true"], env))
    rows += [
        ("stdmpirun: `/bin/true`", ["build/bin/stdmpirun", "-q", "-n", a.n, "/bin/true"], env),
        ("mpirun `/bin/true` (not an MPI program)", mpirun + ["/bin/true"], env),
    ]
    if os.access("build/bench/mpi_relay", os.X_OK):
        rows.append(("mpirun `build/bench/mpi_relay allreduce 1 1` (native C MPI)",
                     mpirun + ["build/bench/mpi_relay", "allreduce", "1", "1"], env))
    if shutil.which("Rscript"):
        rows += [
            ("stdmpirun: `Rscript -e 0`", ["build/bin/stdmpirun", "-q", "-n", a.n, "Rscript", "-e",
                                           "0"], env),
            ("stdmpirun: `Rscript -e 0`, `STDMPI_START_EARLY=0`",
             ["build/bin/stdmpirun", "-q", "-n", a.n, "Rscript", "-e", "0"], late),
        ]
    times = {name: [] for name, _, _ in rows}
    for _ in range(a.reps):
        for name, cmd, e in rows:
            t0 = time.perf_counter()
            subprocess.run(cmd, env=e, check=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
    print(f"| job (-n {a.n}, {a.reps} rounds) | median | best |")
    print("|---|---|---|")
    for name, _, _ in rows:
        v = times[name]
        print(f"| {name} | {statistics.median(v):.3f} | {min(v):.3f} |")


if __name__ == "__main__":
    main()
