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
#   while mpi_task id line; do ... || mpi_task_fail $?; done   # task farms: at the end
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
#
# Outside stdmpirun (STDMPI_RANK is not set: `bash script.sh`) there is no
# shim to talk to, and every function answers locally, as an MPI program
# started without mpirun does (a "singleton"): a world of one rank, rank 0 of
# 1. A message sent to rank 0 waits in a local queue for its mpi_recv;
# mpi_bcast, the reductions, gathers and scatter give this rank's own values
# (numbers printed as the shim prints them); mpi_barrier returns at once. What
# cannot be done in one rank (rank 1, a receive that no queued message
# matches) fails at once with the shim's message: the script ends with
# status 65, as `stdmpirun -n 1` would, or returns 1 after `mpi_errors return`.

MPI_ERROR=
_stdmpi_mode=fatal
# 1 outside stdmpirun: a world of one rank, answered here.
if [[ -z ${STDMPI_RANK+set} ]]; then _stdmpi_single=1; else _stdmpi_single=0; fi

# _stdmpi_request REQUEST [PAYLOAD]: prints it (and the PAYLOAD bytes its line
# announces), reads the reply into _stdmpi_reply.
_stdmpi_request() {
  if (( _stdmpi_single )); then
    _stdmpi_local "$@"
    _stdmpi_local_reply "$1"
    return
  fi
  if (( $# > 1 )); then
    printf '%s\n%s' "$1" "$2"
  else
    printf '%s\n' "$1"
  fi
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
  echo "stdmpi: rank ${STDMPI_RANK:-0}: $1" >&2
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
      echo "stdmpi: rank ${STDMPI_RANK:-0}: ${FUNCNAME[1]}: $1 needs a value" >&2
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

# mpi_comm_rank VAR: this rank (0 outside stdmpirun).
mpi_comm_rank() {
  if (( _stdmpi_single )); then printf -v "$1" 0; return; fi
  printf -v "$1" '%s' "${STDMPI_RANK:?not running under stdmpirun}"
}

# mpi_comm_size VAR: the number of ranks (1 outside stdmpirun).
mpi_comm_size() {
  if (( _stdmpi_single )); then printf -v "$1" 1; return; fi
  printf -v "$1" '%s' "${STDMPI_SIZE:?not running under stdmpirun}"
}

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
    _stdmpi_request "@mpi sendb $dest $_stdmpi_t ${#text}" "$text"
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
  if (( _stdmpi_single )); then
    _stdmpi_reply=$_stdmpi_l_bytes
  elif (( n > 0 )) && ! IFS= read -r -d '' -N "$n" _stdmpi_reply; then
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
  if (( _stdmpi_single )); then
    local text=${*:2}
    echo "stdmpi: rank 0: called abort with code ${1:-1}${text:+: $text}" >&2
    exit "${1:-1}"
  fi
  printf '@mpi abort %s %s\n' "${1:-1}" "${*:2}"
  # The shim ends the job and closes stdin; wait for that.
  IFS= read -r _stdmpi_reply
  exit "${1:-1}"
}

# --- a world of one rank ----------------------------------------------------
#
# Outside stdmpirun _stdmpi_local answers each request as the shim of a
# one-rank job would, with the shim's replies and error messages. The
# messages this rank sends itself wait, in order, in _stdmpi_q_tag and
# _stdmpi_q_text.

_stdmpi_q_tag=()
_stdmpi_q_text=()
_stdmpi_l_status=
_stdmpi_one_rank=" (a world of one rank: this script runs outside stdmpirun; start it with stdmpirun -n N for more ranks)"

# _stdmpi_local_reply REQUEST: what _stdmpi_read_reply does with a reply, for
# the local one; in fatal mode an error ends the script as the shim ends a
# job (status 65).
_stdmpi_local_reply() {
  [[ $_stdmpi_reply == "@error"* ]] || return 0
  MPI_ERROR=${_stdmpi_reply#@error }
  [[ $_stdmpi_mode == return ]] && return 1
  _stdmpi_l_quote "$1" 120
  printf 'stdmpi: rank 0: request failed: %s\nstdmpi:   the request: %s\n' "$MPI_ERROR" \
    "$_stdmpi_l_q" >&2
  exit 65
}

# _stdmpi_l_quote TEXT MAX: TEXT as the shim quotes it in a message (double
# quotes, \" \\ and \xHH escapes, at most MAX bytes, then ...), into _stdmpi_l_q.
_stdmpi_l_quote() {
  local LC_ALL=C s=$1 out='"' c i n=${#1}
  (( n > $2 )) && n=$2
  for (( i = 0; i < n; i++ )); do
    c=${s:i:1}
    case $c in
      '"' | \\) out+="\\$c" ;;
      [\ -~]) out+=$c ;;
      *) printf -v c '\\x%02x' "'$c"; out+=$c ;;
    esac
  done
  out+='"'
  (( ${#s} > $2 )) && out+=...
  _stdmpi_l_q=$out
}

# The request's fields, one at a time: _stdmpi_l_field puts the next one in
# _stdmpi_l_f (1 if there is none); what is left (TEXT) is _stdmpi_l_rest.
_stdmpi_l_field() {
  (( _stdmpi_l_more )) || return 1
  if [[ $_stdmpi_l_rest == *' '* ]]; then
    _stdmpi_l_f=${_stdmpi_l_rest%% *}
    _stdmpi_l_rest=${_stdmpi_l_rest#* }
  else
    _stdmpi_l_f=$_stdmpi_l_rest
    _stdmpi_l_rest=
    _stdmpi_l_more=0
  fi
}

# _stdmpi_l_err REASON: the reply "@error REASON"; returns 1.
_stdmpi_l_err() {
  _stdmpi_reply="@error $1"
  return 1
}

# _stdmpi_l_end: nothing but spaces may be left.
_stdmpi_l_end() {
  (( ! _stdmpi_l_more )) || [[ $_stdmpi_l_rest =~ ^\ *$ ]] && return 0
  local left=${_stdmpi_l_rest#"${_stdmpi_l_rest%%[! ]*}"}
  _stdmpi_l_quote "$left" 40
  _stdmpi_l_err "unexpected argument $_stdmpi_l_q (usage: $_stdmpi_l_usage)"
}

# _stdmpi_l_rank WHAT [any]: a rank (the only one is 0), or any if allowed,
# into _stdmpi_l_v.
_stdmpi_l_rank() {
  _stdmpi_l_field || _stdmpi_l_err "missing $1 (usage: $_stdmpi_l_usage)" || return
  _stdmpi_l_v=$_stdmpi_l_f
  [[ -n ${2-} && $_stdmpi_l_f == any ]] && return 0
  if [[ ! $_stdmpi_l_f =~ ^[0-9]+$ ]] || (( ${#_stdmpi_l_f} > 10 )) ||
    (( 10#$_stdmpi_l_f > 2147483647 )); then
    _stdmpi_l_quote "$_stdmpi_l_f" 40
    _stdmpi_l_err "bad $1 $_stdmpi_l_q: expected a rank${2:+ or any} (the only rank is 0)"
    return
  fi
  _stdmpi_l_v=$((10#$_stdmpi_l_f))
  (( _stdmpi_l_v == 0 )) || _stdmpi_l_err "$1 $_stdmpi_l_v out of range: the only rank is 0$_stdmpi_one_rank"
}

# _stdmpi_l_tag WHAT [any]: a tag 0..32767, or any if allowed, into _stdmpi_l_v.
_stdmpi_l_tag() {
  _stdmpi_l_field || _stdmpi_l_err "missing $1 (usage: $_stdmpi_l_usage)" || return
  _stdmpi_l_v=$_stdmpi_l_f
  [[ -n ${2-} && $_stdmpi_l_f == any ]] && return 0
  if [[ ! $_stdmpi_l_f =~ ^[0-9]+$ ]] || (( ${#_stdmpi_l_f} > 5 )) ||
    (( 10#$_stdmpi_l_f > 32767 )); then
    _stdmpi_l_quote "$_stdmpi_l_f" 40
    _stdmpi_l_err "bad $1 $_stdmpi_l_q: expected 0..32767${2:+ or any}"
    return
  fi
  _stdmpi_l_v=$((10#$_stdmpi_l_f))
}

# _stdmpi_l_op VERB: OP, into _stdmpi_l_o.
_stdmpi_l_op() {
  _stdmpi_l_field || _stdmpi_l_err "missing OP (usage: $_stdmpi_l_usage)" || return
  _stdmpi_l_o=$_stdmpi_l_f
  case $_stdmpi_l_o in
    sum | prod | min | max | land | lor | lxor | minloc | maxloc) return 0 ;;
    band | bor | bxor) _stdmpi_l_err "op $_stdmpi_l_o works on integers only: use $1:i64" ;;
    *)
      _stdmpi_l_quote "$_stdmpi_l_o" 40
      _stdmpi_l_err "unknown op $_stdmpi_l_q (sum prod min max land lor lxor minloc maxloc; band bor bxor with :i64)"
      ;;
  esac
}

# _stdmpi_l_numbers: the numbers left on the line, each as the shim prints it
# (the shortest form that reads back as the same double), into _stdmpi_l_nums.
# bash's printf reads them as strtod does (decimal, hex, inf, nan), one awk
# prints them.
_stdmpi_l_numbers() {
  local LC_ALL=C rest=$_stdmpi_l_rest tok conv
  local -a finite=() where=()
  (( _stdmpi_l_more )) || rest=
  _stdmpi_l_nums=()
  while [[ -n $rest ]]; do
    tok=${rest%% *}
    if [[ $rest == *' '* ]]; then rest=${rest#* }; else rest=; fi
    [[ -z $tok ]] && continue
    if [[ $tok == [\'\"]* ]] || ! printf -v conv '%.25e' "$tok" 2> /dev/null; then
      _stdmpi_l_quote "$tok" 40
      _stdmpi_l_err "not a number: $_stdmpi_l_q"
      return
    fi
    case $conv in
      *nan* | *NAN*) _stdmpi_l_nums+=("${conv%%[nN]*}nan") ;;
      *inf* | *INF*) _stdmpi_l_nums+=("${conv%%[iI]*}inf") ;;
      *)
        where+=(${#_stdmpi_l_nums[@]})
        finite+=("$conv")
        _stdmpi_l_nums+=("")
        ;;
    esac
  done
  (( ${#_stdmpi_l_nums[@]} > 0 )) || _stdmpi_l_err "no numbers given (usage: $_stdmpi_l_usage)" ||
    return
  (( ${#finite[@]} > 0 )) || return 0
  local -a shortest
  mapfile -t shortest < <(printf '%s\n' "${finite[@]}" | awk '
    function zeros(k,   s) { s = ""; while (k-- > 0) s = s "0"; return s }
    {
      x = $0 + 0
      if (x == 0) { print (substr($0, 1, 1) == "-" ? "-0" : "0"); next }
      neg = x < 0
      if (neg) x = -x
      if (x > 1.7976931348623157e308) { print (neg ? "-inf" : "inf"); next }
      for (p = 0; p < 17; p++) { t = sprintf("%." p "e", x); if (t + 0 == x) break }
      i = index(t, "e"); e = substr(t, i + 1) + 0; d = substr(t, 1, i - 1); sub(/\./, "", d)
      n = length(d); ae = e < 0 ? -e : e
      sci = substr(d, 1, 1) (n > 1 ? "." substr(d, 2) : "") "e" (e < 0 ? "-" : "+") (ae < 10 ? "0" : "") ae
      if (e >= n - 1) fixed = sprintf("%.0f", x)
      else if (e >= 0) fixed = substr(d, 1, e + 1) "." substr(d, e + 2)
      else fixed = "0." zeros(-e - 1) d
      print (neg ? "-" : "") (length(fixed) <= length(sci) ? fixed : sci)
    }')
  local k
  for k in "${!where[@]}"; do _stdmpi_l_nums[where[k]]=${shortest[k]}; done
}

# _stdmpi_l_reduce: the reply of a reduction of OP _stdmpi_l_o over this
# rank's numbers alone.
_stdmpi_l_reduce() {
  local x out=()
  for x in "${_stdmpi_l_nums[@]}"; do
    case $_stdmpi_l_o in
      land | lor | lxor) [[ $x == 0 || $x == -0 ]] && out+=(0) || out+=(1) ;;
      minloc | maxloc) out+=("$x 0") ;;
      *) out+=("$x") ;;
    esac
  done
  _stdmpi_reply="${out[*]}"
}

# _stdmpi_l_match SRC TAG: the index of the first queued message that a
# receive from SRC (0 or any) with TAG (or any) takes, into _stdmpi_l_i; 1 if
# there is none.
_stdmpi_l_match() {
  local i
  for i in "${!_stdmpi_q_tag[@]}"; do
    if [[ $2 == any || ${_stdmpi_q_tag[i]} == "$2" ]]; then
      _stdmpi_l_i=$i
      return 0
    fi
  done
  return 1
}

# _stdmpi_l_never VERB SRC TAG: the error of a receive nothing can satisfy.
_stdmpi_l_never() {
  local from="rank 0" tag="tag $3"
  [[ $2 == any ]] && from="any rank"
  [[ $3 == any ]] && tag="any tag"
  _stdmpi_l_err "$1 from $from $tag can never complete: this rank sent itself no message with $tag, and no other rank can send one in its place$_stdmpi_one_rank"
}

# _stdmpi_l_receive VERB SRC TAG: takes the matching message; its text (or
# bytes) into _stdmpi_l_bytes, or the error.
_stdmpi_l_receive() {
  _stdmpi_l_match "$2" "$3" || _stdmpi_l_never "$@" || return
  local text=${_stdmpi_q_text[_stdmpi_l_i]} tag=${_stdmpi_q_tag[_stdmpi_l_i]}
  _stdmpi_l_status="0 $tag ${#text}"
  if [[ $1 != recvb && $text == *$'\n'* ]]; then
    _stdmpi_l_err "the message from rank 0 tag $tag (${#text} bytes) contains a newline, which a text reply cannot carry; it stays first in line: receive it with recvb"
    return
  fi
  unset "_stdmpi_q_tag[_stdmpi_l_i]" "_stdmpi_q_text[_stdmpi_l_i]"
  _stdmpi_q_tag=("${_stdmpi_q_tag[@]}")
  _stdmpi_q_text=("${_stdmpi_q_text[@]}")
  _stdmpi_l_bytes=$text
}

# _stdmpi_local REQUEST [PAYLOAD]: the reply the shim of a one-rank job would
# give, into _stdmpi_reply ("@error REASON" for a failure); the bytes of a
# recvb into _stdmpi_l_bytes.
_stdmpi_local() {
  local LC_ALL=C verb src tag
  _stdmpi_l_rest=${1#@mpi }
  _stdmpi_l_more=1
  _stdmpi_l_field
  verb=$_stdmpi_l_f
  _stdmpi_reply=ok
  case $verb in
    rank | size | wtime | barrier | status) _stdmpi_l_usage="@mpi $verb" ;;
    send) _stdmpi_l_usage="@mpi send DEST TAG TEXT" ;;
    recv | recvb | probe | iprobe) _stdmpi_l_usage="@mpi $verb SRC TAG" ;;
    sendrecv) _stdmpi_l_usage="@mpi sendrecv DEST SENDTAG SRC RECVTAG TEXT" ;;
    sendb) _stdmpi_l_usage="@mpi sendb DEST TAG N, then N raw bytes" ;;
    bcast) _stdmpi_l_usage="@mpi bcast ROOT [TEXT]" ;;
    reduce) _stdmpi_l_usage="@mpi reduce OP ROOT X ..." ;;
    allreduce | scan | exscan) _stdmpi_l_usage="@mpi $verb OP X ..." ;;
    gather) _stdmpi_l_usage="@mpi gather ROOT X ..." ;;
    allgather) _stdmpi_l_usage="@mpi allgather X ..." ;;
    scatter) _stdmpi_l_usage="@mpi scatter ROOT [X ...]" ;;
    errors) _stdmpi_l_usage="@mpi errors return|fatal" ;;
    *)
      _stdmpi_l_quote "$verb" 40
      _stdmpi_l_err "unknown verb $_stdmpi_l_q"
      return 0
      ;;
  esac
  case $verb in
    rank) _stdmpi_l_end && _stdmpi_reply=0 ;;
    size) _stdmpi_l_end && _stdmpi_reply=1 ;;
    wtime) _stdmpi_l_end && _stdmpi_reply=${EPOCHREALTIME/,/.} && _stdmpi_reply=${_stdmpi_reply:-$(date +%s)} ;;
    barrier) _stdmpi_l_end ;;
    status)
      _stdmpi_l_end || return 0
      _stdmpi_reply=${_stdmpi_l_status:-"@error no receive has completed on this rank yet"}
      ;;
    send | sendb)
      _stdmpi_l_rank DEST && _stdmpi_l_tag TAG || return 0
      tag=$_stdmpi_l_v
      if [[ $verb == sendb ]]; then
        _stdmpi_l_field && [[ $_stdmpi_l_f =~ ^[0-9]+$ ]] ||
          _stdmpi_l_err "bad byte count \"$_stdmpi_l_f\": expected a number of bytes >= 0" ||
          return 0
        _stdmpi_l_end || return 0
        _stdmpi_l_rest=${2-}
      fi
      _stdmpi_q_tag+=("$tag")
      _stdmpi_q_text+=("$_stdmpi_l_rest")
      ;;
    recv | recvb | probe | iprobe)
      _stdmpi_l_rank SRC any && src=$_stdmpi_l_v && _stdmpi_l_tag TAG any && _stdmpi_l_end ||
        return 0
      tag=$_stdmpi_l_v
      case $verb in
        recv) _stdmpi_l_receive recv "$src" "$tag" && _stdmpi_reply=$_stdmpi_l_bytes ;;
        recvb) _stdmpi_l_receive recvb "$src" "$tag" && _stdmpi_reply=${#_stdmpi_l_bytes} ;;
        *)
          if _stdmpi_l_match "$src" "$tag"; then
            _stdmpi_reply="0 ${_stdmpi_q_tag[_stdmpi_l_i]} ${#_stdmpi_q_text[_stdmpi_l_i]}"
          elif [[ $verb == iprobe ]]; then
            _stdmpi_reply=none
          else
            _stdmpi_l_never probe "$src" "$tag"
          fi
          ;;
      esac
      ;;
    sendrecv)
      _stdmpi_l_rank DEST && _stdmpi_l_tag SENDTAG && tag=$_stdmpi_l_v &&
        _stdmpi_l_rank SRC any && src=$_stdmpi_l_v && _stdmpi_l_tag RECVTAG any || return 0
      _stdmpi_q_tag+=("$tag")
      _stdmpi_q_text+=("$_stdmpi_l_rest")
      _stdmpi_l_receive sendrecv "$src" "$_stdmpi_l_v" && _stdmpi_reply=$_stdmpi_l_bytes
      ;;
    bcast) _stdmpi_l_rank ROOT && _stdmpi_reply=$_stdmpi_l_rest ;;
    reduce | allreduce | scan | exscan)
      _stdmpi_l_op "$verb" || return 0
      if [[ $verb == reduce ]]; then _stdmpi_l_rank ROOT || return 0; fi
      _stdmpi_l_numbers || return 0
      if [[ $verb == exscan ]]; then _stdmpi_reply=ok; else _stdmpi_l_reduce; fi
      ;;
    gather | allgather | scatter)
      if [[ $verb != allgather ]]; then _stdmpi_l_rank ROOT || return 0; fi
      _stdmpi_l_numbers && _stdmpi_reply="${_stdmpi_l_nums[*]}"
      ;;
    errors)
      _stdmpi_l_field || _stdmpi_l_err "missing mode (usage: $_stdmpi_l_usage)" || return 0
      if [[ $_stdmpi_l_f != return && $_stdmpi_l_f != fatal ]]; then
        _stdmpi_l_quote "$_stdmpi_l_f" 40
        _stdmpi_l_err "bad mode $_stdmpi_l_q (usage: $_stdmpi_l_usage)"
        return 0
      fi
      _stdmpi_l_end
      ;;
  esac
  return 0
}

