"""The R bridge through the shared region (docs/protocol.md, "Arrays through
shared memory"): reductions and large messages go through the memory each rank
shares with its shim, read and written as the file /proc/self/fd/N, and give
exactly what the pipes give. Every expected value is computed here, in Python,
from the same formulas the R script uses; the trace shows which form each
request took."""
import json
import operator
import os
import shutil
import tempfile
import unittest
from fractions import Fraction
from functools import lru_cache

import harness
from harness import require, stdmpirun

R_LIBS = os.path.join(harness.BUILD, "share", "stdmpi", "R")
PIPES_ONLY = {"STDMPI_SHM_MIN_BYTES": "1000000000"}

# The R script: every rank prints "rank R: LABEL: DIGEST" lines; a digest of a
# vector is "CLASS LENGTH SUM WEIGHTED-SUM FIRST LAST" (weights i %% 97), with
# doubles as %.17g. The inputs:
#   xs(r, count)[i] = ((7 i + 13 r) %% 1000) / 8 + r     (numbers for reductions)
#   rawv(size, seed)[i] = (7 i + seed) %% 256            (raw vectors)
#   obj(size, s) = list(v = (1:size) / 8 + s, s = "from rank s", m = matrix)
SCRIPT = r"""
suppressMessages(library(stdmpi, quietly = TRUE))
r <- comm.rank(); n <- comm.size()
say <- function(...) cat("rank ", r, ": ", ..., "\n", sep = "")
fmt <- function(v) sprintf("%.17g", v)
num <- function(v) format(v, scientific = FALSE)
dig <- function(y) {
  if (is.null(y)) return("NULL")
  v <- as.numeric(y)
  paste(class(y)[1], length(y), fmt(sum(v)), fmt(sum(v * (seq_along(v) %% 97))), fmt(v[1]),
        fmt(v[length(v)]))
}
xs <- function(rank, count) { i <- seq_len(count); ((i * 7 + rank * 13) %% 1000) / 8 + rank }
rawv <- function(size, seed) as.raw((seq_len(size) * 7 + seed) %% 256)
obj <- function(size, s) list(v = seq_len(size) / 8 + s, s = paste("from rank", s),
                             m = matrix(seq_len(6) + s, 2))

for (count in c(1, 127, 128, 129, 2047, 2048, 2049, 1e6)) {
  x <- xs(r, count)
  say("allreduce sum ", num(count), ": ", dig(allreduce(x, op = "sum")))
  say("allreduce max ", num(count), ": ", dig(allreduce(x, op = "max")))
  say("reduce sum to last ", num(count), ": ", dig(reduce(x, op = "sum", rank.dest = n - 1)))
  say("reduce max to 0 ", num(count), ": ", dig(reduce(x, op = "max", rank.dest = 0)))
  say("scan sum ", num(count), ": ", dig(comm.scan(x, op = "sum")))
  say("scan max ", num(count), ": ", dig(comm.scan(x, op = "max")))
  say("exscan sum ", num(count), ": ", dig(comm.exscan(x, op = "sum")))
}
say("allreduce integers: ", dig(allreduce(seq_len(3000L) + r)))
say("allreduce max of odd values: ",
    paste(fmt(allreduce(c(0.1, 1/3, -0, 1e308, 5e-324, Inf, -Inf, -2.5), op = "max")), collapse = " "))
comm.dup(0, 1)
say("allreduce sum on a dup: ", dig(allreduce(xs(r, 1e6), op = "sum", comm = 1)))

pairs <- if (n == 2) list(c(0, 1), c(1, 0)) else list(c(0, 1), c(1, 0), c(2, 0), c(1, 2))
for (p in pairs) {
  s <- p[1]; d <- p[2]
  for (size in c(100, 16383, 16384, 16385, 8e6, 16384)) {
    if (r == s) send.bytes(rawv(size, s), rank.dest = d, tag = 1)
    if (r == d) say("bytes ", num(size), " from ", s, ": ", dig(recv.bytes(rank.source = s, tag = 1)))
  }
  for (size in c(10, 1990, 2100, 1e6, 2100)) {
    if (r == s) send(obj(size, s), rank.dest = d, tag = 2)
    if (r == d) {
      got <- recv(rank.source = s, tag = 2)
      say("object ", num(size), " from ", s, ": ", identical(got, obj(size, s)), " ", fmt(sum(got$v)))
    }
  }
  long <- strrep("abc", 7000)
  lines <- paste(rep("line", 5000), collapse = "\n")
  if (r == s) {
    send(long, rank.dest = d, tag = 3)
    send(lines, rank.dest = d, tag = 3)
    send(seq_len(3000) / 4, rank.dest = d, tag = 3)
    send(rawv(20000, s), rank.dest = d, tag = 3)
  }
  if (r == d) {
    a <- recv(rank.source = s, tag = 3)
    b <- recv(rank.source = s, tag = 3)
    say("text from ", s, ": ", nchar(a), " ", identical(a, long), " ", nchar(b), " ", identical(b, lines))
    say("numbers from ", s, ": ", dig(recv(rank.source = s, tag = 3)))
    say("raw from ", s, ": ", dig(recv(rank.source = s, tag = 3)))
  }
}

for (root in unique(c(0, n - 1))) {
  for (size in c(16383, 16385, 8e6, 16385)) {
    say("bcast raw ", num(size), " from ", root, ": ",
        dig(bcast(if (r == root) rawv(size, root) else NULL, rank.source = root)))
  }
  got <- bcast(if (r == root) obj(1e6, root) else NULL, rank.source = root)
  say("bcast object from ", root, ": ", identical(got, obj(1e6, root)), " ", fmt(sum(got$v)))
}

mine <- rawv(if (r == 1) 8e6 else 100 + r, r)
for (k in 1:2) {
  g <- gather(mine, rank.dest = 0)
  say("gather ", k, ": ", if (is.null(g)) "NULL" else paste(vapply(g, dig, ""), collapse = " | "))
  say("allgather ", k, ": ", paste(vapply(allgather(mine), dig, ""), collapse = " | "))
}
items <- if (r == 0) lapply(seq_len(n) - 1, function(k) rawv(c(20000, 100, 8e6)[k + 1], 40 + k))
for (k in 1:2) say("scatter ", k, ": ", dig(scatter(items, rank.source = 0)))
say("sendrecv: ", dig(sendrecv(rawv(20000 + r, r), rank.dest = (r + 1) %% n,
                               rank.source = (r - 1) %% n)))
if (r == 0) { isend(rawv(50000, 9), rank.dest = 1, tag = 5); wait() }
if (r == 1) say("isend: ", dig(recv(rank.source = 0, tag = 5)))
finalize()
say("done")
"""

