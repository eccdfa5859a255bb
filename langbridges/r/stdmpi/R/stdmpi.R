# stdmpi for R: MPI for R scripts run as ranks by stdmpirun.
#
#   library(stdmpi)                 # the rank's shim puts the package on R_LIBS
#   r <- comm.rank(); n <- comm.size()
#   total <- allreduce(partial, op = "sum")
#   cfg <- bcast(if (r == 0) "settings" else NULL, rank.source = 0)
#   if (r == 0) send("hello", rank.dest = 1, tag = 7)
#   if (r == 1) msg <- recv(rank.source = 0, tag = 7)
#
# The names and arguments follow pbdMPI. Each call prints one "@mpi ..."
# request on stdout and reads the reply on stdin (docs/protocol.md); replies
# are read from one stdin connection opened once (in Rscript, stdin() is not
# the process's stdin).
#
# Messages: a character string travels as plain text, readable by ranks in any
# language. Numeric, integer and logical vectors travel as JSON, as the Python
# bridge sends its objects (a marker "\x1e@j:" first), so R and Python ranks
# exchange numbers both ways; other R objects are serialized (R ranks only).
# Numbers in reductions travel as doubles: an integer vector comes back as
# integers (exact up to 2^53).
#
# A failed request raises an R error with the shim's reason.

ANY_SOURCE <- -1L
ANY_TAG <- -1L

.state <- new.env(parent = emptyenv())

.con_in <- function() {
  if (is.null(.state$input)) {
    if (Sys.getenv("STDMPI_RANK") == "") {
      stop("stdmpi: not running as a stdmpi rank (STDMPI_RANK is not set): start the ",
           "script with stdmpirun, e.g. stdmpirun -n 4 Rscript script.R", call. = FALSE)
    }
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
  con <- .con_in()
  .write(line, payload)
  .reply(con)
}

.request_bytes <- function(line, payload = NULL) {
  n <- as.numeric(.request(line, payload))
  if (n == 0) return(raw(0))
  readBin(.state$input, "raw", n)
}

.arg <- function(x) if (is.numeric(x) && x < 0) "any" else as.character(as.integer(x))

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
    v <- paste0("\"", gsub("([\"\\\\])", "\\\\\\1", gsub("\n", "\\\\n", x)), "\"")
  } else {
    stop("not JSON")
  }
  if (length(x) == 1) v else paste0("[", paste(v, collapse = ","), "]")
}

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
  c(.marker, charToRaw("r:"), serialize(x, NULL))
}

