"""--summary, --profile and --report on real jobs whose ranks do known work:
the numbers each rank reports (exact where they can be: requests, bytes,
exit status; within bounds where they are times and memory), the verbs and
the late rank of the profile, and the report as a real browser renders it
(headless Chromium: what the page's DOM holds, a screenshot that is not
blank, nothing fetched from any network)."""
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest
import zlib

import harness
from harness import PYTHON, stdmpirun

# A rank in the raw protocol. Rank 0 sends 1000 bytes of text to rank 1 and
# 3000 raw bytes to rank 2; rank 1 then burns 0.3 s of CPU and holds 64 MiB,
# so it comes last to the allreduce that every rank makes at the end.
WORK = r"""
import sys, time
out, inp = sys.stdout.buffer, sys.stdin.buffer
def req(line, payload=b""):
    out.write(line.encode() + b"\n" + payload)
    out.flush()
    return inp.readline().rstrip(b"\n")
rank = int(req("@mpi rank"))
size = int(req("@mpi size"))
big = b""
if rank == 0:
    req("@mpi send 1 5 " + "a" * 1000)
    req("@mpi sendb 2 6 3000", b"b" * 3000)
elif rank == 1:
    assert len(req("@mpi recv 0 5")) == 1000
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    big = b"x" * (64 << 20)
else:
    n = int(req("@mpi recvb 0 6"))
    assert len(inp.read(n)) == 3000
req("@mpi allreduce sum 1")
print(f"rank {rank} done", flush=True)
sys.stderr.write(f"rank {rank} stderr before the end\n")
"""

# Rank 0 ends well, rank 1 fails with status 3 a moment later, rank 2 waits
# for a message from rank 1 that never comes: the job ends it.
FAILING = r"""
import sys, time
def req(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    return sys.stdin.readline().rstrip("\n")
rank = int(req("@mpi rank"))
req("@mpi allreduce sum 1")
if rank == 0:
    sys.exit(0)
if rank == 1:
    time.sleep(0.3)
    sys.exit(3)
req("@mpi recv 1 9")
"""

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20,
         "GiB": 1 << 30}


def value(cell):
    """12.3 ms -> 0.0123; 17.5 MiB -> 18350080.0; 2m03s -> 123."""
    m = re.fullmatch(r"(\d+)m(\d\d)s", cell)
    if m:
        return int(m[1]) * 60 + int(m[2])
    number, unit = cell.split(" ")
    return float(number) * UNITS[unit]


