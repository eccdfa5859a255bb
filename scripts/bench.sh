#!/usr/bin/env bash
# Measures stdmpi on this machine and prints Markdown tables (medians of
# repeated runs, competitors measured in the same run):
#   relay   request round trips through the shim vs the plain pipe floor
#   startup stdmpirun -n 2 vs mpirun -n 2 (C, Python, Python + mpi4py)
#   pi      the Nilakantha demo on 1 rank and on every core
#   isolation  start cost of a rank's program plain, under stdmpi-init, with
#           --isolate host and with --image (a busybox root filesystem)
#
#   scripts/bench.sh [relay|startup|pi|isolation ...]     (default: all)
#   REPS=5 PI_TERMS=2e7 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh bench
scripts/build.sh build
reps=${REPS:-5}
terms=${PI_TERMS:-2e7}
cores=$(nproc)
run=(build/bin/stdmpirun -q)
mpirun=(mpirun --stdin none --mca pml ob1)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(relay startup pi isolation)

median() { sort -g | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); print v[m] }'; }
wall() {  # wall COMMAND...: seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

echo "Machine: $(nproc) cores, $(awk '/model name/ { $1=$2=$3=""; print; exit }' /proc/cpuinfo | sed 's/^ *//'),"
echo "$(uname -sr), Open MPI $(mpirun --version 2>/dev/null | head -1 | awk '{print $NF}'), $(date -u +%Y-%m-%d)."
echo

for s in "${sections[@]}"; do
  case "$s" in
  relay)
    echo "### Relay latency, 2 ranks, C child (median of $reps runs, microseconds)"
    echo
    echo "| measurement | stdmpi | pipe floor | ratio |"
    echo "|---|---|---|---|"
    floor=$(for i in $(seq "$reps"); do build/bench/pipe_floor 100000 8; done | awk '{print $3}' | median)
    pp=$(for i in $(seq "$reps"); do "${run[@]}" -n 2 build/bench/relay_client pingpong 20000 8; done | awk '{print $3}' | median)
    br=$(for i in $(seq "$reps"); do "${run[@]}" -n 2 build/bench/relay_client bcastreduce 20000; done | awk '{print $2}' | median)
    ar=$(for i in $(seq "$reps"); do "${run[@]}" -n 2 build/bench/relay_client allreduce 20000 1; done | awk '{print $3}' | median)
    # A ping-pong one way and an allreduce are one request round trip each on
    # the critical path; a bcast+reduce round is two.
    awk -v f="$floor" -v pp="$pp" -v br="$br" -v ar="$ar" 'BEGIN {
      printf "| 8 B text ping-pong, one way | %.1f | %.1f (1 round trip) | %.2f |\n", pp, f, pp / f
      printf "| one bcast + one reduce round | %.1f | %.1f (2 round trips) | %.2f |\n", br, 2 * f, br / (2 * f)
      printf "| allreduce of 1 double | %.1f | %.1f (1 round trip) | %.2f |\n", ar, f, ar / f
    }'
    echo
    ;;
  startup)
    echo "### Startup and teardown of a 2-rank job (median of $reps runs, seconds)"
    echo
    echo "| job | stdmpirun -n 2 | mpirun -n 2 |"
    echo "|---|---|---|"
    a=$(for i in $(seq "$reps"); do wall "${run[@]}" -n 2 /bin/true; done | median)
    b=$(for i in $(seq "$reps"); do wall "${mpirun[@]}" -n 2 /bin/true; done | median)
    echo "| /bin/true | $a | $b (not an MPI program) |"
    c=$(for i in $(seq "$reps"); do wall "${run[@]}" -n 2 /usr/bin/python3 -c pass; done | median)
    d=$(for i in $(seq "$reps"); do wall "${mpirun[@]}" -n 2 /usr/bin/python3 -c 'from mpi4py import MPI'; done | median)
    echo "| python3 -c pass (stdmpi) vs python3 + import mpi4py | $c | $d |"
    echo
    ;;
  isolation)
    echo "### Start cost of a rank's program (median of 200 starts of /bin/true, ms)"
    echo
    img=""
    if [ -x /bin/busybox ]; then
      img=$(mktemp -d)
      mkdir -p "$img/bin"
      cp /bin/busybox "$img/bin/"
      for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$img/bin/$a"; done
    fi
    build/bench/spawn_cost build/bin/stdmpi-init "$img" 200
    [ -n "$img" ] && rm -rf "$img"
    echo
    ;;
  pi)
    echo "### Nilakantha pi, $terms terms, Python (median of 3 runs, seconds)"
    echo
    echo "| ranks | wall | speedup | efficiency |"
    echo "|---|---|---|---|"
    t1=$(for i in 1 2 3; do wall "${run[@]}" -n 1 /usr/bin/python3 examples/pi.py "$terms"; done | median)
    echo "| 1 | $t1 | 1.00 | 1.00 |"
    if [ "$cores" -gt 1 ]; then
      tn=$(for i in 1 2 3; do wall "${run[@]}" -n "$cores" /usr/bin/python3 examples/pi.py "$terms"; done | median)
      awk -v n="$cores" -v a="$t1" -v b="$tn" 'BEGIN { printf "| %d | %s | %.2f | %.2f |\n", n, b, a / b, a / b / n }'
    fi
    echo
    ;;
  *) echo "unknown section $s (relay, startup, pi)" >&2; exit 64 ;;
  esac
done
