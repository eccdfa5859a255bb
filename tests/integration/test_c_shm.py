"""The C bridge (stdmpi.h) through the shared region (docs/protocol.md,
"Arrays through shared memory"): tests/clients/c_shm_check.c moves bytes and
reduces numbers of sizes around the threshold and large ones, and prints one
line per result; this test computes every line itself, and reads from the
trace (--trace) which form each request took: the region, or the pipes."""
import json
import os
import re
import tempfile
import unittest
import zlib

import harness
from harness import stdmpirun

CHECK = os.path.join(harness.BUILD, "tests", "c_shm_check")

# As in c_shm_check.c.
SIZES = [1023, 1024, 1025, 1048576, 8000000]
COUNTS = [127, 128, 129, 131072, 1000000]
ALLOC_COUNT = 100000
MiB = 1048576


def pattern(n, seed):
    """The program's bytes: byte j is (31 j + seed) mod 256 (period 256)."""
    base = bytes((j * 31 + seed) & 0xFF for j in range(256))
    return (base * (n // 256 + 1))[:n]


def crc(data):
    return f"{zlib.crc32(data):08x}"


def f64_in(r, i):
    return (r + 1) * 0.5 + (i % 1000) * 0.25


def f64_line(rank, what, n, lo, hi):
    """The line for a result that is, at i, the sum of f64_in over ranks
    lo..hi-1: its first and last number and their total (all multiples of
    0.25, so every sum is exact)."""
    ranks = range(lo, hi)
    first = sum(f64_in(r, 0) for r in ranks)
    last = sum(f64_in(r, n - 1) for r in ranks)
    mods = (n // 1000) * 499500 + sum(range(n % 1000))  # sum of i % 1000 over i < n
    total = n * sum((r + 1) * 0.5 for r in ranks) + len(ranks) * 0.25 * mods
    return f"rank {rank} {what} {n} first {first:.17g} last {last:.17g} total {total:.17g}"


def i64_line(rank, what, n, lo, hi):
    """The same for int64s: rank r gives (r+1)*1000003*(i+1) + r*2^40; the
    total modulo 2^64, as the program prints it."""
    ranks = range(lo, hi)
    a = 1000003 * sum(r + 1 for r in ranks)
    b = sum(r << 40 for r in ranks)
    total = (a * n * (n + 1) // 2 + n * b) % 2 ** 64
    return f"rank {rank} {what} {n} first {a + b} last {a * n + b} total {total}"


def expected(rank, size, region):
    """Every line the rank prints, in order: a string, or a regex for the
    lines whose numbers depend on the region's layout."""
    low, peer = rank % 2 == 0, rank ^ 1
    out = [f"rank {rank} shm {1 if region else 0}"]
    for k, n in enumerate(SIZES):
        what = "recvb_view" if low else "recvb"
        out.append(f"rank {rank} {what} {n} from {peer} crc {crc(pattern(n, peer * 7 + k * 13))}")
    if not low:
        out.append(f"rank {rank} isendb {MiB} from {peer} crc {crc(pattern(MiB, 77))}")
    for k, n in enumerate([MiB, 100]):
        out.append(f"rank {rank} bcastb {n} crc {crc(pattern(n, 100 + k))}")
    frm = (rank - 1) % size
    out.append(f"rank {rank} sendrecvb {MiB + frm} from {frm} crc "
               f"{crc(pattern(MiB + frm, 200 + frm))}")
    every = b"".join(pattern(1500 + 700 * r, 300 + r) for r in range(size))
    out.append(f"rank {rank} allgatherb {len(every)} crc {crc(every)}")
    if rank == 1:
        every = b"".join(pattern(1500 + 700 * r, 400 + r) for r in range(size))
        out.append(f"rank {rank} gatherb {len(every)} crc {crc(every)}")
    n = 1200 + 300 * rank
    out.append(f"rank {rank} scatterb {n} crc {crc(pattern(n, 500 + rank))}")
    mine = b"".join(pattern(1000 + 100 * r + 50 * rank, 600 + r * 8 + rank) for r in range(size))
    out.append(f"rank {rank} alltoallb {len(mine)} crc {crc(mine)}")
    for n in COUNTS:
        out.append(f64_line(rank, "allreduce f64", n, 0, size))
        out.append(i64_line(rank, "allreduce i64", n, 0, size))
        out.append(f64_line(rank, "allreduce max", n, size - 1, size))
    if rank == size - 1:
        out.append(f64_line(rank, "reduce f64", 1000, 0, size))
        out.append(i64_line(rank, "reduce i64", 1000, 0, size))
    out.append(f64_line(rank, "scan f64", 1000, 0, rank + 1))
    if rank > 0:
        out.append(f64_line(rank, "exscan f64", 1000, 0, rank))
    out.append(f"rank {rank} minloc 1000 ok 1")
    out.append(re.compile(rf"rank {rank} alloc offsets (\d+) (\d+) (\d+) (\d+)" if region else
                          rf"rank {rank} alloc offsets -1 -1 -1 -1"))
    out.append(f64_line(rank, "alloc allreduce f64 out-of-place", ALLOC_COUNT, 0, size))
    out.append(f64_line(rank, "alloc allreduce max into-alloc", ALLOC_COUNT, size - 1, size))
    # Rank 0 gets no exscan result: the max stays.
    out.append(f64_line(rank, "alloc exscan f64 into-alloc", ALLOC_COUNT,
                        *((size - 1, size) if rank == 0 else (0, rank))))
    out.append(f64_line(rank, "alloc allreduce f64 in-place", ALLOC_COUNT, 0, size))
    out.append(i64_line(rank, "alloc allreduce i64 in-place", ALLOC_COUNT, 0, size))
    out.append(f64_line(rank, "alloc allreduce f64 small", 16, 0, size))
    out.append(f"rank {rank} alloc reused 1")
    if region:
        past = (r"\(\d+ bytes\): grow it \(ftruncate its descriptor\) first")
        out.append(re.compile(rf"rank {rank} raw sendb (\d+): @error bytes (\d+)\.\.(\d+) are "
                              rf"past the end of the shared region {past}"))
        out.append(re.compile(rf"rank {rank} raw allreduce (\d+): @error bytes (\d+)\.\.(\d+) are "
                              rf"past the end of the shared region {past}"))
    else:
        out.append(f"rank {rank} raw skipped")
    out.append(f"rank {rank} c shm ok")
    return out


class CBridgeSharedRegion(unittest.TestCase):
    def run_check(self, size, region=True, env=None, wrap=()):
        """Runs c_shm_check on SIZE ranks; checks every rank's lines and
        returns {rank: the alloc offsets} and the requests of the trace, as
        (rank, line) pairs."""
        with tempfile.TemporaryDirectory() as d:
            trace = os.path.join(d, "trace.json")
            job = stdmpirun("-q", "-n", str(size), "--oversubscribe", "--trace", trace, *wrap,
                            CHECK, "checks", timeout=240, env=env)
            self.assertEqual(job.rc, 0, job.describe())
            self.assertEqual(job.stderr, "", job.describe())
            with open(trace) as f:
                requests = [(e["pid"], e["args"]["request"]) for e in json.load(f)
                            if e.get("ph") == "X" and e.get("cat") == "request"]
        offsets = {}
        for rank in range(size):
            got = [l for l in job.stdout.splitlines() if l.startswith(f"rank {rank} ")]
            want = expected(rank, size, region)
            self.assertEqual(len(got), len(want), "\n".join(got))
            for g, w in zip(got, want):
                if isinstance(w, str):
                    self.assertEqual(g, w)
                    continue
                m = w.fullmatch(g)
                self.assertIsNotNone(m, f"{g!r} does not match /{w.pattern}/")
                if " raw " in g:
                    # The region ends at OFF: "bytes OFF..OFF+N are past the end".
                    at, lo, hi = (int(x) for x in m.groups())
                    self.assertEqual((lo, hi), (at, at + (4096 if "sendb" in g else 8)), g)
                elif " offsets " in g:
                    offsets[rank] = [int(x) for x in m.groups()]
        self.assertEqual(len(job.stdout.splitlines()), sum(len(expected(r, size, region))
                                                           for r in range(size)), job.stdout)
        return offsets, requests

    def check_alloc_requests(self, offsets, requests):
        """Arrays from stdmpi_alloc are named where they are: no copy."""
        for rank, (a, b, c, small) in offsets.items():
            self.assertEqual(len({a, b, c, small}), 4, offsets)
            self.assertTrue(all(x % 4096 == 0 for x in (a, b, c, small)), offsets)
            mine = [line for r, line in requests if r == rank]
            n = 8 * ALLOC_COUNT
            self.assertIn(f"@mpi allreduce:shm={a},{b} sum {n}", mine)  # out of place
            self.assertIn(f"@mpi allreduce:shm={a} sum {n}", mine)  # in place
            self.assertIn(f"@mpi allreduce:i64:shm={c} sum {n}", mine)
            self.assertIn(f"@mpi allreduce:shm={small} sum 128", mine)  # under the threshold
            # IN copied to the scratch block, the result straight into OUT.
            for verb in ("allreduce", "exscan"):
                self.assertTrue(any(re.fullmatch(rf"@mpi {verb}:shm=(\d+),{b} \w+ {n}", l) and
                                    int(l.split("=")[1].split(",")[0]) not in (a, b, c, small)
                                    for l in mine), (verb, mine))

    def check_threshold(self, size, requests):
        """Payloads from 1024 bytes on go through the region, smaller ones
        through the pipes; replies of unknown size always through the region."""
        for rank in range(size):
            mine = [line for r, line in requests if r == rank]
            if rank % 2 == 0:  # sends from malloc'd memory
                peer = rank + 1
                self.assertIn(f"@mpi sendb {peer} 10 1023", mine)
                for k, n in list(enumerate(SIZES))[1:]:
                    self.assertTrue(any(re.fullmatch(rf"@mpi sendb:shm=\d+ {peer} {10 + k} {n}", l)
                                        for l in mine), (n, mine))
                self.assertTrue(any(re.fullmatch(rf"@mpi isendb:shm=\d+ {peer} 30 {MiB}", l)
                                    for l in mine), mine)
                self.assertTrue(any(re.fullmatch(rf"@mpi recvb:shm=\d+ {peer} 20", l)
                                    for l in mine), mine)
            else:
                self.assertTrue(any(re.fullmatch(rf"@mpi recvb:shm=\d+ {rank - 1} 10", l)
                                    for l in mine), mine)
            # 127 doubles (1016 bytes): msgpack through the pipe; 128 on: the region.
            self.assertIn("@mpi allreduce:msgpack sum 1021", mine)
            self.assertIn("@mpi allreduce:i64:msgpack sum 1021", mine)
            for n in COUNTS[1:]:
                self.assertTrue(any(re.fullmatch(rf"@mpi allreduce:shm=\d+ sum {8 * n}", l)
                                    for l in mine), (n, mine))
                self.assertTrue(any(re.fullmatch(rf"@mpi allreduce:i64:shm=\d+ sum {8 * n}", l)
                                    for l in mine), (n, mine))
            for verb in ("sendrecvb", "allgatherb", "gatherb", "alltoallb", "scan", "exscan",
                         "reduce", "reduce:i64"):
                self.assertTrue(any(l.startswith(f"@mpi {verb}:shm=") for l in mine), (verb, mine))
            self.assertIn("@mpi allreduce:msgpack minloc 8005", mine)  # no :shm form

    def test_two_ranks(self):
        offsets, requests = self.run_check(2)
        self.check_threshold(2, requests)
        self.check_alloc_requests(offsets, requests)

    def test_four_ranks(self):
        offsets, requests = self.run_check(4)
        self.check_threshold(4, requests)
        self.check_alloc_requests(offsets, requests)

    def test_a_threshold_over_every_payload_sends_through_the_pipes(self):
        # Same results; only the arrays in the region, and the replies of a
        # size the request cannot know, still use it.
        offsets, requests = self.run_check(2, env={"STDMPI_SHM_MIN_BYTES": "1000000000"})
        self.check_alloc_requests(offsets, requests)
        for rank, line in requests:
            if ":shm" not in line:
                continue
            verb = line.split()[1]
            if verb.startswith(("allreduce", "exscan")):
                # An array in the region (IN, OUT or both), or the raw request
                # past its end.
                named = [int(x) for x in re.search(r":shm=([\d,]+)", verb).group(1).split(",")]
                self.assertTrue(set(named) & set(offsets[rank]) or line.endswith(" sum 8"), line)
            elif verb.startswith("sendb"):
                self.assertEqual(rank % 2, 1, line)  # the odd ranks send from stdmpi_alloc'd memory
            else:
                self.assertRegex(line, r"^@mpi (recvb:shm=\d+ \d+ \d+|bcastb:shm=\d+ \d+|"
                                       r"scatterb:shm=\d+ \d+)$")
        self.assertTrue(any(l == "@mpi sendb 1 14 8000000" for _, l in requests), requests)
        self.assertTrue(any(l == "@mpi allreduce sum 8000000" or
                            l == "@mpi allreduce:msgpack sum 8000005" for _, l in requests))

    def test_without_a_region_everything_goes_through_the_pipes(self):
        # A rank that does not know the region (STDMPI_SHM_FD unset): the
        # pipes, as before, and stdmpi_alloc is malloc.
        _, requests = self.run_check(2, region=False, wrap=("env", "-u", "STDMPI_SHM_FD"))
        self.assertEqual([l for _, l in requests if ":shm" in l], [])
        self.assertIn((0, "@mpi sendb 1 14 8000000"), requests)
        self.assertIn((0, "@mpi allreduce:msgpack sum 8000005"), requests)

    def test_the_whole_c_bridge_check_passes_with_the_region_for_every_payload(self):
        # c_bridge_check (as C++: the C99 build includes <math.h> before
        # stdmpi.h, so it has no region) asserts every function's results;
        # with STDMPI_SHM_MIN_BYTES=0 every payload goes through the region,
        # on communicators too, errors included.
        prog = os.path.join(harness.BUILD, "tests", "c_bridge_check_cxx")
        for n in (2, 3):
            with self.subTest(ranks=n), tempfile.TemporaryDirectory() as d:
                trace = os.path.join(d, "trace.json")
                job = stdmpirun("-q", "-n", str(n), "--oversubscribe", "--trace", trace, prog,
                                timeout=180, env={"STDMPI_SHM_MIN_BYTES": "0"})
                self.assertEqual(job.rc, 0, job.describe())
                self.assertEqual(sorted(re.findall(r"rank (\d) c bridge ok", job.stdout)),
                                 [str(r) for r in range(n)], job.describe())
                with open(trace) as f:
                    verbs = {e["args"]["request"].split()[1].split(":shm=")[0] for e in json.load(f)
                             if e.get("ph") == "X" and e.get("cat") == "request" and
                             ":shm=" in e["args"]["request"]}
                for verb in ("sendb", "isendb", "recvb", "bcastb", "sendrecvb", "gatherb",
                             "allgatherb", "scatterb", "alltoallb", "allreduce", "allreduce:i64",
                             "reduce", "scan", "exscan", "sendb:c2", "allreduce:c2"):
                    self.assertIn(verb, verbs)

    def test_outside_stdmpirun_alloc_is_malloc(self):
        job = harness.run([CHECK, "outside"], timeout=60,
                          env={"STDMPI_RANK": "", "STDMPI_SHM_FD": ""})
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "outside ok 1\n")


if __name__ == "__main__":
    unittest.main()
