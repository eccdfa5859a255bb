"""Output flood: each rank prints N lines of 99 copies of its rank digit.

    stdmpirun -n 2 python3 bench/clients/flood.py [N] > out.txt
    grep -cvxE '0{99}|1{99}' out.txt     # lines cut into each other (want 0)
"""
import os
import sys

n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
r = os.environ.get("STDMPI_RANK", "0")
sys.stdout.write((r * 99 + "\n") * n)
