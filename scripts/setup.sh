#!/usr/bin/env bash
# Installs the Debian 12 packages stdmpi needs, only those missing.
#
#   scripts/setup.sh            what building and running need
#   scripts/setup.sh test       ... and what the tests need
#   scripts/setup.sh bench      ... and what the benchmarks compare against
set -euo pipefail

pkgs=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev libhwloc-dev hwloc
      libuv1-dev libmsgpack-cxx-dev python3 procps)
case "${1:-}" in
  # slurm-wlm and munge: a real SLURM for the batch-system tests; iproute2 and
  # ethtool: the multi-host tests' network namespaces; clang and its runtime:
  # the libFuzzer targets; python3-numpy: the Python bridge's NumPy paths;
  # python3-mpi4py: mpi4py scripts run under both, their outputs compared;
  # bzip2, xz-utils, zstd: image tarballs compressed every way; lmod, man-db,
  # bash-completion: the install tree's module file, man page and completion;
  # python3-pip, python3-venv, r-base-dev: the bridges installed as packages;
  # chromium: --report's page, loaded in a real browser; file: cpack's shlibdeps.
  test) pkgs+=(catch2 passwd util-linux r-base-core ncl-ncarg gawk mawk slurm-wlm munge busybox-static
               iproute2 ethtool clang libclang-rt-14-dev python3-numpy python3-mpi4py bzip2 xz-utils
               zstd lmod man-db bash-completion python3-pip python3-venv r-base-dev chromium file) ;;
  # charliecloud-runtime: ch-run, the container start the isolation bench compares with;
  # parallel: GNU parallel, which the task-farm bench compares with.
  bench) pkgs+=(catch2 libbenchmark-dev python3-mpi4py r-cran-rmpi python3-matplotlib r-base-core
               ncl-ncarg busybox-static charliecloud-runtime parallel) ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [test|bench]" >&2; exit 64 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}" >&2
# Daemons (munge, slurmctld, slurmd) are not started by the install: the tests
# start their own. A policy-rc.d that says "no" is the Debian way to ask.
policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  added_policy=1
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
  "${missing[@]}" >/dev/null

