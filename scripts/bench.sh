#!/usr/bin/env bash
# Measures stdmpi on this machine and prints Markdown tables (medians of
# repeated runs, competitors measured in the same run):
#   relay   request round trips through the shim vs the plain pipe floor and
#           native C MPI (C child), the Python bridge vs mpi4py and the R
#           bridge vs Rmpi, text and :msgpack forms
#   micro   Google Benchmark of parsing and formatting, the :msgpack codec,
#           and msgpack-c
#   startup stdmpirun -n 2 vs mpirun -n 2 (C, Python, Python + mpi4py)
#   pi      the Nilakantha speedup study: Python, R, NCL and C, serial vs
#           stdmpi vs mpi4py / Rmpi / native MPI, 1..cores ranks and 2x;
#           writes build/bench/pi.csv and docs/pi_speedup.png
#   isolation  start cost of a rank's program plain, under stdmpi-init, with
#           --isolate host and with --image (a busybox root filesystem)
#   farm    task farms: 1000 `true` tasks against GNU parallel and xargs -P,
#           the cost of one task (plain, --isolate host), and no-op items to
#           keep-alive Python workers against mpi4py.futures
#   everyday  mpi4py's everyday calls from Python, `from stdmpi import MPI`
#           vs mpi4py, the same script: a compute loop overlapping a 1 MiB
#           Isend/Irecv exchange, gather and allgather of Python objects
#
#   sweep   time per operation against size (8 B to 64 MiB): ping-pong and
#           allreduce from C, Python and R, through the shared region and the
#           pipes, against C MPI, mpi4py and Rmpi; writes build/bench/sweep.csv
#           and docs/sweep.png
#
#   scripts/bench.sh [relay|micro|startup|pi|isolation|farm|everyday|sweep ...]  (default: all)
#   REPS=5 PI_SCALE=1 scripts/bench.sh
#   PI_COUNTS="1 2 4 8 16 32" BENCH_PYTHON=python3 BENCH_NO_SETUP=1 scripts/bench.sh pi
#   SMOKE=1 scripts/bench.sh      every section once with tiny sizes (in the test run)
set -euo pipefail
cd "$(dirname "$0")/.."
# BENCH_NO_SETUP=1: use what is installed and built already (a machine with no
# package mirror, given a build from elsewhere); languages without their
# tools, and competitors that do not load, are left out.
if [ "${BENCH_NO_SETUP:-0}" != 1 ]; then
  scripts/setup.sh bench
  scripts/build.sh build
fi
reps=${REPS:-5}
# SMOKE=1: every section once, with tiny sizes, to show the benchmarks run
# (the test run does this); the numbers mean nothing then.
smoke=${SMOKE:-0}
it() { if [ "$smoke" = 1 ]; then echo $(( $1 / 100 > 0 ? $1 / 100 : 1 )); else echo "$1"; fi; }
plot=docs/pi_speedup.png
if [ "$smoke" = 1 ]; then reps=1; PI_SCALE=${PI_SCALE:-0.002}; plot=build/bench/pi_speedup.png; fi
cores=$(nproc)
run=(build/bin/stdmpirun -q)
mpirun=(mpirun --stdin none --mca pml ob1)
# As stdmpirun does for its mpirun: without it, PMIx tries munge for ~2.3 s
# before every job once libmunge is installed (SLURM brings it), which would
# be charged to the competitors.
export PMIX_MCA_psec=${PMIX_MCA_psec:-native}
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(relay micro startup pi isolation farm everyday sweep)