# --- task farms: items for keep-alive workers ----------------------------------
#
# In a job started with `stdmpirun --tasks FILE bash worker.sh` each rank runs
# the script once, and it works through FILE's lines item by item
# (docs/tasks.md, "Keep-alive workers"):
#
#   while mpi_task id file; do
#     ./regrid "$file" || mpi_task_fail $?     # exit N (signal N for 128+N)
#   done
#
# Asking for the next item reports the one before as done, or as failed if
# mpi_task_fail was called for it. Outside stdmpirun, `STDMPI_TASKS=FILE bash
# worker.sh` works through FILE's items in this one process.

_stdmpi_task_held=0    # the id of the item this worker holds (0: none)
_stdmpi_task_reason=   # why it failed ("": it did not)

# mpi_task ID_VAR TEXT_VAR: reports the item held (done, or failed after
# mpi_task_fail), then takes the next one: its number into ID_VAR, its line
# into TEXT_VAR, exactly as in the file. Returns 0; 1 when no item is left for
# this worker (both variables emptied); 2 when the request failed (after
# `mpi_errors return`: the reason in MPI_ERROR).
mpi_task() {
  _stdmpi_task_req="@mpi task"
  if (( _stdmpi_task_held )) && [[ -n $_stdmpi_task_reason ]]; then
    _stdmpi_task_req+=" fail $_stdmpi_task_reason"
  fi
  _stdmpi_task_held=0
  _stdmpi_task_reason=
  _stdmpi_task_request "$_stdmpi_task_req" || return 2
  if [[ $_stdmpi_reply == end ]]; then
    printf -v "$1" ''
    printf -v "$2" ''
    return 1
  fi
  _stdmpi_task_held=${_stdmpi_reply%% *}
  printf -v "$1" '%s' "$_stdmpi_task_held"
  printf -v "$2" '%s' "${_stdmpi_reply#* }"
}

