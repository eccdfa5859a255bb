"""The R bridge as pbdMPI: pbdMPI-shaped scripts run with only the library line
changed (examples/pbdmpi_tutorial.R and the forms of pbdMPI's own demos), the
world of one rank outside stdmpirun, and errors that name their fix."""
import os
import re
import shutil
import tempfile
import unittest

import harness
from harness import require, stdmpirun

SRC = harness.SOURCE
TUTORIAL = os.path.join(SRC, "examples", "pbdmpi_tutorial.R")
CHECK_R = os.path.join(SRC, "tests", "bridges", "check.R")
R_LIBS = os.path.join(harness.BUILD, "share", "stdmpi", "R")
LIBRARY_LINE = "suppressMessages(library(stdmpi, quietly = TRUE))"


def need_r():
    require(shutil.which("Rscript") is not None, "R (Rscript; scripts/setup.sh test installs it)")


def write_r(text: str) -> str:
    f = tempfile.NamedTemporaryFile("w", suffix=".R", delete=False)
    f.write(text)
    f.close()
    return f.name


def rscript_alone(*args: str, env=None, timeout: float = 60) -> harness.Job:
    """Rscript outside stdmpirun: STDMPI_RANK is not set (the world of one rank)."""
    saved = os.environ.pop("STDMPI_RANK", None)
    try:
        return harness.run(["Rscript", *args], timeout=timeout,
                           env={"R_LIBS": R_LIBS, **(env or {})})
    finally:
        if saved is not None:
            os.environ["STDMPI_RANK"] = saved


# What examples/pbdmpi_tutorial.R prints with 3 ranks, all of it through rank
# 0 and so in this order.
TUTORIAL_3_RANKS = """Original x:
COMM.RANK = 0
[1] 1 2 3 4 5
COMM.RANK = 1
[1]  6  7  8  9 10
COMM.RANK = 2
[1] 11 12 13 14 15

Allreduce sum:
COMM.RANK = 0
[1] 18 21 24 27 30

Gathered data frames:
  rank     root label
1    0 0.000000     a
2    1 1.000000     b
3    2 1.414214     c

Even ranks: 2  vector lengths: 5 5 5 

Settings on the last rank:
$terms
[1] 1e+05

$method
[1] "Leibniz"

$tol
[1] 1e-04


pi from 100000 terms (Leibniz): 3.141583

Rows per rank: 5 4 4 
rows of rank 0 : 1 2 3 4 5 
rows of rank 1 : 6 7 8 9 
rows of rank 2 : 10 11 12 13 
rank 0 got x = 11 12 13 14 15 from rank 2 
rank 1 got x = 1 2 3 4 5 from rank 0 
rank 2 got x = 6 7 8 9 10 from rank 1 

Even and odd ranks:
rank 0 is rank 0 of 2 in its half; x sums to 12 14 16 18 20 there
rank 1 is rank 0 of 1 in its half; x sums to 6 7 8 9 10 there
rank 2 is rank 1 of 2 in its half; x sums to 12 14 16 18 20 there
"""

# The forms of pbdMPI's demos (demo/gather.r, scatter.r, allgather.r,
# divide.r, chunk.r; inst/examples/test_spmd/isend_irecv_wait.r,
# send_recv.r, sendrecv.r), as a pbdMPI user writes them: typed buffers and
# counts given by position, isend's default destination (rank 1), irecv
# returning the object, .pbd_env$SPMD.CT changed by the script.
DEMO_FORMS = r"""
suppressMessages(library(pbdMPI, quietly = TRUE))
.comm.size <- comm.size()
.comm.rank <- comm.rank()

x <- 1:(.comm.rank + 1)
x.total <- (.comm.size + 1) * .comm.size / 2
x.count <- 1:.comm.size
y <- gather(as.integer(x), integer(x.total), as.integer(x.count))
comm.print(y)
y <- allgather(as.double(x), double(x.total), as.integer(x.count))
comm.print(y, rank.print = 1)
y <- gather(matrix(x, nrow = 1))
comm.print(y)

x <- 1:x.total
y <- scatter(split(x, rep(x.count, x.count)))
comm.print(y, rank.print = 1)
y <- scatter(as.integer(x), integer(.comm.rank + 1), as.integer(x.count))
comm.print(y, all.rank = TRUE)

N <- 5
x <- (1:N) + N * .comm.rank
if (.comm.rank == 0) {
  isend(list(x))
}
if (.comm.rank == 1) {
  y <- irecv(list(x))
}
wait()
comm.print(y, rank.print = 1)
if (.comm.rank == 0) {
  send(as.integer(x))
} else if (.comm.rank == 1) {
  y <- recv(as.integer(x))
}
comm.print(is.integer(y), rank.print = 1)
y <- sendrecv(list(x))
comm.print(y, rank.print = 1)

.pbd_env$SPMD.CT$print.quiet <- TRUE
jid <- get.jid(7, method = "cycle")
comm.print(jid, all.rank = TRUE)
alljid <- get.jid(7, method = "block", all = TRUE, reduced = TRUE)
comm.print(unlist(alljid[[2]]))
my_chunk <- comm.chunk(13, type = "equal", lo.side = "left", all.rank = TRUE)
comm.print(my_chunk)
waitall(as.integer(comm.size()))
finalize()
"""

