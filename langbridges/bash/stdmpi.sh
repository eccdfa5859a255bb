# stdmpi.sh: MPI for bash scripts run as ranks by stdmpirun.
#
#   source "$STDMPI_BASH"        # the shim exports this file's full path
#
#   mpi_comm_rank rank
#   mpi_comm_size size
#   mpi_allreduce -O sum "$partial" total        # total=<sum over all ranks>
#   (( rank == 0 )) && mpi_send -t 5 1 "hello"    # rank 0 sends to rank 1
#   (( rank == 1 )) && mpi_recv -t 5 0 msg        # msg=hello
#   mpi_barrier
#
# MPI-Bash scripts run as they are where a function exists in both (mpi_init,
# mpi_finalize, mpi_bcast with the root inferred, messages of several lines).
# In the spirit of MPI-Bash: results go into the variable named last. Each
# function prints one "@mpi ..." request and reads the reply (docs/protocol.md).
# Numbers travel as doubles (integral results print without a fraction, so
# $(( )) can use them); VALUE may hold several numbers separated by spaces.
#
# A failed request ends the job with a message naming the rank and the reason.
# After `mpi_errors return`, a function that fails returns 1 instead and puts
# the reason in MPI_ERROR.

MPI_ERROR=
_stdmpi_mode=fatal

# _stdmpi_request REQUEST: prints it, reads the reply into _stdmpi_reply.
_stdmpi_request() {
  printf '%s\n' "$1"
  _stdmpi_read_reply
}

