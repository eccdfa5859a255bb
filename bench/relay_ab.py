#!/usr/bin/env python3
"""The relay of two builds of stdmpi in one run: every measurement once per
round for each build, in alternating order, so that a noisy machine's drift
hits both alike; prints a Markdown table of medians (microseconds).

    bench/relay_ab.py --before OTHER/build/bin/stdmpirun [--rounds N]

Each row is timed inside the rank (bench/clients/relay_client.c and
bench/clients/relay.py print the mean time of one operation over many,
measured after a barrier): job start and MPI_Init are not in the numbers.
Both builds run the same client programs; each uses its own shim and bridges.
Run from the repository root after building (build/bin/stdmpirun,
build/bench/relay_client)."""
import argparse
import os
import statistics
import subprocess

PY = "/usr/bin/python3"
ROWS = [
    # (label, client command after `stdmpirun -q -n 2`)
    ("8 B text ping-pong, one way (C)", ["build/bench/relay_client", "pingpong", "20000", "8"]),
    ("1 MiB sendb/recvb ping-pong, one way (C)",
     ["build/bench/relay_client", "pingpongb", "300", "1048576"]),
    ("one bcast + one reduce round (C)", ["build/bench/relay_client", "bcastreduce", "20000"]),
    ("allreduce of 1 double (C)", ["build/bench/relay_client", "allreduce", "2000", "1"]),
    ("allreduce of 1000 doubles, text (C)",
     ["build/bench/relay_client", "allreduce", "2000", "1000"]),
    ("allreduce of 1000 doubles, :msgpack (C)",
     ["build/bench/relay_client", "allreducemp", "2000", "1000"]),
    ("allreduce of 10^6 doubles, text (C)",
     ["build/bench/relay_client", "allreduce", "5", "1000000"]),
    ("allreduce of 10^6 doubles, :msgpack (C)",
     ["build/bench/relay_client", "allreducemp", "5", "1000000"]),
    ("8 B str ping-pong, one way (Python)",
     [PY, "bench/clients/relay.py", "stdmpi", "pingpong", "5000", "8"]),
    ("1 MiB bytearray ping-pong, one way (Python)",
     [PY, "bench/clients/relay.py", "stdmpi", "pingpongb", "300", "1048576"]),
    ("one bcast + one reduce round (Python)",
     [PY, "bench/clients/relay.py", "stdmpi", "bcastreduce", "5000"]),
    ("Allreduce of 10^6 doubles, array('d') buffers (Python)",
     [PY, "bench/clients/relay.py", "stdmpi", "Allreduce", "20", "1000000"]),
]


def once(stdmpirun: str, client: list) -> float:
    out = subprocess.run([stdmpirun, "-q", "-n", "2"] + client, check=True, text=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    return float(out.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the other build's stdmpirun")
    ap.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    a = ap.parse_args()
    builds = {"before": a.before, "after": "build/bin/stdmpirun"}
    times = {(label, b): [] for label, _ in ROWS for b in builds}
    for r in range(a.rounds):
        order = list(builds) if r % 2 == 0 else list(reversed(builds))
        for label, client in ROWS:
            for b in order:
                times[(label, b)].append(once(builds[b], client))
    print(f"| measurement (2 ranks, median of {a.rounds} rounds, us) | before | after | "
          "after / before |")
    print("|---|---|---|---|")
    for label, _ in ROWS:
        before = statistics.median(times[(label, "before")])
        after = statistics.median(times[(label, "after")])
        print(f"| {label} | {before:.1f} | {after:.1f} | {after / before:.2f} |")


if __name__ == "__main__":
    os.environ.setdefault("PMIX_MCA_psec", "native")
    main()
