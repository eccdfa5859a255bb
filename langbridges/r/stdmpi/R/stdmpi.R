# stdmpi for R: MPI for R scripts run as ranks by stdmpirun.
#
#   library(stdmpi)                 # the rank's shim puts the package on R_LIBS
#   init()                          # optional, as in pbdMPI
#   r <- comm.rank(); n <- comm.size()
#   total <- allreduce(partial, op = "sum")
#   cfg <- bcast(if (r == 0) list(steps = 100) else NULL, rank.source = 0)
#   parts <- gather(summary_df)     # any R object; a list on rank 0
#   comm.print(total)               # printed once, by rank 0
#   my <- get.jid(1000)             # this rank's share of 1..1000
#   if (r == 0) send("hello", rank.dest = 1, tag = 7)
#   if (r == 1) msg <- recv(rank.source = 0, tag = 7)
#   comm.split(color = r %% 2, key = r, newcomm = 1L)   # even and odd ranks
#   half <- allreduce(x, comm = 1L)
#   finalize()
#   res <- task.pull.items(FUN)     # a task farm's worker (stdmpirun --tasks): at the end
#
# The names and arguments follow pbdMPI, so that a pbdMPI script runs with
# only library(pbdMPI) changed to library(stdmpi) (docs/bridges.md lists where
# the two differ). Each call prints one "@mpi ..." request on stdout and reads
# the reply on stdin (docs/protocol.md); replies are read from one stdin
# connection opened once (in Rscript, stdin() is not the process's stdin).
#
# Outside stdmpirun (RStudio, `Rscript x.R`: STDMPI_RANK is not set) there is
# no shim to talk to: every function answers locally, as an MPI program
# started without mpirun does (a "singleton"): a world of one rank, rank 0.
# A send to rank 0 waits in a local queue for the matching recv.
#
# Messages: a character string travels as plain text, readable by ranks in any
# language. Numeric, integer and logical vectors travel as JSON in send, recv
# and bcast, as the Python bridge sends its objects (a marker "\x1e@j:"
# first), so R and Python ranks exchange numbers both ways; other R objects are
# serialized (R ranks only). gather, allgather and scatter serialize
# everything but a string, so every R object arrives exactly as it was.
# Numbers in reductions travel as doubles: an integer vector comes back as
# integers (exact up to 2^53).
#
# Under stdmpirun, reductions and large messages (16 KiB or more) go through
# the memory each rank shares with its shim instead of the pipes: see "the
# shared region" below (STDMPI_SHM_MIN_BYTES changes where that starts).
#
# Communicators, pbdMPI's way: small integers of the script's choosing.
# comm = 0 is the world; comm.split(comm, color, key, newcomm) and
# comm.dup(comm, newcomm) make newcomm (1 by default); comm.free(comm) ends
# it; comm.program(newcomm) is the ranks of this program in an MPMD job
# (stdmpirun -n 1 Rscript master.R : -n 3 Rscript worker.R), the world in a
# job of one program. Every function's `comm` argument works on any of them.
#
# A failed request raises an R error with the shim's reason.

ANY_SOURCE <- -1L
ANY_TAG <- -1L

.state <- new.env(parent = emptyenv())

# pbdMPI keeps its defaults in .pbd_env$SPMD.CT, and scripts change them
# there (e.g. `.pbd_env$SPMD.CT$print.quiet <- TRUE`); the same names work
# here for the defaults of comm.print, comm.cat, gather/allgather (unlist) and
# get.jid (divide.method).
.pbd_env <- new.env()
.pbd_env$SPMD.CT <- list(comm = 0L, rank.root = 0L, rank.source = 0L, rank.dest = 1L,
                         newcomm = 1L, request = 0L, status = 0L, tag = 0L, op = "sum",
                         print.all.rank = FALSE, print.quiet = FALSE, unlist = FALSE,
                         divide.method = c("block", "block0", "cycle"), mpi.finalize = TRUE,
                         msg.flush = TRUE, msg.barrier = TRUE)

.ct <- function(name) .pbd_env$SPMD.CT[[name]]

# --- where the script runs ------------------------------------------------------

# "rank" under stdmpirun (the shim set STDMPI_RANK), "single" outside it.
.mode <- function() {
  if (is.null(.state$mode)) {
    v <- Sys.getenv("STDMPI_RANK", unset = NA)
    if (is.na(v)) {
      .state$mode <- "single"
    } else if (!grepl("^[0-9]+$", v)) {
      # Set, but not by a shim: something went wrong with the environment.
      stop("stdmpi: not running as a stdmpi rank (STDMPI_RANK is set to \"", v, "\", not a ",
           "rank number): start the script with stdmpirun, e.g. stdmpirun -n 4 Rscript script.R, ",
           "or unset STDMPI_RANK to run it as a world of one rank", call. = FALSE)
    } else {
      .state$mode <- "rank"
    }
  }
  .state$mode
}

.single <- function() .mode() == "single"

# For a call that would be a request: TRUE in a world of one rank (answer
# locally), FALSE under stdmpirun; after finalize() an error in both.
.local <- function() {
  if (isTRUE(.state$finalized)) {
    stop("stdmpi: finalize() was called: no MPI call can follow it", call. = FALSE)
  }
  .single()
}

# What a one-rank world adds to an error message.
.one_rank <- " (a world of one rank: this script runs outside stdmpirun; start it with stdmpirun -n N for more ranks)"

# --- communicators -------------------------------------------------------------
#
# pbdMPI names communicators by small integers that the script picks (comm =
# 0: the world; comm.split(newcomm = 1L)); the shim by ids it gives out
# (split and dup reply "ID RANK SIZE"). .state$comms maps each handle in use
# to list(handle, id, rank, size); a handle not in it is MPI_COMM_NULL, as in
# pbdMPI, and .state$why says why (split with color NA, or comm.free) for the
# error. In a world of one rank the ids are the bridge's own.

.comm_table <- function() {
  if (is.null(.state$comms)) {
    world <- if (.single()) list(handle = 0L, id = 0L, rank = 0L, size = 1L)
             else list(handle = 0L, id = 0L, rank = as.integer(Sys.getenv("STDMPI_RANK")),
                       size = as.integer(Sys.getenv("STDMPI_SIZE", "1")))
    .state$comms <- list(`0` = world)
    .state$why <- list()
  }
  .state$comms
}

# The handle as a whole number >= 0; NULL is the world (as before).
.handle <- function(comm, what = "comm") {
  if (is.null(comm)) return(0L)
  if (!is.numeric(comm) || length(comm) != 1 || is.na(comm) || comm < 0 || comm != round(comm) ||
      comm > .Machine$integer.max) {
    stop("stdmpi: ", what, " = ", paste(deparse(comm), collapse = " "), ": a communicator is a ",
         "whole number >= 0 (0: the world; comm.split(), comm.dup() and comm.program() make ",
         "others)", call. = FALSE)
  }
  as.integer(comm)
}

# The communicator a handle names, or NULL where it is MPI_COMM_NULL.
.comm_entry <- function(comm) .comm_table()[[as.character(.handle(comm))]]

# The communicator a call works on; an error that says why for a handle
# that names none on this rank.
.comm <- function(comm) {
  h <- .handle(comm)
  e <- .comm_table()[[as.character(h)]]
  if (!is.null(e)) return(e)
  why <- .state$why[[as.character(h)]]
  if (identical(why, "freed")) {
    stop("stdmpi: comm = ", h, " was freed by comm.free(", h, "): it is no communicator any ",
         "more (comm.split() or comm.dup() with newcomm = ", h, " makes a new one)", call. = FALSE)
  }
  if (identical(why, "none")) {
    stop("stdmpi: comm = ", h, " is MPI_COMM_NULL on this rank: its comm.split() gave this rank ",
         "no communicator (color NA); comm.is.null(", h, ") says so before a call", call. = FALSE)
  }
  stop("stdmpi: comm = ", h, " is no communicator on this rank (MPI_COMM_NULL): ",
       "comm.split(newcomm = ", h, "), comm.dup(0, ", h, ") or comm.program(", h, ") makes one; ",
       "comm = 0 is the world", call. = FALSE)
}

# The suffix that puts a verb on the communicator: "" for the world.
.sfx <- function(cm) if (cm$id == 0L) "" else paste0(":c", cm$id)

# Binds the handle h to a communicator (NULL: MPI_COMM_NULL, why: "none" or
# "freed"). A communicator of split or dup that h named before is freed, as
# the script can no longer name it.
.bind <- function(h, entry, why = NULL) {
  tab <- .comm_table()
  key <- as.character(h)
  old <- tab[[key]]
  tab[[key]] <- entry  # NULL removes it
  .state$comms <- tab
  .state$why[[key]] <- why
  if (!is.null(old) && old$id >= 2L && !.single() &&
      !any(vapply(tab, function(e) identical(e$id, old$id), TRUE))) {
    tryCatch(.request(paste("@mpi free", old$id)), error = function(e) {
      warning("stdmpi: comm = ", h, " now names a new communicator; the one it named before ",
              "could not be freed: ", sub("^stdmpi: ", "", conditionMessage(e)), call. = FALSE)
    })
  }
  invisible(NULL)
}

# The handle for a new communicator: not the world's.
.new_handle <- function(newcomm, fn) {
  h <- .handle(newcomm, "newcomm")
  if (h == 0L) {
    stop("stdmpi: ", fn, ": newcomm = 0 is the world and stays the world; choose another ",
         "number (pbdMPI's default is 1)", call. = FALSE)
  }
  h
}

