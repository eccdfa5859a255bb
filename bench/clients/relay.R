# relay.R: an allreduce of COUNT doubles from R, through stdmpi's R bridge
# (under stdmpirun) or through Rmpi (under mpirun, communicator 0), the same
# vector for both. Rank 0 prints "allreduce COUNT microseconds".
#   stdmpirun -n 2 Rscript relay.R stdmpi ITER COUNT
#   mpirun    -n 2 Rscript relay.R rmpi ITER COUNT
# STDMPI_MSGPACK_MIN_NUMBERS=1000000000 makes the bridge send decimal text
# (the form before the msgpack framing).
args <- commandArgs(trailingOnly = TRUE)
lib <- args[1]
iters <- as.integer(args[2])
count <- as.numeric(args[3])
x <- (seq_len(count) %% 100) + 0.5
if (lib == "rmpi") {
  suppressMessages(library(Rmpi))
  rank <- mpi.comm.rank(comm = 0)
  ar <- function(v) mpi.allreduce(v, type = 2, op = "sum", comm = 0)
  invisible(mpi.barrier(comm = 0))
} else {
  library(stdmpi)
  rank <- comm.rank()
  ar <- function(v) allreduce(v, op = "sum")
  barrier()
}
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(iters)) y <- ar(x)
us <- (proc.time()[["elapsed"]] - t0) / iters * 1e6
stopifnot(identical(y, 2 * x))
if (rank == 0) cat(sprintf("allreduce %.0f %.1f\n", count, us))
if (lib == "rmpi") invisible(mpi.finalize())
