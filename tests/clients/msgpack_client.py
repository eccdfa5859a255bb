#!/usr/bin/env python3
"""msgpack_client.py: the :msgpack form of the numeric verbs, spoken raw (no
bridge, no msgpack library): every payload is built here byte by byte as the
msgpack spec lays it out, and every reply is compared byte for byte with what
docs/protocol.md promises.

    stdmpirun -n 3 python3 msgpack_client.py checks     # every verb, both forms
    stdmpirun -n 2 python3 msgpack_client.py badreturn  # bad payloads, errors return
    stdmpirun -n 2 python3 msgpack_client.py badfatal   # a bad payload ends the job

Each rank prints "rank R msgpack ok" when all its checks passed.
"""
import struct
import sys

out = sys.stdout.buffer
inp = sys.stdin.buffer


def request(line: str, payload: bytes = b"", framed: bool = False) -> bytes:
    """Sends a request and its payload; returns the whole reply (with the
    msgpack value after a `N` line when `framed`)."""
    out.write(line.encode() + b"\n" + payload)
    out.flush()
    head = inp.readline()
    if not head.endswith(b"\n"):
        sys.exit(f"msgpack_client: stdin closed after {line!r}")
    if framed and head[:1].isdigit():
        body = inp.read(int(head))
        return head + body
    return head


def mp_request(line: str, value: bytes) -> bytes:
    return request(f"{line} {len(value)}", value, framed=True)


def array_header(n: int) -> bytes:
    if n <= 15:
        return bytes([0x90 | n])
    if n <= 0xFFFF:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def f64_array(values) -> bytes:
    """What the shim answers for f64: float 64 elements, full width."""
    return array_header(len(values)) + b"".join(b"\xcb" + struct.pack(">d", v) for v in values)


def i64_array(values) -> bytes:
    return array_header(len(values)) + b"".join(b"\xd3" + struct.pack(">q", v) for v in values)


def bin_of(fmt: str, values) -> bytes:
    raw = struct.pack("<" + fmt * len(values), *values)
    if len(raw) <= 0xFF:
        return b"\xc4" + bytes([len(raw)]) + raw
    if len(raw) <= 0xFFFF:
        return b"\xc5" + struct.pack(">H", len(raw)) + raw
    return b"\xc6" + struct.pack(">I", len(raw)) + raw


def reply_of(value: bytes) -> bytes:
    return str(len(value)).encode() + b"\n" + value


failures = []


def check(what: str, got: bytes, want: bytes) -> None:
    if got != want:
        failures.append(f"{what}: got {got[:80]!r}, want {want[:80]!r}")


rank = int(request("@mpi rank"))
size = int(request("@mpi size"))
mode = sys.argv[1]