# "ID RANK SIZE", as split and dup reply.
.comm_reply <- function(h, reply) {
  v <- as.integer(strsplit(reply, " ", fixed = TRUE)[[1]])
  list(handle = h, id = v[1], rank = v[2], size = v[3])
}

# Ids for a world of one rank's own communicators (0 the world, 1 its
# program, which is the world itself).
.local_comm <- function(h) {
  .state$next_local <- if (is.null(.state$next_local)) 2L else .state$next_local + 1L
  list(handle = h, id = .state$next_local, rank = 0L, size = 1L)
}

# Messages in a world of one rank queue per communicator (1 is the world).
.queue_key <- function(cm) if (cm$id == 1L) 0L else cm$id

#' pbdMPI's comm.split(): a collective of comm's ranks; the ranks that give
#' the same color make communicator newcomm, ordered by key (then by their
#' rank in comm). color NA (or negative, as MPI_UNDEFINED) makes none on this
#' rank: comm.is.null(newcomm) is then 1.
comm.split <- function(comm = .ct("comm"), color = 0L, key = 0L, newcomm = .ct("newcomm")) {
  cm <- .comm(comm)
  h <- .new_handle(newcomm, "comm.split")
  none <- length(color) == 1 && (is.na(color) || (is.numeric(color) && color < 0))
  if (!none && (!.lone_rank(color) || color > .Machine$integer.max)) {
    stop("stdmpi: comm.split: color = ", paste(deparse(color), collapse = " "), ": expected a ",
         "whole number >= 0, or NA for no communicator", call. = FALSE)
  }
  if (!is.numeric(key) || length(key) != 1 || is.na(key) || key != round(key) ||
      abs(key) > .Machine$integer.max) {
    stop("stdmpi: comm.split: key = ", paste(deparse(key), collapse = " "), ": expected a whole ",
         "number", call. = FALSE)
  }
  if (.local()) {
    .bind(h, if (none) NULL else .local_comm(h), if (none) "none" else NULL)
    return(invisible(0L))
  }
  reply <- .request(paste0("@mpi split", .sfx(cm), " ", if (none) "none" else .count(color), " ",
                           .count(key)))
  if (reply == "none") .bind(h, NULL, "none") else .bind(h, .comm_reply(h, reply))
  invisible(0L)
}

#' pbdMPI's comm.dup(): a collective of comm's ranks; newcomm has the same
#' ranks, and its messages never meet comm's.
comm.dup <- function(comm, newcomm) {
  cm <- .comm(comm)
  h <- .new_handle(newcomm, "comm.dup")
  if (.local()) {
    .bind(h, .local_comm(h))
  } else {
    .bind(h, .comm_reply(h, .request(paste0("@mpi dup", .sfx(cm)))))
  }
  invisible(0L)
}

#' pbdMPI's comm.free(): ends communicator comm on this rank (the rank's own
#' call); a call on it afterwards is an error. The world cannot be freed.
comm.free <- function(comm = .ct("comm")) {
  cm <- .comm(comm)
  if (cm$handle == 0L) {
    stop("stdmpi: comm.free: comm = 0 is the world, which cannot be freed", call. = FALSE)
  }
  if (.local()) {
    if (cm$id >= 2L) .state$queue <- Filter(function(m) m$comm != cm$id, .state$queue)
  } else if (cm$id >= 2L) {
    # 1 (this program's ranks) is never freed. The shim's reason names its
    # own id: say the script's handle instead.
    tryCatch(.request(paste("@mpi free", cm$id)), error = function(e) {
      stop("stdmpi: comm.free(", cm$handle, "): ",
           sub(paste0("^stdmpi: communicator ", cm$id, " "), paste0("comm = ", cm$handle, " "),
               conditionMessage(e)), call. = FALSE)
    })
  }
  tab <- .comm_table()
  tab[[as.character(cm$handle)]] <- NULL
  .state$comms <- tab
  .state$why[[as.character(cm$handle)]] <- "freed"
  invisible(0L)
}

#' pbdMPI's comm.is.null(): 1 if comm names no communicator on this rank
#' (never made, freed, or a split with color NA), else 0.
comm.is.null <- function(comm = .ct("comm")) if (is.null(.comm_entry(comm))) 1L else 0L

#' The ranks of this program in an MPMD job (stdmpirun -n 1 Rscript
#' master.R : -n 3 Rscript worker.R: the three workers), as communicator
#' newcomm; in a job of one program (and outside stdmpirun) the world. No
#' other rank takes part. Returns newcomm (invisibly).
comm.program <- function(newcomm = .ct("newcomm")) {
  h <- .new_handle(newcomm, "comm.program")
  if (.local()) {
    .bind(h, list(handle = h, id = 1L, rank = 0L, size = 1L))
  } else {
    .bind(h, list(handle = h, id = 1L, rank = as.integer(.request("@mpi rank:c1")),
                  size = as.integer(.request("@mpi size:c1"))))
  }
  invisible(h)
}

#' Which program of an MPMD job this rank runs: 0, 1, ... in the order of
#' stdmpirun's command line (STDMPI_APPNUM); 0 outside stdmpirun.
get.appnum <- function() {
  if (.single()) return(0L)
  as.integer(Sys.getenv("STDMPI_APPNUM", "0"))
}

# --- the wire -------------------------------------------------------------------

.con_in <- function() {
  if (is.null(.state$input)) {
    if (.single()) stop("stdmpi: internal error: a request in a world of one rank", call. = FALSE)
    .state$input <- file("stdin", open = "rb")
    .state$output <- file("/dev/stdout", open = "wb", raw = TRUE)
    # Failed requests come back as "@error REASON" and become R errors.
    .state$errors_set <- TRUE
    .request("@mpi errors return")
  }
  .state$input
}

.write <- function(line, payload = NULL) {
  flush(stdout())  # the script's own output first, in order
  writeBin(c(charToRaw(paste0(line, "\n")), payload), .state$output)
  flush(.state$output)
}

.reply <- function(con) {
  reply <- readLines(con, n = 1, warn = FALSE, encoding = "bytes")
  if (length(reply) == 0) stop("stdmpi: the shim closed stdin: the job is ending", call. = FALSE)
  if (startsWith(reply, "@error")) stop(paste0("stdmpi: ", substring(reply, 8)), call. = FALSE)
  reply
}

.request <- function(line, payload = NULL) {
  if (isTRUE(.state$finalized)) {
    stop("stdmpi: finalize() was called: no MPI call can follow it", call. = FALSE)
  }
  con <- .con_in()
  .write(line, payload)
  .reply(con)
}

# Replies "N" LF, then N bytes.
.request_bytes <- function(line, payload = NULL) {
  n <- as.numeric(.request(line, payload))
  if (n == 0) return(raw(0))
  readBin(.state$input, "raw", n)
}

# --- the shared region ----------------------------------------------------------
#
# The shim shares a piece of memory with its program, the region (an
# anonymous memory file: docs/protocol.md, "Arrays through shared memory"),
# inherited as the descriptor STDMPI_SHM_FD. R cannot map memory, but it can
# read and write the region as a file through /proc/self/fd/N: a request then
# names bytes at offset 0 of it (`:shm=0`) instead of sending them through the
# pipe, and the bytes of its reply land there too. Writing past the region's
# end grows it, as the protocol asks; it is never opened in a mode that would
# truncate it (it is sealed against shrinking).
#
# Each use costs R a few calls on the file connection (seek, flush: 10 to 25
# microseconds), the pipe a copy of every byte, so which is quicker depends
# on the size; measured with 2 ranks, median microseconds, pipe against
# region (a noisy 2-core VM):
#
# * reductions (allreduce, reduce, comm.scan, comm.exscan) take the region at
#   every size: the numbers' conversion to text or msgpack costs more than the
#   file calls (1 number: 115 against 85; 1 KiB: 89 against 85; 64 KiB: 185
#   against 125; 1 MiB: 1800 against 950);
# * bytes (send, recv, sendrecv, bcast, gather, allgather, scatter, isend)
#   take it from 16 KiB, where both ends of each of them are level or quicker
#   (send.bytes/recv.bytes one way, sender and receiver: 1 KiB 49 and 58
#   against 62 and 84; 8 KiB 74 and 88 against 69 and 91; 16 KiB 87 and 103
#   against 72 and 97; 64 KiB 150 and 186 against 87 and 123; 1 MiB 1800 and
#   2400 against 560 and 900; allgather is level at 16 KiB, slower below).
#
# STDMPI_SHM_MIN_BYTES=N sets both to N bytes (1000000000: the pipes for all
# but a gigabyte; STDMPI_SHM=0 gives the rank no region at all). A receive
# does not know its size before the reply comes: it takes the region when the
# rank's previous receive of the same kind brought N bytes or more (so a loop
# of large messages uses it from the second on), or when the request itself
# sends N or more (sendrecv, gather). Without a region (outside stdmpirun,
# STDMPI_SHM=0, a descriptor that is not the region) everything goes through
# the pipes, as before.

.shm_min_bytes <- 16384
.shm_min_numbers <- 0

