#!/usr/bin/env bash
# Nilakantha's series for pi, split over the ranks of a stdmpi job (bash).
#   pi = 3 + 4/(2*3*4) - 4/(4*5*6) + 4/(6*7*8) - ...
# bash has no floating point: each rank sums its block of the N terms with awk
# (in term order) and the ranks add the blocks with one allreduce.
#   stdmpirun -n 4 bash examples/pi.sh 1e6
source "$STDMPI_BASH"
n=$(awk -v n="${1:-1e6}" 'BEGIN { printf "%d", n }')
mpi_comm_rank rank
mpi_comm_size size
lo=$(( 1 + n * rank / size ))
hi=$(( 1 + n * (rank + 1) / size ))
partial=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN {
  s = 0
  for (k = lo; k < hi; k++) { d = 2 * k; s += ((k % 2) ? 4 : -4) / (d * (d + 1) * (d + 2)) }
  printf "%.17g", s }')
mpi_allreduce -O sum "$partial" total
if (( rank == 0 )); then
  printf 'pi = %s  (%d terms, %d ranks)\n' "$(awk -v t="$total" 'BEGIN { printf "%.17g", 3 + t }')" "$n" "$size"
fi
