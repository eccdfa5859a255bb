"""Runs one protocol scenario (tests/protocol/*.txt) with every rank count its
header names ("# ranks: 1 2 4"), through stdmpirun and the raw-protocol client.
Extra stdmpirun options come from "# args: ...". Exits non-zero on any failure.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def read_header(path: str):
    """The rank counts and extra stdmpirun options a scenario's header names."""
    ranks, args = [2], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# ranks:"):
                ranks = [int(x) for x in line.split(":", 1)[1].split()]
            elif line.startswith("# args:"):
                args = shlex.split(line.split(":", 1)[1])
    return ranks, args


def run(path: str, launch=None, options=(), timeout: float = 120) -> int:
    """Runs the scenario with each of its rank counts; prints one line per run
    and returns how many failed. `launch` (a list) is put before stdmpirun,
    e.g. to run it inside a network namespace; `options` go to stdmpirun."""
    ranks, args = read_header(path)
    failed = 0
    for n in ranks:
        env = {"EXPECT_SIZE": str(n), "LAST_RANK": str(n - 1)}
        # -x: ranks on other hosts get no environment of stdmpirun's unnamed.
        exports = [a for name in env for a in ("-x", name)]
        job = harness.run([*(launch or []), harness.STDMPIRUN, "-n", str(n), "--oversubscribe",
                           *exports, *options, *args, harness.PROTOCLIENT, path], env=env,
                          timeout=timeout)
        status = "ok" if job.rc == 0 else "FAILED"
        print(f"{os.path.basename(path)} with {n} ranks: {status} ({job.seconds:.2f} s)")
        if job.rc != 0:
            failed += 1
            print(job.describe())
    return failed


def main() -> int:
    return 1 if run(sys.argv[1]) else 0


if __name__ == "__main__":
    sys.exit(main())
