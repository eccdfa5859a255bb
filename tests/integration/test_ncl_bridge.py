"""The NCL bridge's arrays, missing values, errors-return mode and world of one
rank (langbridges/ncl/stdmpi.ncl), in real jobs of 1 to 3 ranks; every
function's basics are tests/bridges/check.ncl (test_bridges.BridgeChecks)."""
import os
import re
import shutil
import tempfile
import unittest

import harness
from harness import PYTHON, require, stdmpirun

BRIDGE = os.path.join(harness.BUILD, "share", "stdmpi", "ncl", "stdmpi.ncl")

# describe(x): one line that says everything the bridge promises to keep:
# type, shape, dimension names, every value exactly (M: missing), the
# attributes (sorted) and the coordinate variables with theirs.
PRELUDE = r'''
load "$STDMPI_NCL"

undef("vals")
function vals(v)
local t, o, s
begin
  t = typeof(v)
  o = ndtooned(v)
  if (t .eq. "double" .or. t .eq. "float") then
    s = sprintf("%.17g", todouble(o))
  else if (t .eq. "string") then
    s = str_sub_str(o, str_get_nl(), "<LF>")
  else if (t .eq. "logical") then  ; the missing logical is neither True nor False
    s = where(where(ismissing(o), False, o .eq. True), "T", \
              where(where(ismissing(o), False, o .eq. False), "F", "M"))
  else if (t .eq. "uint64") then
    s = tostring(o)
  else
    s = tostring(tolong(o))
  end if
  end if
  end if
  end if
  s = where(ismissing(o), "M", s)
  return("[" + str_join(s, "|") + "]")
end

undef("describe")
function describe(x)
local s, dn, names, i, v, c
begin
  s = typeof(x) + " " + str_join(tostring(dimsizes(x)), "x")
  dn = getvardims(x)
  if (dimsizes(dn) .eq. dimsizes(dimsizes(x)) .and. .not. all(ismissing(dn))) then
    s = s + " dims=" + str_join(where(ismissing(dn), "-", dn), ",")
  end if
  s = s + " " + vals(x)
  names = getvaratts(x)
  if (.not. all(ismissing(names))) then
    sqsort(names)
    do i = 0, dimsizes(names) - 1
      v = x@$names(i)$
      s = s + " @" + names(i) + "=" + typeof(v) + vals(v)
      delete(v)
    end do
  end if
  if (dimsizes(dn) .eq. dimsizes(dimsizes(x))) then
    do i = 0, dimsizes(dn) - 1
      if (.not. ismissing(dn(i))) then
        if (iscoord(x, dn(i))) then
          c = x&$dn(i)$
          s = s + " &" + dn(i) + "=(" + describe(c) + ")"
          delete(c)
        end if
      end if
    end do
  end if
  return(s)
end

; The same arrays on every rank: every type, with attributes, missing values,
; named dimensions and coordinates; the last one large (sent as bytes).
NARRAYS = 16
undef("make")
function make(i:integer)
local x
begin
  if (i .eq. 0) then
    x = (/ (/ 0.1d, 1d / 3d, -2.5d /), (/ 1d-300, 1.7976931348623157d308, 2d ^ 60 /) /)
    x@units = "m s-1"
    x@long_name = "wind, 100% calm" + str_get_nl() + "second line"
    x@valid_range = (/ -50d, 50d /)
    x!0 = "lat"
    x!1 = "lon"
    x&lat = (/ -45.5d, 45.5d /)
    x&lat@units = "degrees_north"
  end if
  if (i .eq. 1) then
    x = new((/ 2, 2, 2 /), float, 1e20)
    x(0, 0, :) = (/ 0.1, 3.4028235e38 /)
    x(1, 1, 1) = -1.17549435e-38
    x@scale = 2.5
  end if
  if (i .eq. 2) then
    x = (/ 2147483647, -2147483647, 0, -999 /)
    x@_FillValue = -999
    x@flags = (/ 1, 2, 3 /)
  end if
  if (i .eq. 3) then
    x = (/ 4611686018427387905l, -9223372036854775807l /)
  end if
  if (i .eq. 4) then
    x = toshort((/ -32768, 32767, 5 /))
  end if
  if (i .eq. 5) then
    x = tobyte((/ -128, 0, 127 /))
  end if
  if (i .eq. 6) then
    x = toint64((/ "9007199254740993", "-3" /))
  end if
  if (i .eq. 7) then
    x = toushort((/ 0, 65535 /))
  end if
  if (i .eq. 8) then
    x = touint((/ 4000000000l, 7l /))
  end if
  if (i .eq. 9) then
    x = toubyte((/ 0, 200, 255 /))
  end if
  if (i .eq. 10) then
    x = touint64((/ "9223372036854775807", "1" /))
  end if
  if (i .eq. 11) then
    x = (/ True, False, True /)
    x@_FillValue = default_fillvalue("logical")
    x(2) = x@_FillValue
  end if
  if (i .eq. 12) then
    x = (/ (/ "a b", "" /), (/ "100%", "two" + str_get_nl() + "lines" /) /)
    x@note = "  spaced  "
  end if
  if (i .eq. 13) then
    x = 42.5d
  end if
  if (i .eq. 14) then
    x = 7
    x@units = "1"
  end if
  if (i .eq. 15) then
    x = onedtond(todouble(ispan(0, 14999, 1)) / 7d, (/ 150, 100 /))
    x@units = "K"
    x@_FillValue = -1d
    x(3, 4) = x@_FillValue
    x!0 = "y"
    x!1 = "x"
    x&y = ispan(1, 150, 1)
  end if
  return(x)
end
'''

