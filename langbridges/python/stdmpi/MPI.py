"""mpi4py's face of stdmpi: ``from stdmpi import MPI`` in place of
``from mpi4py import MPI``.

What an mpi4py script reaches for works the way mpi4py does it::

    from stdmpi import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    data = comm.bcast({"n": 100} if rank == 0 else None, root=0)
    parts = comm.gather({"rank": rank}, root=0)          # any picklable object
    total = comm.allreduce(rank, op=MPI.SUM)
    req = comm.isend([1, 2, 3], dest=(rank + 1) % size, tag=7)
    got = comm.recv(source=(rank - 1) % size, tag=7); req.wait()
    comm.Allreduce(sendbuf, recvbuf, op=MPI.SUM)          # NumPy or array('d') buffers
    half = comm.Split(color=rank % 2, key=rank)

Lower-case methods move Python objects; upper-case ones move buffers (NumPy
arrays, ``array.array``, ``bytearray``), as in mpi4py. Reductions of numbers
and NumPy arrays with the built-in ops go through MPI's own reductions;
other objects (lists, tuples, MINLOC/MAXLOC pairs, user ops) are reduced as
mpi4py does, by applying the op to the ranks' objects in rank order. Where
stdmpi differs from mpi4py, docs/bridges.md has a porting table. Outside
stdmpirun the job is one rank, as an MPI singleton.
"""

from __future__ import annotations

import functools
import socket
import sys
import time
from array import array
from typing import Any, Callable, List, Optional, Sequence, Tuple

from . import (ANY_SOURCE, ANY_TAG, Comm as _BaseComm, Request, Status, StdmpiError,  # noqa: F401
               _Channel, _bin_header, _chan, _decode, _encode, _from_le, _le_bytes, _np,
               _rank_arg, _shm_reduce, _tag_arg)
from . import Wtime as _wtime

__all__ = [
    "COMM_WORLD", "COMM_SELF", "COMM_NULL", "Comm", "Intracomm", "Request", "Status", "Op",
    "Datatype", "Exception", "Wtime", "Wtick", "Get_processor_name", "Init", "Finalize",
    "Alloc_mem", "Free_mem",
    "Is_initialized", "Is_finalized", "ANY_SOURCE", "ANY_TAG", "PROC_NULL", "UNDEFINED",
    "IN_PLACE", "APPNUM", "SUM", "PROD", "MIN", "MAX", "LAND", "LOR", "LXOR", "BAND", "BOR",
    "BXOR", "MINLOC", "MAXLOC",
]

Exception = StdmpiError  # noqa: A001 (mpi4py's name: `except MPI.Exception`)

UNDEFINED = -32766
PROC_NULL = -2
APPNUM = "APPNUM"
THREAD_SINGLE, THREAD_FUNNELED, THREAD_SERIALIZED, THREAD_MULTIPLE = 0, 1, 2, 3


class _InPlace:
    def __repr__(self) -> str:
        return "MPI.IN_PLACE"


IN_PLACE = _InPlace()
BOTTOM = None


class Datatype:
    """A named element type, for mpi4py's ``[buf, MPI.DOUBLE]`` buffer specs
    and ``Status.Get_count(MPI.DOUBLE)``. The bytes of a buffer travel as
    they are; the type only counts elements."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, size

    def Get_size(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"MPI.{self.name}"


BYTE, CHAR, SIGNED_CHAR, UNSIGNED_CHAR = (Datatype(n, 1) for n in
                                          ("BYTE", "CHAR", "SIGNED_CHAR", "UNSIGNED_CHAR"))
SHORT, UNSIGNED_SHORT = Datatype("SHORT", 2), Datatype("UNSIGNED_SHORT", 2)
INT, UNSIGNED, FLOAT = Datatype("INT", 4), Datatype("UNSIGNED", 4), Datatype("FLOAT", 4)
INT32_T, UINT32_T = Datatype("INT32_T", 4), Datatype("UINT32_T", 4)
LONG, UNSIGNED_LONG, DOUBLE = Datatype("LONG", 8), Datatype("UNSIGNED_LONG", 8), Datatype("DOUBLE", 8)
LONG_LONG, INT64_T, UINT64_T = Datatype("LONG_LONG", 8), Datatype("INT64_T", 8), Datatype("UINT64_T", 8)
C_BOOL, BOOL = Datatype("C_BOOL", 1), Datatype("BOOL", 1)
COMPLEX, DOUBLE_COMPLEX = Datatype("COMPLEX", 8), Datatype("DOUBLE_COMPLEX", 16)


class Op:
    """A reduction op. Called on two objects it gives their reduction as
    mpi4py's lower-case reductions do (``MPI.SUM(a, b)`` is ``a + b``)."""

    def __init__(self, name: str, func: Callable[[Any, Any], Any], commute: bool = True) -> None:
        self.name, self._func, self.commute = name, func, commute

    def __call__(self, a: Any, b: Any) -> Any:
        return self._func(a, b)

    @classmethod
    def Create(cls, function: Callable[[Any, Any, Any], Any], commute: bool = False) -> "Op":
        """A user op, called as mpi4py calls it on objects:
        ``function(a, b, None)`` reduces two objects (lower-case reductions
        only)."""
        return cls("user", lambda a, b: function(a, b, None), commute)

    def Free(self) -> None:
        pass

    def Is_commutative(self) -> bool:
        return self.commute

    def __repr__(self) -> str:
        return f"MPI.{self.name.upper()}"