DEMO_FORMS_2_RANKS = """COMM.RANK = 0
[1] 1 1 2
COMM.RANK = 1
[1] 1 1 2
COMM.RANK = 0
[[1]]
     [,1]
[1,]    1

[[2]]
     [,1] [,2]
[1,]    1    2

COMM.RANK = 1
[1] 2 3
COMM.RANK = 0
[1] 1
COMM.RANK = 1
[1] 2 3
COMM.RANK = 1
[[1]]
[1] 1 2 3 4 5

[1] TRUE
COMM.RANK = 1
[[1]]
[1] 1 2 3 4 5

[1] 1 3 5 7
[1] 2 4 6
 start    end     by length 
     4      7      1      4 
[1] 6 7
"""


class PbdmpiScripts(unittest.TestCase):
    def test_tutorial_differs_from_a_pbdmpi_script_only_in_the_library_line(self):
        with open(TUTORIAL) as f:
            code = [l for l in f.read().splitlines() if l.strip() and not l.lstrip().startswith("#")]
        self.assertEqual([l for l in code if "stdmpi" in l], [LIBRARY_LINE])
        self.assertFalse([l for l in code if "pbdMPI" in l or "@mpi" in l or "STDMPI" in l])

    def test_tutorial_with_3_ranks(self):
        need_r()
        job = stdmpirun("-q", "-n", "3", "--oversubscribe", "Rscript", TUTORIAL, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, TUTORIAL_3_RANKS)
        self.assertEqual(job.stderr, "")

    def test_pbdmpi_demo_forms_with_2_ranks(self):
        need_r()
        script = write_r(DEMO_FORMS.replace("library(pbdMPI", "library(stdmpi"))
        job = stdmpirun("-q", "-n", "2", "Rscript", script, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, DEMO_FORMS_2_RANKS)
        # No request left unwaited for (the shim would warn on stderr).
        self.assertEqual(job.stderr, "")


class WorldOfOneRank(unittest.TestCase):
    """Outside stdmpirun (RStudio, `Rscript x.R`) the bridge answers locally."""

    def test_tutorial_alone_prints_what_a_1_rank_job_prints(self):
        need_r()
        alone = rscript_alone(TUTORIAL)
        self.assertEqual(alone.rc, 0, alone.describe())
        job = stdmpirun("-q", "-n", "1", "Rscript", TUTORIAL, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(alone.stdout, job.stdout)
        self.assertIn("pi from 100000 terms (Leibniz): 3.141583\n", alone.stdout)
        self.assertIn("rank 0 got x = 1 2 3 4 5 from rank 0 \n", alone.stdout)
        self.assertEqual(alone.stderr, "")

    def test_bridge_check_alone(self):
        need_r()
        job = rscript_alone(CHECK_R, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "rank 0 R bridge ok\n")

    def test_values_alone(self):
        need_r()
        job = rscript_alone("-e", (
            "library(stdmpi); cat(comm.rank(), comm.size(), '\\n');"
            "send(list(a = 1), rank.dest = 0, tag = 3); send('hi', 0, 4);"
            "cat(recv(rank.source = 0, tag = 4), recv(0, 3)$a, '\\n');"
            "cat(unlist(gather(7)), allreduce(2:3), bcast('b'), scatter(list('s')), '\\n');"
            "print(is.null(iprobe()))"))
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "0 1 \nhi 1 \n7 2 3 b s \n[1] TRUE\n")

    def test_send_to_a_second_rank_names_the_fix(self):
        need_r()
        job = rscript_alone("-e", "library(stdmpi); send(1, rank.dest = 1)")
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi: DEST 1 out of range: the only rank is 0 (a world of one rank: this "
                      "script runs outside stdmpirun; start it with stdmpirun -n N for more ranks)",
                      job.stderr)

    def test_recv_with_nothing_sent_fails_at_once(self):
        need_r()
        job = rscript_alone("-e", "library(stdmpi); recv(rank.source = 0, tag = 5)")
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi: recv from rank 0 tag 5 can never complete: this rank sent itself no "
                      "message with tag 5", job.stderr)

    def test_rank_variable_set_but_empty_is_an_error(self):
        need_r()
        job = rscript_alone("-e", "library(stdmpi); allreduce(1)", env={"STDMPI_RANK": ""})
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("not running as a stdmpi rank (STDMPI_RANK is set to \"\", not a rank "
                      "number): start the script with stdmpirun", job.stderr)
        self.assertIn("or unset STDMPI_RANK to run it as a world of one rank", job.stderr)