# Rank 0 sends every array twice, as text and as bytes; rank 1 describes
# what arrived, rank 0 what it sent.
POINT_TO_POINT = PRELUDE + r'''
begin
  r = mpi_rank()
  do i = 0, NARRAYS - 1
    x = make(i)
    do form = 0, 1
      MPI_BINARY_MIN = where(form .eq. 0, 1000000000, 0)
      if (r .eq. 0) then
        mpi_send_array(1, i, x)
        print("sent " + i + " " + form + ": " + describe(x))
      else
        y = mpi_recv_array(0, i)
        st = mpi_status()
        print("got " + i + " " + form + ": " + describe(y))
        delete(y)
      end if
    end do
    delete(x)
  end do
  ; the default: small arrays as text, from MPI_BINARY_MIN elements on as bytes
  MPI_BINARY_MIN = 10000
  if (r .eq. 0) then
    mpi_send_array(1, 99, make(15))
  else
    y = mpi_recv_array(MPI_ANY, MPI_ANY)
    st = mpi_status()
    print("default form: " + describe(y) + " status " + str_join(tostring(st), " "))
  end if
end
'''

ANY_SOURCE = PRELUDE + r'''
begin
  r = mpi_rank()
  if (r .gt. 0) then
    x = ispan(0, 11999, 1) + 1000000 * r
    x@from = r
    mpi_send_array(0, 10 + r, x)
  else
    do k = 1, 2
      y = mpi_recv_array(MPI_ANY, MPI_ANY)
      st = mpi_status()
      print("from " + y@from + " status " + st(0) + " " + st(1) + " " + st(2) + " values " + \
            y(0) + " .. " + y(11999) + " " + typeof(y) + " " + dimsizes(y))
      delete(y)
    end do
  end if
end
'''

BCAST = PRELUDE + r'''
begin
  r = mpi_rank()
  do i = 0, NARRAYS - 1
    if (r .eq. 1) then
      x = make(i)
    else
      x = 0
    end if
    y = mpi_bcast(x, 1)
    print("rank " + r + " array " + i + ": " + describe(y))
    delete([/ x, y /])
  end do
  s = mpi_bcast(where(r .eq. 1, "  one line of text  ", ""), 1)
  print("rank " + r + " text: [" + s + "] " + typeof(s))
end
'''