# The threshold in bytes for bytes (numbers = FALSE) or for reductions.
.shm_min <- function(numbers = FALSE) {
  if (is.null(.state$shm_min)) {
    v <- suppressWarnings(as.numeric(Sys.getenv("STDMPI_SHM_MIN_BYTES", "")))
    .state$shm_min <- if (length(v) != 1 || is.na(v) || v < 0) c(.shm_min_bytes, .shm_min_numbers)
                      else c(v, v)
  }
  .state$shm_min[if (numbers) 2L else 1L]
}

# The region as a connection open for reading and writing, or FALSE.
.shm_con <- function() {
  if (is.null(.state$shm)) {
    .state$shm <- FALSE
    fd <- Sys.getenv("STDMPI_SHM_FD", "")
    path <- paste0("/proc/self/fd/", fd)
    if (grepl("^[0-9]+$", fd) && isTRUE(startsWith(Sys.readlink(path), "/memfd:stdmpi-shm"))) {
      # "r+b": read and write from offset 0, never truncate (raw: no look for
      # a compressed file's magic bytes).
      con <- tryCatch(file(path, open = "r+b", raw = TRUE), error = function(e) NULL,
                      warning = function(w) NULL)
      if (!is.null(con)) .state$shm <- con
    }
  }
  .state$shm
}

# Whether a request goes through the region: it sends nbytes; numbers: a
# reduction; kind: a receive of that kind (its reply's size is unknown).
.shm_use <- function(nbytes, kind = NULL, numbers = FALSE) {
  if (nbytes < .shm_min(numbers) && (is.null(kind) || !isTRUE(.state$shm_big[[kind]]))) {
    return(FALSE)
  }
  !isFALSE(.shm_con())
}

# Puts bytes (a raw vector, or doubles as 8 little-endian bytes each) at
# offset 0 of the region, growing it if they run past its end.
.shm_put <- function(x) {
  con <- .state$shm
  seek(con, 0, rw = "write")
  if (is.double(x)) writeBin(x, con, size = 8, endian = "little") else writeBin(x, con)
  flush(con)
}

# n bytes (raw) or n doubles from offset 0 of the region, where the shim put
# a reply. stdio answers a seek back into bytes it has buffered from its
# buffer, which may hold what the region held before this reply: a seek far
# past the end first empties the buffer, so that the bytes are read anew.
.shm_get <- function(n, what = "raw") {
  con <- .state$shm
  seek(con, 2^40, rw = "read")
  seek(con, 0, rw = "read")
  if (what == "double") readBin(con, "double", n, size = 8, endian = "little")
  else readBin(con, "raw", n)
}

# A request that carries the bytes data (raw; raw(0) for none): through the
# region (.shm_use), "VERB:shm=0 REST" after data is put at offset 0, else
# "VERB REST" with data after the line on the pipe. verb: "@mpi VERB[:cID]";
# rest: " ARG ..." or ""; kind: for a reply with bytes, what .reply_bytes
# notes its size under. Returns the reply line, with attribute "shm": whether
# the reply's bytes are in the region.
.bytes_request <- function(verb, rest, data = raw(0), kind = NULL) {
  if (.shm_use(length(data), kind)) {
    if (length(data) > 0) .shm_put(data)
    return(structure(.request(paste0(verb, ":shm=0", rest)), shm = TRUE))
  }
  structure(.request(paste0(verb, rest), if (length(data) > 0) data), shm = FALSE)
}

# The n bytes of a reply of .bytes_request (from the region or the pipe); a
# receive of that kind takes the region next time if they are that many.
.reply_bytes <- function(reply, n, kind) {
  big <- n >= .shm_min()
  if (!identical(.state$shm_big[[kind]], big)) {
    if (is.null(.state$shm_big)) .state$shm_big <- list()
    .state$shm_big[[kind]] <- big
  }
  if (n == 0) return(raw(0))
  if (isTRUE(attr(reply, "shm"))) .shm_get(n) else readBin(.state$input, "raw", n)
}

.arg <- function(x) if (is.numeric(x) && x < 0) "any" else as.character(as.integer(x))

# Byte counts as plain digits (paste() writes 1e+06 for a double).
.count <- function(n) sprintf("%.0f", n)

# A single whole number: what stdmpi's own first argument orders put where
# pbdMPI has a buffer (recv(rank.source, tag), gather(x, rank.dest), ...).
.lone_rank <- function(v, any_ok = FALSE) {
  is.numeric(v) && length(v) == 1 && is.null(attributes(v)) && !is.na(v) && v == round(v) &&
    (v >= 0 || any_ok)
}

# Whether the call to the function that calls this named the argument.
.named <- function(arg) arg %in% names(sys.call(-1))

# pbdMPI returns what a typed buffer (integer(n), double(n), raw(n)) asked for
# in the buffer's type.
.as_buffer <- function(value, x.buffer) {
  if (is.null(x.buffer) || !is.atomic(x.buffer) || !is.atomic(value) || is.null(value)) return(value)
  if (typeof(value) != typeof(x.buffer)) {
    value <- tryCatch({ storage.mode(value) <- typeof(x.buffer); value }, error = function(e) value)
  }
  value
}

# --- encoding of objects --------------------------------------------------------

.marker <- as.raw(c(0x1e, 0x40))  # "\x1e@", then a kind letter and ':'

.json_value <- function(x) {
  if (is.null(x)) return("null")
  if (is.logical(x)) {
    v <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.numeric(x)) {
    v <- ifelse(is.na(x), "null", ifelse(is.infinite(x), ifelse(x > 0, "Infinity", "-Infinity"),
                                         formatC(x, digits = 17, format = "g")))
    v <- trimws(v)
  } else if (is.character(x)) {
    v <- ifelse(is.na(x), "null",
                paste0("\"", gsub("([\"\\\\])", "\\\\\\1", gsub("\n", "\\\\n", x)), "\""))
  } else {
    stop("not JSON")
  }
  if (length(x) == 1) v else paste0("[", paste(v, collapse = ","), "]")
}

# For send, isend, sendrecv and bcast: text, JSON (other languages read both)
# or, for every other R object, serialized.
.encode <- function(x) {
  if (is.character(x) && length(x) == 1 && !is.na(x)) {
    raw <- charToRaw(enc2utf8(x))
    if (length(raw) >= 2 && identical(raw[1:2], .marker)) raw <- c(.marker, charToRaw("s:"), raw)
    return(raw)
  }
  if (is.raw(x)) return(c(.marker, charToRaw("b:"), x))
  if ((is.numeric(x) || is.logical(x) || is.character(x)) && is.null(attributes(x))) {
    return(c(.marker, charToRaw("j:"), charToRaw(.json_value(x))))
  }
  .serialized(x)
}

# For gather, allgather and scatter: exact for every R object. A string still
# goes as plain text, raw bytes as bytes; the rest serialized.
.encode_exact <- function(x) {
  if (is.character(x) && length(x) == 1 && !is.na(x) && is.null(attributes(x))) return(.encode(x))
  if (is.raw(x) && is.null(attributes(x))) return(c(.marker, charToRaw("b:"), x))
  .serialized(x)
}

# Native byte order (xdr = FALSE): unserialize reads either order, and this
# one copies doubles as they are.
.serialized <- function(x) c(.marker, charToRaw("r:"), serialize(x, NULL, xdr = FALSE))

# A small JSON reader for what other ranks send (numbers, strings, arrays,
# objects, true/false/null): arrays of scalars become vectors, others lists.
.json_parse <- function(s) {
  pos <- 1L
  chars <- strsplit(s, "")[[1]]
  ws <- function() while (pos <= length(chars) && chars[pos] %in% c(" ", "\t", "\n", "\r")) pos <<- pos + 1L
  value <- function() {
    ws()
    c <- chars[pos]
    if (c == "{") {
      pos <<- pos + 1L
      out <- list()
      ws()
      if (chars[pos] == "}") { pos <<- pos + 1L; return(out) }
      repeat {
        ws(); key <- value(); ws(); pos <<- pos + 1L  # ':'
        out[[key]] <- value(); ws()
        if (chars[pos] == ",") { pos <<- pos + 1L; next }
        pos <<- pos + 1L; return(out)
      }
    }
    if (c == "[") {
      pos <<- pos + 1L
      out <- list()
      ws()
      if (chars[pos] == "]") { pos <<- pos + 1L; return(out) }
      repeat {
        out[[length(out) + 1L]] <- value(); ws()
        if (chars[pos] == ",") { pos <<- pos + 1L; next }
        pos <<- pos + 1L
        scalars <- all(vapply(out, function(e) length(e) == 1 && !is.list(e), TRUE))
        return(if (scalars) unlist(out) else out)
      }
    }
    if (c == "\"") {
      start <- pos + 1L
      pos <<- start
      buf <- character()
      while (chars[pos] != "\"") {
        if (chars[pos] == "\\") {
          pos <<- pos + 1L
          e <- chars[pos]
          buf <- c(buf, switch(e, n = "\n", t = "\t", r = "\r", b = "\b", f = "\f",
                               u = { h <- paste(chars[(pos + 1L):(pos + 4L)], collapse = "")
                                     pos <<- pos + 4L
                                     intToUtf8(strtoi(h, 16L)) },
                               e))
        } else {
          buf <- c(buf, chars[pos])
        }
        pos <<- pos + 1L
      }
      pos <<- pos + 1L
      return(paste(buf, collapse = ""))
    }
    start <- pos
    while (pos <= length(chars) && !(chars[pos] %in% c(",", "]", "}", " ", "\n"))) pos <<- pos + 1L
    tok <- paste(chars[start:(pos - 1L)], collapse = "")
    switch(tok, true = TRUE, false = FALSE, null = NA, `NaN` = NaN, Infinity = Inf,
           `-Infinity` = -Inf, as.numeric(tok))
  }
  value()
}

