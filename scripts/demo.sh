#!/usr/bin/env bash
# The Nilakantha pi demo: installs what it needs (apt), builds, then computes pi
# in Python with TERMS terms (default 2e7) on 1 rank and on every core of this
# machine through stdmpirun, and prints wall times, speedup and efficiency.
#
#   scripts/demo.sh [TERMS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
terms=${1:-2e7}
cores=$(nproc)
py=$(command -v python3)

run() {  # run RANKS: prints "SECONDS PI"
  local t0 t1 out
  t0=$(date +%s.%N)
  out=$(build/bin/stdmpirun -q -n "$1" "$py" examples/pi.py "$terms")
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v o="$out" 'BEGIN { split(o, f, " "); printf "%.3f %s\n", b - a, f[3] }'
}

echo "Nilakantha pi, $terms terms, $py, $cores cores"
echo
printf '%6s %10s %9s %11s  %s\n' ranks "wall (s)" speedup efficiency pi
read -r t1 pi1 < <(run 1)
printf '%6d %10.2f %9.2f %11.2f  %s\n' 1 "$t1" 1 1 "$pi1"
if [ "$cores" -gt 1 ]; then
  read -r tn pin < <(run "$cores")
  awk -v n="$cores" -v a="$t1" -v b="$tn" -v p="$pin" \
    'BEGIN { printf "%6d %10.2f %9.2f %11.2f  %s\n", n, b, a / b, a / b / n, p }'
fi