COUNTS = [1, 127, 128, 129, 2047, 2048, 2049, 10 ** 6]


def need_r():
    require(shutil.which("Rscript") is not None, "R (Rscript; scripts/setup.sh test installs it)")


def fmt(v) -> str:
    """R's sprintf("%.17g") of an exact value (a Fraction or an int)."""
    return "%.17g" % float(v)


@lru_cache(maxsize=None)
def weights(count: int):
    return [i % 97 for i in range(1, count + 1)]


@lru_cache(maxsize=None)
def xs8(rank: int, count: int):
    """8 x xs(rank, count): whole numbers."""
    return [(7 * i + 13 * rank) % 1000 + 8 * rank for i in range(1, count + 1)]


def dig8(cls: str, y8) -> str:
    """The digest of a vector given as 8 x its values."""
    if y8 is None:
        return "NULL"
    w = sum(map(operator.mul, y8, weights(len(y8))))
    return " ".join([cls, str(len(y8)), fmt(Fraction(sum(y8), 8)), fmt(Fraction(w, 8)),
                     fmt(Fraction(y8[0], 8)), fmt(Fraction(y8[-1], 8))])


def combine(op, ranks, count):
    lists = [xs8(k, count) for k in ranks]
    return list(map(op, *lists)) if len(lists) > 1 else list(lists[0])


