# Nilakantha's series for pi, split over the ranks of a stdmpi job (awk).
#   pi = 3 + 4/(2*3*4) - 4/(4*5*6) + 4/(6*7*8) - ...
# Each rank sums its own contiguous block of the N terms, in order; one
# allreduce adds the blocks.
#   stdmpirun -n 4 awk -v terms=1e6 -f "$STDMPI_AWK" -f examples/pi.awk
BEGIN {
  n = (terms == "" ? 1e6 : terms) + 0
  r = mpi_rank(); size = mpi_size()
  lo = 1 + int(n * r / size); hi = 1 + int(n * (r + 1) / size)
  s = 0
  for (k = lo; k < hi; k++) { d = 2 * k; s += ((k % 2) ? 4 : -4) / (d * (d + 1) * (d + 2)) }
  total = mpi_allreduce("sum", sprintf("%.17g", s))
  if (r == 0) printf "pi = %.17g  (%d terms, %d ranks)\n", 3 + total, n, size
}
