# Runs as every rank (any size) and checks the bash bridge; prints "bash bridge ok".
# Outside stdmpirun (STDMPI_RANK not set) it checks the world of one rank that
# the bridge answers by itself: the bridge is $STDMPI_BASH, or the source's.
source "${STDMPI_BASH:-$(dirname "${BASH_SOURCE[0]}")/../../langbridges/bash/stdmpi.sh}"
fail() { echo "CHECK FAILED on rank $rank: $*" >&2; exit 1; }
mpi_init || fail "mpi_init"
mpi_comm_rank rank
mpi_comm_size size
[[ $rank == "${STDMPI_RANK:-0}" && $size == "${STDMPI_SIZE:-1}" ]] || fail rank/size
mpi_allreduce -O sum "$rank 1.5" s
[[ $s == "$(( size * (size - 1) / 2 )) $(awk -v n="$size" 'BEGIN { print 1.5 * n }')" ]] || fail "allreduce [$s]"
mpi_allreduce -O min -- "-$rank" m
[[ $m == "-$(( size - 1 ))" ]] || fail "min of negatives [$m]"
mpi_allreduce "$rank" t
[[ $t == "$(( size * (size - 1) / 2 ))" ]] || fail "default op is sum [$t]"
mpi_reduce -O max -r 0 "$rank" red
if (( rank == 0 )); then [[ $red == $(( size - 1 )) ]] || fail "reduce [$red]"; else [[ -z $red ]] || fail "reduce elsewhere"; fi
mpi_scan 1 sc; [[ $sc == $(( rank + 1 )) ]] || fail "scan [$sc]"
mpi_exscan 1 ex; if (( rank > 0 )); then [[ $ex == "$rank" ]] || fail "exscan [$ex]"; else [[ -z $ex ]] || fail "exscan on 0"; fi
if (( rank == 0 )); then mpi_bcast "  two  spaces " b; else mpi_bcast b; fi
[[ $b == "  two  spaces " ]] || fail "bcast [$b]"
last=$(( size - 1 ))
if (( rank == last )); then mpi_bcast -r "$last" "from last" b2; else mpi_bcast -r "$last" b2; fi
[[ $b2 == "from last" ]] || fail "bcast from last [$b2]"
# MPI-Bash's form: no -r, the root is the rank that gives a message.
if (( rank == last )); then mpi_bcast "inferred from $last" b3; else mpi_bcast b3; fi
[[ $b3 == "inferred from $last" ]] || fail "bcast with the root inferred [$b3]"
if (( size >= 2 )); then
  if (( rank == 0 )); then mpi_send -t 5 1 "hello  bash"; mpi_send 1 "default tag"; mpi_send -t 6 1 ok; fi
  if (( rank == 1 )); then
    mpi_probe -t 5 0 p; [[ $p == "0 5 11" ]] || fail "probe [$p]"
    mpi_recv -t 5 0 msg; [[ $msg == "hello  bash" ]] || fail "recv [$msg]"
    mpi_status st; [[ $st == "0 5 11" ]] || fail "status [$st]"
    mpi_recv -t any any msg2; [[ $msg2 == "default tag" ]] || fail "recv any [$msg2]"
    mpi_recv -t 6 0 msg3; [[ $msg3 == ok ]] || fail "a message reading ok [$msg3]"
    if mpi_iprobe 0 none; then fail iprobe; fi
  fi
  # A message of several lines goes whole, even one with a request line in it.
  lines=$'first line\n@mpi barrier\n  third, ünïcode\r'
  if (( rank == 1 )); then mpi_send -t 9 0 "$lines"; fi
  if (( rank == 0 )); then
    mpi_recv -t 9 1 got_lines; [[ $got_lines == "$lines" ]] || fail "lines [$got_lines]"
    mpi_status st; [[ $st == "1 9 $(LC_ALL=C; echo ${#lines})" ]] || fail "lines status [$st]"
  fi