def rawv(size: int, seed: int) -> bytes:
    period = bytes((7 * i + seed) % 256 for i in range(1, 257))
    return (period * (size // 256 + 1))[:size]


def dig_raw(b: bytes) -> str:
    # weights (i %% 97) for i = 1..n: index j has weight (j + 1) %% 97
    w = sum(k * sum(b[k - 1::97]) for k in range(1, 97))
    return " ".join(["raw", str(len(b)), fmt(sum(b)), fmt(w), fmt(b[0]), fmt(b[-1])])


def expected(n: int):
    """Every rank's lines, in order."""
    out = {r: [] for r in range(n)}

    def say(r, text):
        out[r].append(f"rank {r}: {text}")

    everyone = range(n)
    for count in COUNTS:
        total = dig8("numeric", combine(lambda *v: sum(v), everyone, count))
        top = dig8("numeric", combine(max, everyone, count))
        for r in everyone:
            say(r, f"allreduce sum {count}: {total}")
            say(r, f"allreduce max {count}: {top}")
            say(r, f"reduce sum to last {count}: {total if r == n - 1 else 'NULL'}")
            say(r, f"reduce max to 0 {count}: {top if r == 0 else 'NULL'}")
            say(r, f"scan sum {count}: " + dig8("numeric", combine(lambda *v: sum(v), range(r + 1), count)))
            say(r, f"scan max {count}: " + dig8("numeric", combine(max, range(r + 1), count)))
            say(r, f"exscan sum {count}: " +
                (dig8("numeric", combine(lambda *v: sum(v), range(r), count)) if r else "NULL"))
    ints = [8 * sum(i + k for k in everyone) for i in range(1, 3001)]
    # R writes infinities as Inf and -Inf; everything else as C's %.17g.
    odd = " ".join(fmt(v) for v in
                   (0.1, 1 / 3, -0.0, 1e308, 5e-324, float("inf"), float("-inf"), -2.5))
    odd = odd.replace("inf", "Inf")
    on_dup = dig8("numeric", combine(lambda *v: sum(v), everyone, 10 ** 6))
    for r in everyone:
        say(r, "allreduce integers: " + dig8("integer", ints))
        say(r, "allreduce max of odd values: " + odd)
        say(r, "allreduce sum on a dup: " + on_dup)

    pairs = [(0, 1), (1, 0)] if n == 2 else [(0, 1), (1, 0), (2, 0), (1, 2)]
    for s, d in pairs:
        for size in (100, 16383, 16384, 16385, 8000000, 16384):
            say(d, f"bytes {size} from {s}: " + dig_raw(rawv(size, s)))
        for size in (10, 1990, 2100, 1000000, 2100):
            total = Fraction(size * (size + 1), 16) + size * s
            say(d, f"object {size} from {s}: TRUE {fmt(total)}")
        say(d, f"text from {s}: 21000 TRUE 24999 TRUE")
        say(d, f"numbers from {s}: " + dig8("numeric", [2 * i for i in range(1, 3001)]))
        say(d, f"raw from {s}: " + dig_raw(rawv(20000, s)))

    for root in sorted({0, n - 1}):
        for size in (16383, 16385, 8000000, 16385):
            for r in everyone:
                say(r, f"bcast raw {size} from {root}: " + dig_raw(rawv(size, root)))
        total = Fraction(10 ** 6 * (10 ** 6 + 1), 16) + 10 ** 6 * root
        for r in everyone:
            say(r, f"bcast object from {root}: TRUE {fmt(total)}")

    pieces = " | ".join(dig_raw(rawv(8000000 if k == 1 else 100 + k, k)) for k in everyone)
    for k in (1, 2):
        for r in everyone:
            say(r, f"gather {k}: " + (pieces if r == 0 else "NULL"))
            say(r, f"allgather {k}: " + pieces)
    for k in (1, 2):
        for r in everyone:
            say(r, f"scatter {k}: " + dig_raw(rawv((20000, 100, 8000000)[r], 40 + r)))
    for r in everyone:
        say(r, "sendrecv: " + dig_raw(rawv(20000 + (r - 1) % n, (r - 1) % n)))
    say(1, "isend: " + dig_raw(rawv(50000, 9)))
    for r in everyone:
        say(r, "done")
    return out


def by_rank(stdout: str, n: int):
    out = {r: [] for r in range(n)}
    for line in stdout.splitlines():
        r = int(line.split(":", 1)[0].split()[1])
        out[r].append(line)
    return out


def requests(trace: str):
    """Every request line of the trace, by rank."""
    with open(trace) as f:
        events = json.load(f)
    got = {}
    for e in events:
        if e.get("ph") == "X" and "request" in e.get("args", {}):
            got.setdefault(e["pid"], []).append(e["args"]["request"])
    return got


class SharedRegion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="stdmpi-r-shm-")
        cls.script = os.path.join(cls.dir, "shm.R")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)
        cls.expected = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def expect(self, n):
        if n not in self.expected:
            self.expected[n] = expected(n)
        return self.expected[n]

    def run_script(self, n, env=None, name="run", launcher=()):
        trace = os.path.join(self.dir, f"{name}-{n}.json")
        args = ["-q", "-n", str(n)] + (["--oversubscribe"] if n > 2 else [])
        job = stdmpirun(*args, "--trace", trace, *launcher, "Rscript", self.script,
                        timeout=600, env=env)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stderr, "")
        got = by_rank(job.stdout, n)
        want = self.expect(n)
        for r in range(n):
            self.assertEqual(got[r], want[r], f"rank {r}")
        return requests(trace)

    def check_region_used(self, reqs, n):
        every = [q for r in reqs for q in reqs[r]]
        names = {q.split()[1] for q in every}
        for verb in ("allreduce:shm=0", "reduce:shm=0", "scan:shm=0", "exscan:shm=0",
                     "allreduce:c2:shm=0", "sendb:shm=0", "recvb:shm=0", "bcastb:shm=0",
                     "gatherb:shm=0", "allgatherb:shm=0", "scatterb:shm=0", "sendrecvb:shm=0",
                     "isendb:shm=0"):
            self.assertIn(verb, names)
        # Every reduction takes the region, even of one number; bytes from 16 KiB.
        self.assertIn("@mpi allreduce:shm=0 sum 8", reqs[0])
        self.assertFalse([q for q in every if q.startswith("@mpi allreduce ")
                          or ":msgpack" in q], every)
        self.assertIn("@mpi sendb 1 1 100", reqs[0])
        self.assertIn("@mpi sendb 1 1 16383", reqs[0])
        self.assertIn("@mpi sendb:shm=0 1 1 16384", reqs[0])
        self.assertIn("@mpi sendb:shm=0 1 1 8000000", reqs[0])
        # A receive takes the region once the one before it was large: of
        # the six (100, 16383, 16384, 16385, 8e6, 16384 bytes) the first
        # three follow none or a small one.
        recvs = [q for q in reqs[1] if q.startswith("@mpi recvb") and q.endswith(" 0 1")]
        self.assertEqual(recvs, ["@mpi recvb 0 1"] * 3 + ["@mpi recvb:shm=0 0 1"] * 3)

    def test_2_ranks_through_the_region(self):
        need_r()
        self.check_region_used(self.run_script(2), 2)

    def test_3_ranks_through_the_region(self):
        need_r()
        self.check_region_used(self.run_script(3), 3)

    def test_2_ranks_through_the_pipes_give_the_same(self):
        need_r()
        reqs = self.run_script(2, env=PIPES_ONLY, name="pipes")
        every = [q for r in reqs for q in reqs[r]]
        self.assertFalse([q for q in every if ":shm" in q])
        self.assertIn("@mpi allreduce:msgpack sum 8000005", reqs[0])

    def test_3_ranks_through_the_pipes_give_the_same(self):
        need_r()
        reqs = self.run_script(3, env=PIPES_ONLY, name="pipes")
        self.assertFalse([q for r in reqs for q in reqs[r] if ":shm" in q])

    def test_every_payload_through_the_region(self):
        # STDMPI_SHM_MIN_BYTES=0: every request that can, whatever its size.
        need_r()
        reqs = self.run_script(2, env={"STDMPI_SHM_MIN_BYTES": "0"}, name="all")
        self.assertIn("@mpi sendb:shm=0 1 1 100", reqs[0])
        self.assertIn("@mpi recvb:shm=0 0 1", reqs[1])
        self.assertFalse([q for q in reqs[1] if q.startswith("@mpi recvb ")])

    def test_threshold_of_1_kib_applies_to_reductions_too(self):
        need_r()
        reqs = self.run_script(2, env={"STDMPI_SHM_MIN_BYTES": "1024"}, name="1k")
        self.assertIn("@mpi allreduce sum 0.875", reqs[0])              # one number: text
        self.assertIn("@mpi allreduce:msgpack sum 1021", reqs[0])       # 127: 1016 bytes
        self.assertIn("@mpi allreduce:shm=0 sum 1024", reqs[0])         # 128
        self.assertIn("@mpi sendb:shm=0 1 1 16383", reqs[0])

    def test_no_region_without_the_memfd(self):
        # STDMPI_SHM=0 gives no region; a descriptor that is not the region
        # (here the program's stdin) is left alone: the pipes, same results.
        need_r()
        reqs = self.run_script(2, env={"STDMPI_SHM": "0"}, name="noshm")
        self.assertFalse([q for r in reqs for q in reqs[r] if ":shm" in q])
        reqs = self.run_script(2, name="notmemfd",
                               launcher=("env", "STDMPI_SHM_FD=0"))
        self.assertFalse([q for r in reqs for q in reqs[r] if ":shm" in q])


class OutsideStdmpirun(unittest.TestCase):
    def test_a_world_of_one_rank_never_looks_for_the_region(self):
        need_r()
        saved = os.environ.pop("STDMPI_RANK", None)
        try:
            job = harness.run(["Rscript", "-e", (
                "library(stdmpi); x <- as.double(1:1e6); y <- allreduce(x);"
                "b <- as.raw(1:8e6 %% 256); send.bytes(b, 0, 1); send(list(x = x), 0, 2);"
                "cat(identical(x, y), identical(recv.bytes(0, 1), b), identical(recv(0, 2)$x, x),"
                "identical(bcast(b), b), '\\n')")],
                timeout=120, env={"R_LIBS": R_LIBS, "STDMPI_SHM_FD": "0",
                                  "STDMPI_SHM_MIN_BYTES": "0"})
        finally:
            if saved is not None:
                os.environ["STDMPI_RANK"] = saved
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "TRUE TRUE TRUE TRUE \n")
        self.assertEqual(job.stderr, "")


if __name__ == "__main__":
    unittest.main()