.decode <- function(raw) {
  if (length(raw) >= 4 && identical(raw[1:2], .marker)) {
    kind <- rawToChar(raw[3:4])
    body <- if (length(raw) > 4) raw[5:length(raw)] else raw(0)
    if (kind == "j:") return(.json_parse(rawToChar(body)))
    if (kind == "s:") return(rawToChar(body))
    if (kind == "b:") return(body)
    if (kind == "r:") return(unserialize(body))
  }
  if (length(raw) == 0) return("")
  if (any(raw == as.raw(0))) return(raw)  # not text: R strings cannot hold NUL
  s <- rawToChar(raw)
  Encoding(s) <- "UTF-8"
  s
}

# Cuts bytes that arrived concatenated into pieces of the given sizes.
.pieces <- function(bytes, counts) {
  ends <- cumsum(counts)
  lapply(seq_along(counts), function(k) {
    if (counts[k] == 0) raw(0) else bytes[(ends[k] - counts[k] + 1):ends[k]]
  })
}

# --- numbers --------------------------------------------------------------------

.num_text <- function(x) {
  v <- as.numeric(x)
  paste(trimws(ifelse(is.na(v), "nan", formatC(v, digits = 17, format = "g"))), collapse = " ")
}

.num_back <- function(v, x) {
  if (is.integer(x) && all(is.finite(v)) && all(abs(v) <= 2^31 - 1) && all(v == round(v))) {
    v <- as.integer(v)
  } else if (is.logical(x)) {
    v <- as.logical(v)
  }
  if (!is.null(dim(x)) && length(v) == length(x)) dim(v) <- dim(x)
  v
}

# From this many numbers on, a request sends them (and gets its result) in the
# protocol's msgpack framing: a bin of the raw 8-byte doubles, no decimal text.
.msgpack_min <- function() as.numeric(Sys.getenv("STDMPI_MSGPACK_MIN_NUMBERS", "64"))

# Sends "@mpi VERB[:msgpack]ARGS NUMBERS" and returns the result's numbers
# (NULL for "ok"). nothing: a scatter non-root, whose numbers are ignored (its
# empty value still picks the reply's form).
.numbers_request <- function(verb, args, x, msgpack = length(x) >= .msgpack_min(),
                             nothing = FALSE) {
  if (!msgpack) {
    reply <- .request(paste0("@mpi ", verb, args, if (nothing) "" else paste0(" ", .num_text(x))))
    if (reply == "ok") return(NULL)
    return(as.numeric(strsplit(reply, " ", fixed = TRUE)[[1]]))
  }
  # The line, the bin header, then the doubles straight onto the connection and
  # back off it: no copy of the vector as raw bytes either way.
  nbytes <- if (nothing) 0 else 8 * length(x)
  con <- .con_in()
  if (isTRUE(.state$finalized)) stop("stdmpi: finalize() was called: no MPI call can follow it", call. = FALSE)
  .write(paste0("@mpi ", verb, ":msgpack", args, " ", .count(nbytes + 5)),
         c(as.raw(0xc6), writeBin(as.integer(nbytes), raw(), size = 4, endian = "big")))
  if (nbytes > 0) {
    writeBin(as.double(x), .state$output, size = 8, endian = "little")
    flush(.state$output)
  }
  reply <- .reply(con)
  if (reply == "ok") return(NULL)
  size <- as.numeric(reply)
  skip <- c(2L, 3L, 5L)[match(as.integer(readBin(con, "raw", 1)), c(0xc4, 0xc5, 0xc6))]
  if (is.na(skip)) stop("stdmpi: expected a msgpack bin in the reply", call. = FALSE)
  readBin(con, "raw", skip - 1)  # the rest of the bin header
  n <- (size - skip) %/% 8
  if (n == 0) return(numeric(0))
  readBin(con, "double", n = n, size = 8, endian = "little")
}

.ops <- c("sum", "prod", "max", "min", "land", "lor", "lxor", "band", "bor", "bxor",
          "minloc", "maxloc")

.op <- function(op) {
  op <- tolower(op)
  if (!(op %in% .ops)) stop(paste0("stdmpi: unknown op \"", op, "\" (", paste(.ops, collapse = " "), ")"),
                           call. = FALSE)
  op
}

# In a world of one rank a reduction is the rank's own numbers, as the shim
# would answer them (logical ops give 0 or 1).
.reduce_local <- function(x, op) {
  v <- as.numeric(x)
  if (op %in% c("land", "lor", "lxor")) v <- as.numeric(v != 0)
  if (op %in% c("minloc", "maxloc")) {
    return(matrix(c(rbind(v, 0)), ncol = 2, byrow = TRUE, dimnames = list(NULL, c("value", "rank"))))
  }
  .num_back(v, x)
}

.reduce_like <- function(verb, x, op, rank.dest = NULL, cm = .comm(0L)) {
  op <- .op(op)
  if (!(is.numeric(x) || is.logical(x)) || length(x) == 0) {
    stop("stdmpi: ", verb, " needs a non-empty numeric vector", call. = FALSE)
  }
  if (.local()) {
    if (!is.null(rank.dest)) .local_rank(rank.dest, "ROOT")
    if (verb == "exscan") return(invisible(NULL))  # rank 0 has no ranks before it
    return(.reduce_local(x, op))
  }
  bitwise <- op %in% c("band", "bor", "bxor")
  args <- paste0(" ", op, if (is.null(rank.dest)) "" else paste0(" ", .arg(rank.dest)))
  if (!bitwise && !(op %in% c("minloc", "maxloc")) && .shm_use(8 * length(x), numbers = TRUE)) {
    # The doubles through the shared region, reduced there in place.
    .shm_put(as.double(x))
    reply <- .request(paste0("@mpi ", verb, .sfx(cm), ":shm=0", args, " ", .count(8 * length(x))))
    if (reply == "ok") return(invisible(NULL))
    return(.num_back(.shm_get(as.numeric(reply) / 8, "double"), x))
  }
  # Bitwise ops work on 64-bit integers, which R has not: they go as text.
  v <- .numbers_request(paste0(verb, if (bitwise) ":i64" else "", .sfx(cm)), args, x,
                        msgpack = !bitwise && length(x) >= .msgpack_min())
  if (is.null(v)) return(invisible(NULL))
  if (op %in% c("minloc", "maxloc")) {
    return(matrix(v, ncol = 2, byrow = TRUE, dimnames = list(NULL, c("value", "rank"))))
  }
  .num_back(v, x)
}

# --- a world of one rank ----------------------------------------------------------
#
# Outside stdmpirun the point-to-point calls work on a local queue of
# (tag, bytes) messages that rank 0 sent itself, in order, and the errors
# are the shim's.

.local_rank <- function(v, what, any_ok = FALSE) {
  if (any_ok && is.numeric(v) && v < 0) return(invisible(NULL))
  if (!.lone_rank(v) || v != 0) {
    stop("stdmpi: ", what, " ", paste(format(v), collapse = " "), " out of range: the only rank is 0",
         .one_rank, call. = FALSE)
  }
  invisible(NULL)
}

.local_tag <- function(tag, any_ok = FALSE) {
  if (any_ok && is.numeric(tag) && tag < 0) return(invisible(NULL))
  if (!.lone_rank(tag) || tag > 32767) {
    stop("stdmpi: bad TAG \"", paste(format(tag), collapse = " "), "\": expected 0..32767",
         if (any_ok) " or any" else "", call. = FALSE)
  }
  invisible(NULL)
}

.local_send <- function(dest, tag, data, cm) {
  .local_rank(dest, "DEST")
  .local_tag(tag)
  .state$queue <- c(.state$queue, list(list(comm = .queue_key(cm), tag = as.integer(tag), data = data)))
  invisible(NULL)
}

# The index of the first message queued on the communicator with the tag
# (any: negative), or 0.
.local_find <- function(src, tag, cm) {
  .local_rank(src, "SRC", any_ok = TRUE)
  .local_tag(tag, any_ok = TRUE)
  for (i in seq_along(.state$queue)) {
    m <- .state$queue[[i]]
    if (m$comm == .queue_key(cm) && (tag < 0 || m$tag == tag)) return(i)
  }
  0L
}

.local_recv <- function(src, tag, cm, verb = "recv") {
  i <- .local_find(src, tag, cm)
  if (i == 0) {
    stop("stdmpi: ", verb, " from ", if (src < 0) "any rank" else "rank 0", " tag ", .arg(tag),
         " can never complete: this rank sent itself no message",
         if (tag >= 0) paste(" with tag", tag) else "", .one_rank, call. = FALSE)
  }
  m <- .state$queue[[i]]
  .state$queue[[i]] <- NULL
  .state$last_status <- list(source = 0L, tag = m$tag, count = length(m$data))
  .state$probed <- NULL
  m$data
}

# --- who am I -------------------------------------------------------------------

#' This rank in communicator comm (the world by default), 0 .. comm.size(comm) - 1.
comm.rank <- function(comm = .ct("comm")) .comm(comm)$rank

#' The number of ranks of communicator comm; 0 where comm names none on this
#' rank (MPI_COMM_NULL), as in pbdMPI.
comm.size <- function(comm = .ct("comm")) {
  e <- .comm_entry(comm)
  if (is.null(e)) 0L else e$size
}