# pbdMPI's demo/split_comm_col.r, made deterministic: a new communicator
# numbered 5, every rank's lines gathered to rank 0.
SPLIT_HALVES = r"""
suppressMessages(library(stdmpi, quietly = TRUE))
comm_world <- .pbd_env$SPMD.CT$comm
my_rank <- comm.rank(comm_world)
comm_new <- 5L
comm.split(comm_world, color = my_rank %/% 2L, key = my_rank, newcomm = comm_new)
my_newrank <- comm.rank(comm_new)
xw <- allreduce(my_rank + 1, comm = comm_world)
xn <- allreduce(my_rank + 1, comm = comm_new)
top <- reduce(my_rank, op = "max", rank.dest = 1L, comm = comm_new)
if (my_newrank == 0) {
  send(paste("ping from", my_rank), rank.dest = 1L, tag = 5L, comm = comm_new)
  heard <- recv(rank.source = 1L, tag = 6L, comm = comm_new)
} else {
  heard <- recv(rank.source = 0L, tag = 5L, comm = comm_new)
  send(paste(heard, "answered by", my_rank), rank.dest = 0L, tag = 6L, comm = comm_new)
}
mates <- allgather(my_rank, comm = comm_new, unlist = TRUE)
line <- sprintf("world %d new %d/%d xw %g xn %g mates %s heard '%s'%s", my_rank, my_newrank,
                comm.size(comm_new), xw, xn, paste(mates, collapse = ","), heard,
                if (is.null(top)) "" else paste(" top", top))
lines <- gather(line)
comm.cat(unlist(lines), sep = "\n", quiet = TRUE)  # a newline after each, as cat() does
comm.free(comm_new)
finalize()
"""

SPLIT_HALVES_4_RANKS = """world 0 new 0/2 xw 10 xn 3 mates 0,1 heard 'ping from 0 answered by 1'
world 1 new 1/2 xw 10 xn 3 mates 0,1 heard 'ping from 0' top 1
world 2 new 0/2 xw 10 xn 7 mates 2,3 heard 'ping from 2 answered by 3'
world 3 new 1/2 xw 10 xn 7 mates 2,3 heard 'ping from 2' top 3
"""

DUP_AND_FREE = r"""
library(stdmpi)
r <- comm.rank()
comm.dup(0L, 3L)
x <- allreduce(r + 1, comm = 3L)
isend("early", rank.dest = 1 - r, tag = 1L, comm = 3L)
y <- recv(rank.source = 1 - r, tag = 1L, comm = 3L)
err <- tryCatch({ comm.free(3L); "freed" }, error = function(e) conditionMessage(e))
wait()
comm.free(3L)
if (r == 0) {
  cat("dup sum", x, "got", y, "\n")
  cat("free before wait:", err, "\n")
  cat("after free: size", comm.size(3L), "is.null", comm.is.null(3L), "\n")
  z <- allreduce(1, comm = 3L)
  cat("not reached\n")
}
"""

MPMD_MASTER = r"""
suppressMessages(library(stdmpi, quietly = TRUE))
me <- comm.program()
cat("master: world rank", comm.rank(), "of", comm.size(), "- its program", comm.size(me),
    "rank(s), appnum", get.appnum(), "\n")
res <- recv(rank.source = ANY_SOURCE, tag = 7L)
cat("master: the", res$workers, "workers (appnum", res$appnum, ") add up to", res$total,
    "; sent by world rank", res$from, "\n")
stopifnot(bcast("done", rank.source = 0L) == "done")
"""

MPMD_WORKER = r"""
suppressMessages(library(stdmpi, quietly = TRUE))
workers <- comm.program()
w <- comm.rank(workers)
part <- sum(get.jid(300, comm = workers))
total <- allreduce(part, comm = workers)
barrier(comm = workers)
if (w == 0) {
  send(list(total = total, workers = comm.size(workers), appnum = get.appnum(),
            from = comm.rank()), rank.dest = 0L, tag = 7L)
}
stopifnot(bcast(NULL, rank.source = 0L) == "done")
"""

