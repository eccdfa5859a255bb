#!/usr/bin/env bash
# Configures and builds into build/ (or $1), e.g. scripts/build.sh build-asan -DSTDMPI_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" >/dev/null
echo "built $dir/bin/stdmpirun and $dir/bin/stdmpi-shim" >&2