#' Seconds since an arbitrary moment (MPI_Wtime).
wtime <- function() {
  if (.local()) return(as.numeric(proc.time()[["elapsed"]]))
  as.numeric(.request("@mpi wtime"))
}

#' pbdMPI's init(): starts talking to the shim (the first call of any other
#' function does the same). Nothing to do in a world of one rank.
init <- function(set.seed = TRUE) {
  if (!.single()) .con_in()
  invisible(NULL)
}

#' pbdMPI's finalize(): completes the sends that isend() started and not yet
#' waited for; after it no MPI call works. MPI itself ends when the script
#' does (the shim finalizes it), so mpi.finalize changes nothing.
finalize <- function(mpi.finalize = .ct("mpi.finalize")) {
  if (!isTRUE(.state$finalized)) {
    waitall()
    .state$finalized <- TRUE
  }
  invisible(0L)
}

#' Whether finalize() was called.
is.finalized <- function() isTRUE(.state$finalized)

# --- point to point -------------------------------------------------------------

#' pbdMPI's names for the wildcards of recv and probe.
anysource <- function() ANY_SOURCE
anytag <- function() ANY_TAG

#' Sends x to rank.dest. A character string travels as plain text.
send <- function(x, rank.dest = .ct("rank.dest"), tag = .ct("tag"), comm = .ct("comm"),
                 check.type = TRUE) {
  cm <- .comm(comm)
  data <- .encode(x)
  if (.local()) return(invisible(.local_send(rank.dest, tag, data, cm)))
  if (!.shm_use(length(data)) && !any(data == as.raw(10))) {
    .request(paste0("@mpi send", .sfx(cm), " ", .arg(rank.dest), " ", .arg(tag), " ", rawToChar(data)))
  } else {
    .bytes_request(paste0("@mpi sendb", .sfx(cm)),
                   paste0(" ", .arg(rank.dest), " ", .arg(tag), " ", length(data)), data)
  }
  invisible(NULL)
}

.recv_bytes <- function(rank.source, tag, cm) {
  if (.local()) return(.local_recv(rank.source, tag, cm))
  .state$probed <- NULL
  reply <- .bytes_request(paste0("@mpi recvb", .sfx(cm)), paste0(" ", .arg(rank.source), " ", .arg(tag)),
                          kind = "recv")
  .reply_bytes(reply, as.numeric(reply), "recv")
}

#' Receives the next message from rank.source (ANY_SOURCE: any) with tag
#' (ANY_TAG: any) and returns the object sent. pbdMPI's form
#' recv(x.buffer, rank.source, tag) works; a typed buffer (integer(n),
#' double(n), raw(n)) gives the result that type. stdmpi's own first form,
#' recv(rank.source, tag) with a lone number first, works too.
recv <- function(x.buffer = NULL, rank.source = ANY_SOURCE, tag = ANY_TAG, comm = .ct("comm"),
                 status = .ct("status"), check.type = TRUE) {
  cm <- .comm(comm)
  if (!.named("x.buffer") && !.named("rank.source") && .lone_rank(x.buffer, any_ok = TRUE) &&
      (missing(tag) || missing(rank.source))) {
    if (!missing(rank.source)) tag <- rank.source
    rank.source <- x.buffer
    x.buffer <- NULL
  }
  .as_buffer(.decode(.recv_bytes(rank.source, tag, cm)), x.buffer)
}

#' Sends x to rank.dest and receives from rank.source at once (no deadlock
#' when two ranks swap); returns the object received. Any R object. As in
#' pbdMPI, rank.dest defaults to the next rank of comm (a ring).
sendrecv <- function(x, x.buffer = NULL, rank.dest = (comm.rank(comm) + 1L) %% comm.size(comm),
                     send.tag = .ct("tag"), rank.source = ANY_SOURCE, recv.tag = ANY_TAG,
                     comm = .ct("comm"), status = .ct("status")) {
  cm <- .comm(comm)
  data <- .encode(x)
  if (.local()) {
    .local_send(rank.dest, send.tag, data, cm)
    got <- .local_recv(rank.source, recv.tag, cm, "sendrecv")
  } else {
    .state$probed <- NULL
    reply <- .bytes_request(paste0("@mpi sendrecvb", .sfx(cm)),
                            paste("", .arg(rank.dest), .arg(send.tag), .arg(rank.source),
                                  .arg(recv.tag), length(data)), data, kind = "recv")
    got <- .reply_bytes(reply, as.numeric(reply), "recv")
  }
  .as_buffer(.decode(got), x.buffer)
}

#' Raw bytes, exactly as given (no marker).
send.bytes <- function(x, rank.dest, tag = 0L, comm = .ct("comm")) {
  cm <- .comm(comm)
  x <- as.raw(x)
  if (.local()) return(invisible(.local_send(rank.dest, tag, x, cm)))
  .bytes_request(paste0("@mpi sendb", .sfx(cm)), paste("", .arg(rank.dest), .arg(tag), length(x)), x)
  invisible(NULL)
}
recv.bytes <- function(rank.source = ANY_SOURCE, tag = ANY_TAG, comm = .ct("comm")) {
  .recv_bytes(rank.source, tag, .comm(comm))
}

.status_list <- function(reply) {
  v <- as.integer(strsplit(reply, " ", fixed = TRUE)[[1]])
  list(source = v[1], tag = v[2], count = v[3])
}

#' Source, tag and byte count of the last receive.
status <- function() {
  if (!.local()) return(.status_list(.request("@mpi status")))
  if (is.null(.state$last_status)) stop("stdmpi: no receive has completed on this rank yet", call. = FALSE)
  .state$last_status
}

#' pbdMPI's get.sourcetag(): c(source, tag) of the last receive, or of the
#' message the last probe()/iprobe() found.
get.sourcetag <- function(status = .ct("status")) {
  s <- if (!is.null(.state$probed)) .state$probed else status()
  c(s$source, s$tag)
}

#' Waits for a matching message without receiving it; its source, tag and size.
probe <- function(rank.source = ANY_SOURCE, tag = ANY_TAG, comm = .ct("comm"), status = .ct("status")) {
  cm <- .comm(comm)
  if (.local()) {
    i <- .local_find(rank.source, tag, cm)
    if (i == 0) {
      stop("stdmpi: probe from ", if (rank.source < 0) "any rank" else "rank 0", " tag ", .arg(tag),
           " can never complete: this rank sent itself no message", .one_rank, call. = FALSE)
    }
    s <- list(source = 0L, tag = .state$queue[[i]]$tag, count = length(.state$queue[[i]]$data))
  } else {
    s <- .status_list(.request(paste(paste0("@mpi probe", .sfx(cm)), .arg(rank.source), .arg(tag))))
  }
  .state$probed <- s
  s
}

#' As probe, but NULL at once if no matching message is there.
iprobe <- function(rank.source = ANY_SOURCE, tag = ANY_TAG, comm = .ct("comm"), status = .ct("status")) {
  cm <- .comm(comm)
  if (.local()) {
    i <- .local_find(rank.source, tag, cm)
    if (i == 0) return(NULL)
    s <- list(source = 0L, tag = .state$queue[[i]]$tag, count = length(.state$queue[[i]]$data))
  } else {
    reply <- .request(paste(paste0("@mpi iprobe", .sfx(cm)), .arg(rank.source), .arg(tag)))
    if (reply == "none") return(NULL)
    s <- .status_list(reply)
  }
  .state$probed <- s
  s
}

# --- non-blocking point to point --------------------------------------------------
#
# pbdMPI numbers its requests with small integers it calls `request` (0 by
# default) and waits for them with wait(request) and waitall(count). The
# shim gives every isend an id of its own; .state$pending maps each request
# number to the ids started under it, so that isend() twice under one number
# and one wait() completes both.

.pending_slots <- function() {
  if (is.null(.state$pending)) .state$pending <- list()
  .state$pending
}

.add_pending <- function(request, id) {
  p <- .pending_slots()
  slot <- as.character(as.integer(request))
  p[[slot]] <- c(p[[slot]], id)
  .state$pending <- p
}

.wait_ids <- function(ids) {
  if (!.single()) for (id in ids) .request(paste("@mpi wait", id))
}

#' Starts sending x to rank.dest and returns at once (pbdMPI's isend); the
#' send completes in wait(request), waitall() or finalize(). x may be changed
#' meanwhile: what is sent is x as it was.
isend <- function(x, rank.dest = .ct("rank.dest"), tag = .ct("tag"), comm = .ct("comm"),
                  request = .ct("request"), check.type = TRUE) {
  cm <- .comm(comm)
  data <- .encode(x)
  if (.local()) {
    .local_send(rank.dest, tag, data, cm)
    id <- "local"
  } else if (!.shm_use(length(data)) && !any(data == as.raw(10))) {
    id <- .request(paste0("@mpi isend", .sfx(cm), " ", .arg(rank.dest), " ", .arg(tag), " ",
                          rawToChar(data)))
  } else {
    # (isendb:shm copies the bytes before it answers: the region is free again.)
    id <- as.vector(.bytes_request(paste0("@mpi isendb", .sfx(cm)),
                                   paste("", .arg(rank.dest), .arg(tag), length(data)), data))
  }
  .add_pending(request, id)
  invisible(NULL)
}

