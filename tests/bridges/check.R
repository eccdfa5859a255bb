# Runs as every rank (any size) and checks the R bridge; prints "R bridge ok".
# Outside stdmpirun (STDMPI_RANK unset) it checks the world of one rank.
library(stdmpi)
init()
r <- comm.rank(); n <- comm.size()
stopifnot(r == as.integer(Sys.getenv("STDMPI_RANK", "0")), n == as.integer(Sys.getenv("STDMPI_SIZE", "1")))
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

# --- pbdMPI's functions ---------------------------------------------------------
stopifnot(comm.rank(comm = 0) == r, comm.size(0L) == n)
# gather/allgather/scatter of any R object, exactly as it was sent.
obj <- list(rank = r, df = data.frame(id = seq_len(r + 1), name = letters[seq_len(r + 1)]),
            text = paste("rank", r, "\n two lines"), f = factor(c("a", "b")))
expect <- lapply(0:(n - 1), function(k) list(rank = k, df = data.frame(id = seq_len(k + 1),
                 name = letters[seq_len(k + 1)]), text = paste("rank", k, "\n two lines"),
                 f = factor(c("a", "b"))))
g <- gather(obj, rank.dest = n - 1)
if (r == n - 1) stopifnot(identical(g, expect)) else stopifnot(is.null(g))
stopifnot(identical(allgather(obj), expect))
stopifnot(identical(allgather(paste("s", r), unlist = TRUE), paste("s", 0:(n - 1))))
stopifnot(identical(allgather(as.integer(r), integer(n)), 0:(n - 1)))         # a typed buffer
stopifnot(identical(allgather(NULL), rep(list(NULL), n)))
g0 <- gather(as.numeric(r), 0)                                                 # stdmpi's own order
if (r == 0) stopifnot(identical(g0, as.list(as.numeric(0:(n - 1)))))
sc <- scatter(if (r == 0) expect else NULL)
stopifnot(identical(sc, expect[[r + 1]]))
sv <- scatter(if (r == 0) as.integer(seq_len(n * (n + 1) / 2)) else NULL, integer(r + 1),
              x.count = seq_len(n))                                            # pbdMPI's scatterv
stopifnot(identical(sv, as.integer(seq_len(r + 1) + r * (r + 1) / 2)))
stopifnot(identical(scatter(if (r == n - 1) as.list(letters[1:n]) else NULL, rank.source = n - 1),
                    letters[r + 1]))
stopifnot(identical(bcast(if (r == 0) obj else NULL), expect[[1]]))
# sendrecv of serialized objects around a ring (pbdMPI's default: to rank + 1).
got <- sendrecv(list(from = r, lines = "a\nb"), rank.source = (r + n - 1) %% n)
stopifnot(identical(got, list(from = as.integer((r + n - 1) %% n), lines = "a\nb")))
stopifnot(identical(sendrecv(as.integer(r), integer(1), rank.dest = (r + 1) %% n,
                             rank.source = (r + n - 1) %% n), as.integer((r + n - 1) %% n)))
