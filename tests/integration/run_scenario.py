"""Runs one protocol scenario (tests/protocol/*.txt) with every rank count its
header names ("# ranks: 1 2 4"), through stdmpirun and the raw-protocol client.
Extra stdmpirun options come from "# args: ...". Exits non-zero on any failure.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def main() -> int:
    path = sys.argv[1]
    ranks, args = [2], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# ranks:"):
                ranks = [int(x) for x in line.split(":", 1)[1].split()]
            elif line.startswith("# args:"):
                args = shlex.split(line.split(":", 1)[1])
    failed = 0
    for n in ranks:
        env = {"EXPECT_SIZE": str(n), "LAST_RANK": str(n - 1)}
        job = harness.stdmpirun("-n", str(n), "--oversubscribe", *args, harness.PROTOCLIENT,
                                path, env=env, timeout=120)
        status = "ok" if job.rc == 0 else "FAILED"
        print(f"{os.path.basename(path)} with {n} ranks: {status} ({job.seconds:.2f} s)")
        if job.rc != 0:
            failed += 1
            print(job.describe())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