#' pbdMPI's irecv: returns the object received, as pbdMPI's irecv of an R
#' object does, so it waits for the message (start the matching isend first);
#' wait(request) then also returns it.
irecv <- function(x.buffer = NULL, rank.source = ANY_SOURCE, tag = ANY_TAG, comm = .ct("comm"),
                  request = .ct("request"), status = .ct("status")) {
  cm <- .comm(comm)
  got <- .as_buffer(.decode(.recv_bytes(rank.source, tag, cm)), x.buffer)
  if (is.null(.state$received)) .state$received <- list()
  .state$received[[as.character(as.integer(request))]] <- list(got)
  got
}

#' Completes the isends started under request; returns (invisibly) what an
#' irecv under request received, else NULL. Nothing to wait for is no error.
wait <- function(request = .ct("request"), status = .ct("status")) {
  slot <- as.character(as.integer(request))
  p <- .pending_slots()
  ids <- p[[slot]]
  p[[slot]] <- NULL
  .state$pending <- p
  .wait_ids(ids)
  got <- .state$received[[slot]]
  if (!is.null(got)) .state$received[[slot]] <- NULL
  invisible(if (is.null(got)) NULL else got[[1]])
}

#' Completes the requests numbered 0 .. count - 1 (all of them without count).
waitall <- function(count) {
  slots <- names(.pending_slots())
  if (!missing(count)) slots <- intersect(slots, as.character(seq_len(count) - 1L))
  for (s in slots) wait(as.integer(s))
  invisible(NULL)
}

#' Waits until one of the requests 0 .. count - 1 completes, completes it and
#' returns its number (NA if none was started).
waitany <- function(count, status = .ct("status")) {
  p <- .pending_slots()
  slots <- names(p)
  if (!missing(count)) slots <- intersect(slots, as.character(seq_len(count) - 1L))
  if (length(slots) == 0) return(invisible(NA_integer_))
  ids <- unlist(p[slots], use.names = FALSE)
  done <- if (.single()) ids[1] else .request(paste(c("@mpi waitany", ids), collapse = " "))
  .wait_ids(done)
  slot <- slots[vapply(slots, function(s) done %in% p[[s]], TRUE)][1]
  rest <- setdiff(p[[slot]], done)
  p[[slot]] <- if (length(rest)) rest else NULL
  .state$pending <- p
  invisible(as.integer(slot))
}

#' Waits until at least one of the requests 0 .. count - 1 completes and
#' completes every one that has; list(count, indices) as pbdMPI gives.
waitsome <- function(count) {
  first <- if (missing(count)) waitany() else waitany(count)
  if (is.na(first)) return(list(count = 0L, indices = NULL))
  done <- first
  p <- .pending_slots()
  slots <- names(p)
  if (!missing(count)) slots <- intersect(slots, as.character(seq_len(count) - 1L))
  for (s in slots) {
    if (.single() || all(vapply(p[[s]], function(id) .request(paste("@mpi test", id)) == "1", TRUE))) {
      wait(as.integer(s))
      done <- c(done, as.integer(s))
    }
  }
  done <- sort(unique(done))
  list(count = length(done), indices = done)
}

# --- collectives ----------------------------------------------------------------

#' Waits until every rank got here.
barrier <- function(comm = .ct("comm")) {
  cm <- .comm(comm)
  if (.local()) return(invisible("ok"))
  invisible(.request(paste0("@mpi barrier", .sfx(cm))))
}

#' The root's x on every rank.
bcast <- function(x = NULL, rank.source = .ct("rank.source"), comm = .ct("comm")) {
  cm <- .comm(comm)
  if (.local()) {
    .local_rank(rank.source, "ROOT")
    return(x)
  }
  root <- .arg(rank.source)
  if (cm$rank == rank.source) {
    data <- .encode(x)
    if (.shm_use(length(data))) {
      .bytes_request(paste0("@mpi bcastb", .sfx(cm)), paste("", root, length(data)), data)
    } else if (!any(data == as.raw(10))) {
      .request(paste0("@mpi bcast", .sfx(cm), " ", root, " ", rawToChar(data)))
    } else {
      .request_bytes(paste(paste0("@mpi bcastb", .sfx(cm)), root, length(data)), data)
    }
    return(x)
  }
  reply <- .bytes_request(paste0("@mpi bcastb", .sfx(cm)), paste0(" ", root), kind = "bcast")
  .decode(.reply_bytes(reply, as.numeric(reply), "bcast"))
}

# allreduce(x, "max") and reduce(x, "max", 1): stdmpi's own order, where
# pbdMPI has a buffer second.
#' Element-wise op over every rank's x; the result on every rank.
allreduce <- function(x, x.buffer = NULL, op = .ct("op"), comm = .ct("comm")) {
  cm <- .comm(comm)
  if (is.character(x.buffer)) {
    op <- x.buffer
    x.buffer <- NULL
  }
  .as_buffer(.reduce_like("allreduce", x, op, cm = cm), x.buffer)
}

#' Element-wise op over every rank's x; the result on rank.dest, NULL elsewhere.
reduce <- function(x, x.buffer = NULL, op = .ct("op"), rank.dest = .ct("rank.root"), comm = .ct("comm")) {
  cm <- .comm(comm)
  if (is.character(x.buffer)) {
    if (!missing(op) && is.numeric(op)) rank.dest <- op
    op <- x.buffer
    x.buffer <- NULL
  }
  v <- .reduce_like("reduce", x, op, rank.dest, cm)
  if (is.null(v)) return(invisible(NULL))
  .as_buffer(v, x.buffer)
}

#' op over ranks 0 .. this one.
comm.scan <- function(x, op = "sum", comm = .ct("comm")) {
  .reduce_like("scan", x, op, cm = .comm(comm))
}

#' op over ranks 0 .. this one - 1; NULL on rank 0.
comm.exscan <- function(x, op = "sum", comm = .ct("comm")) {
  .reduce_like("exscan", x, op, cm = .comm(comm))
}

# Every rank's x, exactly (serialized), as a list in rank order: on rank.dest
# (NULL elsewhere), or on every rank when rank.dest is NULL. One collective:
# the shim moves each rank's bytes, whatever their size.
.gather_objects <- function(x, rank.dest, cm) {
  if (.local()) {
    if (!is.null(rank.dest)) .local_rank(rank.dest, "ROOT")
    return(list(x))
  }
  data <- .encode_exact(x)
  reply <- if (is.null(rank.dest)) {
    .bytes_request(paste0("@mpi allgatherb", .sfx(cm)), paste0(" ", length(data)), data, "gather")
  } else {
    .bytes_request(paste0("@mpi gatherb", .sfx(cm)), paste("", .arg(rank.dest), length(data)), data,
                   if (cm$rank == rank.dest) "gather")
  }
  if (reply == "ok") return(NULL)
  counts <- as.numeric(strsplit(reply, " ", fixed = TRUE)[[1]])
  lapply(.pieces(.reply_bytes(reply, sum(counts), "gather"), counts), .decode)
}

# pbdMPI's forms of the result: a list; unlist = TRUE: one vector; a typed
# buffer (integer(n), double(n), raw(n)): one vector of that type.
.gathered <- function(out, x.buffer, unlist) {
  if (!is.null(x.buffer) && is.atomic(x.buffer)) return(.as_buffer(unlist(out), x.buffer))
  if (isTRUE(unlist)) return(unlist(out))
  out
}

#' On rank.dest, a list with every rank's x (rank order): any R object;
#' NULL elsewhere. stdmpi's own order gather(x, rank.dest) works too.
gather <- function(x, x.buffer = NULL, x.count = NULL, displs = NULL, rank.dest = .ct("rank.root"),
                   comm = .ct("comm"), unlist = .ct("unlist")) {
  cm <- .comm(comm)
  if (missing(rank.dest) && is.null(x.count) && !.named("x.buffer") && .lone_rank(x.buffer)) {
    rank.dest <- x.buffer
    x.buffer <- NULL
  }
  out <- .gather_objects(x, rank.dest, cm)
  if (is.null(out)) return(invisible(NULL))
  .gathered(out, x.buffer, unlist)
}

#' On every rank, a list with every rank's x.
allgather <- function(x, x.buffer = NULL, x.count = NULL, displs = NULL, comm = .ct("comm"),
                      unlist = .ct("unlist")) {
  .gathered(.gather_objects(x, NULL, .comm(comm)), x.buffer, unlist)
}

# The root's x cut into one item per rank, as pbdMPI cuts it: x.count: a
# vector cut into pieces of those lengths; a typed buffer: a vector cut into
# equal pieces; else a list (or vector) with one item per rank.
.scatter_items <- function(x, x.buffer, x.count, n) {
  if (!is.null(x.count)) {
    if (length(x.count) != n || sum(x.count) != length(x)) {
      stop("stdmpi: scatter: x.count needs one length per rank (", n, ") adding up to length(x) (",
           length(x), ")", call. = FALSE)
    }
    ends <- cumsum(x.count)
    return(lapply(seq_len(n), function(k) x[seq_len(x.count[k]) + ends[k] - x.count[k]]))
  }
  if (!is.null(x.buffer) && is.atomic(x.buffer) && is.atomic(x)) {
    if (length(x) %% n != 0) {
      stop("stdmpi: scatter: length(x) (", length(x), ") is not a multiple of the ", n,
           " ranks; give x.count", call. = FALSE)
    }
    k <- length(x) %/% n
    return(lapply(seq_len(n), function(i) x[seq_len(k) + (i - 1) * k]))
  }
  if (length(x) != n) {
    stop("stdmpi: scatter needs one item per rank (", n, ") on the root: a list of length ", n,
         call. = FALSE)
  }
  lapply(seq_len(n), function(i) x[[i]])
}