def _minloc(a: Any, b: Any) -> Any:
    return a if (a[0], a[1]) <= (b[0], b[1]) else b


def _maxloc(a: Any, b: Any) -> Any:
    return a if (a[0] > b[0] or (a[0] == b[0] and a[1] <= b[1])) else b


SUM = Op("sum", lambda a, b: a + b)
PROD = Op("prod", lambda a, b: a * b)
MIN = Op("min", lambda a, b: b if b < a else a)
MAX = Op("max", lambda a, b: b if b > a else a)
LAND = Op("land", lambda a, b: bool(a) and bool(b))
LOR = Op("lor", lambda a, b: bool(a) or bool(b))
LXOR = Op("lxor", lambda a, b: bool(a) != bool(b))
BAND = Op("band", lambda a, b: a & b)
BOR = Op("bor", lambda a, b: a | b)
BXOR = Op("bxor", lambda a, b: a ^ b)
MINLOC = Op("minloc", _minloc)
MAXLOC = Op("maxloc", _maxloc)
_BUILTIN = {o.name: o for o in (SUM, PROD, MIN, MAX, LAND, LOR, LXOR, BAND, BOR, BXOR)}


# --- buffers ---------------------------------------------------------------------

def _buf(spec: Any) -> Any:
    """The buffer of an mpi4py buffer spec: ``buf``, ``[buf, MPI.DOUBLE]``,
    ``[buf, count, MPI.DOUBLE]``."""
    if isinstance(spec, (list, tuple)) and spec and not isinstance(spec[0], (int, float)):
        return spec[0]
    return spec


def _bytes_view(spec: Any, what: str, writable: bool = False) -> memoryview:
    try:
        m = memoryview(_buf(spec))
    except TypeError:
        raise TypeError(f"stdmpi: {what} must be a buffer (a NumPy array, array.array, "
                        f"bytearray), not {type(_buf(spec)).__name__}") from None
    if not m.c_contiguous:
        raise ValueError(f"stdmpi: {what} must be contiguous")
    if writable and m.readonly:
        raise TypeError(f"stdmpi: {what} must be writable")
    return m.cast("B")