FILL = PRELUDE + r'''
undef("show")
procedure show(what:string, v)
begin
  print("rank " + mpi_rank() + " " + what + " " + vals(v) + " " + typeof(v) + " fill " + \
        where(isatt(v, "_FillValue"), "" + v@_FillValue, "none"))
end
begin
  r = mpi_rank()
  x = (/ r + 1, -99, where(r .eq. 1, -99, 10 * (r + 1)) /)
  x@_FillValue = -99
  show("sum", mpi_allreduce(x, "sum"))
  show("prod", mpi_allreduce(x, "prod"))
  show("min", mpi_allreduce(x, "min"))
  show("max", mpi_allreduce(x, "max"))
  show("land", mpi_allreduce(x, "land"))
  show("lor", mpi_allreduce(x, "lor"))
  show("minloc", mpi_allreduce(x, "minloc"))
  show("maxloc", mpi_allreduce(x, "maxloc"))
  show("scan", mpi_scan(x, "sum"))
  show("exscan", mpi_exscan(x, "sum"))
  show("reduce", mpi_reduce(x, "max", 2))
  f = (/ (/ 0.5 * r, 1e20 /) /)
  f@_FillValue = 1e20
  f@units = "m"
  show("float sum", mpi_allreduce(f, "sum"))
  d = (/ 1.5d, -2d /)
  show("no fill", mpi_allreduce(d, "min"))
end
'''

ERRORS = PRELUDE + r'''
undef("say")
procedure say(what:string, v)
begin
  print("rank " + mpi_rank() + " " + what + ": " + where(any(ismissing(v)), "missing", "value") + \
        " [" + MPI_ERROR + "]")
end
begin
  r = mpi_rank()
  mpi_errors("return")
  say("recv", mpi_recv(5, 0))
  say("op", mpi_allreduce((/ 1.0, 2.0 /), "avg"))
  if (r .eq. 0) then
    say("count", mpi_allreduce((/ 1.0 /), "sum"))
  else
    say("count", mpi_allreduce((/ 1.0, 2.0 /), "sum"))
  end if
  mpi_send_array(1 - r, 99999, (/ 1, 2 /))
  say("send_array tag", 0)
  if (r .eq. 0) then
    mpi_send(1, 5, "hello")
  else
    say("recv_array", mpi_recv_array(0, 5))
  end if
  mpi_errors("loud")
  say("mode", 0)
  mpi_barrier()
  say("barrier", 0)
  say("bcast", mpi_bcast(1.5, 7))
  mpi_errors("fatal")
  say("fatal again", mpi_allreduce(1, "sum"))
end
'''

# Outside stdmpirun: a world of one rank, answered inside NCL.
ALONE = PRELUDE + r'''
begin
  print("rank " + mpi_rank() + " of " + mpi_size())
  x = (/ 1.5, -999.0, 3.0 /)
  x@_FillValue = -999.0
  print("allreduce " + describe(mpi_allreduce(x, "max")))
  print("minloc " + describe(mpi_allreduce(2.5d, "minloc")))
  print("land " + describe(mpi_allreduce(5, "land")))
  print("scan " + describe(mpi_scan((/ 1, 2 /), "sum")))
  print("exscan " + describe(mpi_exscan(1, "sum")))
  print("reduce " + describe(mpi_reduce(3, "sum", 0)))
  print("gather " + describe(mpi_gather((/ 1, 2 /), 0)))
  print("allgather " + describe(mpi_allgather(7)))
  print("scatter " + describe(mpi_scatter((/ 4, 5 /), 0)))
  print("bcast text [" + mpi_bcast("  hi  ", 0) + "]")
  print("bcast array " + describe(mpi_bcast(make(0), 0)))
  mpi_barrier()
  print("wtime " + (mpi_wtime() .gt. 1e9))
  mpi_send(0, 3, "  to myself ")
  mpi_send(0, 4, "second")
  print("probe " + str_join(tostring(mpi_probe(0, MPI_ANY)), " "))
  print("recv tag 4 [" + mpi_recv(0, 4) + "]")
  print("recv any [" + mpi_recv(MPI_ANY, MPI_ANY) + "]")
  print("status " + str_join(tostring(mpi_status()), " "))
  print("iprobe " + str_join(tostring(mpi_iprobe(0, 3)), " "))
  print("sendrecv [" + mpi_sendrecv(0, 5, "swap", 0, 5) + "]")
  mpi_send_array(0, 9, make(2))
  mpi_send_array(0, 9, make(15))
  print("array " + describe(mpi_recv_array(0, 9)))
  y = mpi_recv_array(MPI_ANY, 9)
  print("large array same " + (describe(y) .eq. describe(make(15))))
  mpi_send(0, 8, "1.5 2.5")
  print("numbers " + describe(mpi_recv_array(0, 8)))
  mpi_errors("return")
  print("recv [" + mpi_recv(0, 1) + "] " + MPI_ERROR)
  mpi_send(1, 0, "x")
  print("send " + mpi_error())
  print("bcast " + describe(mpi_bcast(1.0, 1)) + " " + MPI_ERROR)
  print("op " + describe(mpi_allreduce(1.0, "avg")) + " " + MPI_ERROR)
  mpi_errors("fatal")
  print("alone ok")
  z = mpi_recv(0, 2)
  print("not reached")
end
'''