#' The root gives a list (or vector) with one item per rank, any R objects;
#' each rank gets its item. stdmpi's own order scatter(x, rank.source) works too.
scatter <- function(x = NULL, x.buffer = NULL, x.count = NULL, displs = NULL,
                    rank.source = .ct("rank.source"), comm = .ct("comm")) {
  cm <- .comm(comm)
  if (missing(rank.source) && is.null(x.count) && !.named("x.buffer") && .lone_rank(x.buffer)) {
    rank.source <- x.buffer
    x.buffer <- NULL
  }
  if (.local()) {
    .local_rank(rank.source, "ROOT")
    return(.as_buffer(.scatter_items(x, x.buffer, x.count, 1L)[[1]], x.buffer))
  }
  root <- .arg(rank.source)
  verb <- paste0("@mpi scatterb", .sfx(cm))
  if (cm$rank == rank.source) {
    pieces <- lapply(.scatter_items(x, x.buffer, x.count, cm$size), .encode_exact)
    reply <- .bytes_request(verb, paste("", root, paste(lengths(pieces), collapse = " ")),
                            do.call(c, c(list(raw(0)), pieces)), "scatter")
  } else {
    reply <- .bytes_request(verb, paste0(" ", root), kind = "scatter")
  }
  got <- .reply_bytes(reply, as.numeric(reply), "scatter")
  .as_buffer(.decode(got), x.buffer)
}

# --- printing, as pbdMPI prints -----------------------------------------------------

# pbdMPI's decoration: "COMM.RANK = r" on a line first unless quiet; an
# integer quiet colours the text by rank instead.
.decor <- function(quiet, cm) {
  if (is.numeric(quiet) && !is.logical(quiet)) {
    return(c(paste0("\033[1;", 90 + cm$rank %% 8, "m"), "\033[0m"))
  }
  c(if (isTRUE(quiet)) "" else paste0("COMM.RANK = ", cm$rank, "\n"), "")
}

# Prints text made on the ranks that print. Everything goes out through rank
# 0 (of comm), in the order of the printing ranks, so the lines of one call
# appear together and in order in the job's output (the output of different
# ranks travels on different pipes). Printing on rank 0 alone needs no other
# rank; otherwise every rank of comm must call (as in pbdMPI).
.comm_output <- function(text, all.rank, rank.print, con, flush, cm) {
  r <- cm$rank
  n <- cm$size
  ranks <- if (isTRUE(all.rank)) seq_len(n) - 1L else unique(as.integer(rank.print))
  ranks <- ranks[ranks >= 0 & ranks < n]
  if (length(ranks) == 0) return(invisible(NULL))
  if (identical(ranks, 0L)) {
    if (r == 0) cat(text(), sep = "", file = con)
  } else {
    got <- .gather_objects(if (r %in% ranks) text() else NULL, 0L, cm)
    if (r == 0) for (k in ranks) cat(got[[k + 1]], sep = "", file = con)
  }
  if (isTRUE(flush)) flush(con)
  invisible(NULL)
}

#' print(x) on rank.print (default 0) or, all.rank = TRUE, on every rank in
#' rank order, each after a "COMM.RANK = r" line unless quiet.
comm.print <- function(x, all.rank = .ct("print.all.rank"), rank.print = .ct("rank.source"),
                       comm = .ct("comm"), quiet = .ct("print.quiet"), flush = .ct("msg.flush"),
                       barrier = .ct("msg.barrier"), con = stdout(), sleep = 0, ...) {
  cm <- .comm(comm)
  # As pbdMPI: no "COMM.RANK" line for an expression that is not a variable.
  name <- deparse(substitute(x))
  if (length(name) != 1 || !exists(name, envir = parent.frame())) quiet <- TRUE
  text <- function() {
    d <- .decor(quiet, cm)
    paste0(d[1], paste0(utils::capture.output(print(x, ...)), "\n", collapse = ""), d[2])
  }
  .comm_output(text, all.rank, rank.print, con, flush, cm)
}

#' cat(...) on rank.print (default 0) or on every rank, as comm.print.
comm.cat <- function(..., all.rank = .ct("print.all.rank"), rank.print = .ct("rank.source"),
                     comm = .ct("comm"), quiet = .ct("print.quiet"), sep = " ", fill = FALSE,
                     labels = NULL, append = FALSE, flush = .ct("msg.flush"),
                     barrier = .ct("msg.barrier"), con = stdout(), sleep = 0) {
  cm <- .comm(comm)
  text <- function() {
    buf <- rawConnection(raw(0), "w")
    on.exit(close(buf))
    cat(..., file = buf, sep = sep, fill = fill, labels = labels)
    d <- .decor(quiet, cm)
    paste0(d[1], rawToChar(rawConnectionValue(buf)), d[2])
  }
  .comm_output(text, all.rank, rank.print, con, flush, cm)
}

# --- dividing work ---------------------------------------------------------------

# The items 1..n of one rank (0-based) of size ranks, as pbdMPI's get.jid
# divides them: "block" gives the last n %% size ranks one more, "block0"
# the first ones, "cycle" deals them out in turn. With no more items than
# ranks, rank r gets item r + 1 (or none).
.jid <- function(n, method, size, rank) {
  if (n <= size) return(if (rank < n) rank + 1 else NULL)
  base <- floor(n / size)
  extra <- n %% size
  if (method == "block") {
    first <- size - extra  # ranks from here on get base + 1
    if (rank < first) return(seq_len(base) + rank * base)
    return(seq_len(base + 1) + first * base + (rank - first) * (base + 1))
  }
  if (method == "block0") {
    if (rank < extra) return(seq_len(base + 1) + rank * (base + 1))
    return(seq_len(base) + extra * (base + 1) + (rank - extra) * base)
  }
  which((seq_len(n) - 1) %% size == rank)  # cycle
}

# The same as start, end, by and length (pbdMPI's reduced = TRUE).
.jid_reduced <- function(v) {
  if (length(v) == 0) return(list(start = NULL, end = NULL, by = 0, length = 0))
  list(start = v[1], end = v[length(v)], by = if (length(v) > 1) v[2] - v[1] else 0,
       length = length(v))
}

#' This rank's share of the job ids 1..n (method "block", "block0" or
#' "cycle"); all = TRUE: every rank's, as a list; reduced = TRUE: each as
#' list(start, end, by, length).
get.jid <- function(n, method = .ct("divide.method")[1], all = FALSE, comm = .ct("comm"),
                    reduced = FALSE) {
  cm <- .comm(comm)
  if (!(method[1] %in% c("block", "block0", "cycle"))) {
    stop("stdmpi: get.jid: unknown method \"", method[1], "\" (block, block0 or cycle)", call. = FALSE)
  }
  one <- function(rank) {
    v <- .jid(n, method[1], cm$size, rank)
    if (reduced) .jid_reduced(v) else v
  }
  if (all) lapply(seq_len(cm$size) - 1L, one) else one(cm$rank)
}

#' Splits N items into p chunks (one per rank), as pbdMPI's comm.chunk:
#' form "number" (the chunk's size), "vector" (its items, from 1..N) or
#' "seq" (c(from, to, by) for seq()); type "balance" (sizes differ by at
#' most 1, the bigger ones on the low ranks unless lo.side = "left"),
#' "cycle" (as balance, items dealt out in turn) or "equal" (as many chunks
#' as possible of the biggest size, the rest smaller or empty, on the high
#' ranks unless lo.side = "left"). all.rank = TRUE: every rank's chunk.
comm.chunk <- function(N, form = "number", type = "balance", lo.side = "right", rng = FALSE,
                       all.rank = FALSE, p = NULL, rank = NULL, comm = .ct("comm"), ...) {
  if (is.null(p)) p <- .comm(comm)$size
  if (is.null(rank)) rank <- .comm(comm)$rank
  choose <- function(value, choices, what) {
    i <- pmatch(value[1], choices)
    if (is.na(i)) {
      stop("stdmpi: comm.chunk: ", what, " must be one of ", paste0("\"", choices, "\"", collapse = ", "),
           if (what == "form" && value[1] %in% c("ldim", "bldim")) " (ldim and bldim, for pbdDMAT, are not in stdmpi)",
           call. = FALSE)
    }
    choices[i]
  }
  form <- choose(form, c("number", "vector", "seq"), "form")
  type <- choose(type, c("balance", "equal", "cycle"), "type")
  lo.side <- choose(lo.side, c("right", "left"), "lo.side")
  if (!is.logical(all.rank) || length(all.rank) != 1 || is.na(all.rank)) {
    stop("stdmpi: comm.chunk: all.rank must be TRUE or FALSE", call. = FALSE)
  }
  if (!is.numeric(p) || p < 1) stop("stdmpi: comm.chunk: p must be a positive integer", call. = FALSE)
  if (!is.numeric(rank) || rank < 0 || rank >= p) {
    stop("stdmpi: comm.chunk: rank must be an integer from 0 to p - 1", call. = FALSE)
  }
  if (type == "cycle" && lo.side == "left") {
    stop("stdmpi: comm.chunk: lo.side \"left\" does not go with type \"cycle\"", call. = FALSE)
  }
  if (isTRUE(rng)) {
    stop("stdmpi: comm.chunk: rng = TRUE (pbdMPI's per-rank random streams) is not in stdmpi; ",
         "use RNGkind(\"L'Ecuyer-CMRG\") and parallel::nextRNGStream() yourself", call. = FALSE)
  }
  # The size of every chunk.
  base <- N %/% p
  left <- N - base * p
  items <- rep(base, p)
  if (left > 0 && type != "equal") {
    big <- if (lo.side == "right") seq_len(left) else (p - left + 1):p
    items[big] <- base + 1
  } else if (left > 0) {
    items <- items + 1
    excess <- p * (base + 1) - N  # taken off from one end, emptying chunks first
    order <- if (lo.side == "right") p:1 else 1:p
    for (i in order) {
      if (excess == 0) break
      take <- min(excess, items[i])
      items[i] <- items[i] - take
      excess <- excess - take
    }
  }
  one <- function(r) {
    k <- r + 1
    if (form == "number") return(items[k])
    if (type == "cycle") {
      if (form == "vector") return(seq(from = k, by = p, length.out = items[k]))
      return(if (items[k] > 0) c(k, N, p) else integer(0))
    }
    offset <- sum(items[seq_len(k - 1)])
    if (form == "vector") return(offset + seq_len(items[k]))
    c(offset + 1, offset + items[k], 1)
  }
  if (!all.rank) return(one(rank))
  if (form == "number") return(items)
  lapply(seq_len(p) - 1, one)
}