# isend/irecv/wait, pbdMPI's way: request numbers, irecv returns the object.
if (n >= 2) {
  if (r == 0) {
    isend(list(x = 1:3), rank.dest = 1, tag = 11)
    isend("second", rank.dest = 1, tag = 12, request = 1)
    isend(matrix(1:4, 2), rank.dest = 1, tag = 13, request = 1)
    waitall(2)
  } else if (r == 1) {
    y <- irecv(rank.source = 0, tag = 11)
    stopifnot(identical(y, list(x = 1:3)), identical(wait(), list(x = 1:3)))
    stopifnot(identical(get.sourcetag(), c(0L, 11L)))
    stopifnot(identical(recv(rank.source = 0, tag = 12), "second"))
    stopifnot(identical(recv(NULL, 0, 13), matrix(1:4, 2)))                    # pbdMPI's order
  }
}
# A round trip to self through isend, whatever the size.
isend(seq_len(10000), rank.dest = r, tag = 14, request = 3)
stopifnot(identical(recv(double(1), rank.source = r, tag = 14), as.numeric(seq_len(10000))))
stopifnot(is.na(waitany(3)), waitany(4) == 3)
wait(5)                                                                        # nothing to wait for
# comm.print and comm.cat print through rank 0, in rank order.
printed <- character(0)
con <- textConnection("printed", "w", local = TRUE)
x <- r * 10
comm.print(x, all.rank = TRUE, con = con)
comm.print(x, rank.print = n - 1, quiet = TRUE, con = con)
comm.cat("cat", r, "\n", all.rank = TRUE, quiet = TRUE, con = con)
comm.cat("only zero\n", con = con)
close(con)
if (r == 0) {
  want <- c(unlist(lapply(0:(n - 1), function(k) c(paste("COMM.RANK =", k), paste("[1]", k * 10)))),
            paste("[1]", (n - 1) * 10), paste("cat", 0:(n - 1), ""), "COMM.RANK = 0", "only zero")
  stopifnot(identical(printed, want))
} else {
  stopifnot(length(printed) == 0)
}
# Work splitting: every item exactly once.
for (method in c("block", "block0", "cycle")) {
  mine <- get.jid(10, method = method)
  stopifnot(identical(as.numeric(sort(unlist(allgather(mine)))), as.numeric(1:10)))
  stopifnot(identical(get.jid(10, method = method, all = TRUE)[[r + 1]], mine))
}
stopifnot(identical(unlist(get.jid(2 * n + 1, method = "block", all = TRUE)), as.numeric(seq_len(2 * n + 1))))
for (type in c("balance", "equal")) {
  v <- comm.chunk(13, form = "vector", type = type)
  stopifnot(length(v) == comm.chunk(13, type = type))
  stopifnot(identical(as.numeric(unlist(allgather(v))), as.numeric(1:13)))
  sq <- comm.chunk(13, form = "seq", type = type)
  if (length(v) > 0) stopifnot(identical(as.numeric(do.call(seq, as.list(sq))), as.numeric(v)))
}
stopifnot(identical(comm.chunk(10, all.rank = TRUE, p = 4), c(3, 3, 2, 2)))
stopifnot(identical(comm.chunk(10, all.rank = TRUE, p = 4, lo.side = "left"), c(2, 2, 3, 3)))
stopifnot(identical(comm.chunk(16, type = "equal", all.rank = TRUE, p = 5), c(4, 4, 4, 4, 0)))
stopifnot(identical(comm.chunk(13, type = "equal", all.rank = TRUE, p = 5), c(3, 3, 3, 3, 1)))

# --- communicators, pbdMPI's way: small integers the script picks ---------------
msg <- function(expr) tryCatch({ expr; "no error" }, error = function(e) conditionMessage(e))
stopifnot(comm.is.null(0) == 0L, comm.is.null(1L) == 1L, comm.size(1L) == 0L)  # none made yet
stopifnot(grepl("comm = 1 is no communicator on this rank \\(MPI_COMM_NULL\\): comm.split\\(newcomm = 1\\)",
                msg(allreduce(1, comm = 1))))
# Two halves: the lower ranks (color 0) and the upper ones (color 1), each
# numbered backwards (key = -r).
lo <- ceiling(n / 2)
color <- as.integer(r >= lo)
mates <- if (color == 0) 0:(lo - 1) else lo:(n - 1)
byrank <- sort(mates, decreasing = TRUE)  # byrank[k + 1]: the world rank of half rank k
comm.split(0L, color = color, key = -r, newcomm = 2L)
hr <- comm.rank(2); hn <- comm.size(2)
stopifnot(hn == length(mates), hr == sum(mates > r), byrank[hr + 1] == r, comm.is.null(2) == 0L)
stopifnot(allreduce(r, comm = 2L) == sum(mates), allreduce(1L, op = "max", comm = 2) == 1L)
stopifnot(identical(allreduce(seq_len(100) * 1.5, comm = 2), seq_len(100) * 1.5 * hn))  # msgpack form
red <- reduce(r, op = "max", rank.dest = 0, comm = 2)
if (hr == 0) stopifnot(red == max(mates)) else stopifnot(is.null(red))
stopifnot(comm.scan(1, comm = 2) == hr + 1)
stopifnot(identical(bcast(if (hr == 0) list(from = r) else NULL, comm = 2L), list(from = byrank[1])))
stopifnot(identical(allgather(r, comm = 2), as.list(byrank)))
g <- gather(r, rank.dest = hn - 1, comm = 2)
if (hr == hn - 1) stopifnot(identical(g, as.list(byrank))) else stopifnot(is.null(g))
stopifnot(scatter(if (hr == 0) as.list(byrank * 10) else NULL, comm = 2) == r * 10)
got <- sendrecv(paste("half", r), rank.source = (hr + hn - 1) %% hn, comm = 2L)  # a ring in the half
stopifnot(got == paste("half", byrank[(hr + hn - 1) %% hn + 1]))
if (hn >= 2) {
  if (hr == 0) {
    send(list(r = r), rank.dest = 1, tag = 21, comm = 2)
    stopifnot(recv(rank.source = 1, tag = 22, comm = 2) == "back")
  } else if (hr == 1) {
    stopifnot(identical(recv(rank.source = 0, tag = 21, comm = 2), list(r = byrank[1])))
    st <- status()
    stopifnot(st$source == 0, st$tag == 21)
    send("back", rank.dest = 0, tag = 22, comm = 2)
  }
}
# A communicator's messages never meet another's, even with the same tag.
send("world", rank.dest = r, tag = 23)
send("half", rank.dest = hr, tag = 23, comm = 2)
stopifnot(is.null(iprobe(ANY_SOURCE, 24, comm = 2)), iprobe(hr, 23, comm = 2)$source == hr)
stopifnot(recv(rank.source = hr, tag = 23, comm = 2) == "half", recv(rank.source = r, tag = 23) == "world")
isend(c(r, 1), rank.dest = hr, tag = 25, comm = 2, request = 6)
stopifnot(identical(recv(rank.source = hr, tag = 25, comm = 2), as.numeric(c(r, 1))))
wait(6)
printed <- character(0)
con <- textConnection("printed", "w", local = TRUE)
comm.cat("half", hr, "world", r, "\n", all.rank = TRUE, quiet = TRUE, comm = 2, con = con)
comm.print(hr, rank.print = hn - 1, comm = 2, con = con)
close(con)
want <- c(paste("half", seq_len(hn) - 1, "world", byrank, ""), paste("COMM.RANK =", hn - 1),
          paste("[1]", hn - 1))