def _numbers_of(spec: Any, what: str) -> Tuple[memoryview, str, Callable[[bytes, Any], None]]:
    """A buffer of numbers as 8-byte numbers for MPI's reduction: its bytes
    (converted from float32, int32 ... when needed), its dtype ("f64" or
    "i64") and how to store a result of that kind into a buffer like it."""
    buf = _buf(spec)
    np = _np()
    if np is not None and isinstance(buf, np.ndarray):
        kind = "i64" if buf.dtype.kind in "iub" else "f64"
        wide = np.ascontiguousarray(buf, dtype="<i8" if kind == "i64" else "<f8")

        def store(data: bytes, out: Any) -> None:
            res = np.frombuffer(data, dtype="<i8" if kind == "i64" else "<f8")
            np.copyto(_buf(out), res.reshape(np.shape(_buf(out))).astype(_buf(out).dtype,
                                                                         copy=False),
                      casting="unsafe")
        return memoryview(wide).cast("B"), kind, store
    m = memoryview(buf)
    fmt = m.format.lstrip("@=<")
    if fmt in ("d", "f"):
        kind, code = "f64", "d"
    elif fmt in ("q", "l", "i", "h", "b", "Q", "L", "I", "H", "B"):
        kind, code = "i64", "q"
    else:
        raise TypeError(f"stdmpi: {what} must hold numbers (format {m.format!r})")
    wide = m.cast("B") if m.itemsize == 8 and fmt in ("d", "q", "l") else \
        memoryview(array(code, m.tolist())).cast("B")
    if sys.byteorder == "big":
        wide = _le_bytes(array(code, wide.tobytes()))

    def store(data: bytes, out: Any) -> None:
        o = memoryview(_buf(out))
        if (o.itemsize == 8 and o.format.lstrip("@=<") in ("d", "q", "l") and
                sys.byteorder == "little" and o.nbytes == len(data)):
            o.cast("B")[:] = data  # one copy, straight from the reply
            return
        vals = _from_le(code, data)
        if o.itemsize == 8 and o.format.lstrip("@=<") in ("d", "q", "l"):
            o.cast("B")[:] = memoryview(vals).cast("B")
        else:
            o[:] = array(o.format.lstrip("@=<"), [type(o[0])(v) for v in vals] if len(o) else [])
    return wide, kind, store


# --- requests ----------------------------------------------------------------------

class _BufferRequest(Request):
    """Irecv's request: its wait fills the buffer."""

    def __init__(self, chan: _Channel, rid: int, buf: Any) -> None:
        super().__init__(chan, rid, "bytes")
        self._buf = buf

    def _collect(self, status: Optional[Status]) -> Any:
        done = self._done
        data = super()._collect(status)
        if not done:
            _fill(self._buf, data, "Irecv buffer")
        return None


class _DoneRequest(Request):
    """A request to or from MPI.PROC_NULL: complete at once."""

    def __init__(self) -> None:
        super().__init__(_chan, 0, "send")
        self._done = True


def _result_view(spec: Any, nbytes: int, kind: str) -> Optional[memoryview]:
    """recvbuf as the bytes a result of ``kind`` numbers can land in as they
    are (8-byte numbers of that kind, little-endian, contiguous, writable), or
    None."""
    if spec is None or spec is IN_PLACE or sys.byteorder != "little":
        return None
    try:
        m = memoryview(_buf(spec))
    except TypeError:
        return None
    fmt = m.format.lstrip("@=<")
    ok = fmt == "d" if kind == "f64" else fmt in ("q", "l")
    if not ok or m.itemsize != 8 or m.readonly or not m.c_contiguous or m.nbytes != nbytes:
        return None
    return m.cast("B")


def _fill(spec: Any, data: bytes, what: str) -> None:
    out = _bytes_view(spec, what, writable=True)
    if len(data) > out.nbytes:
        raise StdmpiError(f"message truncated: {len(data)} bytes arrived for a {what} of "
                          f"{out.nbytes} bytes")
    out[:len(data)] = data


# --- the communicator ---------------------------------------------------------------

