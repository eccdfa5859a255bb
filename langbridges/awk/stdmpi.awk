# stdmpi.awk: MPI for awk programs run as ranks by stdmpirun (gawk and mawk).
#
#   stdmpirun -n 4 awk -f '$STDMPI_AWK' -f prog.awk   (the shim fills it in)
#
#   BEGIN {
#     r = mpi_rank(); n = mpi_size()
#     total = mpi_allreduce("sum", r + 0.5)      # a string: "8" on 4 ranks
#     if (r == 0) mpi_send(1, 5, "hello"); else if (r == 1) print mpi_recv(0, 5)
#   }
#   BEGIN { while (mpi_task() > 0) print MPI_TASK_ID, MPI_TASK_TEXT }  # task farms: at the end
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
#
# Text of several lines: mpi_send and mpi_sendrecv send a text with an LF or
# CR as bytes (sendb), whole; mpi_recv and mpi_sendrecv receive any message
# whole, LFs and all. Byte counts are left to sh, wc and head, which count
# bytes whatever the awk and the locale (gawk counts characters in a UTF-8
# locale): such a message costs a few small processes, a one-line one none.

function _stdmpi_request(req) {
  printf "%s\n", req
  return _stdmpi_reply()
}

# _stdmpi_reply(): the reply line to the request just printed; "" and
# MPI_ERROR for "@error REASON" (_stdmpi_ok tells which).
function _stdmpi_reply(    reply, rs) {
  fflush()
  rs = RS
  RS = "\n"
  if ((getline reply < "/dev/stdin") <= 0) _stdmpi_closed()
  RS = rs
  _stdmpi_ok = substr(reply, 1, 6) != "@error"
  if (!_stdmpi_ok) {
    MPI_ERROR = substr(reply, 8)
    return ""
  }
  return reply
}

function _stdmpi_closed() {
  printf "stdmpi: rank %s: stdin closed while waiting for a reply\n", ENVIRON["STDMPI_RANK"] > "/dev/stderr"
  exit 70
}

# _stdmpi_shq(s): s quoted for sh.
function _stdmpi_shq(s,    out, i) {
  out = ""
  while ((i = index(s, "'")) > 0) {
    out = out substr(s, 1, i - 1) "'\"'\"'"
    s = substr(s, i + 1)
  }
  return "'" out s "'"
}

# _stdmpi_write_bytes(head, text): prints the request HEAD " N", LF, then the
# N bytes of text. sh and wc count them (bytes, whatever awk's length says).
function _stdmpi_write_bytes(head, text,    cmd) {
  cmd = "t=$(cat; printf x); t=${t%x}; printf '%s %s\\n%s' " _stdmpi_shq(head) \
        " $(printf %s \"$t\" | wc -c) \"$t\""
  fflush()
  printf "%s", text | cmd
  close(cmd)
}

# _stdmpi_bytes_reply(): the reply "N", LF and N bytes to the request just
# printed, as one string however many lines it has; "" and MPI_ERROR for an
# error (_stdmpi_ok tells which). sh and head read it: awk's getline could
# not end a last line that has no LF.
function _stdmpi_bytes_reply(    cmd, line, out, k, rs) {
  cmd = "IFS= read -r h || exit 0; printf '%s\\n' \"$h\"; " \
        "case $h in ''|*[!0-9]*) exit 0;; esac; head -c \"$h\"; echo"
  fflush()
  rs = RS
  RS = "\n"
  if ((cmd | getline line) <= 0) {
    close(cmd)
    _stdmpi_closed()
  }
  _stdmpi_ok = substr(line, 1, 6) != "@error"
  out = ""
  if (!_stdmpi_ok) {
    MPI_ERROR = substr(line, 8)
  } else {
    k = 0
    while ((cmd | getline line) > 0) out = (k++ ? out "\n" : "") line
  }
  close(cmd)
  RS = rs
  return out
}

# _stdmpi_receive(req): the text that the text receive REQ ("@mpi recv ..."
# or "@mpi sendrecv ...") gives, or, for a message with an LF (which the shim
# refuses to a text receive, keeping it first in line), the message whole,
# through recvb. In fatal mode the shim answers the text receive in return
# mode; another failure is then asked again in fatal mode, so that the shim
# ends the job with its own report.
function _stdmpi_receive(req,    fatal, r, w, before, ok) {
  fatal = _stdmpi_mode != "return"
  before = MPI_ERROR
  if (fatal) _stdmpi_request("@mpi errors return")
  r = _stdmpi_request(req)
  if (!_stdmpi_ok && MPI_ERROR ~ /^the message from rank [0-9]+ tag [0-9]+ \([0-9]+ bytes\) contains a newline/) {
    split(MPI_ERROR, w, " ")
    MPI_ERROR = before
    req = "@mpi recvb " w[5] " " w[7]
    printf "%s\n", req
    r = _stdmpi_bytes_reply()
  }
  if (fatal) {
    ok = _stdmpi_ok
    _stdmpi_request("@mpi errors fatal")
    if (!ok) {
      if (substr(req, 1, 10) == "@mpi recvb") {
        printf "%s\n", req
        r = _stdmpi_bytes_reply()
      } else {
        r = _stdmpi_request(req)
      }
    }
  }
  return r
}