# A small JSON reader for what other ranks send (numbers, strings, arrays,
# objects, true/false/null): arrays of scalars become vectors, others lists.
.json_parse <- function(s) {
  pos <- 1L
  n <- nchar(s, type = "bytes")
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
  .write(paste0("@mpi ", verb, ":msgpack", args, " ", sprintf("%.0f", nbytes + 5)),
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

.reduce_like <- function(verb, x, op, rank.dest = NULL) {
  op <- .op(op)
  if (!(is.numeric(x) || is.logical(x)) || length(x) == 0) {
    stop("stdmpi: ", verb, " needs a non-empty numeric vector", call. = FALSE)
  }
  bitwise <- op %in% c("band", "bor", "bxor")
  args <- paste0(" ", op, if (is.null(rank.dest)) "" else paste0(" ", .arg(rank.dest)))
  # Bitwise ops work on 64-bit integers, which R has not: they go as text.
  v <- .numbers_request(paste0(verb, if (bitwise) ":i64" else ""), args, x,
                        msgpack = !bitwise && length(x) >= .msgpack_min())
  if (is.null(v)) return(invisible(NULL))
  if (op %in% c("minloc", "maxloc")) {
    return(matrix(v, ncol = 2, byrow = TRUE, dimnames = list(NULL, c("value", "rank"))))
  }
  .num_back(v, x)
}

# --- who am I -------------------------------------------------------------------

#' This rank, 0 .. comm.size() - 1.
comm.rank <- function() as.integer(Sys.getenv("STDMPI_RANK", "0"))

#' The number of ranks.
comm.size <- function() as.integer(Sys.getenv("STDMPI_SIZE", "1"))

#' Seconds since an arbitrary moment (MPI_Wtime).
wtime <- function() as.numeric(.request("@mpi wtime"))

# --- point to point -------------------------------------------------------------

#' Sends x to rank.dest. A character string travels as plain text.
send <- function(x, rank.dest, tag = 0L) {
  data <- .encode(x)
  if (!any(data == as.raw(10))) {
    .request(paste0("@mpi send ", .arg(rank.dest), " ", .arg(tag), " ", rawToChar(data)))
  } else {
    .request(paste("@mpi sendb", .arg(rank.dest), .arg(tag), length(data)), data)
  }
  invisible(NULL)
}

#' Receives the next message from rank.source (ANY_SOURCE: any) with tag
#' (ANY_TAG: any) and returns the object sent.
recv <- function(rank.source = ANY_SOURCE, tag = ANY_TAG) {
  .decode(.request_bytes(paste("@mpi recvb", .arg(rank.source), .arg(tag))))
}

#' Sends x to rank.dest and receives from rank.source at once (no deadlock
#' when two ranks swap); returns the object received. Text only: x must
#' encode to one line.
sendrecv <- function(x, rank.dest, send.tag = 0L, rank.source = ANY_SOURCE, recv.tag = ANY_TAG) {
  data <- .encode(x)
  if (any(data == as.raw(10))) stop("stdmpi: sendrecv carries one line of text", call. = FALSE)
  reply <- .request(paste0("@mpi sendrecv ", .arg(rank.dest), " ", .arg(send.tag), " ",
                           .arg(rank.source), " ", .arg(recv.tag), " ", rawToChar(data)))
  .decode(charToRaw(reply))
}

#' Raw bytes, exactly as given (no marker).
send.bytes <- function(x, rank.dest, tag = 0L) {
  x <- as.raw(x)
  .request(paste("@mpi sendb", .arg(rank.dest), .arg(tag), length(x)), x)
  invisible(NULL)
}
recv.bytes <- function(rank.source = ANY_SOURCE, tag = ANY_TAG) {
  .request_bytes(paste("@mpi recvb", .arg(rank.source), .arg(tag)))
}

.status_list <- function(reply) {
  v <- as.integer(strsplit(reply, " ", fixed = TRUE)[[1]])
  list(source = v[1], tag = v[2], count = v[3])
}

#' Source, tag and byte count of the last receive.
status <- function() .status_list(.request("@mpi status"))

#' Waits for a matching message without receiving it; its source, tag and size.
probe <- function(rank.source = ANY_SOURCE, tag = ANY_TAG) {
  .status_list(.request(paste("@mpi probe", .arg(rank.source), .arg(tag))))
}

#' As probe, but NULL at once if no matching message is there.
iprobe <- function(rank.source = ANY_SOURCE, tag = ANY_TAG) {
  reply <- .request(paste("@mpi iprobe", .arg(rank.source), .arg(tag)))
  if (reply == "none") NULL else .status_list(reply)
}

# --- collectives ----------------------------------------------------------------

#' Waits until every rank got here.
barrier <- function() invisible(.request("@mpi barrier"))

#' The root's x on every rank.
bcast <- function(x = NULL, rank.source = 0L) {
  root <- .arg(rank.source)
  if (comm.rank() == rank.source) {
    data <- .encode(x)
    if (!any(data == as.raw(10))) {
      .request(paste0("@mpi bcast ", root, " ", rawToChar(data)))
    } else {
      .request_bytes(paste("@mpi bcastb", root, length(data)), data)
    }
    return(x)
  }
  .decode(.request_bytes(paste("@mpi bcastb", root)))
}

#' Element-wise op over every rank's x; the result on every rank.
allreduce <- function(x, op = "sum") .reduce_like("allreduce", x, op)

#' Element-wise op over every rank's x; the result on rank.dest, NULL elsewhere.
reduce <- function(x, op = "sum", rank.dest = 0L) .reduce_like("reduce", x, op, rank.dest)

#' op over ranks 0 .. this one.
comm.scan <- function(x, op = "sum") .reduce_like("scan", x, op)

#' op over ranks 0 .. this one - 1; NULL on rank 0.
comm.exscan <- function(x, op = "sum") .reduce_like("exscan", x, op)

# The protocol gathers numbers with counts that may differ per rank. Every
# rank's count (2 * length, + 1 for an integer vector) goes first, so that
# each entry comes back whole and with its type; an empty vector sends one
# placeholder number (the protocol needs one).
.gather_impl <- function(x, rank.dest) {
  if (!(is.numeric(x) || is.logical(x))) stop("stdmpi: gather needs a numeric vector", call. = FALSE)
  verb <- if (is.null(rank.dest)) "allgather" else "gather"
  root <- if (is.null(rank.dest)) "" else paste0(" ", .arg(rank.dest))
  n <- length(x)
  counts <- .request(paste0("@mpi ", verb, ":i64", root, " ", 2 * n + if (is.integer(x)) 1 else 0))
  v <- .numbers_request(verb, root, if (n > 0) x else 0)
  if (is.null(v)) return(invisible(NULL))
  codes <- as.numeric(strsplit(counts, " ", fixed = TRUE)[[1]])
  out <- vector("list", length(codes))
  i <- 1L
  for (k in seq_along(codes)) {
    m <- codes[k] %/% 2
    part <- if (m > 0) v[i:(i + m - 1)] else numeric(0)
    if (codes[k] %% 2 == 1) part <- as.integer(part)
    out[[k]] <- part
    i <- i + max(m, 1)
  }
  out
}

#' On rank.dest, a list with every rank's numeric vector (rank order); NULL elsewhere.
gather <- function(x, rank.dest = 0L) .gather_impl(x, rank.dest)

#' On every rank, a list with every rank's numeric vector.
allgather <- function(x) .gather_impl(x, NULL)

#' The root gives a list (or vector) with one numeric item per rank (items of
#' equal length); each rank gets its item.
scatter <- function(x = NULL, rank.source = 0L) {
  root <- .arg(rank.source)
  if (comm.rank() == rank.source) {
    if (length(x) != comm.size()) {
      stop("stdmpi: scatter needs one item per rank (", comm.size(), ") on the root", call. = FALSE)
    }
    items <- lapply(x, as.numeric)
    k <- length(items[[1]])
    if (any(lengths(items) != k)) stop("stdmpi: scatter items must have the same length", call. = FALSE)
    kind <- if (is.integer(unlist(x))) "integer" else "double"
    # The others learn the type and their part's size first.
    .request(paste("@mpi bcast", root, kind, k))
    v <- .numbers_request("scatter", paste0(" ", root), unlist(items))
  } else {
    shape <- strsplit(.request(paste("@mpi bcast", root)), " ", fixed = TRUE)[[1]]
    kind <- shape[1]
    v <- .numbers_request("scatter", paste0(" ", root), numeric(0),
                          msgpack = as.numeric(shape[2]) >= .msgpack_min(), nothing = TRUE)
  }
  if (kind == "integer") as.integer(v) else v
}

#' Whether a failed request raises an R error ("return", the default here) or
#' ends the whole job ("fatal").
errors <- function(mode = c("return", "fatal")) invisible(.request(paste("@mpi errors", match.arg(mode))))

#' Ends the whole job with exit status errorcode.
comm.abort <- function(errorcode = 1L, message = "") {
  if (is.null(.state$output)) .state$output <- file("/dev/stdout", open = "wb", raw = TRUE)
  .write(paste("@mpi abort", as.integer(errorcode), gsub("\n", " ", message)))
  # The shim ends the job and closes stdin; wait for that.
  try(readLines(file("stdin", open = "rb"), n = 1, warn = FALSE), silent = TRUE)
  quit(save = "no", status = as.integer(errorcode))
}
