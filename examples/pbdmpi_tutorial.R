### A pbdMPI script, in the shape of pbdMPI's own demos, run by stdmpi:
###
###   SHELL> stdmpirun -n 4 Rscript examples/pbdmpi_tutorial.R
###   SHELL> Rscript examples/pbdmpi_tutorial.R        # outside a job: one rank
###
### Under pbdMPI (mpiexec -np 4 Rscript ...) the same script runs with
### library(pbdMPI) in the line below: nothing else changes.

### Initialize.
suppressMessages(library(stdmpi, quietly = TRUE))
init()
.comm.size <- comm.size()
.comm.rank <- comm.rank()

### Allreduce: element-wise sums over the ranks.
N <- 5
x <- (1:N) + N * .comm.rank
comm.cat("Original x:\n", quiet = TRUE)
comm.print(x, all.rank = TRUE)
y <- allreduce(x, op = "sum")
comm.cat("\nAllreduce sum:\n", quiet = TRUE)
comm.print(y)

### Gather a data frame from every rank: a list on rank 0.
part <- data.frame(rank = .comm.rank, root = sqrt(.comm.rank), label = letters[.comm.rank + 1])
parts <- gather(part)
if (.comm.rank == 0) {
  frame <- do.call(rbind, parts)
}
comm.cat("\nGathered data frames:\n", quiet = TRUE)
comm.print(frame, quiet = TRUE)

### Gather lists, and allgather with unlist.
info <- allgather(list(rank = .comm.rank, even = .comm.rank %% 2 == 0))
evens <- sum(sapply(info, function(i) i$even))
sizes <- allgather(length(x), unlist = TRUE)
comm.cat("\nEven ranks:", evens, " vector lengths:", sizes, "\n", quiet = TRUE)

### Broadcast a list of settings from rank 0.
if (.comm.rank == 0) {
  settings <- list(terms = 100000, method = "Leibniz", tol = 1e-4)
} else {
  settings <- NULL
}
settings <- bcast(settings)
comm.cat("\nSettings on the last rank:\n", quiet = TRUE)
comm.print(settings, rank.print = .comm.size - 1, quiet = TRUE)

### Split the work: each rank sums its share of the Leibniz series for pi.
jid <- get.jid(settings$terms)
partial <- sum(4 * (-1)^(jid + 1) / (2 * jid - 1))
pi.est <- allreduce(partial, op = "sum")
comm.cat(sprintf("\npi from %d terms (%s): %.6f\n", settings$terms, settings$method, pi.est),
         quiet = TRUE)

### comm.chunk: how 13 rows would be split.
my.rows <- comm.chunk(13, form = "vector")
comm.cat("\nRows per rank:", comm.chunk(13, all.rank = TRUE), "\n", quiet = TRUE)
comm.cat("rows of rank", .comm.rank, ":", my.rows, "\n", all.rank = TRUE, quiet = TRUE)

### Non-blocking send around a ring: isend, then irecv, then wait.
rank.dest <- (.comm.rank + 1) %% .comm.size
rank.source <- (.comm.rank - 1) %% .comm.size
isend(list(from = .comm.rank, x = x), rank.dest = rank.dest)
msg <- irecv(rank.source = rank.source)
wait()
comm.cat("rank", .comm.rank, "got x =", msg$x, "from rank", msg$from, "\n",
         all.rank = TRUE, quiet = TRUE)

### Communicators: the even and the odd ranks (pbdMPI's handles: 0 is the
### world, the new one is 1), each summing x among themselves.
comm.split(color = .comm.rank %% 2, key = .comm.rank, newcomm = 1L)
y.half <- allreduce(x, op = "sum", comm = 1L)
comm.cat("\nEven and odd ranks:\n", quiet = TRUE)
comm.cat("rank", .comm.rank, "is rank", comm.rank(1L), "of", comm.size(1L),
         "in its half; x sums to", y.half, "there\n", all.rank = TRUE, quiet = TRUE)
comm.free(1L)

### Finish.
finalize()