median() { sort -g | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); print v[m] }'; }
wall() {  # wall COMMAND...: seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

# A full run (every section, not SMOKE) also rewrites docs/bench-results.md.
if [ "$smoke" != 1 ] && [ $# -eq 0 ]; then
  exec > >(tee docs/bench-results.md.tmp)
  trap 'mv docs/bench-results.md.tmp docs/bench-results.md' EXIT
fi
echo "# Benchmark results (written by scripts/bench.sh; commentary in benchmarks.md)"
echo
echo "Machine: $(nproc) cores, $(awk '/model name/ { $1=$2=$3=""; print; exit }' /proc/cpuinfo | sed 's/^ *//'),"
echo "$(uname -sr), Open MPI $(mpirun --version 2>/dev/null | head -1 | awk '{print $NF}'), $(date -u +%Y-%m-%d)."
echo

for s in "${sections[@]}"; do
  case "$s" in
  relay)
    # Every number is a median of $reps runs; all measured here, in this run.
    py=/usr/bin/python3
    relay_py=bench/clients/relay.py
    med() { for i in $(seq "$reps"); do "$@"; done | awk '{print $NF}' | median; }
    # The floor is the best the machine allows: the two ends on one core (as a
    # rank's shim and program are) and on two, whichever is faster.
    best() { awk '{ print ($1 < $2) ? $1 : $2 }'; }
    floor8=$(echo "$(med taskset -c 0 build/bench/pipe_floor 100000 8) $(med build/bench/pipe_floor 100000 8)" | best)
    floor1m=$(echo "$(med taskset -c 0 build/bench/pipe_floor "$(it 300)" 1048576) $(med build/bench/pipe_floor "$(it 300)" 1048576)" | best)
    echo "### Relay, 2 ranks, C child (median of $reps runs, microseconds)"
    echo
    echo "| measurement | stdmpi (C child) | pipe floor | stdmpi / floor | C MPI |"
    echo "|---|---|---|---|---|"
    pp=$(med "${run[@]}" -n 2 build/bench/relay_client pingpong "$(it 20000)" 8)
    ppm=$(med "${mpirun[@]}" -n 2 build/bench/mpi_relay pingpong "$(it 20000)" 8)
    echo "$pp $floor8 $ppm" | awk '{ printf "| 8 B text ping-pong, one way | %.1f | %.1f (1 round trip) | %.2f | %.2f |\n", $1, $2, $1 / $2, $3 }'
    pb=$(med "${run[@]}" -n 2 build/bench/relay_client pingpongb "$(it 300)" 1048576)
    pbm=$(med "${mpirun[@]}" -n 2 build/bench/mpi_relay pingpong "$(it 300)" 1048576)
    echo "$pb $floor1m $pbm" | awk '{ printf "| 1 MiB sendb/recvb, one way | %.0f (%.0f MB/s) | %.0f (%.0f MB/s) | throughput %.0f%% of the pipe | %.0f |\n", $1, 1048576 / $1, $2, 1048576 / $2, 100 * $2 / $1, $3 }'
    pbs=$(med "${run[@]}" -n 2 build/bench/relay_client pingpongbshm "$(it 300)" 1048576)
    echo "$pbs $floor1m $pbm" | awk '{ printf "| 1 MiB sendb/recvb through the shared region (:shm), one way | %.0f | %.0f | %.2f | %.0f (stdmpi / C MPI: %.2f) |\n", $1, $2, $1 / $2, $3, $1 / $3 }'
    br=$(med "${run[@]}" -n 2 build/bench/relay_client bcastreduce "$(it 20000)")
    brm=$(med "${mpirun[@]}" -n 2 build/bench/mpi_relay bcastreduce "$(it 20000)")
    echo "$br $floor8 $brm" | awk '{ printf "| one bcast + one reduce round | %.1f | %.1f (2 round trips) | %.2f | %.2f |\n", $1, 2 * $2, $1 / (2 * $2), $3 }'
    for count in 1 1000 $([ "$smoke" = 1 ] || echo 1000000); do
      n_it=$([ "$count" = 1000000 ] && echo 5 || it 2000)
      ar=$(med "${run[@]}" -n 2 build/bench/relay_client allreduce "$n_it" "$count")
      arm=$(med "${mpirun[@]}" -n 2 build/bench/mpi_relay allreduce "$n_it" "$count")
      echo "$ar $floor8 $arm $count" | awk '{ printf "| allreduce of %d doubles | %.1f | %.1f (1 round trip) | %.2f | %.1f |\n", $4, $1, $2, $1 / $2, $3 }'
      # The msgpack form (a bin of the raw doubles) against the pipe floor of
      # its bytes: one round trip of 8*count + 5 bytes each way.
      arp=$(med "${run[@]}" -n 2 build/bench/relay_client allreducemp "$n_it" "$count")
      floorn=$(med build/bench/pipe_floor "$n_it" $((8 * count + 5)))
      echo "$arp $floorn $arm $count" | awk '{ printf "| allreduce of %d doubles, :msgpack (bin) | %.1f | %.1f (1 round trip of its bytes) | %.2f | %.1f |\n", $4, $1, $2, $1 / $2, $3 }'
      ars=$(med "${run[@]}" -n 2 build/bench/relay_client allreduceshm "$n_it" "$count")
      echo "$ars $floor8 $arm $count" | awk '{ printf "| allreduce of %d doubles in the shared region (:shm, in place) | %.1f | %.1f (1 round trip) | %.2f | %.1f (stdmpi / C MPI: %.2f) |\n", $4, $1, $2, $1 / $2, $3, $1 / $3 }'
    done
    echo
    echo "### Relay, 2 ranks, Python child (median of $reps runs, microseconds)"
    echo
    echo "| measurement | stdmpi (Python bridge) | mpi4py | stdmpi / mpi4py |"
    echo "|---|---|---|---|"
    row() {  # row LABEL MODE ITER ARG
      local a b
      a=$(med "${run[@]}" -n 2 "$py" "$relay_py" stdmpi "$2" "$3" "$4")
      b=$(med "${mpirun[@]}" -n 2 "$py" "$relay_py" mpi4py "$2" "$3" "$4")
      echo "$a $b" | awk -v l="$1" '{ printf "| %s | %.1f | %.1f | %.2f |\n", l, $1, $2, $1 / $2 }'
    }
    row "8 B str ping-pong (send/recv), one way" pingpong "$(it 5000)" 8
    row "1 MiB bytearray ping-pong (Send/Recv), one way" pingpongb "$(it 200)" 1048576
    row "one bcast + one reduce round (objects)" bcastreduce "$(it 5000)" 1
    row "allreduce of 1000 doubles (a NumPy array, lower case)" allreduce "$(it 1000)" 1000
    row "Allreduce of 1000 doubles (array('d') buffers)" Allreduce "$(it 1000)" 1000
    big=$([ "$smoke" = 1 ] && echo 10000 || echo 1000000)
    big_it=$([ "$smoke" = 1 ] && echo 2 || echo 20)
    row "Allreduce of $big doubles (array('d') buffers)" Allreduce "$big_it" "$big"
    row "Allreduce of $big doubles (NumPy arrays)" Allreduce_np "$big_it" "$big"
    row "Allreduce of $big doubles (NumPy arrays on MPI.Alloc_mem)" Allreduce_alloc "$big_it" "$big"
    # Without the shared region: the pipes and the :msgpack form.
    a=$(export STDMPI_SHM=0; med "${run[@]}" -n 2 "$py" "$relay_py" stdmpi Allreduce "$big_it" "$big")
    b=$(med "${mpirun[@]}" -n 2 "$py" "$relay_py" mpi4py Allreduce "$big_it" "$big")
    echo "$a $b" | awk -v l="Allreduce of $big doubles (array('d')), pipes only (STDMPI_SHM=0)" '{ printf "| %s | %.1f | %.1f | %.2f |\n", l, $1, $2, $1 / $2 }'
    echo
    echo "### Relay, 2 ranks, R child (median of $reps runs, microseconds)"
    echo
    echo "| measurement | stdmpi (R bridge) | Rmpi | stdmpi / Rmpi |"
    echo "|---|---|---|---|"
    rrow() {  # rrow LABEL ITER COUNT [ENV=VALUE]
      local a b
      a=$([ -z "${4:-}" ] || export "$4"; med "${run[@]}" -n 2 Rscript bench/clients/relay.R stdmpi "$2" "$3")
      b=$(med "${mpirun[@]}" -n 2 Rscript bench/clients/relay.R rmpi "$2" "$3")
      echo "$a $b" | awk -v l="$1" '{ printf "| %s | %.1f | %.1f | %.2f |\n", l, $1, $2, $1 / $2 }'
    }
    rrow "allreduce of 1000 doubles" "$(it 500)" 1000
    rrow "allreduce of $big doubles" "$big_it" "$big"
    rrow "allreduce of $big doubles, pipes only (STDMPI_SHM=0)" "$big_it" "$big" STDMPI_SHM=0

    echo
    ;;
  micro)
    echo "### Micro-benchmarks (Google Benchmark, CPU time)"
    echo
    echo '```'
    build/bench/micro --benchmark_min_time="$([ "$smoke" = 1 ] && echo 0.001 || echo 0.2)" 2>/dev/null | awk '/^BM_/ { printf "%-34s %12s %s\n", $1, $4, $5 }'
    echo '```'
    echo
    ;;
  startup)
    echo "### Startup and teardown of a 2-rank job (median of $(( reps < 9 ? 9 : reps )) alternating runs, seconds)"
    echo
    echo "| job | stdmpirun -n 2 | mpirun -n 2 |"
    echo "|---|---|---|"
    # The tools alternate, run by run, so that the VM's drift hits them all.
    sreps=$(( reps < 9 ? 9 : reps ))
    [ "$smoke" = 1 ] && sreps=1
    have_r=0
    command -v Rscript >/dev/null && Rscript -e 'library(Rmpi)' >/dev/null 2>&1 </dev/null && have_r=1
    [ "$smoke" = 1 ] && have_r=0
    : > build/bench/startup.txt
    for i in $(seq "$sreps"); do
      echo "a $(wall "${run[@]}" -n 2 /bin/true)" >> build/bench/startup.txt
      echo "b $(wall "${mpirun[@]}" -n 2 /bin/true)" >> build/bench/startup.txt
      echo "c $(wall "${run[@]}" -n 2 /usr/bin/python3 -c pass)" >> build/bench/startup.txt
      echo "d $(wall "${mpirun[@]}" -n 2 /usr/bin/python3 -c 'from mpi4py import MPI')" >> build/bench/startup.txt
      echo "e $(STDMPI_START_EARLY=0 wall "${run[@]}" -n 2 /usr/bin/python3 -c pass)" >> build/bench/startup.txt
      if [ "$have_r" = 1 ]; then
        echo "f $(wall "${run[@]}" -n 2 Rscript -e 0)" >> build/bench/startup.txt
        echo "g $(wall "${mpirun[@]}" -n 2 Rscript -e 'suppressMessages(library(Rmpi)); invisible(mpi.finalize())')" >> build/bench/startup.txt
        echo "h $(STDMPI_START_EARLY=0 wall "${run[@]}" -n 2 Rscript -e 0)" >> build/bench/startup.txt
      fi
    done
    for k in a b c d e f g h; do
      printf -v "$k" '%s' "$(awk -v k="$k" '$1 == k { print $2 }' build/bench/startup.txt | median)"
    done
    echo "| /bin/true | $a | $b (not an MPI program) |"
    echo "| python3 -c pass (stdmpi) vs python3 + import mpi4py | $c | $d |"
    echo "| the same, STDMPI_START_EARLY=0 (program starts after MPI_Init) | $e | |"
    if [ "$have_r" = 1 ]; then
      echo "| Rscript -e 0 (stdmpi) vs Rscript + library(Rmpi) + mpi.finalize() | $f | $g |"
      echo "| the same, STDMPI_START_EARLY=0 | $h | |"
    fi
    echo
    ;;
  farm)
    py=/usr/bin/python3
    med() { for i in $(seq "$reps"); do "$@"; done | awk '{print $NF}' | median; }
    fdir=$(mktemp -d)
    ntasks=$(it 1000)
    for i in $(seq "$ntasks"); do echo true; done > "$fdir/true.txt"
    echo true > "$fdir/one.txt"
    seq 1 "$(it 20000)" > "$fdir/items.txt"
    : > build/bench/farm.txt
    freps=$(( reps < 5 ? 5 : reps ))
    [ "$smoke" = 1 ] && freps=1
    # The tools alternate, run by run, so that the VM's drift hits them all.
    for i in $(seq "$freps"); do
      echo "s $(wall "${run[@]}" -n "$cores" --tasks "$fdir/true.txt")" >> build/bench/farm.txt
      if command -v parallel >/dev/null; then
        echo "p $(wall parallel --will-cite -j "$cores" :::: "$fdir/true.txt")" >> build/bench/farm.txt
      fi
      echo "x $(wall xargs -P "$cores" -I{} sh -c {} < "$fdir/true.txt")" >> build/bench/farm.txt
      echo "o $(wall "${run[@]}" -n 1 --tasks "$fdir/true.txt")" >> build/bench/farm.txt
      echo "1 $(wall "${run[@]}" -n 1 --tasks "$fdir/one.txt")" >> build/bench/farm.txt
      echo "i $(wall "${run[@]}" -n 1 --isolate host --tasks "$fdir/true.txt")" >> build/bench/farm.txt
      echo "j $(wall "${run[@]}" -n 1 --isolate host --tasks "$fdir/one.txt")" >> build/bench/farm.txt
    done
    for k in s p x o 1 i j; do
      printf -v "f_$k" '%s' "$(awk -v k="$k" '$1 == k { print $2 }' build/bench/farm.txt | median)"
    done
    echo "### Task farms: $ntasks \`true\` tasks on $cores cores (median of $freps alternating runs, seconds)"
    echo
    echo "| tool | wall time |"
    echo "|---|---|"
    echo "| \`stdmpirun -n $cores --tasks FILE\` (job start included) | $f_s |"
    [ -n "$f_p" ] && echo "| \`parallel -j $cores :::: FILE\` (GNU parallel) | $f_p |"
    echo "| \`xargs -P $cores -I{} sh -c {} < FILE\` | $f_x |"
    echo
    echo "One task's cost on one rank, from a farm of $ntasks tasks less a farm of one (ms):"
    awk -v a="$f_o" -v b="$f_1" -v c="$f_i" -v d="$f_j" -v n="$ntasks" 'BEGIN {
      printf "%.3f plain, %.3f with --isolate host\n", (a - b) * 1000 / (n - 1), (c - d) * 1000 / (n - 1) }'
    echo
    w=$(( cores > 1 ? cores : 2 ))
    quiet() { "$@" 2>/dev/null; }  # the farm's summary
    a=$(med quiet "${run[@]}" -n "$w" --oversubscribe --tasks "$fdir/items.txt" "$py" bench/clients/farm_items.py stdmpi "$(it 20000)")
    b=$(med "${mpirun[@]}" --oversubscribe -n $(( w + 1 )) "$py" -m mpi4py.futures bench/clients/farm_items.py mpi4py "$(it 20000)")
    echo "No-op items to $w keep-alive Python workers, items a second (median of $reps runs):"
    echo "$a $b" | awk '{ printf "stdmpi --tasks %.0f, mpi4py.futures map(chunksize=1) %.0f: %.1fx\n", $1, $2, $1 / $2 }'
    echo
    rm -rf "$fdir"
    ;;
  everyday)
    py=/usr/bin/python3
    ev=bench/clients/everyday.py
    med() { for i in $(seq "$reps"); do "$@"; done | awk '{print $NF}' | median; }
    # The same row of numbers from each run: the median of each column.
    medcols() { for i in $(seq "$reps"); do "$@"; done |
      awk '{ for (c = 3; c <= NF; c++) print c, $c }' | sort -k1,1n -k2,2g |
      awk '{ v[$1][++n[$1]] = $2 } END { for (c in v) { m = int((n[c] + 1) / 2); printf "%s ", v[c][m] } print "" }'; }
    echo "### Everyday MPI from Python, 2 ranks: \`from stdmpi import MPI\` vs mpi4py, the same script (median of $reps runs)"
    echo
    ov_it=$([ "$smoke" = 1 ] && echo 1 || echo 10)
    a=($(medcols "${run[@]}" -n 2 "$py" "$ev" stdmpi overlap "$ov_it" 1048576))
    b=($(medcols "${mpirun[@]}" -n 2 "$py" "$ev" mpi4py overlap "$ov_it" 1048576))
    echo "| 1 MiB Isend/Irecv exchange and a compute loop, ms | stdmpi | mpi4py |"
    echo "|---|---|---|"
    echo "| compute alone | ${a[0]} | ${b[0]} |"
    echo "| exchange alone (post, then wait at once) | ${a[1]} | ${b[1]} |"
    echo "| post, compute, wait | ${a[2]} | ${b[2]} |"
    echo "| part of the exchange hidden behind the computing | ${a[3]} | ${b[3]} |"
    echo
    echo "| object collective, microseconds a call | stdmpi | mpi4py | stdmpi / mpi4py |"
    echo "|---|---|---|---|"
    for m in "gather 100" "allgather 100" "gather 1048576" "allgather 1048576"; do
      set -- $m
      n_it=$([ "$2" = 100 ] && it 2000 || it 100)
      x=$(med "${run[@]}" -n 2 "$py" "$ev" stdmpi "$1" "$n_it" "$2")
      y=$(med "${mpirun[@]}" -n 2 "$py" "$ev" mpi4py "$1" "$n_it" "$2")
      echo "$x $y" | awk -v l="$1 of a dict with $2 payload bytes" '{ printf "| %s | %.1f | %.1f | %.1f |\n", l, $1, $2, $1 / $2 }'
    done
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
      # What Charliecloud's ch-run binds over, so that it runs the same image.
      mkdir -p "$img"/{dev,proc,sys,tmp,home,mnt,run,etc}
      touch "$img"/etc/{hosts,resolv.conf,passwd,group}
    fi
    CH_RUN=$(command -v ch-run || true) \
      build/bench/spawn_cost build/bin/stdmpi-init "$img" "$(it 200)"
    [ -n "$img" ] && rm -rf "$img"
    echo
    ;;
  pi)
    # Each language: the serial program, stdmpi with 1..cores ranks and 2x
    # oversubscribed, and the competitor (mpi4py, Rmpi, native MPI; NCL has
    # none). Terms give about 10 s serial on this VM; PI_SCALE scales them.
    scale=${PI_SCALE:-1}
    prep=3; [ "$reps" -lt 3 ] && prep=$reps
    counts=${PI_COUNTS:-$(seq 1 "$cores"; echo $((2 * cores)))}
    csv=build/bench/pi.csv
    echo "language,tool,ranks,seconds,serial_seconds" > "$csv"
    echo "### Nilakantha pi speedup (wall time, median of $prep runs, seconds)"
    echo
    echo "| language | ranks | serial | stdmpi | speedup | efficiency | competitor | its wall | speedup | efficiency |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    study() {  # study LANGUAGE TERMS COMPETITOR "SERIAL CMD" "STDMPI CMD" "COMPETITOR CMD"
      local lang=$1 terms=$2 comp=$3 serial_cmd=$4 std_cmd=$5 comp_cmd=$6 ser n a b over
      ser=$(for i in $(seq "$prep"); do wall env $serial_cmd; done | median)
      for n in $counts; do
        over=(); [ "$n" -gt "$cores" ] && over=(--oversubscribe)
        a=$(for i in $(seq "$prep"); do wall "${run[@]}" "${over[@]}" -n "$n" $std_cmd; done | median)
        echo "$lang,stdmpi,$n,$a,$ser" >> "$csv"
        b=-
        if [ -n "$comp_cmd" ]; then
          b=$(for i in $(seq "$prep"); do wall "${mpirun[@]}" "${over[@]}" -n "$n" $comp_cmd; done | median)
          echo "$lang,$comp,$n,$b,$ser" >> "$csv"
        fi
        awk -v l="$lang" -v n="$n" -v s="$ser" -v a="$a" -v c="$comp" -v b="$b" 'BEGIN {
          printf "| %s | %d | %.2f | %.2f | %.2f | %.2f |", l, n, s, a, s / a, s / a / n
          if (b == "-") printf " %s | - | - | - |\n", c
          else printf " %s | %.2f | %.2f | %.2f |\n", c, b, s / b, s / b / n }'
      done
    }
    t() { awk -v t="$1" -v s="$scale" 'BEGIN { printf "%.0f", t * s }'; }
    py=${BENCH_PYTHON:-/usr/bin/python3}
    mpi4py_cmd="$py bench/pi/pi_mpi4py.py $(t 3e7)"
    mpi4py_name=mpi4py
    if ! $py -c 'from mpi4py import MPI' >/dev/null 2>&1; then
      mpi4py_cmd=""
      mpi4py_name="(mpi4py does not load)"
    fi
    study Python "$(t 3e7)" "$mpi4py_name" "$py bench/pi/pi_mpi4py.py $(t 3e7) serial" \
      "$py examples/pi.py $(t 3e7)" "$mpi4py_cmd"
    if command -v Rscript >/dev/null && Rscript -e 'library(Rmpi)' >/dev/null 2>&1; then
      study R "$(t 7e7)" Rmpi "Rscript bench/pi/pi_rmpi.R $(t 7e7) serial" \
        "Rscript examples/pi.R $(t 7e7)" "Rscript bench/pi/pi_rmpi.R $(t 7e7)"
    fi
    if command -v ncl >/dev/null; then
      study NCL "$(t 5e6)" "(no MPI in NCL)" "ncl -Q -n terms=$(t 5e6) bench/pi/pi_serial.ncl" \
        "ncl -Q -n terms=$(t 5e6) examples/pi.ncl" ""
    fi
    study C "$(t 4e9)" "C MPI" "build/bench/pi_serial $(t 4e9)" "build/tests/pi_c $(t 4e9)" \
      "build/bench/pi_mpi $(t 4e9)"
    echo
    if $py -c 'import matplotlib' 2>/dev/null; then
      $py bench/pi/plot.py "$csv" "$plot" && echo "Plot: $plot (data: $csv)"
    fi
    echo
    ;;
  sweep)
    # Time per operation against size, 8 B to 64 MiB: ping-pong (one way) and
    # allreduce (sum of doubles), from C, Python and R, each against the
    # competitor its users would use (C MPI, mpi4py, Rmpi). Every point is a
    # median of $reps runs; each run times only the operation, ITER times.
    py=${BENCH_PYTHON:-/usr/bin/python3}
    med() { for i in $(seq "$reps"); do "$@"; done | awk '{print $NF}' | median; }
    sizes="8 64 512 4096 32768 262144 2097152 16777216 67108864"
    [ "$smoke" = 1 ] && sizes="8 4096"
    csv=build/bench/sweep.csv
    have_r=0
    command -v Rscript >/dev/null && Rscript -e 'library(Rmpi)' >/dev/null 2>&1 </dev/null && have_r=1
    [ "$smoke" = 1 ] && have_r=0
    echo "op,tool,bytes,us" > "$csv"
    point() {  # point OP TOOL BYTES COMMAND...
      local op=$1 tool=$2 bytes=$3 us
      shift 3
      us=$(med "$@")
      echo "$op,$tool,$bytes,$us" >> "$csv"
    }
    for b in $sizes; do
      n=$(( b / 8 > 0 ? b / 8 : 1 ))
      nb=$(( n * 8 ))
      iters=$(( 30000000 / (b + 10000) )); [ "$iters" -lt 3 ] && iters=3
      [ "$smoke" = 1 ] && iters=2
      point pingpong "stdmpi C (region)" "$b" "${run[@]}" -n 2 build/bench/relay_client pingpongbshm "$iters" "$b"
      point pingpong "stdmpi C (pipes)" "$b" env STDMPI_SHM=0 "${run[@]}" -n 2 build/bench/relay_client pingpongb "$iters" "$b"
      point pingpong "C MPI" "$b" "${mpirun[@]}" -n 2 build/bench/mpi_relay pingpong "$iters" "$b"
      point pingpong "stdmpi Python" "$b" "${run[@]}" -n 2 "$py" bench/clients/relay.py stdmpi pingpongb "$iters" "$b"
      point pingpong "mpi4py" "$b" "${mpirun[@]}" -n 2 "$py" bench/clients/relay.py mpi4py pingpongb "$iters" "$b"
      point allreduce "stdmpi C (region)" "$nb" "${run[@]}" -n 2 build/bench/relay_client allreduceshm "$iters" "$n"
      point allreduce "stdmpi C (pipes; msgpack)" "$nb" env STDMPI_SHM=0 "${run[@]}" -n 2 build/bench/relay_client allreducemp "$iters" "$n"
      point allreduce "C MPI" "$nb" "${mpirun[@]}" -n 2 build/bench/mpi_relay allreduce "$iters" "$n"
      point allreduce "stdmpi Python (NumPy)" "$nb" "${run[@]}" -n 2 "$py" bench/clients/relay.py stdmpi Allreduce_np "$iters" "$n"
      point allreduce "stdmpi Python (Alloc_mem)" "$nb" "${run[@]}" -n 2 "$py" bench/clients/relay.py stdmpi Allreduce_alloc "$iters" "$n"
      point allreduce "mpi4py" "$nb" "${mpirun[@]}" -n 2 "$py" bench/clients/relay.py mpi4py Allreduce_np "$iters" "$n"
      if [ "$have_r" = 1 ]; then
        point pingpong "stdmpi R" "$b" "${run[@]}" -n 2 Rscript bench/clients/relay.R stdmpi "$iters" "$b" pingpongb
        point pingpong "Rmpi" "$b" "${mpirun[@]}" -n 2 Rscript bench/clients/relay.R rmpi "$iters" "$b" pingpongb
        point allreduce "stdmpi R" "$nb" "${run[@]}" -n 2 Rscript bench/clients/relay.R stdmpi "$iters" "$n"
        point allreduce "Rmpi" "$nb" "${mpirun[@]}" -n 2 Rscript bench/clients/relay.R rmpi "$iters" "$n"
      fi
    done
    echo "### Per-size sweep, 2 ranks (median of $reps runs, microseconds per operation)"
    echo
    awk -F, 'NR > 1 { key = $1 " | " $2; if (!(key in seen)) { seen[key] = 1; order[++k] = key }
                      v[key, $3] = $4; if (!($3 in sz)) { sz[$3] = 1; sizes[++m] = $3 } }
             END { printf "| op | tool |"; for (j = 1; j <= m; j++) printf " %s B |", sizes[j]; print "";
                   printf "|---|---|"; for (j = 1; j <= m; j++) printf "---|"; print "";
                   for (i = 1; i <= k; i++) { printf "| %s |", order[i];
                     for (j = 1; j <= m; j++) printf " %s |", ((order[i], sizes[j]) in v) ? sprintf("%.1f", v[order[i], sizes[j]]) : "-"; print "" } }' "$csv"
    echo
    sweep_png=docs/sweep.png
    [ "$smoke" = 1 ] && sweep_png=build/bench/sweep.png
    "$py" bench/plot_sweep.py "$csv" "$sweep_png" "$(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d), median of $reps runs" >/dev/null
    echo "Plot: \`$sweep_png\`."
    echo
    ;;
  *) echo "unknown section $s (relay, micro, startup, pi, isolation, farm, everyday, sweep)" >&2; exit 64 ;;
  esac
done