class Intracomm(_BaseComm):
    """An mpi4py-style communicator (``MPI.COMM_WORLD``, or Split/Dup's)."""

    # point to point (objects)

    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        if dest == PROC_NULL:
            return
        super().send(obj, dest, tag)

    ssend = send

    def recv(self, buf: Any = None, source: int = ANY_SOURCE, tag: int = ANY_TAG,
             status: Optional[Status] = None) -> Any:
        if source == PROC_NULL:
            return None
        return super().recv(source, tag, status)

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        if dest == PROC_NULL:
            return _DoneRequest()
        return super().isend(obj, dest, tag)

    issend = isend

    def irecv(self, buf: Any = None, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Request:
        if source == PROC_NULL:
            return _DoneRequest()
        return super().irecv(source, tag)

    def sendrecv(self, sendobj: Any, dest: int, sendtag: int = 0, recvbuf: Any = None,
                 source: int = ANY_SOURCE, recvtag: int = ANY_TAG,
                 status: Optional[Status] = None) -> Any:
        return super().sendrecv(sendobj, dest, sendtag, source, recvtag, status)

    def Probe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,
              status: Optional[Status] = None) -> bool:
        return self.probe(source, tag, status)

    def Iprobe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,
               status: Optional[Status] = None) -> bool:
        return self.iprobe(source, tag, status)

    # collectives (objects)

    def bcast(self, obj: Any = None, root: int = 0) -> Any:
        return super().bcast(obj, root)

    def gather(self, sendobj: Any, root: int = 0) -> Optional[list]:
        return self.gather_objects(sendobj, root)

    def allgather(self, sendobj: Any) -> list:
        return self.allgather_objects(sendobj)

    def scatter(self, sendobj: Optional[Sequence[Any]] = None, root: int = 0) -> Any:
        return self.scatter_objects(sendobj, root)

    def _fast(self, x: Any, op: Op) -> bool:
        """Whether MPI's own reduction can compute what mpi4py would: numbers
        and NumPy arrays with a built-in op other than MINLOC/MAXLOC."""
        if op.name not in _BUILTIN or isinstance(x, bool):
            return False
        np = _np()
        if np is not None and isinstance(x, (np.ndarray, np.number)):
            return x.dtype.kind in "iuf" and (op.name not in ("band", "bor", "bxor") or
                                              x.dtype.kind in "iu")
        if op.name in ("band", "bor", "bxor", "land", "lor", "lxor"):
            return False
        if isinstance(x, int):
            return abs(x) < 2 ** 53  # exact as a double
        return isinstance(x, float)

    def _reduce_objects(self, x: Any, op: Op, root: Optional[int], scan: int = 0) -> Any:
        parts = self.gather_objects(x, root) if root is not None else self.allgather_objects(x)
        if parts is None:
            return None
        if scan:
            upto = parts[:self.rank + (1 if scan > 0 else 0)]
            return functools.reduce(op, upto) if upto else None
        return functools.reduce(op, parts)

    def _reduce_numbers(self, verb: bytes, x: Any, op: Op, root: Optional[int]) -> Any:
        np = _np()
        if np is not None and isinstance(x, np.number):
            out = super()._reduce(verb, float(x) if x.dtype.kind == "f" else int(x), op.name,
                                  root, None)
            return None if out is None else x.dtype.type(out)
        if np is not None and isinstance(x, np.ndarray):
            out = super()._reduce(verb, x, op.name, root, None)
            return None if out is None else out.astype(x.dtype, copy=False)
        return super()._reduce(verb, x, op.name, root, None)

    def reduce(self, sendobj: Any, op: Op = SUM, root: int = 0) -> Any:
        op = _as_op(op)
        if self._fast(sendobj, op):
            return self._reduce_numbers(b"reduce", sendobj, op, root)
        return self._reduce_objects(sendobj, op, root)

    def allreduce(self, sendobj: Any, op: Op = SUM) -> Any:
        op = _as_op(op)
        if self._fast(sendobj, op):
            return self._reduce_numbers(b"allreduce", sendobj, op, None)
        return self._reduce_objects(sendobj, op, None)

    def scan(self, sendobj: Any, op: Op = SUM) -> Any:
        op = _as_op(op)
        if self._fast(sendobj, op):
            return self._reduce_numbers(b"scan", sendobj, op, None)
        return self._reduce_objects(sendobj, op, None, scan=1)

    def exscan(self, sendobj: Any, op: Op = SUM) -> Any:
        op = _as_op(op)
        if self._fast(sendobj, op):
            return self._reduce_numbers(b"exscan", sendobj, op, None)
        return self._reduce_objects(sendobj, op, None, scan=-1)

    # buffers (upper case)

    def Send(self, buf: Any, dest: int, tag: int = 0) -> None:
        if dest != PROC_NULL:
            self.send_bytes(_bytes_view(buf, "Send buffer"), dest, tag)

    Ssend = Rsend = Send

    def Recv(self, buf: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG,
             status: Optional[Status] = None) -> None:
        if source == PROC_NULL:
            return
        # Through the region: one copy, from it into buf.
        reply, reg = self._ch.shared(b"recvb" + self._sfx, _rank_arg(source) + b" " +
                                     _tag_arg(tag))
        n = int(reply)
        _fill(buf, self._ch.readexact(n) if reg is None else reg.read(n), "Recv buffer")
        if status is not None:
            status._set(self._ch.request(b"@mpi status"))

    def Isend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        if dest == PROC_NULL:
            return _DoneRequest()
        data = bytes(_bytes_view(buf, "Isend buffer"))
        rid = self._ch.request(b"@mpi isendb" + self._sfx + b" " + _rank_arg(dest) + b" " +
                               _tag_arg(tag) + b" " + str(len(data)).encode(), data)
        return Request(self._ch, int(rid), "send")

    Issend = Isend

    def Irecv(self, buf: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Request:
        if source == PROC_NULL:
            return _DoneRequest()
        rid = self._ch.request(b"@mpi irecvb" + self._sfx + b" " + _rank_arg(source) + b" " +
                               _tag_arg(tag))
        return _BufferRequest(self._ch, int(rid), buf)

    def Sendrecv(self, sendbuf: Any, dest: int, sendtag: int = 0, recvbuf: Any = None,
                 source: int = ANY_SOURCE, recvtag: int = ANY_TAG,
                 status: Optional[Status] = None) -> None:
        data = bytes(_bytes_view(sendbuf, "Sendrecv send buffer"))
        got = self._ch.request_bytes(b"@mpi sendrecvb" + self._sfx + b" " + _rank_arg(dest) +
                                     b" " + _tag_arg(sendtag) + b" " + _rank_arg(source) + b" " +
                                     _tag_arg(recvtag) + b" " + str(len(data)).encode(), data)
        if status is not None:
            status._set(self._ch.request(b"@mpi status"))
        _fill(recvbuf, got, "Sendrecv receive buffer")

    def Bcast(self, buf: Any, root: int = 0) -> None:
        if self.rank == root:
            self.bcast_bytes(bytes(_bytes_view(buf, "Bcast buffer")), root)
        else:
            _fill(buf, self.bcast_bytes(None, root), "Bcast buffer")

    def _reduce_into(self, verb: bytes, sendbuf: Any, recvbuf: Any, op: Op,
                     root: Optional[int]) -> None:
        op = _as_op(op)
        if op.name not in _BUILTIN:
            raise ValueError(f"stdmpi: {op!r} on buffers: only the built-in ops other than "
                             "MINLOC/MAXLOC (use the lower-case method for objects)")
        if sendbuf is IN_PLACE:
            sendbuf = recvbuf
        data, kind, store = _numbers_of(sendbuf, "sendbuf")
        if self._ch.region(data.nbytes) is not None:
            # Through the shared region: no copy for arrays that Alloc_mem gave.
            args = b" " + op.name.encode() + (b" " + _rank_arg(root) if root is not None else b"")
            reply, result = _shm_reduce(self._ch, b"@mpi " + verb +
                                        (b":i64" if kind == "i64" else b"") + self._sfx, args,
                                        data, _result_view(recvbuf, data.nbytes, kind))
            if result is not None:
                store(result, recvbuf)
            return
        head = _bin_header(data.nbytes)
        args = b" " + op.name.encode() + (b" " + _rank_arg(root) if root is not None else b"")
        reply = self._ch.request(b"@mpi " + verb + (b":i64" if kind == "i64" else b"") +
                                 self._sfx + b":msgpack" + args + b" " +
                                 str(len(head) + data.nbytes).encode(), head, data)
        if reply == "ok":
            return
        store(bytes(self._ch.read_bin(int(reply)) or b""), recvbuf)

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, root: int = 0) -> None:
        self._reduce_into(b"reduce", sendbuf, recvbuf, op, root)

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        self._reduce_into(b"allreduce", sendbuf, recvbuf, op, None)

    def Scan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        self._reduce_into(b"scan", sendbuf, recvbuf, op, None)

    def Exscan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        self._reduce_into(b"exscan", sendbuf, recvbuf, op, None)

    def _piece(self, spec: Any, index: int) -> bytes:
        whole = _bytes_view(spec, "recvbuf")
        n = whole.nbytes // self.size
        return bytes(whole[index * n:(index + 1) * n])

    def Gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        mine = self._piece(recvbuf, root) if sendbuf is IN_PLACE else \
            bytes(_bytes_view(sendbuf, "sendbuf"))
        parts = self._gather_bytes(mine, root)
        if parts is not None:
            _fill(recvbuf, b"".join(parts), "Gather recvbuf")

    def Allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        mine = self._piece(recvbuf, self.rank) if sendbuf is IN_PLACE else \
            bytes(_bytes_view(sendbuf, "sendbuf"))
        _fill(recvbuf, b"".join(self._gather_bytes(mine, None) or []), "Allgather recvbuf")

    def Scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        parts = None
        if self.rank == root:
            whole = _bytes_view(sendbuf, "sendbuf")
            n = whole.nbytes // self.size
            parts = [bytes(whole[i * n:(i + 1) * n]) for i in range(self.size)]
        mine = self._scatter_bytes(parts, root)
        if recvbuf is not IN_PLACE:
            _fill(recvbuf, mine, "Scatter recvbuf")

    def Alltoall(self, sendbuf: Any, recvbuf: Any) -> None:
        whole = _bytes_view(recvbuf if sendbuf is IN_PLACE else sendbuf, "sendbuf")
        n = whole.nbytes // self.size
        parts = self._alltoall_bytes([bytes(whole[i * n:(i + 1) * n]) for i in range(self.size)])
        _fill(recvbuf, b"".join(parts), "Alltoall recvbuf")

    # the rest of what mpi4py scripts call

    def Split(self, color: int = 0, key: int = 0) -> "Intracomm":
        made = super().Split(None if color == UNDEFINED else color, key)
        return COMM_NULL if made is None else made  # type: ignore[return-value]

    def Clone(self) -> "Intracomm":
        return self.Dup()  # type: ignore[return-value]

    def Get_attr(self, keyval: Any) -> Any:
        if keyval == APPNUM:
            import os
            return int(os.environ.get("STDMPI_APPNUM") or 0)
        return None

    def Get_name(self) -> str:
        return "MPI_COMM_WORLD" if self._id == 0 else f"stdmpi communicator {self._id}"

    def Is_inter(self) -> bool:
        return False

    def Is_intra(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Intracomm) and other._id == self._id and other._ch is self._ch

    def __hash__(self) -> int:
        return hash((self._id, id(self._ch)))

    def __repr__(self) -> str:
        return f"<stdmpi.MPI.Intracomm {self.Get_name()}>"