def summary_rows(stderr):
    """The rank rows of --summary, by rank: the cells by column name."""
    lines = stderr.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("stdmpirun: summary of"))
    columns = ["rank", "host", "wall", "CPU", "max RSS", "requests", "sent", "received",
               "in MPI", "exit"]
    rows = {}
    for line in lines[head + 2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if not cells[0].isdigit():
            break
        rows[int(cells[0])] = dict(zip(columns, cells))
    return head, rows


def chromium(*args, timeout=90):
    """Runs headless Chromium with a private profile; returns its stdout."""
    chrome = shutil.which("chromium")
    harness.require(chrome, "chromium (the Debian package)")
    with tempfile.TemporaryDirectory() as profile:
        p = subprocess.run([chrome, "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", f"--user-data-dir={profile}", *args],
                           capture_output=True, timeout=timeout)
    return p.stdout.decode("utf-8", "replace")


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


class WhereTheTimeWent(unittest.TestCase):
    """One 3-rank job with --summary, --profile and --report, looked at from
    every side."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="stdmpi-report-test-")
        cls.report = os.path.join(cls.dir, "job.html")
        cls.secret = os.path.join(cls.dir, "secret")
        with open(cls.secret, "w") as f:
            f.write("not to be overwritten\n")
        # A link where the report goes (a program may have put it there):
        # replaced, never followed.
        os.symlink(cls.secret, cls.report)
        cls.script = os.path.join(cls.dir, "work.py")
        with open(cls.script, "w") as f:
            f.write(WORK)
        cls.job = stdmpirun("-n", "3", "--summary", "--profile", "--report", cls.report,
                            PYTHON, cls.script, "<b>&amp;</b>", timeout=90)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_summary_has_each_ranks_facts(self):
        job = self.job
        self.assertEqual(job.rc, 0, job.describe())
        head, rows = summary_rows(job.stderr)
        self.assertEqual(job.stderr.splitlines()[head], "stdmpirun: summary of 3 ranks ("
                         + job.stderr.splitlines()[head].split("(")[1], job.describe())
        self.assertEqual(sorted(rows), [0, 1, 2], job.describe())
        # Requests: rank and size, then rank 0 send + sendb, rank 1 recv, rank
        # 2 recvb, and one allreduce each. The data: the text, the bytes, 8
        # bytes a number.
        expect = {0: ("5", "4008 B", "8 B"), 1: ("4", "8 B", "1008 B"), 2: ("4", "8 B", "3008 B")}
        for rank, (requests, sent, received) in expect.items():
            r = rows[rank]
            self.assertEqual((r["requests"], r["sent"], r["received"], r["exit"]),
                             (requests, sent, received, "0"), job.describe())
            self.assertEqual(r["host"], socket.gethostname()[:23], job.describe())
            self.assertLessEqual(value(r["CPU"]), value(r["wall"]) * 2 + 0.05, job.describe())
        cpu = {k: value(r["CPU"]) for k, r in rows.items()}
        self.assertGreaterEqual(cpu[1], 0.3, job.describe())
        self.assertGreaterEqual(cpu[1] - min(cpu[0], cpu[2]), 0.2, job.describe())
        self.assertGreaterEqual(value(rows[1]["wall"]), 0.3, job.describe())
        # Rank 1 held 64 MiB; the others are small Python programs.
        rss = {k: value(r["max RSS"]) for k, r in rows.items()}
        self.assertGreaterEqual(rss[1], 64 << 20, job.describe())
        self.assertLess(max(rss[0], rss[2]), 60 << 20, job.describe())
        self.assertGreater(min(rss.values()), 1 << 20, job.describe())
        # Ranks 0 and 2 waited in the allreduce while rank 1 computed.
        mpi = {k: value(r["in MPI"]) for k, r in rows.items()}
        self.assertGreaterEqual(min(mpi[0], mpi[2]), 0.2, job.describe())
        self.assertRegex(job.stderr, r"\n +total +\S+ m?s +\S+ MiB +13 +4024 B +4024 B +\S+ m?s\n")
        self.assertRegex(job.stderr, r"\n +median +\S+ m?s +\S+ m?s +\S+ MiB +4 +8 B +1008 B ")

    def test_summary_comes_after_the_jobs_own_output(self):
        lines = self.job.stderr.splitlines()
        head, _ = summary_rows(self.job.stderr)
        for rank in range(3):
            self.assertLess(lines.index(f"rank {rank} stderr before the end"), head,
                            self.job.describe())
        self.assertEqual(sorted(self.job.stdout.split("\n"))[1:],
                         ["rank 0 done", "rank 1 done", "rank 2 done"])

    def test_profile_names_the_verbs_and_the_late_rank(self):
        err = self.job.stderr
        self.assertIn("stdmpirun: profile of 3 ranks (", err, self.job.describe())
        # Every verb, with its count over all ranks and per rank.
        for verb, count in (("allreduce", 3), ("rank", 3), ("size", 3), ("send", 1),
                            ("sendb", 1), ("recv", 1), ("recvb", 1)):
            self.assertRegex(err, rf"\n  {verb} +all +{count} +\S+ \S+ +\S+ \S+ +\S+ \S+\n",
                             self.job.describe())
        self.assertRegex(err, r"\n  sendb +all +1 .*\n +0 +1 ")
        self.assertRegex(err, r"\n  recvb +all +1 .*\n +2 +1 ")
        # MPI against computing, per rank.
        share = dict(re.findall(r"^ +(\d) +\S+ \S+ +\S+ \S+ +\S+ \S+ +(\d+)% +\S+ m?s$", err,
                                re.M))
        self.assertEqual(sorted(share), ["0", "1", "2"], err)
        # In the allreduce ranks 0 and 2 waited for rank 1, which computed.
        allreduce = re.search(r"\n  allreduce +all +3 .*\n((?: +\d +1 +.*\n){3})", err)
        self.assertIsNotNone(allreduce, err)
        waited = {int(m[0]): value(m[1]) for m in
                  re.findall(r" +(\d) +1 +(\S+ m?s)", allreduce[1])}
        self.assertLess(waited[1], min(waited[0], waited[2]), err)
        self.assertGreaterEqual(min(waited[0], waited[2]), 0.2, err)
        # The allreduce, the first collective on the world: rank 1 came last.
        m = re.search(r"\n +(\S+ m?s) +allreduce #1 +the world +3 +rank (\d) +rank (\d)\n", err)
        self.assertIsNotNone(m, self.job.describe())
        self.assertEqual(m[2], "1", err)
        self.assertGreaterEqual(value(m[1]), 0.2, err)

    def test_report_is_written_anew_not_through_a_link(self):
        self.assertIn(f"stdmpirun: report of 3 rank(s) in {self.report}", self.job.stderr)
        self.assertFalse(os.path.islink(self.report))
        with open(self.secret) as f:
            self.assertEqual(f.read(), "not to be overwritten\n")
        self.assertEqual([n for n in os.listdir(self.dir) if n.startswith("job.html.")], [])
        with open(self.report, encoding="utf-8") as f:
            html = f.read()
        # Nothing from any network, no script; the user's text escaped.
        self.assertNotRegex(html, r"(?i)https?://")
        self.assertNotIn("<script", html)
        self.assertIn("&lt;b&gt;&amp;amp;&lt;/b&gt;", html)
        self.assertNotIn("<b>", html)

    def test_report_renders_in_a_browser(self):
        dom = chromium("--dump-dom", "file://" + self.report)
        self.assertIn("Where the time went", dom)
        host = socket.gethostname()
        for rank in range(3):
            self.assertRegex(dom, rf"<tr><td>{rank}</td><td class=\"l\">{re.escape(host)}</td>")
        self.assertIn("<text x=\"0\" y=\"29.0\">rank 0</text>", dom)
        for verb in ("allreduce", "sendb", "recvb", "send", "recv"):
            self.assertIn(f"<td class=\"l\">{verb}</td>", dom)
        # The matrix: 1000 bytes from rank 0 to rank 1, 3000 to rank 2.
        self.assertIn("title=\"rank 0 to rank 1: 1000 bytes\">1000 B</td>", dom)
        self.assertIn("title=\"rank 0 to rank 2: 3000 bytes\">3000 B</td>", dom)
        self.assertIn("title=\"rank 1 to rank 0: 0 bytes\"></td>", dom)
        self.assertRegex(dom, r"<td class=\"l\">allreduce #1</td><td class=\"l\">the world</td>"
                              r"<td>3</td><td>rank 1</td>")

    def test_report_screenshot_is_not_blank(self):
        png = os.path.join(self.dir, "shot.png")
        chromium(f"--screenshot={png}", "--window-size=1200,1600", "file://" + self.report)
        width, height, bpp, rows = png_pixels(png)
        self.assertEqual((width, height), (1200, 1600))
        ink = blue = orange = 0
        for line in rows[::2]:
            for x in range(0, width * bpp, bpp * 2):
                r, g, b = line[x], line[x + 1], line[x + 2]
                ink += r < 235 or g < 235 or b < 235
                blue += abs(r - 0x4c) < 20 and abs(g - 0x78) < 20 and abs(b - 0xa8) < 20
                orange += abs(r - 0xf5) < 20 and abs(g - 0x85) < 25 and abs(b - 0x18) < 30
        samples = (height // 2) * (width // 2)
        self.assertGreater(ink, samples // 50, "the page looks blank")
        self.assertGreater(blue, 200, "no computing (blue) in the timeline")
        self.assertGreater(orange, 200, "no waiting in MPI (orange)")


class Failures(unittest.TestCase):
    def test_a_failing_rank_and_a_stopped_one(self):
        with tempfile.TemporaryDirectory() as d:
            script = os.path.join(d, "fail.py")
            with open(script, "w") as f:
                f.write(FAILING)
            job = stdmpirun("-n", "3", "--summary", PYTHON, script, timeout=60)
            left = [n for n in os.listdir(d) if n != "fail.py"]
        self.assertEqual(job.rc, 3, job.describe())
        _, rows = summary_rows(job.stderr)
        self.assertEqual({k: r["exit"] for k, r in rows.items()},
                         {0: "0", 1: "3", 2: "stopped"}, job.describe())
        self.assertEqual({k: r["requests"] for k, r in rows.items()},
                         {0: "2", 1: "2", 2: "3"}, job.describe())
        self.assertRegex(job.stderr, r"\n +total .* 1 failed\n")
        self.assertEqual(left, [])

    def test_one_rank_reads_well_and_the_parts_are_gone(self):
        tmp = tempfile.mkdtemp(prefix="stdmpi-report-tmp-")
        self.addCleanup(shutil.rmtree, tmp, True)
        job = stdmpirun("-n", "1", "--summary", PYTHON, "-c", "print('hi')", timeout=60,
                        env={"TMPDIR": tmp})
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("stdmpirun: summary of 1 rank (", job.stderr)
        _, rows = summary_rows(job.stderr)
        self.assertEqual((rows[0]["requests"], rows[0]["sent"], rows[0]["exit"]),
                         ("0", "0 B", "0"), job.describe())
        self.assertNotIn("total", job.stderr)
        self.assertEqual(os.listdir(tmp), [], "the private directory is left behind")

    def test_a_report_that_cannot_be_written_is_refused_before_the_job(self):
        job = stdmpirun("-n", "1", "--report", "/nonexistent-dir/job.html", PYTHON, "-c",
                        "print('ran')", timeout=60)
        self.assertEqual(job.rc, 126, job.describe())
        self.assertEqual(job.stdout, "")
        self.assertIn("stdmpirun: --report /nonexistent-dir/job.html: cannot write in "
                      "/nonexistent-dir: No such file or directory", job.stderr)


if __name__ == "__main__":
    unittest.main()