PYTHON_PEER = r'''
import stdmpi
c = stdmpi.COMM_WORLD
c.send([1.5, 2, 3], dest=1, tag=1)
c.send("4 5.5", dest=1, tag=2)
c.bcast([0.5, 0.25], root=0)
print("python got bcast", c.bcast(None, root=1))
print("python got array", repr(c.recv(source=1, tag=3)))
'''

NCL_PEER = PRELUDE + r'''
begin
  print("ncl got json " + describe(mpi_recv_array(0, 1)))
  print("ncl got numbers " + describe(mpi_recv_array(0, 2)))
  print("ncl got bcast " + describe(mpi_bcast(0, 0)))
  b = mpi_bcast((/ 1.5d, 2.5d /), 1)
  x = (/ (/ 1.5, 2.5 /), (/ 3.5, 4.5 /) /)
  x@units = "m"
  mpi_send_array(0, 3, x)
end
'''

SPEED = r'''
load "$STDMPI_NCL"
begin
  r = mpi_rank()
  n = 200000
  x = todouble(ispan(1, n, 1)) / 3d
  x@units = "K"
  do form = 0, 1
    MPI_BINARY_MIN = where(form .eq. 0, 10000, n + 1)
    mpi_barrier()
    t0 = mpi_wtime()
    if (r .eq. 0) then
      mpi_send_array(1, form, x)
    else
      y = mpi_recv_array(0, form)
      t = mpi_wtime() - t0
      print(where(form .eq. 0, "bytes", "text") + " " + sprintf("%.6f", t) + " exact " + \
            all(y .eq. x) + " " + y@units + " " + dimsizes(y))
      delete(y)
    end if
  end do
end
'''


def lines(stdout, prefix):
    return [line for line in stdout.splitlines() if line.startswith(prefix)]