# mpi_task_fail [REASON...]: the item held failed; the next mpi_task reports it.
# REASON is free text for the summary ("failed" if none); "exit N" and
# "signal N" also fill the joblog's columns, and so does a bare status as $?
# gives it: N is "exit N", 128+N (a command killed by signal N) "signal N".
# Returns 0 (so that `cmd || mpi_task_fail $?` succeeds); 1 if no item is held.
mpi_task_fail() {
  if (( ! _stdmpi_task_held )); then
    echo "stdmpi: rank ${STDMPI_RANK:-0}: mpi_task_fail: no item is held (mpi_task gives one)" >&2
    return 1
  fi
  _stdmpi_task_reason="$*"
  _stdmpi_task_reason=${_stdmpi_task_reason//[$'\n\r']/ }
  if [[ $_stdmpi_task_reason =~ ^[0-9]{1,3}$ ]]; then
    if (( 10#$_stdmpi_task_reason > 128 && 10#$_stdmpi_task_reason < 128 + 65 )); then
      _stdmpi_task_reason="signal $((10#$_stdmpi_task_reason - 128))"
    else
      _stdmpi_task_reason="exit $((10#$_stdmpi_task_reason))"
    fi
  fi
  [[ -n ${_stdmpi_task_reason// /} ]] || _stdmpi_task_reason=failed
  return 0
}

# mpi_task_attempt VAR: which attempt of the item held this is (1, then 2, 3
# ... for the runs --retries adds).
mpi_task_attempt() {
  _stdmpi_task_request "@mpi taskinfo" || return
  printf -v "$1" '%s' "${_stdmpi_reply#* }"
}

# _stdmpi_task_request REQUEST: as _stdmpi_request; outside stdmpirun the
# items come from the file STDMPI_TASKS names.
_stdmpi_task_request() {
  if (( _stdmpi_single )); then
    _stdmpi_l_task "$1"
    _stdmpi_local_reply "$1"
    return
  fi
  _stdmpi_request "$1"
}

# _stdmpi_l_task REQUEST: the reply to @mpi task / taskinfo in a world of one
# rank: the items of $STDMPI_TASKS (lines that are not empty and not # lines,
# numbered from 1 as stdmpirun numbers them), each once, in file order. At the
# end the failures are listed on stderr.
_stdmpi_l_task() {
  local line i
  if [[ -z ${_stdmpi_l_items+set} ]]; then
    if [[ -z ${STDMPI_TASKS-} ]]; then
      _stdmpi_l_err "@mpi task is for task farms: start the job with stdmpirun --tasks FILE COMMAND (outside stdmpirun, STDMPI_TASKS=FILE works through FILE's items in this process)"
      return 0
    fi
    if [[ ! -r $STDMPI_TASKS || -d $STDMPI_TASKS ]]; then
      _stdmpi_l_err "STDMPI_TASKS=$STDMPI_TASKS: cannot read the items"
      return 0
    fi
    _stdmpi_l_items=()
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line%$'\r'}
      [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
      _stdmpi_l_items+=("$line")
    done < "$STDMPI_TASKS"
    _stdmpi_l_next=0 _stdmpi_l_held=0 _stdmpi_l_failed=()
  fi
  if [[ $1 == "@mpi taskinfo" ]]; then
    if (( _stdmpi_l_held )); then
      _stdmpi_reply="$_stdmpi_l_held 1"
    else
      _stdmpi_l_err "no item is held: ask for one with @mpi task"
    fi
    return 0
  fi
  if (( _stdmpi_l_held )); then
    if [[ $1 == "@mpi task fail "* ]]; then
      _stdmpi_l_failed+=("item $_stdmpi_l_held (${1#@mpi task fail }): ${_stdmpi_l_items[_stdmpi_l_held - 1]}")
    fi
    _stdmpi_l_held=0
  fi
  if (( _stdmpi_l_next >= ${#_stdmpi_l_items[@]} )); then
    if [[ -z ${_stdmpi_l_summed-} ]]; then
      _stdmpi_l_summed=1
      echo "stdmpi: tasks: ${#_stdmpi_l_items[@]} item(s) in this process (STDMPI_TASKS): $((${#_stdmpi_l_items[@]} - ${#_stdmpi_l_failed[@]})) succeeded, ${#_stdmpi_l_failed[@]} failed" >&2
      for i in "${_stdmpi_l_failed[@]}"; do echo "stdmpi: failed: $i" >&2; done
    fi
    _stdmpi_reply=end
    return 0
  fi
  _stdmpi_l_held=$((_stdmpi_l_next + 1))
  _stdmpi_reply="$_stdmpi_l_held ${_stdmpi_l_items[_stdmpi_l_next]}"
  _stdmpi_l_next=$_stdmpi_l_held
}
