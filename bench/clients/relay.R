# relay.R: R's MPI calls timed through stdmpi's R bridge (under stdmpirun) or
# through Rmpi (under mpirun, communicator 0), the same data for both.
#   stdmpirun -n 2 Rscript relay.R stdmpi ITER COUNT [MODE]
#   mpirun    -n 2 Rscript relay.R rmpi ITER COUNT [MODE]
# MODE:
#   allreduce   (the default) allreduce (sum) of COUNT doubles
#   pingpongb   a raw vector of COUNT bytes to the other rank and back
#               (send.bytes/recv.bytes; Rmpi: mpi.send/mpi.recv of type 4),
#               one way
# Every input (and Rmpi's receive buffer) is built before the clock starts:
# only the operations are timed, ITER times after a barrier. Rank 0 prints
# "MODE COUNT microseconds" (the mean per operation); the last result is
# checked.
#
# The bridge moves large payloads through the memory each rank shares with
# its shim (docs/protocol.md, "Arrays through shared memory"): reductions at
# every size, bytes from 16 KiB. STDMPI_SHM_MIN_BYTES=1000000000 (or
# STDMPI_SHM=0) gives the pipes instead: the msgpack form for 64 numbers or
# more, and STDMPI_MSGPACK_MIN_NUMBERS=1000000000 on top of it decimal text.
args <- commandArgs(trailingOnly = TRUE)
lib <- args[1]
iters <- as.integer(args[2])
count <- as.numeric(args[3])
mode <- if (length(args) >= 4) args[4] else "allreduce"
if (lib == "rmpi") {
  suppressMessages(library(Rmpi))
  rank <- mpi.comm.rank(comm = 0)
  barrier <- function() invisible(mpi.barrier(comm = 0))
} else {
  library(stdmpi)
  rank <- comm.rank()
}
peer <- 1 - rank

if (mode == "allreduce") {
  x <- (seq_len(count) %% 100) + 0.5
  op <- if (lib == "rmpi") function() mpi.allreduce(x, type = 2, op = "sum", comm = 0)
        else function() allreduce(x, op = "sum")
  check <- function(y) stopifnot(identical(y, 2 * x))
  per <- 1
} else if (mode == "pingpongb") {
  x <- as.raw(seq_len(count) %% 256)
  buf <- raw(count)  # Rmpi receives into a buffer of the message's size
  if (lib == "rmpi") {
    op <- function() {
      if (rank == 0) {
        mpi.send(x, type = 4, dest = peer, tag = 0, comm = 0)
        mpi.recv(buf, type = 4, source = peer, tag = 0, comm = 0)
      } else {
        y <- mpi.recv(buf, type = 4, source = peer, tag = 0, comm = 0)
        mpi.send(y, type = 4, dest = peer, tag = 0, comm = 0)
        y
      }
    }
  } else {
    op <- function() {
      if (rank == 0) {
        send.bytes(x, rank.dest = peer, tag = 0)
        recv.bytes(rank.source = peer, tag = 0)
      } else {
        y <- recv.bytes(rank.source = peer, tag = 0)
        send.bytes(y, rank.dest = peer, tag = 0)
        y
      }
    }
  }
  check <- function(y) stopifnot(identical(y, x))
  per <- 2
} else {
  stop("relay.R: unknown MODE \"", mode, "\" (allreduce or pingpongb)")
}

barrier()
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(iters)) y <- op()
us <- (proc.time()[["elapsed"]] - t0) / iters / per * 1e6
check(y)
if (rank == 0) cat(sprintf("%s %.0f %.1f\n", mode, count, us))
if (lib == "rmpi") invisible(mpi.finalize())
