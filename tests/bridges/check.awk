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
  mpi_errors("return")
  if (mpi_send(n + 3, 0, "x") != "") fail("bad dest accepted")
  if (index(MPI_ERROR, "out of range") == 0) fail("MPI_ERROR " MPI_ERROR)
  printf "rank %d awk bridge ok\n", r
}
