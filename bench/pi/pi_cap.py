#!/usr/bin/env python3
"""What a 2-rank pi job can reach on this machine at best, with no MPI and no
stdmpi: the serial Python pi program, then two copies of it with half the terms
each, started together and bound to two different CPUs (what a perfect
2-rank run does), next to stdmpi and mpi4py with 2 ranks; round by round, so a
noisy machine's drift hits them all. Prints each round and the medians.

    bench/pi/pi_cap.py [TERMS] [ROUNDS]      (defaults 3e7, 5)
"""
import os
import statistics
import subprocess
import sys
import time

terms = int(float(sys.argv[1])) if len(sys.argv) > 1 else 30_000_000
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
py = "/usr/bin/python3"
env = dict(os.environ, PMIX_MCA_psec=os.environ.get("PMIX_MCA_psec", "native"))
serial = [py, "bench/pi/pi_mpi4py.py", str(terms), "serial"]
half = [py, "bench/pi/pi_mpi4py.py", str(terms // 2), "serial"]
cpus = sorted(os.sched_getaffinity(0))[:2]
mpirun = ["mpirun", "--stdin", "none", "--mca", "pml", "ob1", "-n", "2"]
if os.geteuid() == 0:
    mpirun.insert(1, "--allow-run-as-root")


def wall(cmds):
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL) for c in cmds]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"{p.args} failed")
    return time.perf_counter() - t0


rows = {
    "serial": lambda: wall([serial]),
    "2 copies, half the terms each, no MPI": lambda: wall(
        [["taskset", "-c", str(c)] + half for c in cpus]),
    "stdmpirun -n 2": lambda: wall([["build/bin/stdmpirun", "-q", "-n", "2", py, "examples/pi.py",
                                     str(terms)]]),
    "mpirun -n 2 (mpi4py)": lambda: wall([mpirun + [py, "bench/pi/pi_mpi4py.py", str(terms)]]),
}
res = {k: [] for k in rows}
for r in range(rounds):
    for k, f in rows.items():
        res[k].append(f())
    print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in res.items()), flush=True)
ser = statistics.median(res["serial"])
print(f"| {terms} terms, {rounds} rounds | median wall (s) | efficiency at 2 |")
print("|---|---|---|")
for k, v in res.items():
    m = statistics.median(v)
    print(f"| {k} | {m:.2f} | {'-' if k == 'serial' else f'{ser / m / 2:.2f}'} |")