Comm = Intracomm


class _NullComm:
    """MPI.COMM_NULL: what Split gives a rank with color UNDEFINED."""

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return other is self or other is None

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "MPI.COMM_NULL"


def _as_op(op: Any) -> Op:
    if isinstance(op, Op):
        return op
    if callable(op):
        return Op("user", op)
    name = getattr(op, "name", str(op)).lower()
    if name in _BUILTIN:
        return _BUILTIN[name]
    if name == "minloc":
        return MINLOC
    if name == "maxloc":
        return MAXLOC
    raise ValueError(f"stdmpi: unknown op {op!r}")


def _self_channel() -> _Channel:
    from ._local import LocalWorld
    ch = _Channel()
    ch._local = LocalWorld()
    ch._started = True
    return ch


COMM_WORLD = Intracomm()
COMM_SELF = Intracomm(0, 0, 1, _self_channel())
COMM_NULL = _NullComm()
_finalized = False


def Wtime() -> float:
    return _wtime()


def Wtick() -> float:
    return time.get_clock_info("monotonic").resolution


def Alloc_mem(size: int, info: Any = None) -> Any:
    """Memory for arrays that MPI calls then read and write with no copy: a
    block of the region this rank shares with its shim. Wrap it, e.g.
    ``np.frombuffer(MPI.Alloc_mem(8 * n), dtype="d")``; Allreduce, Reduce,
    Scan and Exscan on such arrays move no byte through the pipes and copy
    none. Outside stdmpirun, or without a region, plain memory."""
    if size < 0:
        raise ValueError("stdmpi: Alloc_mem of a negative size")
    reg = _chan.region(-1)
    if reg is None:
        return bytearray(size)
    return reg.alloc(size)


def Free_mem(mem: Any) -> None:
    """Gives back what Alloc_mem gave (to a later Alloc_mem: the region
    never shrinks). Arrays made on it must not be used after."""
    reg = _chan.region(-1)
    if reg is not None and not isinstance(mem, bytearray):
        reg.free(mem)
        # Its arrays must not be used after: the mapping goes when none is.
        try:
            mem.close()
        except BufferError:
            pass


def Get_processor_name() -> str:
    return socket.gethostname()


def Get_version() -> Tuple[int, int]:
    return (3, 1)


def Init() -> None:
    pass


def Init_thread(required: int = THREAD_MULTIPLE) -> int:
    return THREAD_SINGLE


def Query_thread() -> int:
    return THREAD_SINGLE


def Is_initialized() -> bool:
    return True


def Is_finalized() -> bool:
    return _finalized


def Finalize() -> None:
    """Nothing to do: the rank's shim finalizes MPI when the program ends."""
    global _finalized
    _finalized = True