# _stdmpi_read_reply: the reply line to a request already printed.
_stdmpi_read_reply() {
  if ! IFS= read -r _stdmpi_reply; then
    echo "stdmpi: rank ${STDMPI_RANK:-?}: stdin closed while waiting for a reply (is this running under stdmpirun?)" >&2
    exit 70
  fi
  if [[ $_stdmpi_reply == "@error"* ]]; then
    MPI_ERROR=${_stdmpi_reply#@error }
    return 1
  fi
  return 0
}

# _stdmpi_fail REASON: a failure the bridge itself finds, as the shim's are:
# returns 1 with MPI_ERROR after `mpi_errors return`, else ends the rank.
_stdmpi_fail() {
  MPI_ERROR=$1
  if [[ $_stdmpi_mode == return ]]; then return 1; fi
  echo "stdmpi: rank ${STDMPI_RANK:-?}: $1" >&2
  exit 1
}

# _stdmpi_set VAR: VAR gets the reply as it is (text may well be "ok").
_stdmpi_set() { printf -v "$1" '%s' "$_stdmpi_reply"; }

# _stdmpi_result VAR: for reduce, exscan and gather, where the reply "ok" means
# that there is no result on this rank: VAR gets "" then.
_stdmpi_result() {
  [[ $_stdmpi_reply == ok ]] && _stdmpi_reply=
  _stdmpi_set "$1"
}

# _stdmpi_opts "OTR" "$@": takes the leading -O OP, -t TAG, -r ROOT (those named
# in the first argument) into _stdmpi_O/_t/_r; _stdmpi_shift is how many
# arguments they were. Anything else, a negative number too, ends the options;
# so does "--".
_stdmpi_opts() {
  local allowed=$1
  shift
  _stdmpi_O=sum _stdmpi_t=0 _stdmpi_r=0 _stdmpi_shift=0
  while (( $# > 0 )); do
    case $1 in
      -O) [[ $allowed == *O* ]] || break; _stdmpi_O=$2 ;;
      -t) [[ $allowed == *T* ]] || break; _stdmpi_t=$2 ;;
      -r) [[ $allowed == *R* ]] || break; _stdmpi_r=$2 ;;
      --) _stdmpi_shift=$((_stdmpi_shift + 1)); return 0 ;;
      *) return 0 ;;
    esac
    if (( $# < 2 )); then
      echo "stdmpi: rank ${STDMPI_RANK:-?}: ${FUNCNAME[1]}: $1 needs a value" >&2
      return 2
    fi
    shift 2
    _stdmpi_shift=$((_stdmpi_shift + 2))
  done
}

# mpi_init, mpi_finalize: for scripts written for MPI-Bash. The shim starts
# MPI before the script runs and ends it after; both only return 0.
mpi_init() { return 0; }
mpi_finalize() { return 0; }

# mpi_comm_rank VAR: this rank.
mpi_comm_rank() { printf -v "$1" '%s' "${STDMPI_RANK:?not running under stdmpirun}"; }

# mpi_comm_size VAR: the number of ranks.
mpi_comm_size() { printf -v "$1" '%s' "${STDMPI_SIZE:?not running under stdmpirun}"; }

# mpi_wtime VAR: seconds (MPI_Wtime).
mpi_wtime() { _stdmpi_request "@mpi wtime" && _stdmpi_set "$1"; }

# mpi_barrier: waits until every rank got here.
mpi_barrier() { _stdmpi_request "@mpi barrier"; }

# mpi_send [-t TAG] RANK TEXT...: sends TEXT (words joined by spaces). A text
# of several lines ("$(ls)") goes as its bytes (sendb), whole.
mpi_send() {
  _stdmpi_opts T "$@" || return
  shift "$_stdmpi_shift"
  local dest=$1
  shift
  local text="$*"
  if [[ $text == *[$'\n\r']* ]]; then
    local LC_ALL=C # ${#text} in bytes
    printf '@mpi sendb %s %s %d\n%s' "$dest" "$_stdmpi_t" "${#text}" "$text"
    _stdmpi_read_reply
  else
    _stdmpi_request "@mpi send $dest $_stdmpi_t $text"
  fi
}

# mpi_recv [-t TAG|any] RANK|any VAR: receives the next matching message into
# VAR, whole, however many lines it has (a bash variable holds no NUL byte:
# those are dropped).
mpi_recv() {
  _stdmpi_opts T "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi recvb $1 $_stdmpi_t" || return
  # The reply is the byte count; the bytes follow it.
  local n=$_stdmpi_reply LC_ALL=C
  _stdmpi_reply=
  if (( n > 0 )) && ! IFS= read -r -d '' -N "$n" _stdmpi_reply; then
    echo "stdmpi: rank ${STDMPI_RANK:-?}: stdin closed while reading a message" >&2
    exit 70
  fi
  _stdmpi_set "$2"
}

# mpi_sendrecv [-t SENDTAG] [-T RECVTAG|any] DEST TEXT SRC|any VAR: sends TEXT
# to DEST and receives from SRC into VAR at once (no deadlock when two swap).
mpi_sendrecv() {
  local sendtag=0 recvtag=any
  while (( $# > 0 )); do
    case $1 in
      -t) sendtag=$2; shift 2 ;;
      -T) recvtag=$2; shift 2 ;;
      --) shift; break ;;
      *) break ;;
    esac
  done
  _stdmpi_request "@mpi sendrecv $1 $sendtag $3 $recvtag $2" && _stdmpi_set "$4"
}

# mpi_status VAR: "SOURCE TAG BYTES" of the last receive.
mpi_status() { _stdmpi_request "@mpi status" && _stdmpi_set "$1"; }

# mpi_probe [-t TAG|any] RANK|any VAR: waits for a matching message; VAR gets
# "SOURCE TAG BYTES". mpi_iprobe: the same at once, or returns 1 if none.
mpi_probe() {
  _stdmpi_opts T "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi probe $1 $_stdmpi_t" && _stdmpi_set "$2"
}
mpi_iprobe() {
  _stdmpi_opts T "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi iprobe $1 $_stdmpi_t" || return
  [[ $_stdmpi_reply != none ]] || return 1
  _stdmpi_set "$2"
}