SINGLETON_COMMS = r"""
library(stdmpi)
comm.split(color = 0L, key = 0L, newcomm = 2L)
cat(comm.rank(2), comm.size(2), allreduce(5, comm = 2), "\n")
send("on 2", rank.dest = 0, tag = 1, comm = 2)
send("on 0", rank.dest = 0, tag = 1)
cat(recv(rank.source = 0, tag = 1), "/", recv(rank.source = 0, tag = 1, comm = 2), "\n")
comm.dup(2, 3)
cat(comm.size(3), bcast("b", comm = 3), unlist(gather(7, comm = 3)), "\n")
comm.free(3)
cat(comm.is.null(3), comm.size(3), "\n")
comm.split(color = NA, newcomm = 4)
cat(comm.is.null(4), "\n")
comm.program()
cat(comm.rank(1), comm.size(1), get.appnum(), "\n")
allreduce(1, comm = 3)
"""


class Communicators(unittest.TestCase):
    """comm.split, comm.dup, comm.free, comm.program: pbdMPI's integer handles."""

    def test_split_into_halves_with_4_ranks(self):
        need_r()
        script = write_r(SPLIT_HALVES)
        job = stdmpirun("-q", "-n", "4", "--oversubscribe", "Rscript", script, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, SPLIT_HALVES_4_RANKS)
        self.assertEqual(job.stderr, "")

    def test_dup_then_free_then_the_freed_handle_is_an_error(self):
        need_r()
        script = write_r(DUP_AND_FREE)
        job = stdmpirun("-q", "-n", "2", "Rscript", script, timeout=120)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertEqual(job.stdout,
                         "dup sum 3 got early \n"
                         "free before wait: stdmpi: comm.free(3): comm = 3 has 1 non-blocking "
                         "request(s) not yet waited for: wait for them first \n"
                         "after free: size 0 is.null 1 \n")
        self.assertIn("Error: stdmpi: comm = 3 was freed by comm.free(3): it is no communicator "
                      "any more (comm.split() or comm.dup() with newcomm = 3 makes a new one)",
                      job.stderr)
        self.assertRegex(job.stderr, r"stdmpi: rank 0 \(Rscript .*\): exited with status 1")

    def test_mpmd_workers_reduce_in_their_own_communicator(self):
        need_r()
        d = tempfile.mkdtemp()
        for name, text in (("master.R", MPMD_MASTER), ("worker.R", MPMD_WORKER)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        job = stdmpirun("-q", "--oversubscribe", "-n", "1", "Rscript", os.path.join(d, "master.R"),
                        ":", "-n", "3", "Rscript", os.path.join(d, "worker.R"), timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        # 1 + 2 + ... + 300: only if the three workers, and not the master, split the work.
        self.assertEqual(job.stdout,
                         "master: world rank 0 of 4 - its program 1 rank(s), appnum 0 \n"
                         "master: the 3 workers (appnum 1 ) add up to 45150 ; sent by world "
                         "rank 1 \n")
        self.assertEqual(job.stderr, "")

    def test_world_of_one_rank_splits_dups_and_frees(self):
        need_r()
        job = rscript_alone("-e", SINGLETON_COMMS)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertEqual(job.stdout, "0 1 5 \non 0 / on 2 \n1 b 7 \n1 0 \n1 \n0 1 0 \n")
        self.assertIn("stdmpi: comm = 3 was freed by comm.free(3)", job.stderr)


class Errors(unittest.TestCase):
    def test_a_communicator_never_made_names_the_fix(self):
        need_r()
        job = stdmpirun("-q", "-n", "2", "Rscript", "-e",
                        "library(stdmpi); x <- allreduce(1, comm = 1)", timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi: comm = 1 is no communicator on this rank (MPI_COMM_NULL): "
                      "comm.split(newcomm = 1), comm.dup(0, 1) or comm.program(1) makes one; "
                      "comm = 0 is the world", job.stderr)
        self.assertRegex(job.stderr, r"stdmpi: rank [01] \(Rscript -e .*\): exited with status 1")

    def test_scatter_without_one_item_per_rank(self):
        need_r()
        job = stdmpirun("-q", "-n", "2", "Rscript", "-e",
                        "library(stdmpi); y <- scatter(list(1, 2, 3))", timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi: scatter needs one item per rank (2) on the root: a list of length 2",
                      job.stderr)

    def test_call_after_finalize(self):
        need_r()
        job = stdmpirun("-q", "-n", "2", "Rscript", "-e",
                        "library(stdmpi); finalize(); barrier()", timeout=60)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi: finalize() was called: no MPI call can follow it", job.stderr)


if __name__ == "__main__":
    unittest.main()
