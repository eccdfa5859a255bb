#!/usr/bin/env bash
# Installs what the tests need (apt), builds, and runs every test: the Catch2
# unit tests and the integration tests, which run real jobs through mpirun.
# Then every benchmark once with tiny sizes, the fuzzers for 60 s each, and the
# same suite again under AddressSanitizer and UBSan.
#
#   scripts/test.sh           everything
#   scripts/test.sh quick     the normal build only
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh test
scripts/build.sh build
jobs=$(nproc)
# Every kind of test must be there: a missing one is a failure, not a skip.
listed=$(cd build && ctest -N)
for kind in unit protocol integration; do
  case "$listed" in
    *": $kind/"*) ;;
    *) echo "no $kind tests registered" >&2; exit 1 ;;
  esac
done
# A test that needs what this machine lacks (root, R, NCL, NumPy, busybox,
# 2 cores) skips here and fails in CI (CI=true, tests/integration/harness.py's
# require): say which ones did not run, so that a skip is never silent.
report_skips() {
  local log="$1/Testing/Temporary/LastTest.log" skipped
  [ -f "$log" ] || return 0
  skipped=$(grep -E " \.\.\. skipped '" "$log" | sed 's/^/  /' || true)
  if [ -n "$skipped" ]; then
    echo "tests skipped on this machine (each fails with CI=true):"
    echo "$skipped"
  fi
}
(cd build && ctest --output-on-failure -j "$jobs")
report_skips build

if [ "${1:-}" != quick ]; then
  # The benchmarks, once each with tiny sizes: they must run (numbers: scripts/bench.sh).
  if ! SMOKE=1 scripts/bench.sh > build/bench-smoke.log 2>&1; then
    tail -30 build/bench-smoke.log >&2
    echo "the benchmark smoke run failed (log: build/bench-smoke.log)" >&2
    exit 1
  fi
  echo "benchmark smoke run: ok"
  scripts/fuzz.sh 60
  # The sanitizer options are set per test by CTest (tests/CMakeLists.txt).
  scripts/build.sh build-asan -DSTDMPI_SANITIZE=ON -DSTDMPI_BUILD_BENCH=OFF
  (cd build-asan && ctest --output-on-failure -j "$jobs")
  report_skips build-asan
fi
echo "all tests passed in $(( $(date +%s) - start )) s"