# mpi_bcast [-r ROOT] [TEXT] VAR: VAR gets the root's TEXT on every rank
# (the root gives TEXT; the others give only VAR). Without -r, as in MPI-Bash,
# the root is the one rank that gives TEXT (one allreduce finds it); none or
# several is an error.
mpi_bcast() {
  local given=0
  [[ ${1-} == -r ]] && given=1
  _stdmpi_opts R "$@" || return
  shift "$_stdmpi_shift"
  local has=0
  (( $# >= 2 )) && has=1
  if (( ! given )); then
    _stdmpi_request "@mpi allreduce sum $has $((has * ${STDMPI_RANK:-0}))" || return
    local count root
    read -r count root <<< "$_stdmpi_reply"
    if [[ $count != 1 ]]; then
      _stdmpi_fail "mpi_bcast: $count ranks gave a message, and without -r ROOT exactly one must"
      return
    fi
    _stdmpi_r=$root
  fi
  if (( has )); then
    _stdmpi_request "@mpi bcast $_stdmpi_r $1" || return
    _stdmpi_set "$2"
  else
    _stdmpi_request "@mpi bcast $_stdmpi_r" || return
    _stdmpi_set "$1"
  fi
}

# mpi_allreduce [-O OP] VALUE VAR: VAR gets OP over every rank's VALUE
# (OP: sum prod min max land lor lxor minloc maxloc; default sum).
mpi_allreduce() {
  _stdmpi_opts O "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi allreduce $_stdmpi_O $1" && _stdmpi_set "$2"
}

# mpi_reduce [-O OP] [-r ROOT] VALUE VAR: the result in VAR on the root; VAR
# is emptied on the others.
mpi_reduce() {
  _stdmpi_opts OR "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi reduce $_stdmpi_O $_stdmpi_r $1" && _stdmpi_result "$2"
}

# mpi_scan [-O OP] VALUE VAR: OP over ranks 0..this one.
mpi_scan() {
  _stdmpi_opts O "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi scan $_stdmpi_O $1" && _stdmpi_set "$2"
}

# mpi_exscan [-O OP] VALUE VAR: OP over ranks 0..this one - 1 (empty on rank 0).
mpi_exscan() {
  _stdmpi_opts O "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi exscan $_stdmpi_O $1" && _stdmpi_result "$2"
}

# mpi_gather [-r ROOT] VALUE VAR: the root's VAR gets every rank's numbers in
# rank order; VAR is emptied on the others. mpi_allgather VALUE VAR: on all.
mpi_gather() {
  _stdmpi_opts R "$@" || return
  shift "$_stdmpi_shift"
  _stdmpi_request "@mpi gather $_stdmpi_r $1" && _stdmpi_result "$2"
}
mpi_allgather() { _stdmpi_request "@mpi allgather $1" && _stdmpi_set "$2"; }

# mpi_scatter [-r ROOT] [VALUES] VAR: the root gives size*k numbers; every
# rank's VAR gets its k.
mpi_scatter() {
  _stdmpi_opts R "$@" || return
  shift "$_stdmpi_shift"
  if (( $# >= 2 )); then
    _stdmpi_request "@mpi scatter $_stdmpi_r $1" && _stdmpi_set "$2"
  else
    _stdmpi_request "@mpi scatter $_stdmpi_r" && _stdmpi_set "$1"
  fi
}

# mpi_errors return|fatal: whether a failed request returns 1 (reason in
# MPI_ERROR) or ends the job (the default).
mpi_errors() { _stdmpi_request "@mpi errors $1" && _stdmpi_mode=$1; }

# mpi_abort [CODE [TEXT]]: ends the whole job with exit status CODE (default 1).
mpi_abort() {
  printf '@mpi abort %s %s\n' "${1:-1}" "${*:2}"
  # The shim ends the job and closes stdin; wait for that.
  IFS= read -r _stdmpi_reply
  exit "${1:-1}"
}
