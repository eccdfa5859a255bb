# Nilakantha's series for pi, split over the ranks of a stdmpi job (R).
#   pi = 3 + 4/(2*3*4) - 4/(4*5*6) + 4/(6*7*8) - ...
# Each rank sums its own contiguous block of the N terms, in order; one
# allreduce adds the blocks.
#   stdmpirun -n 4 Rscript examples/pi.R 1e7
library(stdmpi)
args <- commandArgs(trailingOnly = TRUE)
n <- if (length(args) > 0) as.numeric(args[1]) else 1e7
r <- comm.rank(); size <- comm.size()
lo <- 1 + floor(n * r / size)          # this rank's terms: lo .. hi-1
hi <- 1 + floor(n * (r + 1) / size)
start <- proc.time()[["elapsed"]]
partial <- 0
if (hi > lo) {
  # In blocks, to keep memory small; each block summed in term order.
  for (b in seq(lo, hi - 1, by = 1e6)) {
    k <- b:min(b + 1e6 - 1, hi - 1)
    d <- 2 * k
    terms <- ifelse(k %% 2 == 1, 4, -4) / (d * (d + 1) * (d + 2))
    for (t in terms) partial <- partial + t
  }
}
compute <- proc.time()[["elapsed"]] - start
p <- 3 + allreduce(partial, op = "sum")
slowest <- allreduce(compute, op = "max")
if (r == 0) cat(sprintf("pi = %.17g  (%.0f terms, %d ranks, compute %.3f s)\n", p, n, size, slowest))
