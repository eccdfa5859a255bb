# Runs as every rank (any size) and checks the bash bridge; prints "bash bridge ok".
source "$STDMPI_BASH"
fail() { echo "CHECK FAILED on rank $rank: $*" >&2; exit 1; }
mpi_init || fail "mpi_init"
mpi_comm_rank rank
mpi_comm_size size
[[ $rank == "$STDMPI_RANK" && $size == "$STDMPI_SIZE" ]] || fail rank/size
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
mpi_errors return
if mpi_send $(( size + 2 )) "x"; then fail "bad dest accepted"; fi
[[ $MPI_ERROR == "DEST $(( size + 2 )) out of range"* ]] || fail "MPI_ERROR [$MPI_ERROR]"
if mpi_bcast none_given; then fail "a bcast nobody gave a message to"; fi
[[ $MPI_ERROR == "mpi_bcast: 0 ranks gave a message, and without -r ROOT exactly one must" ]] ||
  fail "no root [$MPI_ERROR]"
mpi_finalize || fail "mpi_finalize"
echo "rank $rank bash bridge ok"
