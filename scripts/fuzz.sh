#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang and runs each for a while,
# starting from the checked-in corpus. A crash or a broken invariant fails.
#
#   scripts/fuzz.sh [SECONDS]     default 60 s per target, the targets in parallel
#
# New inputs go to build-fuzz/corpus-*/ (not to the checked-in corpus); a
# failing input is written to build-fuzz/ as crash-* and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
cmake -S fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null
targets=(request demux reader msgpack tar options profile)
pids=()
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus-$t"
  (cd build-fuzz && ./fuzz_$t -max_total_time="$seconds" -print_final_stats=1 \
     -artifact_prefix="$PWD/" "corpus-$t" "../fuzz/corpus/$t" >"fuzz_$t.log" 2>&1) &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  t=${targets[$i]}
  if wait "${pids[$i]}"; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/fuzz_$t.log")
    echo "fuzz_$t: ${runs:-?} inputs in ${seconds} s, no failure"
  else
    echo "fuzz_$t FAILED; its log:" >&2
    tail -40 "build-fuzz/fuzz_$t.log" >&2
    status=1
  fi
done
exit $status