if (hr == 0) stopifnot(identical(printed, want)) else stopifnot(length(printed) == 0)
stopifnot(identical(sort(as.numeric(unlist(allgather(get.jid(7, comm = 2), comm = 2)))), as.numeric(1:7)))
stopifnot(comm.chunk(7, all.rank = TRUE, comm = 2) == comm.chunk(7, all.rank = TRUE, p = hn, rank = hr))
# The defaults follow .pbd_env$SPMD.CT$comm, as in pbdMPI.
.pbd_env$SPMD.CT$comm <- 2L
stopifnot(comm.rank() == hr, comm.size() == hn, allreduce(1) == hn)
.pbd_env$SPMD.CT$comm <- 0L
# A split of a split; color NA: no communicator on that rank.
comm.split(comm = 2, color = if (hr == 0) NA else 5L, key = 0L, newcomm = 3L)
if (hr == 0) {
  stopifnot(comm.is.null(3) == 1L, comm.size(3) == 0L)
  stopifnot(grepl("comm = 3 is MPI_COMM_NULL on this rank: its comm.split\\(\\) gave this rank no communicator",
                  msg(barrier(comm = 3))))
} else {
  stopifnot(comm.size(3) == hn - 1, comm.rank(3) == hr - 1, allreduce(r, comm = 3) == sum(byrank[-1]))
  comm.free(3)
}
# comm.dup: the same ranks, messages apart; comm.free, then the handle is gone.
comm.dup(2L, 4L)
stopifnot(comm.rank(4) == hr, comm.size(4) == hn, allreduce(2, comm = 4) == 2 * hn)
send("dup", rank.dest = hr, tag = 26, comm = 4)
send("orig", rank.dest = hr, tag = 26, comm = 2)
stopifnot(recv(rank.source = hr, tag = 26, comm = 2) == "orig", recv(rank.source = hr, tag = 26, comm = 4) == "dup")
comm.free(4)
stopifnot(grepl("comm = 4 was freed by comm.free\\(4\\): it is no communicator any more", msg(allreduce(1, comm = 4))))
stopifnot(grepl("comm = 4 was freed", msg(send("x", rank.dest = 0, comm = 4))))
stopifnot(comm.size(4) == 0L, comm.is.null(4) == 1L)
# The default newcomm is 1; a second split into it replaces the first.
comm.split(color = 0L, key = r)
stopifnot(comm.rank(1) == r, comm.size(1) == n)
comm.split(color = 0L, key = -r)
stopifnot(comm.rank(1) == n - 1 - r, allreduce(r, comm = 1) == n * (n - 1) / 2)
# This program's ranks: in a job of one program, the world.
stopifnot(comm.program(5L) == 5L, comm.rank(5) == r, comm.size(5) == n, get.appnum() == 0L)
stopifnot(allreduce(1, comm = 5) == n)
for (h in c(1, 2, 5)) comm.free(h)
stopifnot(grepl("comm.free: comm = 0 is the world", msg(comm.free(0))))
stopifnot(grepl("newcomm = 0 is the world", msg(comm.dup(0, 0))))
stopifnot(grepl("comm = \"a\": a communicator is a whole number", msg(barrier(comm = "a"))))
stopifnot(grepl("color = 1.5: expected a whole number >= 0, or NA", msg(comm.split(color = 1.5))))
stopifnot(allreduce(1) == n)  # the world goes on

finalize()
err <- tryCatch({ barrier(); "no error" }, error = function(e) conditionMessage(e))
stopifnot(grepl("finalize\\(\\) was called", err))
cat(sprintf("rank %d R bridge ok\n", r))
