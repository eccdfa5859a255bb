# Runs as every rank (any size) and checks the awk bridge; prints "awk bridge ok".
function fail(what) { printf "CHECK FAILED on rank %d: %s\n", r, what > "/dev/stderr"; exit 1 }
BEGIN {
  r = mpi_rank(); n = mpi_size()
  if (r != ENVIRON["STDMPI_RANK"] + 0) fail("rank")
  s = mpi_allreduce("sum", r " 1.5")
  if (s != (n * (n - 1) / 2) " " (1.5 * n)) fail("allreduce " s)
  if (mpi_allreduce("max", r) != n - 1) fail("max")
  red = mpi_reduce("sum", 0, 1)
  if (r == 0 && red != n) fail("reduce " red)
  if (r != 0 && red != "ok") fail("reduce elsewhere " red)
  if (mpi_scan("sum", 1) != r + 1) fail("scan")
  b = mpi_bcast(0, "  hello awk ")
  if (b != "  hello awk ") fail("bcast [" b "]")
  if (n >= 2) {
    if (r == 0) mpi_send(1, 4, "text  with  spaces")
    if (r == 1) {
      m = mpi_recv(-1, 4)
      if (m != "text  with  spaces") fail("recv [" m "]")
      if (mpi_status() != "0 4 18") fail("status " mpi_status())
      if (mpi_iprobe(0, 4) != "none") fail("iprobe")
    }
  }
  got = mpi_sendrecv((r + 1) % n, 8, "ring " r, (r + n - 1) % n, 8)
  if (got != "ring " ((r + n - 1) % n)) fail("sendrecv " got)
  ag = mpi_allgather(r)
  want = "0"; for (k = 1; k < n; k++) want = want " " k
  if (ag != want) fail("allgather " ag)
  g = mpi_gather(0, r)
  if (r == 0 && g != want) fail("gather " g)
  all = "0"; for (k = 1; k < 2 * n; k++) all = all " " k
  sc = mpi_scatter(0, r == 0 ? all : "")
  if (sc != (2 * r) " " (2 * r + 1)) fail("scatter " sc)
  mpi_barrier()
  # Text of several lines, UTF-8 in it, goes whole: 22 bytes whatever the
  # locale says a character is.
  t = "naïve ☃\nsecond line"
  if (mpi_send(r, 12, t) != "ok") fail("multi-line send to self")
  if (mpi_send(r, 13, "ends with LF\n") != "ok") fail("send ending with LF")
  if ((m = mpi_recv(r, 12)) != t) fail("multi-line recv [" m "]")
  if (mpi_status() != r " 12 22") fail("multi-line status " mpi_status())
  if ((m = mpi_recv(-1, -1)) != "ends with LF\n") fail("recv ending with LF [" m "]")
  if (mpi_status() != r " 13 13") fail("LF status " mpi_status())
  got = mpi_sendrecv((r + 1) % n, 14, "ring " r "\n☃", (r + n - 1) % n, 14)
  if (got != "ring " ((r + n - 1) % n) "\n☃") fail("multi-line sendrecv [" got "]")
  if (n >= 2) {
    if (r == 0) mpi_send(1, 15, "to 1:\r\n  it's \"quoted\" $HOME `x` \\n\n")
    if (r == 1 && (m = mpi_recv(0, 15)) != "to 1:\r\n  it's \"quoted\" $HOME `x` \\n\n") fail("quoted [" m "]")
    # One-line texts both ways between ranks 0 and 1.
    if (r <= 1 && (got = mpi_sendrecv(1 - r, 16, "back " r, 1 - r, 16)) != "back " (1 - r)) fail("sendrecv back [" got "]")
  }
  mpi_barrier()
  mpi_errors("return")
  if (mpi_send(n + 3, 0, "x") != "") fail("bad dest accepted")
  if (index(MPI_ERROR, "out of range") == 0) fail("MPI_ERROR " MPI_ERROR)
  if (mpi_send(n + 3, 0, "x\ny") != "") fail("bad dest of a multi-line send accepted")
  if (index(MPI_ERROR, "DEST " (n + 3) " out of range") != 1) fail("multi-line MPI_ERROR " MPI_ERROR)
  if (mpi_recv(r, 17) != "" || index(MPI_ERROR, "can never complete") == 0) fail("never " MPI_ERROR)
  printf "rank %d awk bridge ok\n", r
}
