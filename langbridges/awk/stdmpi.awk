# stdmpi.awk: MPI for awk programs run as ranks by stdmpirun (gawk and mawk).
#
#   stdmpirun -n 4 awk -f '$STDMPI_AWK' -f prog.awk   (the shim fills it in)
#
#   BEGIN {
#     r = mpi_rank(); n = mpi_size()
#     total = mpi_allreduce("sum", r + 0.5)      # a string: "8" on 4 ranks
#     if (r == 0) mpi_send(1, 5, "hello"); else if (r == 1) print mpi_recv(0, 5)
#   }
#
# Each function prints one "@mpi ..." request and reads the reply from
# /dev/stdin (docs/protocol.md). Results are strings, as the reply line has
# them; several numbers are separated by one space (split() them). mawk must
# run with -W interactive to talk over pipes: the shim adds it by itself.
#
# A rank's stdin carries the replies, so a program must not read its main
# input from stdin: put its work in BEGIN, or give input files as arguments.
#
# A failed request ends the job with a message naming the rank and the
# reason. After mpi_errors("return") a failed request returns "" and puts the
# reason in MPI_ERROR.

function _stdmpi_request(req,    reply) {
  printf "%s\n", req
  fflush()
  if ((getline reply < "/dev/stdin") <= 0) {
    printf "stdmpi: rank %s: stdin closed while waiting for a reply\n", ENVIRON["STDMPI_RANK"] > "/dev/stderr"
    exit 70
  }
  if (substr(reply, 1, 6) == "@error") {
    MPI_ERROR = substr(reply, 8)
    return ""
  }
  return reply
}

function _stdmpi_any(x) { return (x == "" || x < 0) ? "any" : x }

function mpi_rank() { return ENVIRON["STDMPI_RANK"] + 0 }
function mpi_size() { return ENVIRON["STDMPI_SIZE"] + 0 }
function mpi_wtime() { return _stdmpi_request("@mpi wtime") }
function mpi_barrier() { return _stdmpi_request("@mpi barrier") }

# mpi_send(dest, tag, text): sends one line of text; returns "ok".
function mpi_send(dest, tag, text) { return _stdmpi_request("@mpi send " dest " " tag " " text) }

# mpi_recv(src, tag): the text of the next matching message (src/tag < 0: any).
function mpi_recv(src, tag) { return _stdmpi_request("@mpi recv " _stdmpi_any(src) " " _stdmpi_any(tag)) }

# mpi_sendrecv(dest, sendtag, text, src, recvtag): sends and receives at once.
function mpi_sendrecv(dest, sendtag, text, src, recvtag) {
  return _stdmpi_request("@mpi sendrecv " dest " " sendtag " " _stdmpi_any(src) " " _stdmpi_any(recvtag) " " text)
}

# mpi_status(): "SOURCE TAG BYTES" of the last receive.
function mpi_status() { return _stdmpi_request("@mpi status") }

# mpi_probe(src, tag) / mpi_iprobe(src, tag): "SOURCE TAG BYTES" ("none" from iprobe).
function mpi_probe(src, tag) { return _stdmpi_request("@mpi probe " _stdmpi_any(src) " " _stdmpi_any(tag)) }
function mpi_iprobe(src, tag) { return _stdmpi_request("@mpi iprobe " _stdmpi_any(src) " " _stdmpi_any(tag)) }

# mpi_bcast(root, text): the root's text on every rank (others' text is ignored).
function mpi_bcast(root, text) { return _stdmpi_request("@mpi bcast " root " " text) }

# Reductions over every rank's numbers (x: one or more, space separated).
function mpi_allreduce(op, x) { return _stdmpi_request("@mpi allreduce " op " " x) }
function mpi_reduce(op, root, x) { return _stdmpi_request("@mpi reduce " op " " root " " x) }
function mpi_scan(op, x) { return _stdmpi_request("@mpi scan " op " " x) }
function mpi_exscan(op, x) { return _stdmpi_request("@mpi exscan " op " " x) }

# mpi_gather(root, x): the root gets every rank's numbers ("ok" elsewhere).
function mpi_gather(root, x) { return _stdmpi_request("@mpi gather " root " " x) }
function mpi_allgather(x) { return _stdmpi_request("@mpi allgather " x) }

# mpi_scatter(root, x): the root gives size*k numbers, each rank gets its k.
function mpi_scatter(root, x) { return _stdmpi_request("@mpi scatter " root " " x) }

# mpi_errors("return" or "fatal")
function mpi_errors(mode) { return _stdmpi_request("@mpi errors " mode) }

# mpi_abort(code, text): ends the whole job with exit status code.
function mpi_abort(code, text,    reply) {
  printf "@mpi abort %d %s\n", code, text
  fflush()
  getline reply < "/dev/stdin"   # the shim ends the job and closes stdin
  exit code
}