function _stdmpi_multiline(text) { return index(text, "\n") > 0 || index(text, "\r") > 0 }

function _stdmpi_any(x) { return (x == "" || x < 0) ? "any" : x }

function mpi_rank() { return ENVIRON["STDMPI_RANK"] + 0 }
function mpi_size() { return ENVIRON["STDMPI_SIZE"] + 0 }
function mpi_wtime() { return _stdmpi_request("@mpi wtime") }
function mpi_barrier() { return _stdmpi_request("@mpi barrier") }

# mpi_send(dest, tag, text): sends the text, whole, however many lines it
# has; returns "ok".
function mpi_send(dest, tag, text) {
  if (!_stdmpi_multiline(text)) return _stdmpi_request("@mpi send " dest " " tag " " text)
  _stdmpi_write_bytes("@mpi sendb " dest " " tag, text)
  return _stdmpi_reply()
}

# mpi_recv(src, tag): the text of the next matching message (src/tag < 0:
# any), whole, however many lines it has.
function mpi_recv(src, tag) { return _stdmpi_receive("@mpi recv " _stdmpi_any(src) " " _stdmpi_any(tag)) }

# mpi_sendrecv(dest, sendtag, text, src, recvtag): sends and receives at once
# (texts of several lines too).
function mpi_sendrecv(dest, sendtag, text, src, recvtag,    head) {
  head = "@mpi sendrecv" (_stdmpi_multiline(text) ? "b " : " ") dest " " sendtag " " \
         _stdmpi_any(src) " " _stdmpi_any(recvtag)
  if (!_stdmpi_multiline(text)) return _stdmpi_receive(head " " text)
  _stdmpi_write_bytes(head, text)
  return _stdmpi_bytes_reply()
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
function mpi_errors(mode,    r) {
  r = _stdmpi_request("@mpi errors " mode)
  if (_stdmpi_ok) _stdmpi_mode = mode
  return r
}

# mpi_abort(code, text): ends the whole job with exit status code.
function mpi_abort(code, text,    reply) {
  printf "@mpi abort %d %s\n", code, text
  fflush()
  getline reply < "/dev/stdin"   # the shim ends the job and closes stdin
  exit code
}

# --- task farms: items for keep-alive workers ----------------------------------
#
# In a job started with `stdmpirun --tasks FILE awk -f '$STDMPI_AWK' -f w.awk`
# each rank runs the program once, and it works through FILE's lines item by
# item (docs/tasks.md, "Keep-alive workers"):
#
#   BEGIN {
#     while (mpi_task() > 0) {               # MPI_TASK_ID, MPI_TASK_TEXT
#       if ((s = system("./regrid " MPI_TASK_TEXT)) != 0) mpi_task_fail(s)
#     }
#   }
#
# Asking for the next item reports the one before as done, or as failed if
# mpi_task_fail was called for it.

# mpi_task(): reports the item held (done, or failed after mpi_task_fail),
# then takes the next one: returns 1 with its number in MPI_TASK_ID and its
# line in MPI_TASK_TEXT; 0 when no item is left for this worker; -1 when the
# request failed (after mpi_errors("return"): the reason in MPI_ERROR).
function mpi_task(    req, r, sp) {
  req = "@mpi task"
  if (_stdmpi_task_held && _stdmpi_task_reason != "") req = req " fail " _stdmpi_task_reason
  _stdmpi_task_held = 0
  _stdmpi_task_reason = ""
  MPI_TASK_ID = ""
  MPI_TASK_TEXT = ""
  r = _stdmpi_request(req)
  if (!_stdmpi_ok) return -1
  if (r == "end") return 0
  sp = index(r, " ")
  MPI_TASK_ID = substr(r, 1, sp - 1) + 0
  MPI_TASK_TEXT = substr(r, sp + 1)
  _stdmpi_task_held = MPI_TASK_ID
  return 1
}

# mpi_task_fail(reason): the item held failed; the next mpi_task reports it.
# reason is free text for the summary ("failed" if empty); "exit N" and
# "signal N" also fill the joblog's columns, and so does a status as system()
# gives it: N is "exit N", 256+N (gawk) or 128+N (sh) "signal N". Returns 1;
# 0 if no item is held.
function mpi_task_fail(reason,    n) {
  if (!_stdmpi_task_held) {
    printf "stdmpi: rank %s: mpi_task_fail: no item is held (mpi_task gives one)\n", ENVIRON["STDMPI_RANK"] > "/dev/stderr"
    return 0
  }
  reason = "" reason
  if (reason ~ /^[0-9]+$/) {
    n = reason + 0
    if (n >= 256 && n < 256 + 65) reason = "signal " (n - 256)
    else if (n > 128 && n < 128 + 65) reason = "signal " (n - 128)
    else reason = "exit " n
  }
  gsub(/[\r\n]/, " ", reason)
  if (reason !~ /[^ ]/) reason = "failed"
  _stdmpi_task_reason = reason
  return 1
}

# mpi_task_attempt(): which attempt of the item held this is (1, then 2, 3 ...
# for the runs --retries adds).
function mpi_task_attempt(    r) {
  r = _stdmpi_request("@mpi taskinfo")
  if (!_stdmpi_ok) return ""
  return substr(r, index(r, " ") + 1) + 0
}