class NclBridge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(shutil.which("ncl"), "NCL (ncl-ncarg)")
        cls.dir = tempfile.mkdtemp(prefix="stdmpi-ncl-test-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def script(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def ncl_job(self, n, name, text, timeout=120):
        return stdmpirun("-q", "-n", str(n), "ncl", self.script(name, text), timeout=timeout)

    def alone(self, path, *args, env=None):
        """Runs NCL outside stdmpirun: STDMPI_RANK unset, the bridge named."""
        e = {"STDMPI_NCL": BRIDGE}
        e.update(env or {})
        unset = [] if "STDMPI_RANK" in e else ["-u", "STDMPI_RANK"]
        return harness.run(["env", *unset, "ncl", "-Q", "-n", *args, path], timeout=120, env=e)

    def test_arrays_keep_type_shape_and_attributes_as_text_and_as_bytes(self):
        tmp = os.path.join(self.dir, "tmp")
        os.mkdir(tmp)
        job = stdmpirun("-q", "-n", "2", "ncl", self.script("p2p.ncl", POINT_TO_POINT),
                        timeout=120, env={"TMPDIR": tmp})
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(os.listdir(tmp), [])  # the bytes' files are gone
        sent = {m[0]: m[1] for m in re.findall(r"^sent (\d+ \d): (.*)$", job.stdout, re.M)}
        got = {m[0]: m[1] for m in re.findall(r"^got (\d+ \d): (.*)$", job.stdout, re.M)}
        self.assertEqual(len(sent), 32, job.describe())
        self.assertEqual(got, sent)
        # What a few of them are, exactly (the sender's side says the same).
        self.assertEqual(
            sent["0 1"],
            "double 2x3 dims=lat,lon [0.10000000000000001|0.33333333333333331|-2.5|"
            "1e-300|1.7976931348623157e+308|1.152921504606847e+18] "
            "@long_name=string[wind, 100% calm<LF>second line] @units=string[m s-1] "
            "@valid_range=double[-50|50] &lat=(double 2 dims=lat [-45.5|45.5] "
            "@units=string[degrees_north])")
        self.assertEqual(sent["1 1"], "float 2x2x2 [0.10000000149011612|3.4028234663852886e+38|M|M|"
                                      "M|M|M|-1.1754943508222875e-38] @_FillValue=float"
                                      "[1.0000000200408773e+20] @scale=float[2.5]")
        self.assertEqual(sent["3 0"], "long 2 [4611686018427387905|-9223372036854775807]")
        self.assertEqual(sent["6 1"], "int64 2 [9007199254740993|-3]")
        self.assertEqual(sent["8 1"], "uint 2 [4000000000|7]")
        self.assertEqual(sent["11 0"], "logical 3 [T|F|M] @_FillValue=logical[M]")
        self.assertEqual(sent["12 0"], "string 2x2 [a b||100%|two<LF>lines] "
                                       "@note=string[  spaced  ]")
        self.assertEqual(sent["13 0"], "double 1 [42.5]")
        self.assertIn("default form: double 150x100 dims=y,x [0|0.14285714285714285|", job.stdout)
        # The default sends 15000 doubles as bytes: the status is the bytes'.
        self.assertRegex(job.stdout, r"default form: .* status 0 99 120000\n")

    def test_any_source_and_tag_get_the_bytes_of_the_same_message(self):
        job = self.ncl_job(3, "any.ncl", ANY_SOURCE)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(lines(job.stdout, "from ")), [
            "from 1 status 1 11 48000 values 1000000 .. 1011999 integer 12000",
            "from 2 status 2 12 48000 values 2000000 .. 2011999 integer 12000"])

    def test_bcast_keeps_type_shape_and_attributes_on_every_rank(self):
        job = self.ncl_job(3, "bcast.ncl", BCAST)
        self.assertEqual(job.rc, 0, job.describe())
        found = re.findall(r"^rank (\d) array (\d+): (.*)$", job.stdout, re.M)
        self.assertEqual(len(found), 48, job.describe())
        by_array = {}
        for rank, i, desc in found:
            by_array.setdefault(int(i), {})[int(rank)] = desc
        for i, descs in by_array.items():
            self.assertEqual(descs[0], descs[1], f"array {i}")
            self.assertEqual(descs[2], descs[1], f"array {i}")
        self.assertEqual(by_array[2][0], "integer 4 [2147483647|-2147483647|0|M] "
                                         "@_FillValue=integer[-999] @flags=integer[1|2|3]")
        self.assertTrue(by_array[15][0].startswith("double 150x100 dims=y,x [0|0.14285714285714285|"))
        self.assertEqual(sorted(lines(job.stdout, "rank 0 text") + lines(job.stdout, "rank 2 text")),
                         ["rank 0 text: [  one line of text  ] string",
                          "rank 2 text: [  one line of text  ] string"])

    def test_missing_values_do_not_count_in_reductions(self):
        job = self.ncl_job(3, "fill.ncl", FILL)
        self.assertEqual(job.rc, 0, job.describe())
        want = {
            # rank 0: (1, M, 10), rank 1: (2, M, M), rank 2: (3, M, 30)
            "sum": "[6|M|40] integer fill -99",
            "prod": "[6|M|300] integer fill -99",
            "min": "[1|M|10] integer fill -99",
            "max": "[3|M|30] integer fill -99",
            "land": "[1|M|1] integer fill -99",
            "lor": "[1|M|1] integer fill -99",
            "minloc": "[1|0|M|M|10|0] double fill -99",
            "maxloc": "[3|2|M|M|30|2] double fill -99",
            "float sum": "[1.5|M] float fill 1e+20",
            "no fill": "[1.5|-2] double fill none",
        }
        for rank in range(3):
            for what, result in want.items():
                self.assertIn(f"rank {rank} {what} {result}\n", job.stdout, job.describe())
        self.assertIn("rank 0 scan [1|M|10] integer fill -99\n", job.stdout)
        self.assertIn("rank 1 scan [3|M|10] integer fill -99\n", job.stdout)
        self.assertIn("rank 2 scan [6|M|40] integer fill -99\n", job.stdout)
        self.assertIn("rank 0 exscan [M|M|M] integer fill -99\n", job.stdout)
        self.assertIn("rank 2 exscan [3|M|10] integer fill -99\n", job.stdout)
        self.assertIn("rank 2 reduce [3|M|30] integer fill -99\n", job.stdout)
        self.assertIn("rank 0 reduce [M] integer fill -99\n", job.stdout)

    def test_ranks_that_disagree_on_fill_values_get_a_count_mismatch(self):
        text = ('load "$STDMPI_NCL"\nx = (/ 1.0, 2.0 /)\nif (mpi_rank() .eq. 0) then\n'
                '  x@_FillValue = -1.0\nend if\ns = mpi_allreduce(x, "sum")\n')
        job = self.ncl_job(2, "disagree.ncl", text, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertIn("count mismatch in allreduce sum", job.stderr)

    def test_errors_return_mode(self):
        job = self.ncl_job(2, "errors.ncl", ERRORS)
        self.assertEqual(job.rc, 0, job.describe())
        for r in (0, 1):
            got = lines(job.stdout, f"rank {r} ")
            want = [
                "recv: missing [SRC 5 out of range: ranks are 0..1]",
                'op: missing [unknown op "avg" (sum prod min max land lor lxor minloc maxloc; '
                'band bor bxor with :i64)]',
                "count: missing [count mismatch in allreduce sum",
                'send_array tag: value [bad TAG "99999": expected 0..32767]',
                'recv_array: missing [mpi_recv_array: the message is not an array: "hello"]',
                'mode: value [mpi_errors: mode "loud" is neither "return" nor "fatal"]',
                "barrier: value []",
                "bcast: missing [ROOT 7 out of range: ranks are 0..1]",
                "fatal again: value []",
            ]
            if r == 0:
                del want[4]  # rank 0 sends it
            self.assertEqual(len(got), len(want), job.describe())
            for g, w in zip(got, want):
                self.assertTrue(g.startswith(f"rank {r} {w}"), f"{g!r}\nwanted {w!r}")

    def test_a_failure_in_fatal_mode_ends_the_job_and_says_why(self):
        text = ('load "$STDMPI_NCL"\nif (mpi_rank() .eq. 0) then\n  mpi_send(1, 5, "hello")\n'
                'else\n  x = mpi_recv_array(0, 5)\n  print("not reached")\nend if\n')
        job = self.ncl_job(2, "fatal.ncl", text, timeout=60)
        self.assertEqual(job.rc, 65, job.describe())
        self.assertNotIn("not reached", job.stdout)
        self.assertIn('stdmpi: rank 1 (ncl): mpi_recv_array: the message is not an array: "hello"',
                      job.stderr)

    def test_python_and_ncl_exchange_numbers(self):
        job = stdmpirun("-q", "-n", "1", PYTHON, "-c", PYTHON_PEER, ":", "-n", "1", "ncl",
                        self.script("peer.ncl", NCL_PEER), timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("ncl got json double 3 [1.5|2|3]\n", job.stdout)
        self.assertIn("ncl got numbers double 2 [4|5.5]\n", job.stdout)
        self.assertIn("ncl got bcast double 2 [0.5|0.25]\n", job.stdout)
        self.assertIn("python got bcast [1.5, 2.5]\n", job.stdout)  # plain doubles: JSON
        self.assertIn("python got array '\\x1e@n:ncl1 float 2 2 2 ~ ~ 1 =units string 1 =m 0 "
                      "t 1.5 2.5 3.5 4.5'\n", job.stdout)

    def test_bytes_are_faster_than_text_and_exact(self):
        job = self.ncl_job(2, "speed.ncl", SPEED)
        self.assertEqual(job.rc, 0, job.describe())
        found = dict(re.findall(r"^(bytes|text) ([0-9.]+) exact True K 200000$", job.stdout, re.M))
        self.assertEqual(sorted(found), ["bytes", "text"], job.describe())
        self.assertLess(float(found["bytes"]), float(found["text"]), job.stdout)

    def test_outside_stdmpirun_it_is_a_world_of_one_rank(self):
        job = self.alone(self.script("alone.ncl", ALONE))
        self.assertEqual(job.rc, 65, job.describe())
        want = [
            "rank 0 of 1",
            "allreduce float 3 [1.5|M|3] @_FillValue=float[-999]",
            "minloc double 2 [2.5|0]",
            "land integer 1 [1]",
            "scan integer 2 [1|2]",
            "exscan integer 1 [M] @_FillValue=integer[-2147483647]",
            "reduce integer 1 [3]",
            "gather double 2 [1|2]",
            "allgather double 1 [7]",
            "scatter double 2 [4|5]",
            "bcast text [  hi  ]",
        ]
        out = job.stdout.splitlines()
        self.assertEqual(out[:len(want)], want, job.describe())
        rest = out[len(want):]
        self.assertTrue(rest[0].startswith("bcast array double 2x3 dims=lat,lon [0.1000"), rest[0])
        one = (" (a world of one rank: this script runs outside stdmpirun; start it with "
               "stdmpirun -n N for more ranks)")
        self.assertEqual(rest[1:], [
            "wtime True",
            "probe 0 3 12",
            "recv tag 4 [second]",
            "recv any [  to myself ]",
            "status 0 3 12",
            "iprobe -1 -1 -1",
            "sendrecv [swap]",
            "array integer 4 [2147483647|-2147483647|0|M] @_FillValue=integer[-999] "
            "@flags=integer[1|2|3]",
            "large array same True",
            "numbers double 2 [1.5|2.5]",
            "recv [missing] recv from rank 0 tag 1 can never complete: this rank sent itself no "
            "message with tag 1, and no other rank can send one in its place" + one,
            "send DEST 1 out of range: the only rank is 0" + one,
            "bcast float 1 [M] @_FillValue=float[9.969209968386869e+36] ROOT 1 out of range: "
            "the only rank is 0" + one,
            'op float 1 [M] @_FillValue=float[9.969209968386869e+36] unknown op "avg" '
            "(sum prod min max land lor lxor minloc maxloc)",
            "alone ok",
        ])
        self.assertEqual(job.stderr, "stdmpi: rank 0 (ncl): request failed: recv from rank 0 tag 2 "
                                     "can never complete: this rank sent itself no message with "
                                     "tag 2, and no other rank can send one in its place" + one +
                                     "\n")

    def test_pi_example_alone_and_in_a_job(self):
        pi = os.path.join(harness.SOURCE, "examples", "pi.ncl")
        job = self.alone(pi, "terms=1e4")
        self.assertEqual(job.rc, 0, job.describe())
        self.assertRegex(job.stdout, r"^pi = 3\.14159265\d+  \(10000 terms, 1 ranks, compute ")
        job = stdmpirun("-q", "-n", "2", "ncl", "terms=1e4", pi, timeout=120)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertRegex(job.stdout, r"^pi = 3\.14159265\d+  \(10000 terms, 2 ranks, compute ")

    def test_a_stray_stdmpi_rank_is_refused(self):
        job = self.alone(self.script("stray.ncl", 'load "$STDMPI_NCL"\nprint("ran")\n'),
                         env={"STDMPI_RANK": "x"})
        self.assertEqual(job.rc, 1, job.describe())
        self.assertNotIn("ran", job.stdout)
        self.assertIn('stdmpi: not running as a stdmpi rank (STDMPI_RANK is set to "x", not a rank '
                      "number)", job.stderr)


if __name__ == "__main__":
    unittest.main()
