#!/usr/bin/env bash
# The long soak: random messages (0..1 MiB, bytes with NUL and LF) between 4
# ranks, each checked by sequence number and SHA-256 on arrival (see
# tests/clients/soak.py; CI runs a short version of it).
#
#   scripts/soak.sh [MESSAGES] [SEED]     default 1000000 messages, seed 1
#
# Prints soak.py's summary, the wall time and each shim's peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-1000000}
seed=${2:-1}
[ -x build/bin/stdmpirun ] || scripts/build.sh build
start=$(date +%s.%N)
STDMPI_REPORT_MEMORY=1 build/bin/stdmpirun -n 4 --oversubscribe \
  /usr/bin/python3 tests/clients/soak.py "$messages" "$seed"
echo "soak: $messages messages in $(echo "$(date +%s.%N) - $start" | bc) s on $(nproc) cores"