# --- errors and the end ----------------------------------------------------------

#' Whether a failed request raises an R error ("return", the default here) or
#' ends the whole job ("fatal").
errors <- function(mode = c("return", "fatal")) {
  mode <- match.arg(mode)
  if (.local()) return(invisible("ok"))
  invisible(.request(paste("@mpi errors", mode)))
}

#' Ends the whole job with exit status errorcode, whatever comm (pbdMPI's
#' second argument) says; stdmpi's own second argument, a message, is
#' printed first.
comm.abort <- function(errorcode = 1L, message = "", comm = .ct("comm")) {
  if (!is.character(message)) message <- ""  # comm.abort(1, comm), pbdMPI's order
  if (.single()) {
    if (nzchar(message)) cat("stdmpi: abort: ", message, "\n", sep = "", file = stderr())
    quit(save = "no", status = as.integer(errorcode))
  }
  if (is.null(.state$output)) .state$output <- file("/dev/stdout", open = "wb", raw = TRUE)
  .write(paste("@mpi abort", as.integer(errorcode), gsub("\n", " ", message)))
  # The shim ends the job and closes stdin; wait for that.
  try(readLines(file("stdin", open = "rb"), n = 1, warn = FALSE), silent = TRUE)
  quit(save = "no", status = as.integer(errorcode))
}

# --- task farms: items for keep-alive workers -------------------------------------
#
# In a job started with `stdmpirun --tasks FILE Rscript worker.R` each rank
# runs the script once, and it works through FILE's lines item by item on
# whichever rank is free (docs/tasks.md, "Keep-alive workers"). In the spirit
# of pbdMPI's task.pull(jids, FUN, ...), with the farm as the manager:
#
#   res <- task.pull.items(function(file) regrid(file))   # an R error fails that item
#
# or the loop itself:
#
#   while (!is.null(item <- task.item())) {               # item$id, item$text, item$attempt
#     tryCatch(regrid(item$text), error = function(e) task.fail(conditionMessage(e)))
#   }
#
# Asking for the next item reports the one before as done, or as failed if
# task.fail() was called for it. Outside stdmpirun, `STDMPI_TASKS=FILE
# Rscript worker.R` works through FILE's items in this one process.

#' The next item of a task farm, after reporting the one held (done, or
#' failed after task.fail()): list(id, text, attempt), or NULL when no item is
#' left for this worker.
task.item <- function() {
  held <- .state$task_held
  reason <- .state$task_reason
  .state$task_held <- NULL
  .state$task_reason <- NULL
  req <- if (!is.null(held) && !is.null(reason)) paste("@mpi task fail", reason) else "@mpi task"
  reply <- .task_request(req)
  if (identical(reply, "end")) return(NULL)
  id <- as.numeric(sub(" .*$", "", reply, useBytes = TRUE))
  text <- sub("^[^ ]* ", "", reply, useBytes = TRUE)
  Encoding(text) <- "unknown"
  if (validUTF8(text)) Encoding(text) <- "UTF-8"
  .state$task_held <- id
  info <- .task_request("@mpi taskinfo")
  list(id = id, text = text, attempt = as.integer(sub("^[^ ]* ", "", info, useBytes = TRUE)))
}

#' The item held failed: the next task.item() reports it. reason is free text
#' for the summary; "exit N" and "signal N" also fill the joblog's columns,
#' and so does a bare number N ("exit N"). Returns TRUE; FALSE (with a
#' warning) if no item is held.
task.fail <- function(reason = "failed") {
  if (is.null(.state$task_held)) {
    warning("stdmpi: task.fail: no item is held (task.item() gives one)", call. = FALSE)
    return(invisible(FALSE))
  }
  .state$task_reason <- .task_reason(reason)
  invisible(TRUE)
}

#' pbdMPI's task.pull(), for the items of a task farm: calls FUN(text, ...)
#' for each item this worker is given. With try = TRUE (the default) an R
#' error in FUN fails that item ("Error: message" in the summary; printed on
#' stderr unless try.silent) and the next item follows; with try = FALSE the
#' error ends the worker holding the item, which fails that attempt (the
#' shim starts the worker again). Returns a list of FUN's results named by
#' item id; a failed item's entry is a "try-error", as try() gives.
task.pull.items <- function(FUN, ..., try = TRUE, try.silent = FALSE) {
  FUN <- match.fun(FUN)
  out <- list()
  while (!is.null(item <- task.item())) {
    key <- format(item$id, scientific = FALSE)
    if (!try) {
      out[key] <- list(FUN(item$text, ...))
      next
    }
    out[key] <- list(tryCatch(FUN(item$text, ...), error = function(e) {
      why <- .task_reason(paste0(if (inherits(e, "simpleError")) "Error" else class(e)[1], ": ",
                                 conditionMessage(e)))
      if (!try.silent) {
        flush(stdout())
        cat("stdmpi: item ", key, " failed: ", why, "\n", sep = "", file = stderr())
      }
      task.fail(why)
      structure(paste0(why, "\n"), class = "try-error", condition = e)
    }))
  }
  out
}

# A failure reason as one line of the request.
.task_reason <- function(reason) {
  if (is.numeric(reason) && length(reason) == 1 && !is.na(reason) && reason == round(reason)) {
    reason <- paste("exit", format(reason, scientific = FALSE))
  }
  r <- trimws(gsub("[\r\n]+", " ", paste(as.character(reason), collapse = " ")))
  if (!nzchar(r)) r <- "failed"
  if (nchar(r, type = "bytes") > 500) r <- paste0(substr(r, 1, 497), "...")
  r
}

# A task request: to the shim, or, outside stdmpirun, answered from the file
# STDMPI_TASKS names.
.task_request <- function(req) {
  if (.local()) return(.local_task(req))
  .request(req)
}

# Outside stdmpirun: the items of $STDMPI_TASKS (lines that are not empty and
# not # lines, numbered from 1 as stdmpirun numbers them), each once, in file
# order; at the end the failures are listed on stderr.
.local_task <- function(req) {
  if (is.null(.state$local_items)) {
    path <- Sys.getenv("STDMPI_TASKS")
    if (!nzchar(path)) {
      stop("stdmpi: @mpi task is for task farms: start the job with stdmpirun --tasks FILE ",
           "COMMAND (outside stdmpirun, STDMPI_TASKS=FILE works through FILE's items in this ",
           "process)", call. = FALSE)
    }
    lines <- tryCatch(readLines(path, warn = FALSE, encoding = "UTF-8"), error = function(e) {
      stop("stdmpi: STDMPI_TASKS=", path, ": cannot read the items", call. = FALSE)
    })
    lines <- sub("\r$", "", lines)
    .state$local_items <- lines[!grepl("^[[:space:]]*(#|$)", lines)]
    .state$local_next <- 0L
    .state$local_held <- 0L
    .state$local_failed <- character(0)
  }
  items <- .state$local_items
  if (req == "@mpi taskinfo") {
    if (.state$local_held == 0L) stop("stdmpi: no item is held: ask for one with @mpi task", call. = FALSE)
    return(paste(.state$local_held, 1))
  }
  held <- .state$local_held
  if (held > 0L && startsWith(req, "@mpi task fail ")) {
    .state$local_failed <- c(.state$local_failed, sprintf("item %d (%s): %s", held,
                                                          substring(req, 16), items[held]))
  }
  .state$local_held <- 0L
  if (.state$local_next >= length(items)) {
    if (!isTRUE(.state$local_summed)) {
      .state$local_summed <- TRUE
      flush(stdout())
      bad <- .state$local_failed
      cat(sprintf("stdmpi: tasks: %d item(s) in this process (STDMPI_TASKS): %d succeeded, %d failed\n",
                  length(items), length(items) - length(bad), length(bad)),
          if (length(bad)) paste0("stdmpi: failed: ", bad, "\n"), sep = "", file = stderr())
    }
    return("end")
  }
  .state$local_next <- .state$local_next + 1L
  .state$local_held <- .state$local_next
  paste(.state$local_held, items[.state$local_held])
}
