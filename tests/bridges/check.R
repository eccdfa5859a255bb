# Runs as every rank (any size) and checks the R bridge; prints "R bridge ok".
library(stdmpi)
r <- comm.rank(); n <- comm.size()
stopifnot(r == as.integer(Sys.getenv("STDMPI_RANK")), n == as.integer(Sys.getenv("STDMPI_SIZE")))
stopifnot(identical(allreduce(c(r, 1.5), op = "sum"), c(n * (n - 1) / 2, 1.5 * n)))
i <- allreduce(as.integer(r + 1L), op = "max")
stopifnot(is.integer(i), i == n)
stopifnot(allreduce(r, op = "min") == 0, allreduce(2, op = "prod") == 2^n)
stopifnot(allreduce(as.integer(bitwShiftL(1L, r)), op = "bor") == 2^n - 1)
ml <- allreduce(10 - r, op = "minloc")
stopifnot(ml[1, "value"] == 10 - (n - 1), ml[1, "rank"] == n - 1)
red <- reduce(1, op = "sum", rank.dest = 0)
if (r == 0) stopifnot(red == n) else stopifnot(is.null(red))
stopifnot(comm.scan(1) == r + 1)
ex <- comm.exscan(1)
if (r == 0) stopifnot(is.null(ex)) else stopifnot(ex == r)
for (root in unique(c(0, n - 1))) {
  for (obj in list("text", "", "two\nlines", "Grüße 世界", c(1.5, 2, NA), 42L, c(TRUE, FALSE),
                   list(a = 1, b = "x"))) {
    got <- bcast(if (r == root) obj else NULL, rank.source = root)
    if (is.list(obj)) stopifnot(identical(got, obj)) else stopifnot(isTRUE(all.equal(got, obj)))
  }
}
if (n >= 2) {
  if (r == 0) {
    send("hello  world", rank.dest = 1, tag = 3L)
    send(c(7, 8.5), 1, 4L)
    send.bytes(as.raw(c(0, 10, 255)), 1, 5L)
    stopifnot(recv(1, 6L) == "back")
  } else if (r == 1) {
    stopifnot(recv(rank.source = 0, tag = 3L) == "hello  world")
    st <- status()
    stopifnot(st$source == 0, st$tag == 3, st$count == 12)
    stopifnot(identical(recv(0, 4L), c(7, 8.5)))
    p <- probe(0, 5L)
    stopifnot(p$count == 3)
    stopifnot(identical(recv.bytes(0, 5L), as.raw(c(0, 10, 255))))
    stopifnot(is.null(iprobe(0, 5L)))
    send("back", 0, 6L)
  }
}
got <- sendrecv(paste("ring", r), rank.dest = (r + 1) %% n, send.tag = 8L,
                rank.source = (r + n - 1) %% n, recv.tag = 8L)
stopifnot(got == paste("ring", (r + n - 1) %% n))
g <- gather(as.numeric(rep(r, r + 1)), rank.dest = 0)
if (r == 0) stopifnot(identical(g, lapply(0:(n - 1), function(k) as.numeric(rep(k, k + 1)))))
ag <- allgather(as.integer(r))
stopifnot(identical(ag, as.list(as.integer(0:(n - 1)))))
sc <- scatter(if (r == 0) lapply(0:(n - 1), function(k) c(k, k + 0.5)) else NULL, rank.source = 0)
stopifnot(identical(sc, c(r, r + 0.5)))
# Large vectors travel as raw doubles (msgpack framing): exact all the same.
big <- seq_len(5000) * 0.5 + r  # exact sums in any order
stopifnot(identical(allreduce(big, op = "sum"), Reduce(`+`, lapply(0:(n - 1), function(k) seq_len(5000) * 0.5 + k))))
bi <- allreduce(seq_len(5000), op = "sum")
stopifnot(is.integer(bi), identical(bi, seq_len(5000) * as.integer(n)))
bm <- allreduce(as.numeric(seq_len(100) * (r + 1)), op = "maxloc")
stopifnot(identical(bm[, "value"], as.numeric(seq_len(100) * n)), all(bm[, "rank"] == n - 1))
red <- reduce(big, op = "max", rank.dest = n - 1)
if (r == n - 1) stopifnot(identical(red, seq_len(5000) * 0.5 + (n - 1))) else stopifnot(is.null(red))
bg <- allgather(rep(r + 0.5, 200))
stopifnot(identical(bg, lapply(0:(n - 1), function(k) rep(k + 0.5, 200))))
bs <- scatter(if (r == 0) lapply(0:(n - 1), function(k) rep(k * 2, 300)) else NULL, rank.source = 0)
stopifnot(identical(bs, rep(r * 2, 300)))
barrier()
stopifnot(wtime() >= 0)
err <- tryCatch({ send("x", rank.dest = n + 4); "no error" }, error = function(e) conditionMessage(e))
stopifnot(grepl(paste0("DEST ", n + 4, " out of range"), err))
cat(sprintf("rank %d R bridge ok\n", r))
