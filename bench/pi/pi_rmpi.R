# examples/pi.R's computation with Rmpi (the competitor), or with no MPI at
# all (second argument "serial"): the same terms in the same order.
#   mpirun -n 2 Rscript pi_rmpi.R TERMS        Rscript pi_rmpi.R TERMS serial
# Under mpirun, Rmpi's ranks are in communicator 0 (comm = 0), not Rmpi's
# default 1, which exists only after spawning workers.
args <- commandArgs(trailingOnly = TRUE)
n <- as.numeric(args[1])
serial <- length(args) > 1 && args[2] == "serial"
if (serial) {
  r <- 0; size <- 1
} else {
  suppressMessages(library(Rmpi))
  r <- mpi.comm.rank(comm = 0); size <- mpi.comm.size(comm = 0)
}
lo <- 1 + floor(n * r / size)
hi <- 1 + floor(n * (r + 1) / size)
partial <- 0
if (hi > lo) {
  for (b in seq(lo, hi - 1, by = 1e6)) {
    k <- b:min(b + 1e6 - 1, hi - 1)
    d <- 2 * k
    terms <- ifelse(k %% 2 == 1, 4, -4) / (d * (d + 1) * (d + 2))
    for (t in terms) partial <- partial + t
  }
}
total <- if (serial) partial else mpi.allreduce(partial, type = 2, op = "sum", comm = 0)
if (r == 0) cat(sprintf("pi = %.17g  (%.0f terms, %d ranks)\n", 3 + total, n, size))
if (!serial) invisible(mpi.finalize())