fi
mpi_sendrecv -t 8 -T 8 $(( (rank + 1) % size )) "ring $rank" $(( (rank + size - 1) % size )) got
[[ $got == "ring $(( (rank + size - 1) % size ))" ]] || fail "sendrecv [$got]"
mpi_gather -r 0 "$rank $rank" g
if (( rank == 0 )); then [[ $(wc -w <<< "$g") == $(( 2 * size )) ]] || fail "gather [$g]"; fi
mpi_allgather "$rank" ag
[[ $ag == "$(seq -s ' ' 0 $(( size - 1 )))" ]] || fail "allgather [$ag]"
if (( rank == 0 )); then mpi_scatter "$(seq -s ' ' 0 $(( 2 * size - 1 )))" part; else mpi_scatter part; fi
[[ $part == "$(( 2 * rank )) $(( 2 * rank + 1 ))" ]] || fail "scatter [$part]"
mpi_barrier
mpi_wtime w; [[ $w =~ ^[0-9.e+-]+$ ]] || fail "wtime [$w]"
# Messages to this rank itself wait, in order, for their receives.
mpi_send -t 20 "$rank" "self one"
mpi_send -t 21 "$rank" $'self\ntwo'
mpi_send -t 20 "$rank" "self three"
mpi_iprobe -t 21 "$rank" sp || fail "iprobe of a message to self"
[[ $sp == "$rank 21 8" ]] || fail "iprobe to self [$sp]"
mpi_recv -t 20 "$rank" s1; [[ $s1 == "self one" ]] || fail "first to self [$s1]"
mpi_recv -t any "$rank" s2; [[ $s2 == $'self\ntwo' ]] || fail "second to self [$s2]"
mpi_status st; [[ $st == "$rank 21 8" ]] || fail "status to self [$st]"
mpi_recv -t 20 any s3; [[ $s3 == "self three" ]] || fail "third to self [$s3]"
if mpi_iprobe -t any "$rank" sp; then fail "a fourth message to self [$sp]"; fi
mpi_errors return
# A receive that nothing can satisfy fails (at once outside stdmpirun).
if mpi_recv -t 77 "$rank" never; then fail "a receive nothing can satisfy [$never]"; fi
[[ $MPI_ERROR == "recvb from rank $rank tag 77 can never complete: this rank sent itself no message with tag 77, and no other rank can send one in its place"* ]] ||
  fail "never [$MPI_ERROR]"
if [[ -z ${STDMPI_RANK+set} ]]; then
  # A world of one rank: what needs another rank says so, and how to get one.
  one=" (a world of one rank: this script runs outside stdmpirun; start it with stdmpirun -n N for more ranks)"
  if mpi_send -t 3 1 "to nobody"; then fail "a send to rank 1 of 1"; fi
  [[ $MPI_ERROR == "DEST 1 out of range: the only rank is 0$one" ]] || fail "send to 1 [$MPI_ERROR]"
  if mpi_recv any any; then fail "recv any of nothing"; fi
  [[ $MPI_ERROR == "recvb from any rank tag 0 can never complete: this rank sent itself no message with tag 0, and no other rank can send one in its place$one" ]] ||
    fail "recv any [$MPI_ERROR]"
  if mpi_bcast -r 1 x b4; then fail "bcast from rank 1 of 1"; fi
  [[ $MPI_ERROR == "ROOT 1 out of range: the only rank is 0$one" ]] || fail "bcast root 1 [$MPI_ERROR]"
  mpi_allreduce -O maxloc "2.50 -1e3" ml; [[ $ml == "2.5 0 -1000 0" ]] || fail "maxloc [$ml]"
  mpi_allreduce -O lor "0 3" lo; [[ $lo == "0 1" ]] || fail "lor [$lo]"
  mpi_gather -r 0 "1.0 0x10 1e21 0.1" g1; [[ $g1 == "1 16 1e+21 0.1" ]] || fail "gather [$g1]"
  if mpi_allreduce "1 x" bad; then fail "not a number accepted"; fi
  [[ $MPI_ERROR == 'not a number: "x"' ]] || fail "not a number [$MPI_ERROR]"
fi
if mpi_send $(( size + 2 )) "x"; then fail "bad dest accepted"; fi
[[ $MPI_ERROR == "DEST $(( size + 2 )) out of range"* ]] || fail "MPI_ERROR [$MPI_ERROR]"
if mpi_bcast none_given; then fail "a bcast nobody gave a message to"; fi
[[ $MPI_ERROR == "mpi_bcast: 0 ranks gave a message, and without -r ROOT exactly one must" ]] ||
  fail "no root [$MPI_ERROR]"
mpi_finalize || fail "mpi_finalize"
echo "rank $rank bash bridge ok"