if mode == "checks":
    assert size == 3, "run checks with 3 ranks"
    # Mixed msgpack encodings in: positive fixint, int 8, float 32, float 64.
    mine = b"\x94" + bytes([rank]) + b"\xd0\xfe" + b"\xca" + struct.pack(">f", 0.5) + \
        b"\xcb" + struct.pack(">d", 0.1)
    check("allreduce sum, array form", mp_request("@mpi allreduce:msgpack sum", mine),
          reply_of(f64_array([3.0, -6.0, 1.5, 0.1 + 0.1 + 0.1])))
    # The bin form gets a bin back.
    check("allreduce max, bin form",
          mp_request("@mpi allreduce:msgpack max", bin_of("d", [rank * 1.5, -rank])),
          reply_of(bin_of("d", [3.0, 0.0])))
    # Exact 64-bit integers, in both forms at once: ranks pick their own form.
    big = 2 ** 61 + rank
    ival = (b"\x92\xd3" + struct.pack(">q", big) + b"\xcf" + struct.pack(">Q", 7)) if rank != 1 \
        else bin_of("q", [big, 7])
    want = 3 * 2 ** 61 + 3  # beyond 2^53: exact only as integers
    check("allreduce:i64 sum, mixed forms", mp_request("@mpi allreduce:i64:msgpack sum", ival),
          reply_of(bin_of("q", [want, 21]) if rank == 1 else i64_array([want, 21])))
    # A logical op answers 0/1; minloc pairs each value with its rank, in the verb's type.
    check("allreduce land", mp_request("@mpi allreduce:msgpack land", b"\x92\x05\x00"),
          reply_of(f64_array([1.0, 0.0])))
    check("allreduce minloc", mp_request("@mpi allreduce:msgpack minloc",
                                         f64_array([float(3 - rank), 7.0])),
          reply_of(f64_array([1.0, 2.0, 7.0, 0.0])))
    check("allreduce:i64 maxloc, bin", mp_request("@mpi allreduce:i64:msgpack maxloc",
                                                  bin_of("q", [rank * 10])),
          reply_of(bin_of("q", [20, 2])))
    # reduce: the root gets numbers, the others ok.
    check("reduce root 1", mp_request("@mpi reduce:msgpack prod 1", b"\x91\x02"),
          reply_of(f64_array([8.0])) if rank == 1 else b"ok\n")
    check("scan", mp_request("@mpi scan:msgpack sum", b"\x91\x01"),
          reply_of(f64_array([float(rank + 1)])))
    check("exscan", mp_request("@mpi exscan:i64:msgpack sum", b"\x91\x01"),
          b"ok\n" if rank == 0 else reply_of(i64_array([rank])))
    # gather: counts differ by rank, and a rank may give none.
    gval = f64_array([float(rank)] * rank)
    check("gather root 0", mp_request("@mpi gather:msgpack 0", gval),
          reply_of(f64_array([1.0, 2.0, 2.0])) if rank == 0 else b"ok\n")
    check("allgather, bin", mp_request("@mpi allgather:msgpack", bin_of("d", [rank + 0.25])),
          reply_of(bin_of("d", [0.25, 1.25, 2.25])))
    # scatter: a non-root's empty value only picks its reply's form.
    sval = f64_array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) if rank == 2 else \
        (b"\x90" if rank == 0 else b"\xc4\x00")
    check("scatter root 2", mp_request("@mpi scatter:msgpack 2", sval),
          reply_of(bin_of("d", [3.0, 4.0])) if rank == 1 else
          reply_of(f64_array([2.0 * rank + 1, 2.0 * rank + 2])))
    # No numbers at all.
    check("allreduce of none", mp_request("@mpi allreduce:msgpack sum", b"\x90"),
          reply_of(b"\x90"))
    # A big array: array 32 header, and a text request after it still works.
    n = 70000
    value = b"\xc6" + struct.pack(">I", 8 * n) + struct.pack("<%dd" % n, *([0.5] * n))
    reply = mp_request("@mpi allreduce:msgpack sum", value)
    check("allreduce of 70000, bin", reply,
          reply_of(b"\xc6" + struct.pack(">I", 8 * n) + struct.pack("<%dd" % n, *([1.5] * n))))
    reply = mp_request("@mpi allreduce:msgpack sum", array_header(n) + b"\x01" * n)
    check("allreduce of 70000, array", reply, reply_of(f64_array([3.0] * n)))
    check("text after msgpack", request("@mpi allreduce sum 1 2"), b"3 6\n")

elif mode == "badreturn":
    check("errors return", request("@mpi errors return"), b"ok\n")
    # Rank 1 gives a string where a number belongs: it gets the reason, and
    # rank 0, in the same collective, learns that rank 1 failed.
    value = b"\x92\x01\xa1x" if rank == 1 else b"\x92\x01\x02"
    got = mp_request("@mpi allreduce:msgpack sum", value)
    if rank == 1:
        check("bad element", got, b"@error element 1 of the msgpack array is a string, "
              b"not a number\n")
    elif not got.startswith(b"@error ") or b"rank 1" not in got:
        failures.append(f"rank 0 was not told of rank 1's failure: {got!r}")
    # A float for an :i64 verb, an announced size larger than the value, a
    # wrong verb with bytes after it: each reason, and the stream stays in step.
    got = mp_request("@mpi allreduce:i64:msgpack sum", b"\x91\xcb" + struct.pack(">d", 1.5))
    check("float for i64", got, b"@error element 0 of the msgpack array is a float, and an "
          b":i64 verb takes integers\n")
    got = request("@mpi allreduce:msgpack sum 3", b"\x91\x01\x00", framed=True)
    check("trailing bytes", got, b"@error 1 byte(s) follow the msgpack value: the announced "
          b"byte count must be the value's exact size\n")
    got = request("@mpi allreduce:msgpack plus 2", b"\x91\x01", framed=True)
    check("bad op", got, b"@error unknown op \"plus\" (sum prod min max land lor lxor minloc "
          b"maxloc; band bor bxor with :i64)\n")
    check("still in step", mp_request("@mpi allreduce:msgpack sum", b"\x91\x01"),
          reply_of(f64_array([2.0])))

elif mode == "badfatal":
    if rank == 1:
        mp_request("@mpi allreduce:msgpack sum", b"\x91\xc0")
    else:
        mp_request("@mpi allreduce:msgpack sum", b"\x91\x01")
    failures.append("the job went on after a bad payload")

if failures:
    for f in failures:
        sys.stderr.write(f"msgpack_client: rank {rank}: {f}\n")
    sys.exit(1)
print(f"rank {rank} msgpack ok")
