# A worker of the mixed job (see master.py): sums the block it is given.
library(stdmpi)
r <- comm.rank()
n <- as.numeric(bcast(NULL, rank.source = 0))
block <- as.numeric(strsplit(recv(0, 1L), " ")[[1]])
s <- 0
if (block[2] > block[1]) {
  for (k in block[1]:(block[2] - 1)) {
    d <- 2 * k
    s <- s + ifelse(k %% 2 == 1, 4, -4) / (d * (d + 1) * (d + 2))
  }
}
send(sprintf("%d %.17g", r, s), rank.dest = 0, tag = 2L)
invisible(allreduce(r))
cat(sprintf("R worker %d done (n = %.0f)\n", r, n))
