"""stdmpi for Python: MPI from a script started by ``stdmpirun``.

A thin layer over the stdmpi line protocol (docs/protocol.md): every call
prints one ``@mpi ...`` request on stdout and reads the reply on stdin. Nothing
to install: the rank's shim puts this package on ``PYTHONPATH``.

The API follows mpi4py's lower-case, object-based methods::

    import stdmpi
    comm = stdmpi.COMM_WORLD
    part = sum(x for x in range(comm.rank, 1000, comm.size))
    total = comm.allreduce(part, op=stdmpi.SUM)      # on every rank
    data = comm.bcast({"n": 1000} if comm.rank == 0 else None, root=0)
    if comm.rank == 0:
        comm.send("hello", dest=1, tag=7)
    elif comm.rank == 1:
        msg = comm.recv(source=0, tag=7)

Messages: a ``str`` travels as plain text, so ranks in other languages read it
as is; ``bytes`` and other objects (JSON-able ones as JSON, the rest pickled)
carry a short type marker so a Python receiver gets back what was sent.
``send_bytes``/``recv_bytes`` move raw bytes with no marker at all.

Numbers: reductions work on a number, a list/tuple of numbers, or a NumPy
array. Numbers travel as doubles (MPI_DOUBLE): integers stay integers in the
result and are exact up to 2**53; pass ``dtype="i64"`` on every rank for exact
64-bit integer arithmetic (and for BAND/BOR/BXOR, which imply it). From
``MSGPACK_MIN_NUMBERS`` (64) numbers on, they travel in the protocol's msgpack
framing, as raw 8-byte numbers instead of decimal text. ``Allreduce`` and
``Reduce`` take buffers as mpi4py's do (``array('d')``, NumPy arrays) and copy
no number one by one: the fastest way to reduce large arrays::

    from array import array
    x = array("d", [1.5] * 1000000); y = array("d", bytes(len(x) * 8))
    comm.Allreduce(x, y, op=stdmpi.SUM)

A failed request raises :class:`StdmpiError` with the shim's reason.

A task farm's worker (``stdmpirun --tasks FILE python3 worker.py``) takes its
items with ``for item in stdmpi.tasks(): with item: ...`` (at the end of this file).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import pickle
import sys
from array import array
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

__all__ = [
    "COMM_WORLD", "COMM_PROGRAM", "Comm", "Request", "Status", "Op", "StdmpiError", "Wtime",
    "ANY_SOURCE", "ANY_TAG", "SUM", "PROD", "MIN", "MAX", "LAND", "LOR",
    "LXOR", "BAND", "BOR", "BXOR", "MINLOC", "MAXLOC",
]

ANY_SOURCE: int = -1
ANY_TAG: int = -1

# Typed messages start with this marker, then a kind letter and ':'.
_MARK = b"\x1e@"
_KIND_JSON, _KIND_PICKLE, _KIND_BYTES, _KIND_STR = b"j:", b"p:", b"b:", b"s:"
_EXACT_INT = 2 ** 53


class StdmpiError(RuntimeError):
    """A request failed; ``reason`` is the shim's explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Op:
    """A reduction operation, e.g. ``stdmpi.SUM``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"stdmpi.{self.name.upper()}"


SUM, PROD, MIN, MAX = Op("sum"), Op("prod"), Op("min"), Op("max")
LAND, LOR, LXOR = Op("land"), Op("lor"), Op("lxor")
BAND, BOR, BXOR = Op("band"), Op("bor"), Op("bxor")
MINLOC, MAXLOC = Op("minloc"), Op("maxloc")
_OPS = {o.name: o for o in (SUM, PROD, MIN, MAX, LAND, LOR, LXOR, BAND, BOR, BXOR, MINLOC, MAXLOC)}


class Status:
    """Source, tag and size of a received or probed message (as mpi4py's)."""

    def __init__(self) -> None:
        self.source = -1
        self.tag = -1
        self.count = 0

    def Get_source(self) -> int:
        return self.source

    def Get_tag(self) -> int:
        return self.tag

    def Get_count(self, datatype: Any = None) -> int:
        """Bytes in the message as it travelled (elements of ``datatype``,
        e.g. ``MPI.DOUBLE``, when given)."""
        size = getattr(datatype, "size", 1) or 1
        return self.count // size

    Get_elements = Get_count

    def _set(self, reply: str) -> None:
        src, tag, count = reply.split()
        self.source, self.tag, self.count = int(src), int(tag), int(count)

    def __repr__(self) -> str:
        return f"Status(source={self.source}, tag={self.tag}, count={self.count})"


# Payloads of at least this many bytes go through the shared region instead
# of the pipes (STDMPI_SHM_MIN_BYTES; a huge value turns the region off).
SHM_MIN_BYTES = int(os.environ.get("STDMPI_SHM_MIN_BYTES", "") or 1024)


class _Region:
    """The memory this rank shares with its shim (docs/protocol.md, "Arrays
    through shared memory"): a request names bytes in it by offset instead of
    sending them through the pipe, and the reply's bytes land in it.

    Its layout is this module's: blocks that ``alloc`` hands out (arrays a
    program keeps there, so that MPI reads and writes them with no copy), and
    one scratch block for everything else, copied in and out. A reply of
    unknown size may run past the scratch block (the shim grows the region to
    hold it), so the scratch block is kept last."""

    PAGE = mmap.ALLOCATIONGRANULARITY

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._off = 0          # the scratch block: offset, mapping, view
        self._map: Optional[mmap.mmap] = None
        self.mv = memoryview(b"")
        self._last = True      # the scratch block ends the region
        self._blocks: List[Tuple[int, int, int, mmap.mmap]] = []  # address, offset, size, map
        self._free: List[Tuple[int, int]] = []  # offset, size

    @staticmethod
    def open() -> Optional["_Region"]:
        """The region the shim passed down, or None (outside stdmpirun, a shim
        without one, or a descriptor the program reused for something else)."""
        fd = os.environ.get("STDMPI_SHM_FD", "")
        if not fd.isdigit():
            return None
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:stdmpi-shm"):
                return None
        except OSError:
            return None
        return _Region(int(fd))

    @property
    def off(self) -> int:
        """The scratch block's offset: the OFF of requests that copy."""
        return self._off

    def _size(self) -> int:
        return os.fstat(self.fd).st_size

    def _end(self) -> int:
        """Where a new block starts: the region's end, page-aligned."""
        return -(-self._size() // self.PAGE) * self.PAGE

    def _remap(self, off: int, size: int) -> None:
        self.mv.release()
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view of it is still alive: the GC unmaps it
                pass
        self._off = off
        self._map = mmap.mmap(self.fd, size, offset=off)
        self.mv = memoryview(self._map)

    def grow(self, n: int) -> memoryview:
        """The scratch block's first ``n`` bytes to write into; a new, larger
        block at the end (by half again at least) if it is smaller."""
        if n > self.mv.nbytes or not self._last:
            have = self.mv.nbytes if self._last else 0
            off = self._off if self._last else self._end()
            size = max(n, have + have // 2, 1 << 20)
            if self._size() < off + size:
                os.ftruncate(self.fd, off + size)
            self._remap(off, size)
            self._last = True
        return self.mv[:n]

    def for_reply(self) -> None:
        """Before a request whose reply size is unknown: the scratch block
        ends the region, so a reply that runs past it overwrites nothing."""
        if not self._last or self._map is None:
            self.grow(0)

    def read(self, n: int) -> memoryview:
        """The scratch block's first ``n`` bytes, where the shim put a reply (it
        grew the region if they did not fit)."""
        if n > self.mv.nbytes:
            self._remap(self._off, n)
        return self.mv[:n]

    def alloc(self, nbytes: int) -> Any:
        """A block of ``nbytes`` of the region for the program to keep arrays
        in (MPI.Alloc_mem): requests on it name its offset, no copy."""
        if nbytes == 0:
            return bytearray()
        off = -1
        for i, (o, cap) in enumerate(self._free):
            if cap >= nbytes:
                off, size = o, cap
                del self._free[i]
                break
        if off < 0:
            off = self._end()
            size = -(-nbytes // self.PAGE) * self.PAGE
            os.ftruncate(self.fd, off + size)
            self._last = False
        m = mmap.mmap(self.fd, nbytes, offset=off)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
        self._blocks.append((addr, off, size, m))
        return m

    def free(self, m: Any) -> None:
        """Gives a block back for a later alloc (the region never shrinks)."""
        for i, b in enumerate(self._blocks):
            if b[3] is m:
                del self._blocks[i]
                self._free.append((b[1], b[2]))
                return
        raise ValueError("stdmpi: Free_mem of memory that Alloc_mem did not give")

    def offset_of(self, buf: Any, nbytes: int) -> int:
        """The offset of ``buf`` (``nbytes`` long) if it lies in an alloc'd
        block, else -1."""
        if not self._blocks:
            return -1
        addr = _address(buf)
        if addr is None:
            return -1
        for base, off, size, _ in self._blocks:
            if base <= addr and addr + nbytes <= base + size:
                return off + addr - base
        return -1


def _shm_reduce(ch: "_Channel", head: bytes, args: bytes, data: memoryview,
                out: Optional[memoryview]) -> Tuple[Optional[str], Optional[memoryview]]:
    """A reduction through the shared region: ``head`` is b"@mpi VERB[:i64][:cID]",
    ``args`` b" OP [ROOT]", ``data`` the 8-byte numbers' bytes, ``out`` the
    result's place (a byte view of recvbuf) or None. Numbers that lie in
    alloc'd blocks are named where they are; others are copied to the scratch
    block. Returns the reply (None: no region here, use the pipe) and, when the
    result is not in ``out`` already, the view to take it from."""
    reg = ch.region(data.nbytes)
    if reg is None:
        return None, None
    n = data.nbytes
    x = reg.offset_of(data, n)
    y = -1 if out is None or out.nbytes != n else reg.offset_of(out, n)
    if y >= 0:
        if x != y and (x < 0 or abs(x - y) < n):
            out[:] = data  # then reduced in place, as MPI_IN_PLACE
            x = y
        return ch.request(head + b":shm=%d,%d" % (x, y) + args + b" %d" % n), None
    if x < 0:
        reg.grow(n)[:] = data
        x = dest = reg.off
    else:
        reg.grow(n)
        dest = reg.off
    reply = ch.request(head + b":shm=%d,%d" % (x, dest) + args + b" %d" % n)
    if reply == "ok":
        return reply, None
    result = reg.read(n)
    if out is not None and out.nbytes == n:
        out[:] = result
        return reply, None
    return reply, result


def _address(buf: Any) -> Optional[int]:
    """Where a buffer's bytes start in memory, if Python can tell."""
    np = _np()
    if np is not None and isinstance(buf, np.ndarray):
        return buf.__array_interface__["data"][0]
    if isinstance(buf, array):
        return buf.buffer_info()[0]
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(buf))
    except (TypeError, ValueError, BufferError):
        return None


class _Channel:
    """The request/reply pipe pair: requests on fd 1, replies on fd 0."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._started = False
        # Outside stdmpirun: a world of one rank answered in this process.
        self._local = None
        self._region: Optional[_Region] = None

    def _start(self) -> None:
        # Outside stdmpirun (STDMPI_RANK unset) the job is this one rank.
        rank = os.environ.get("STDMPI_RANK")
        if rank is None:
            from ._local import LocalWorld
            self._local = LocalWorld()
        elif not rank.isdigit():
            # Set, but not by a shim: something is wrong with the environment.
            raise StdmpiError(
                f"not running as a stdmpi rank (STDMPI_RANK is set to {rank!r}, not a rank "
                "number): start the script with stdmpirun, e.g. stdmpirun -n 4 python3 " +
                (sys.argv[0] or "script.py") + ", or unset STDMPI_RANK to run it as a world "
                "of one rank")
        self._started = True
        if self._local is None:
            self._region = _Region.open()
        # Failed requests answer "@error REASON" (raised here as StdmpiError)
        # instead of ending the job, so a script can catch them.
        self.request(b"@mpi errors return")

    def _write(self, *parts: Any) -> None:
        if self._local is not None:
            self._buf += self._local.feed(b"".join(bytes(memoryview(p).cast("B")) for p in parts))
            return
        try:
            sys.stdout.flush()  # the script's own output goes first, in order
        except (AttributeError, ValueError, OSError):
            pass
        # One writev for the line and its payload: a large payload is not
        # copied into one buffer first.
        views = [v for v in (memoryview(p).cast("B") for p in parts) if v.nbytes]
        while views:
            n = os.writev(1, views)
            while views and n >= views[0].nbytes:
                n -= views[0].nbytes
                views.pop(0)
            if n:
                views[0] = views[0][n:]

    def _fill(self, want: int) -> None:
        if self._local is not None and len(self._buf) < want:
            raise StdmpiError("stdmpi: internal error: the one-rank world gave a short reply")
        while len(self._buf) < want:
            chunk = os.read(0, max(65536, want - len(self._buf)))
            if not chunk:
                raise StdmpiError("the shim closed stdin: the job is ending")
            self._buf += chunk

    def readline(self) -> bytes:
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[: i + 1]
                return line
            self._fill(len(self._buf) + 1)

    def readexact(self, n: int) -> bytes:
        self._fill(n)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def readinto(self, out: memoryview) -> None:
        """Fills ``out`` (a byte view) from stdin, reading straight into it."""
        have = min(len(self._buf), out.nbytes)
        out[:have] = self._buf[:have]
        del self._buf[:have]
        if have < out.nbytes and self._local is not None:
            self._fill(out.nbytes)
        while have < out.nbytes:
            n = os.readv(0, [out[have:]])
            if n == 0:
                raise StdmpiError("the shim closed stdin: the job is ending")
            have += n

    def read_bin(self, size: int, out: Optional[memoryview] = None) -> Optional[bytearray]:
        """Reads a reply's msgpack bin of ``size`` bytes in all: into ``out``
        when given (and its size matches; else the bytes are read and
        ValueError raised), or into a new bytearray."""
        first = self.readexact(1)
        head = {b"\xc4": 1, b"\xc5": 2, b"\xc6": 4}.get(first)
        if head is None:
            raise StdmpiError(f"stdmpi: expected a msgpack bin in the reply, got {first!r}")
        body = int.from_bytes(self.readexact(head), "big")
        if body != size - 1 - head:
            raise StdmpiError(f"stdmpi: a msgpack bin of {body} bytes in a reply of {size}")
        if out is not None and out.nbytes == body:
            self.readinto(out)
            return None
        buf = bytearray(body)
        self.readinto(memoryview(buf))
        if out is not None:
            raise ValueError(f"stdmpi: recvbuf holds {out.nbytes} bytes, the result {body}")
        return buf

    def request(self, line: bytes, *payload: Any) -> str:
        """Sends one request (and its raw payload, in parts); returns the reply line."""
        if not self._started:
            self._start()
        self._write(line + b"\n", *payload)
        reply = self.readline()
        if reply.startswith(b"@error"):
            raise StdmpiError(reply[7:].decode("utf-8", "replace"))
        return reply.decode("utf-8", "surrogateescape")

    def request_bytes(self, line: bytes, *payload: Any) -> bytes:
        """Sends a request whose reply is ``N`` + LF + N raw bytes."""
        header = self.request(line, *payload)
        return self.readexact(int(header))

    def region(self, nbytes: int = -1) -> Optional[_Region]:
        """The shared region, if this rank has one and ``nbytes`` (-1: a
        reply of unknown size) is worth it."""
        if not self._started:
            self._start()
        if self._region is None or (0 <= nbytes < SHM_MIN_BYTES):
            return None
        return self._region

    def shared(self, verb: bytes, rest: bytes, payload: Any = None) -> Tuple[str, Optional[_Region]]:
        """``@mpi VERB:shm=OFF REST`` with ``payload`` (bytes-like, or None)
        placed in the region first, if the region is worth it; else the pipe
        form with the payload after the line. Returns the reply line and the
        region its bytes are in (None: they follow on the pipe)."""
        if payload is None:
            parts: List[memoryview] = []
        elif isinstance(payload, list):
            parts = [memoryview(p).cast("B") for p in payload]
        else:
            parts = [memoryview(payload).cast("B")]
        total = sum(p.nbytes for p in parts)
        reg = self.region(-1 if payload is None else total)
        if reg is None:
            return self.request(b"@mpi " + verb + b" " + rest, *parts), None
        at, mv = 0, reg.grow(total)
        for p in parts:
            mv[at:at + p.nbytes] = p
            at += p.nbytes
        reg.for_reply()
        return self.request(b"@mpi " + verb + b":shm=%d " % reg.off + rest), reg

    def shared_bytes(self, verb: bytes, rest: bytes, payload: Any = None) -> bytes:
        """The same for a reply of ``N`` + its bytes: the bytes."""
        header, reg = self.shared(verb, rest, payload)
        if reg is None:
            return self.readexact(int(header))
        return bytes(reg.read(int(header)))


_chan = _Channel()


# --- encoding of objects ------------------------------------------------------

def _json_exact(obj: Any) -> bool:
    """True if JSON gives ``obj`` back with the same types."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return True
    if isinstance(obj, list):
        return all(_json_exact(x) for x in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _json_exact(v) for k, v in obj.items())
    return False


def _encode(obj: Any) -> bytes:
    if isinstance(obj, str):
        raw = obj.encode("utf-8", "surrogateescape")
        return _MARK + _KIND_STR + raw if raw.startswith(_MARK) else raw
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return _MARK + _KIND_BYTES + bytes(obj)
    if _json_exact(obj):
        return _MARK + _KIND_JSON + json.dumps(obj, separators=(",", ":")).encode()
    return _MARK + _KIND_PICKLE + pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _decode(data: bytes) -> Any:
    if data.startswith(_MARK):
        kind, body = data[2:4], data[4:]
        if kind == _KIND_JSON:
            return json.loads(body)
        if kind == _KIND_PICKLE:
            return pickle.loads(body)
        if kind == _KIND_BYTES:
            return body
        if kind == _KIND_STR:
            return body.decode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _rank_arg(r: int) -> bytes:
    return b"any" if r == ANY_SOURCE else str(int(r)).encode()


def _tag_arg(t: int) -> bytes:
    return b"any" if t == ANY_TAG else str(int(t)).encode()


# --- numbers ------------------------------------------------------------------

def _np():
    return sys.modules.get("numpy")


# Requests with at least this many numbers send them, and get their result, in
# the protocol's msgpack framing: the 8-byte machine numbers as they are, with
# no decimal text to write or parse. Smaller ones use the text form.
MSGPACK_MIN_NUMBERS = int(os.environ.get("STDMPI_MSGPACK_MIN_NUMBERS", "64"))

_NUMERIC_TYPES = frozenset((int, float, bool))


def _bin_header(n: int) -> bytes:
    """The msgpack bin header for ``n`` bytes."""
    if n < 0x100:
        return b"\xc4" + n.to_bytes(1, "big")
    if n < 0x10000:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def _le_bytes(a: "array") -> Any:
    """The little-endian bytes of an 8-byte array (the bin form's layout)."""
    if sys.byteorder == "big":
        a = array(a.typecode, a)
        a.byteswap()
    return memoryview(a).cast("B")


def _from_le(code: str, body: Any) -> "array":
    a = array(code)
    a.frombytes(body)
    if sys.byteorder == "big":
        a.byteswap()
    return a


# The numeric verbs with a `:shm=OFF` form.
_SHM_VERBS = frozenset((b"reduce", b"allreduce", b"scan", b"exscan"))


def _exchange(verb: bytes, dtype: str, args: bytes, values: "array", force_msgpack: bool = False,
              nothing: bool = False, chan: Optional["_Channel"] = None,
              comm: bytes = b"") -> Optional["array"]:
    """Sends a numeric request and returns the result's numbers (None for ``ok``).

    ``verb`` is e.g. b"allreduce", ``args`` what comes between the verb and the
    numbers (b" sum 0"). ``nothing``: a scatter non-root, whose numbers are
    ignored; it still picks its reply's form.
    """
    ch = chan or _chan
    code = "q" if dtype == "i64" else "d"
    suffix = (b":i64" if dtype == "i64" else b"") + comm
    if verb in _SHM_VERBS and b"loc" not in args and ch.region(8 * len(values)) is not None:
        # Raw numbers through the shared region.
        reply, result = _shm_reduce(ch, b"@mpi " + verb + suffix, args, _le_bytes(values), None)
        return None if reply == "ok" else _from_le(code, result)
    if force_msgpack or len(values) >= MSGPACK_MIN_NUMBERS:
        body = memoryview(b"") if nothing else _le_bytes(values)
        head = _bin_header(body.nbytes)
        reply = ch.request(b"@mpi " + verb + suffix + b":msgpack" + args + b" " +
                           str(len(head) + body.nbytes).encode(), head, body)
        if reply == "ok":
            return None
        return _from_le(code, ch.read_bin(int(reply)))
    text = b"" if nothing else b" " + " ".join(map(repr, values)).encode()
    reply = ch.request(b"@mpi " + verb + suffix + args + text)
    if reply == "ok":
        return None
    return array(code, map(int if code == "q" else float, reply.split()))


class _Numbers:
    """A rank's numbers as the protocol sends them, and how to give them back."""

    def __init__(self, x: Any, dtype: Optional[str], op: Optional[Op]) -> None:
        np = _np()
        self.array_shape = None
        self.scalar = False
        # Which inputs were integers: None (none), True (all), or one flag each.
        self.ints: Union[None, bool, List[bool]] = None
        if op in (BAND, BOR, BXOR):
            dtype = "i64"
        if np is not None and isinstance(x, np.ndarray):
            self.array_shape = x.shape
            if dtype is None:
                dtype = "i64" if x.dtype.kind in "iub" else "f64"
        self.dtype = dtype or "f64"
        if self.dtype not in ("f64", "i64"):
            raise ValueError(f"stdmpi: dtype must be 'f64' or 'i64', not {dtype!r}")
        code = "q" if self.dtype == "i64" else "d"
        if self.array_shape is not None:
            flat = np.ascontiguousarray(x, dtype="<i8" if code == "q" else "<f8").ravel()
            self.values = _from_le(code, flat.tobytes())
            return
        if isinstance(x, (list, tuple, array)):
            values = x
        else:
            values = [x]
            self.scalar = True
        types = set(map(type, values))
        if not types <= _NUMERIC_TYPES:
            for v in values:
                if not isinstance(v, (int, float)) and not (np is not None and isinstance(v, np.generic)):
                    raise TypeError(f"stdmpi: numbers expected, got {type(v).__name__}: {v!r}")
        if types and types <= {int, bool}:
            self.ints = True
        elif not types <= {float}:
            self.ints = [isinstance(v, int) for v in values]
        try:
            self.values = array(code, values)
        except TypeError:  # floats (or NumPy scalars) for an i64 request
            self.values = array(code, map(int, values))
        except OverflowError:
            raise ValueError("stdmpi: a number is out of the 64-bit integer range "
                             "(dtype='i64')") from None

    def exchange(self, verb: bytes, args: bytes, chan: Optional["_Channel"] = None,
                 comm: bytes = b"") -> Optional["array"]:
        return _exchange(verb, self.dtype, args, self.values, chan=chan, comm=comm)

    def result(self, a: "array", loc: bool = False) -> Any:
        """The result in the shape the caller gave (see the module's doc)."""
        if loc:
            pairs = list(zip(self.convert(a[0::2]), map(int, a[1::2])))
            return pairs[0] if self.scalar else pairs
        if self.array_shape is not None:
            np = _np()
            return np.frombuffer(_le_bytes(a), dtype="<i8" if self.dtype == "i64" else "<f8"
                                 ).astype(np.int64 if self.dtype == "i64" else np.float64
                                          ).reshape(self.array_shape)
        vals = self.convert(a)
        return vals[0] if self.scalar else vals

    def convert(self, a: "array") -> list:
        """Numbers as Python objects: an integer input gives an integer result
        when the double is exact."""
        vals = a.tolist()
        ints = self.ints
        if self.dtype == "i64" or ints is None:
            return vals
        if ints is True:
            return [int(v) if v.is_integer() and abs(v) <= _EXACT_INT else v for v in vals]
        n = len(ints)
        return [int(v) if i < n and ints[i] and v.is_integer() and abs(v) <= _EXACT_INT else v
                for i, v in enumerate(vals)]


def _buffer(buf: Any, what: str) -> Tuple[memoryview, str]:
    """A buffer of 8-byte numbers (array('d'), array('q'), a NumPy float64/int64
    array) as bytes, and its dtype."""
    try:
        m = memoryview(buf)
    except TypeError:
        raise TypeError(f"stdmpi: {what} must be a buffer of numbers (array('d'), "
                        f"a NumPy array), not {type(buf).__name__}") from None
    fmt = m.format.lstrip("@=<")
    if m.itemsize == 8 and fmt == "d":
        dtype = "f64"
    elif m.itemsize == 8 and fmt in ("q", "l"):
        dtype = "i64"
    else:
        raise TypeError(f"stdmpi: {what} must hold 8-byte floats or integers (array('d'), "
                        f"array('q'), NumPy float64/int64), not format {m.format!r}")
    if not m.c_contiguous:
        raise ValueError(f"stdmpi: {what} must be contiguous")
    return m.cast("B"), dtype


def _store_result(data: memoryview, recvbuf: Any, dtype: str) -> None:
    """An Allreduce/Reduce result (little-endian 8-byte numbers) into recvbuf."""
    out, out_dtype = _buffer(recvbuf, "recvbuf")
    if out.readonly:
        raise TypeError("stdmpi: recvbuf must be writable (array('d'), a NumPy array), "
                        "not read-only")
    if out_dtype != dtype:
        raise ValueError(f"stdmpi: recvbuf must hold {dtype} numbers as sendbuf does, "
                         f"not {out_dtype}")
    if out.nbytes != data.nbytes:
        raise ValueError(f"stdmpi: recvbuf holds {out.nbytes} bytes, the result {data.nbytes}")
    out[:] = data
    if sys.byteorder == "big":
        out[:] = _le_bytes(_from_le("q" if dtype == "i64" else "d", out))


def _numeric(x: Any) -> bool:
    """A number, a list/tuple/array of numbers, or a NumPy array: what the
    numeric verbs carry."""
    np = _np()
    if np is not None and isinstance(x, (np.ndarray, np.number)):
        return True
    if isinstance(x, (int, float)) or isinstance(x, array):
        return True
    return isinstance(x, (list, tuple)) and all(
        isinstance(v, (int, float)) or (np is not None and isinstance(v, np.number)) for v in x)


def _op(op: Union[Op, str]) -> Op:
    if isinstance(op, Op):
        return op
    try:
        return _OPS[str(op).lower()]
    except KeyError:
        raise ValueError(f"stdmpi: unknown op {op!r} (one of {', '.join(_OPS)})") from None


# --- the communicator ---------------------------------------------------------

class Request:
    """A non-blocking send or receive (``isend``/``irecv``), as mpi4py's."""

    def __init__(self, chan: "_Channel", rid: int, kind: str) -> None:
        self._ch, self._id, self._kind = chan, rid, kind
        self._done, self._value = False, None

    def _collect(self, status: Optional[Status]) -> Any:
        if not self._done:
            if self._kind == "send":
                self._ch.request(b"@mpi wait %d" % self._id)
            else:
                data = self._ch.request_bytes(b"@mpi wait %d" % self._id)
                self._value = data if self._kind == "bytes" else _decode(data)
                self._status = self._ch.request(b"@mpi status")
            self._done = True
        if status is not None and self._kind != "send":
            status._set(self._status)
        return self._value

    def wait(self, status: Optional[Status] = None) -> Any:
        """Waits for it; a receive returns the object received (a send: None)."""
        return self._collect(status)

    def test(self, status: Optional[Status] = None) -> Tuple[bool, Any]:
        """``(True, result)`` if it has completed, else ``(False, None)``."""
        if not self._done and self._ch.request(b"@mpi test %d" % self._id) != "1":
            return False, None
        return True, self._collect(status)

    Wait = wait

    def Test(self, status: Optional[Status] = None) -> bool:
        return self.test(status)[0]

    @staticmethod
    def waitall(requests: Sequence["Request"], statuses: Optional[List[Status]] = None) -> list:
        """Waits for all; returns their results in order."""
        open_ = [r for r in requests if not r._done]
        if open_:
            open_[0]._ch.request(b"@mpi waitall " + b" ".join(b"%d" % r._id for r in open_))
        return [r._collect(statuses[i] if statuses else None) for i, r in enumerate(requests)]

    @staticmethod
    def waitany(requests: Sequence["Request"], status: Optional[Status] = None) -> Tuple[int, Any]:
        """Waits for one; returns its index and result."""
        for i, r in enumerate(requests):
            if r._done:
                return i, r._collect(status)
        rid = int(requests[0]._ch.request(b"@mpi waitany " +
                                          b" ".join(b"%d" % r._id for r in requests)))
        i = [r._id for r in requests].index(rid)
        return i, requests[i]._collect(status)

    @staticmethod
    def testall(requests: Sequence["Request"]) -> Tuple[bool, Optional[list]]:
        if all(r.test()[0] for r in requests):
            return True, Request.waitall(requests)
        return False, None

    Waitall, Waitany = waitall, waitany

    def __repr__(self) -> str:
        return f"<stdmpi.Request {self._id} ({self._kind})>"


class Comm:
    """A communicator: all ranks of the job (``stdmpi.COMM_WORLD``), or one
    that :meth:`Split` or :meth:`Dup` made. Its ranks are its own, 0..size-1."""

    def __init__(self, _id: int = 0, _rank: Optional[int] = None, _size: Optional[int] = None,
                 _channel: Optional["_Channel"] = None) -> None:
        self._id = _id
        self._sfx = b":c%d" % _id if _id else b""
        self._rank, self._size = _rank, _size
        self._ch = _channel or _chan

    @property
    def rank(self) -> int:
        """This rank, 0..size-1."""
        if self._rank is None:
            if self._id == 0 and self._ch is _chan:
                self._rank = int(os.environ.get("STDMPI_RANK") or "0")
            else:
                self._rank = int(self._ch.request(b"@mpi rank" + self._sfx))
        return self._rank

    @property
    def size(self) -> int:
        """Number of ranks in it."""
        if self._size is None:
            if self._id == 0 and self._ch is _chan:
                self._size = int(os.environ.get("STDMPI_SIZE") or "1")
            else:
                self._size = int(self._ch.request(b"@mpi size" + self._sfx))
        return self._size

    def Get_rank(self) -> int:
        return self.rank

    def Get_size(self) -> int:
        return self.size

    # communicators

    def _made(self, reply: str) -> Optional["Comm"]:
        if reply == "none":
            return None
        cid, rank, size = map(int, reply.split())
        return type(self)(cid, rank, size, self._ch)

    def Split(self, color: Optional[int] = 0, key: int = 0) -> Optional["Comm"]:
        """A new communicator of the ranks that give the same ``color``,
        ordered by ``key``; ``color=None`` joins none (returns None)."""
        c = b"none" if color is None or color < 0 else str(int(color)).encode()
        return self._made(self._ch.request(b"@mpi split" + self._sfx + b" " + c + b" " +
                                           str(int(key)).encode()))

    def Dup(self) -> "Comm":
        """A communicator of the same ranks whose messages never meet this one's."""
        made = self._made(self._ch.request(b"@mpi dup" + self._sfx))
        assert made is not None
        return made

    def Free(self) -> None:
        """Frees a communicator that Split or Dup made."""
        self._ch.request(b"@mpi free %d" % self._id)

    # non-blocking

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """Starts sending ``obj``; returns a :class:`Request` to wait for."""
        return self._isend(_encode(obj), dest, tag)

    def _isend(self, data: bytes, dest: int, tag: int) -> Request:
        args = _rank_arg(dest) + b" " + _tag_arg(tag)
        if b"\n" not in data:
            rid = self._ch.request(b"@mpi isend" + self._sfx + b" " + args + b" " + data)
        else:
            rid, _ = self._ch.shared(b"isendb" + self._sfx, args + b" " + str(len(data)).encode(),
                                     data)
        return Request(self._ch, int(rid), "send")

    def irecv(self, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Request:
        """Starts receiving; the request's ``wait()`` returns the object."""
        rid = self._ch.request(b"@mpi irecvb" + self._sfx + b" " + _rank_arg(source) + b" " +
                               _tag_arg(tag))
        return Request(self._ch, int(rid), "object")

    # objects in collectives (any bytes, per-rank sizes)

    def _split_reply(self, header: str, reg: Optional[_Region] = None) -> List[bytes]:
        sizes = [int(x) for x in header.split()]
        body = self._ch.readexact(sum(sizes)) if reg is None else bytes(reg.read(sum(sizes)))
        out, i = [], 0
        for n in sizes:
            out.append(body[i:i + n])
            i += n
        return out

    def _gather_bytes(self, data: bytes, root: Optional[int]) -> Optional[List[bytes]]:
        if root is None:
            verb, args = b"allgatherb" + self._sfx, b""
        else:
            verb, args = b"gatherb" + self._sfx, _rank_arg(root) + b" "
        reply, reg = self._ch.shared(verb, args + str(len(data)).encode(), data)
        return None if reply == "ok" else self._split_reply(reply, reg)

    def _scatter_bytes(self, parts: Optional[List[bytes]], root: int) -> bytes:
        verb = b"scatterb" + self._sfx
        if self.rank != root:
            return self._ch.shared_bytes(verb, _rank_arg(root))
        if parts is None or len(parts) != self.size:
            raise ValueError(f"stdmpi: scatter needs one item per rank ({self.size}) on the root")
        sizes = b" ".join(str(len(p)).encode() for p in parts)
        return self._ch.shared_bytes(verb, _rank_arg(root) + b" " + sizes, list(parts))

    def _alltoall_bytes(self, parts: List[bytes]) -> List[bytes]:
        if len(parts) != self.size:
            raise ValueError(f"stdmpi: alltoall needs one item per rank ({self.size})")
        sizes = b" ".join(str(len(p)).encode() for p in parts)
        return self._split_reply(*self._ch.shared(b"alltoallb" + self._sfx, sizes, list(parts)))

    def gather_objects(self, obj: Any, root: int = 0) -> Optional[list]:
        """Root gets a list with every rank's object (any object); None elsewhere."""
        parts = self._gather_bytes(_encode(obj), root)
        return None if parts is None else [_decode(p) for p in parts]

    def allgather_objects(self, obj: Any) -> list:
        """Every rank gets a list with every rank's object."""
        return [_decode(p) for p in self._gather_bytes(_encode(obj), None) or []]

    def scatter_objects(self, objs: Optional[Sequence[Any]] = None, root: int = 0) -> Any:
        """Root gives one object per rank; each rank gets its own."""
        parts = [_encode(o) for o in objs] if self.rank == root and objs is not None else None
        return _decode(self._scatter_bytes(parts, root))

    def alltoall(self, objs: Sequence[Any]) -> list:
        """Every rank gives one object per rank; gets one from every rank."""
        return [_decode(p) for p in self._alltoall_bytes([_encode(o) for o in objs])]

    # point to point

    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Sends ``obj`` to rank ``dest``; returns once the message is handed to MPI."""
        data = _encode(obj)
        head = b"@mpi send" + self._sfx + b" " + _rank_arg(dest) + b" " + _tag_arg(tag)
        if b"\n" not in data and len(data) < SHM_MIN_BYTES:
            self._ch.request(head + b" " + data)
        else:
            self._ch.shared(b"sendb" + self._sfx, _rank_arg(dest) + b" " + _tag_arg(tag) + b" " +
                            str(len(data)).encode(), data)

    def recv(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,
             status: Optional[Status] = None) -> Any:
        """Receives the next matching message and returns the object sent."""
        return _decode(self.recv_bytes(source, tag, status))

    def send_bytes(self, data: Union[bytes, bytearray, memoryview], dest: int, tag: int = 0) -> None:
        """Sends raw bytes, exactly as given (no type marker)."""
        data = memoryview(data).cast("B")
        self._ch.shared(b"sendb" + self._sfx, _rank_arg(dest) + b" " + _tag_arg(tag) + b" " +
                        str(data.nbytes).encode(), data)

    def recv_bytes(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,
                   status: Optional[Status] = None) -> bytes:
        """Receives a message as raw bytes."""
        data = self._ch.shared_bytes(b"recvb" + self._sfx, _rank_arg(source) + b" " + _tag_arg(tag))
        if status is not None:
            status._set(self._ch.request(b"@mpi status"))
        return data

    def sendrecv(self, sendobj: Any, dest: int, sendtag: int = 0, source: int = ANY_SOURCE,
                 recvtag: int = ANY_TAG, status: Optional[Status] = None) -> Any:
        """Sends and receives at once (no deadlock when two ranks exchange)."""
        data = _encode(sendobj)
        reply = self._ch.shared_bytes(b"sendrecvb" + self._sfx, _rank_arg(dest) + b" " +
                                      _tag_arg(sendtag) + b" " + _rank_arg(source) + b" " +
                                      _tag_arg(recvtag) + b" " + str(len(data)).encode(), data)
        if status is not None:
            status._set(self._ch.request(b"@mpi status"))
        return _decode(reply)

    def probe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,
              status: Optional[Status] = None) -> bool:
        """Waits until a matching message is there (without receiving it)."""
        reply = self._ch.request(b"@mpi probe" + self._sfx + b" " + _rank_arg(source) + b" " + _tag_arg(tag))
        if status is not None:
            status._set(reply)
        return True

    def iprobe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,
               status: Optional[Status] = None) -> bool:
        """True if a matching message is there now."""
        reply = self._ch.request(b"@mpi iprobe" + self._sfx + b" " + _rank_arg(source) + b" " + _tag_arg(tag))
        if reply == "none":
            return False
        if status is not None:
            status._set(reply)
        return True

    # collectives

    def barrier(self) -> None:
        """Waits until every rank got here."""
        self._ch.request(b"@mpi barrier" + self._sfx)

    Barrier = barrier

    def bcast(self, obj: Any = None, root: int = 0) -> Any:
        """Returns the root's ``obj`` on every rank."""
        r = _rank_arg(root)
        if self.rank == root:
            data = _encode(obj)
            if b"\n" not in data and len(data) < SHM_MIN_BYTES:
                self._ch.request(b"@mpi bcast" + self._sfx + b" " + r + b" " + data)
            else:
                self._ch.shared_bytes(b"bcastb" + self._sfx, r + b" " + str(len(data)).encode(),
                                      data)
            return obj
        return _decode(self._ch.shared_bytes(b"bcastb" + self._sfx, r))

    def bcast_bytes(self, data: Optional[bytes] = None, root: int = 0) -> bytes:
        """Broadcasts raw bytes from the root."""
        r = _rank_arg(root)
        if self.rank == root:
            data = memoryview(data or b"").cast("B")
            return self._ch.shared_bytes(b"bcastb" + self._sfx, r + b" " + str(data.nbytes).encode(),
                                         data)
        return self._ch.shared_bytes(b"bcastb" + self._sfx, r)

    def _reduce(self, verb: bytes, x: Any, op: Union[Op, str], root: Optional[int],
                dtype: Optional[str]) -> Any:
        o = _op(op)
        nums = _Numbers(x, dtype, o)
        loc = o in (MINLOC, MAXLOC)
        if loc and nums.scalar and isinstance(x, tuple):
            raise TypeError("stdmpi: give MINLOC/MAXLOC the value alone; the rank is added")
        args = b" " + o.name.encode()
        if root is not None:
            args += b" " + _rank_arg(root)
        result = nums.exchange(verb, args, self._ch, self._sfx)
        if result is None:
            return None
        return nums.result(result, loc)

    def reduce(self, x: Any, op: Union[Op, str] = SUM, root: int = 0,
               dtype: Optional[str] = None) -> Any:
        """Element-wise reduction; the result on ``root``, None elsewhere."""
        return self._reduce(b"reduce", x, op, root, dtype)

    def allreduce(self, x: Any, op: Union[Op, str] = SUM, dtype: Optional[str] = None) -> Any:
        """Element-wise reduction; the result on every rank.

        MINLOC/MAXLOC return ``(value, rank)`` (a list of them for a list).
        """
        return self._reduce(b"allreduce", x, op, None, dtype)

    def scan(self, x: Any, op: Union[Op, str] = SUM, dtype: Optional[str] = None) -> Any:
        """Inclusive prefix reduction over ranks 0..rank."""
        return self._reduce(b"scan", x, op, None, dtype)

    def exscan(self, x: Any, op: Union[Op, str] = SUM, dtype: Optional[str] = None) -> Any:
        """Exclusive prefix reduction over ranks 0..rank-1; None on rank 0."""
        return self._reduce(b"exscan", x, op, None, dtype)

    # buffers (mpi4py's upper-case forms): array('d'), array('q'), NumPy arrays

    def _reduce_buffer(self, verb: bytes, sendbuf: Any, recvbuf: Any, op: Union[Op, str],
                       root: Optional[int]) -> None:
        o = _op(op)
        if o in (MINLOC, MAXLOC):
            raise ValueError("stdmpi: MINLOC/MAXLOC take numbers, not buffers: use allreduce")
        data, dtype = _buffer(sendbuf, "sendbuf")
        if o in (BAND, BOR, BXOR) and dtype != "i64":
            raise TypeError(f"stdmpi: {o.name.upper()} works on integers: give int64 buffers")
        args = b" " + o.name.encode() + (b" " + _rank_arg(root) if root is not None else b"")
        if sys.byteorder == "big":
            data = _le_bytes(array("q" if dtype == "i64" else "d", data.tobytes()))
        verb += (b":i64" if dtype == "i64" else b"") + self._sfx
        if self._ch.region(data.nbytes) is not None:
            out = None
            if recvbuf is not None and sys.byteorder == "little":
                o, o_dtype = _buffer(recvbuf, "recvbuf")
                if o_dtype == dtype and not o.readonly:
                    out = o
            reply, result = _shm_reduce(self._ch, b"@mpi " + verb, args, data, out)
            if result is not None:
                _store_result(result, recvbuf, dtype)
            return
        head = _bin_header(data.nbytes)
        reply = self._ch.request(b"@mpi " + verb + b":msgpack" + args + b" " +
                                 str(len(head) + data.nbytes).encode(), head, data)
        if reply == "ok":
            return
        out, out_dtype = _buffer(recvbuf, "recvbuf")
        if out.readonly:
            self._ch.read_bin(int(reply))
            raise TypeError("stdmpi: recvbuf must be writable (array('d'), a NumPy array), "
                            "not read-only")
        if out_dtype != dtype:
            self._ch.read_bin(int(reply))
            raise ValueError(f"stdmpi: recvbuf must hold {dtype} numbers as sendbuf does, "
                             f"not {out_dtype}")
        # The result lands in recvbuf straight from the pipe.
        self._ch.read_bin(int(reply), out)
        if sys.byteorder == "big":
            out[:] = _le_bytes(_from_le("q" if dtype == "i64" else "d", out))

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Union[Op, str] = SUM) -> None:
        """Element-wise reduction of a buffer into ``recvbuf``, on every rank.

        The buffers hold 8-byte numbers: ``array('d')``/``array('q')`` or NumPy
        float64/int64 arrays, as with mpi4py. They travel as raw bytes.
        """
        self._reduce_buffer(b"allreduce", sendbuf, recvbuf, op, None)

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Union[Op, str] = SUM, root: int = 0) -> None:
        """Element-wise reduction of a buffer into the root's ``recvbuf``
        (other ranks may pass None)."""
        self._reduce_buffer(b"reduce", sendbuf, recvbuf, op, root)

    def _gather(self, x: Any, root: Optional[int], dtype: Optional[str]) -> Optional[list]:
        nums = _Numbers(x, dtype, None)
        # First every rank's shape: 4*count + 2 for a bare number + 1 if all
        # integers, so each entry comes back as its rank gave it. A rank with
        # an empty list sends one placeholder number (the protocol needs one).
        n = len(nums.values)
        code = 4 * n + (2 if nums.scalar else 0) + (1 if n and nums.ints is True else 0)
        verb = b"gather" if root is not None else b"allgather"
        rootarg = b" " + _rank_arg(root) if root is not None else b""
        codes = self._ch.request(b"@mpi " + verb + b":i64" + self._sfx + rootarg + b" " + str(code).encode())
        values = nums.values if n else array(nums.values.typecode, [0])
        result = _exchange(verb, nums.dtype, rootarg, values, chan=self._ch, comm=self._sfx)
        if result is None:
            return None
        out: List[Any] = []
        i = 0
        for c in (int(t) for t in codes.split()):
            count, scalar, ints = c // 4, c & 2, c & 1
            entry = result[i:i + count].tolist()
            if ints and nums.dtype == "f64":
                entry = [int(v) if v.is_integer() and abs(v) <= _EXACT_INT else v for v in entry]
            i += max(count, 1)
            out.append(entry[0] if scalar else entry)
        return out

    def gather(self, x: Any, root: int = 0, dtype: Optional[str] = None) -> Optional[list]:
        """Root gets a list with every rank's number (or list of numbers), as
        numbers that ranks in any language can gather; any other object
        travels whole (as gather_objects: every rank must give an object
        then)."""
        if dtype is None and not _numeric(x):
            return self.gather_objects(x, root)
        return self._gather(x, root, dtype)

    def allgather(self, x: Any, dtype: Optional[str] = None) -> list:
        """Every rank gets a list with every rank's number (or list of
        numbers; other objects as allgather_objects)."""
        if dtype is None and not _numeric(x):
            return self.allgather_objects(x)
        result = self._gather(x, None, dtype)
        assert result is not None
        return result

    def scatter(self, x: Optional[Sequence[Any]] = None, root: int = 0,
                dtype: Optional[str] = None) -> Any:
        """Root gives one item per rank (numbers, or equal-length lists of
        numbers; any other items travel whole, as scatter_objects). The other
        ranks learn which it is from the root."""
        r = _rank_arg(root)
        if self.rank == root and x is not None and len(x) == self.size and dtype is None and \
                not all(_numeric(it) for it in x):
            self._ch.request(b"@mpi bcast" + self._sfx + b" " + r + b" objects")
            return self.scatter_objects(x, root)
        if self.rank == root:
            if x is None or len(x) != self.size:
                raise ValueError(f"stdmpi: scatter needs one item per rank ({self.size}) on the root")
            as_lists = isinstance(x[0], (list, tuple))
            parts = [list(it) if isinstance(it, (list, tuple)) else [it] for it in x]
            if any(len(p) != len(parts[0]) for p in parts):
                raise ValueError("stdmpi: scatter items must all have the same length")
            nums = _Numbers([v for p in parts for v in p], dtype, None)
            ints = bool(nums.values) and nums.ints is True
            shape = (f"{'list' if as_lists else 'one'} {nums.dtype} {'int' if ints else 'any'} "
                     f"{len(nums.values) // self.size}")
            # The other ranks learn the item shape and number type first.
            self._ch.request(b"@mpi bcast" + self._sfx + b" " + r + b" " + shape.encode())
            result = _exchange(b"scatter", nums.dtype, b" " + r, nums.values, chan=self._ch,
                               comm=self._sfx)
        else:
            shape = self._ch.request(b"@mpi bcast" + self._sfx + b" " + r)
            if shape == "objects":
                return self.scatter_objects(None, root)
            # This rank's form: msgpack when its part is big (its value is empty).
            dt, k = shape.split()[1], int(shape.split()[3])
            result = _exchange(b"scatter", dt, b" " + r, array("q" if dt == "i64" else "d"),
                               force_msgpack=k >= MSGPACK_MIN_NUMBERS, nothing=True,
                               chan=self._ch, comm=self._sfx)
        kind, _, ints, _ = shape.split()
        assert result is not None
        vals = result.tolist()
        if ints == "int" and result.typecode == "d":
            vals = [int(v) if v.is_integer() and abs(v) <= _EXACT_INT else v for v in vals]
        return vals if kind == "list" else vals[0]

    def Abort(self, errorcode: int = 1, message: str = "") -> None:
        """Ends the whole job with exit status ``errorcode``."""
        line = b"@mpi abort " + str(int(errorcode)).encode()
        if message:
            line += b" " + message.replace("\n", " ").encode("utf-8", "replace")
        if not _chan._started:
            _chan._started = True
        _chan._write(line + b"\n")
        # The shim ends the job; wait for it rather than run on.
        try:
            while os.read(0, 65536):
                pass
        finally:
            os._exit(errorcode)

    def __repr__(self) -> str:
        return f"<stdmpi.Comm rank={self.rank} size={self.size}>"


def Wtime() -> float:
    """Seconds since an arbitrary moment (MPI_Wtime)."""
    return float(_chan.request(b"@mpi wtime"))


COMM_WORLD = Comm()
# This program's ranks in an MPMD job (stdmpirun -n 1 A : -n 8 B); the world
# in a job of one program.
COMM_PROGRAM = Comm(1)


# --- task farms: items for keep-alive workers ------------------------------------
#
# In a job started with ``stdmpirun --tasks FILE python3 worker.py`` each rank
# runs the script once, and the script works through the file's lines, item by
# item, on whichever rank is free (docs/tasks.md, "Keep-alive workers")::
#
#     import stdmpi
#     for item in stdmpi.tasks():
#         with item:                     # an exception fails this item; the loop goes on
#             regrid(item.text)
#
#     results = stdmpi.task_map(regrid)  # the same in one line: {id: regrid(text)}
#
# Asking for the next item reports the one before as done, or as failed when
# ``with item:`` saw an exception (``@mpi task fail ValueError: ...``) or the
# body called ``item.fail(reason)``. Outside stdmpirun, ``STDMPI_TASKS=FILE
# python3 worker.py`` works through FILE's items in this one process.

class TaskItem:
    """One item of a task farm: ``id`` (its number among the items, from 1, in
    file order), ``text`` (its line) and ``attempt`` (1, then 2, 3 ... for the
    runs ``--retries`` adds).

    ``with item:`` makes an exception in its block the item's failure: it is
    reported as ``ExceptionName: message`` (its traceback goes to stderr) and
    the block's exception is swallowed, so the loop goes on with the next item.
    ``KeyboardInterrupt`` and ``SystemExit`` pass: the worker then ends holding
    the item, which fails that attempt (the shim starts the worker again).
    """

    __slots__ = ("id", "text", "_attempt", "_reason", "_held")

    def __init__(self, item_id: int, text: str) -> None:
        self.id = item_id
        self.text = text
        self._attempt: Optional[int] = None
        self._reason: Optional[str] = None
        self._held = True

    @property
    def attempt(self) -> int:
        """Which attempt this is (asked of the shim the first time: ``@mpi taskinfo``)."""
        if self._attempt is None:
            if not self._held:
                raise StdmpiError(f"item {self.id} is no longer held: its attempt is known only "
                                  "until the next item is asked for")
            self._attempt = int(_chan.request(b"@mpi taskinfo").split()[1])
        return self._attempt

    @property
    def failed(self) -> Optional[str]:
        """The reason this item will be reported failed with, or None."""
        return self._reason

    def fail(self, reason: Any = "failed") -> None:
        """Reports this item as failed (with the next request for an item).
        ``reason`` is free text for the summary; ``"exit N"`` and ``"signal N"``
        also fill the joblog's Exitval and Signal columns, and so does a bare
        number N: ``item.fail(proc.returncode)`` (negative: a signal, as
        ``subprocess`` gives it)."""
        if not self._held:
            raise StdmpiError(f"item {self.id} was already reported (the next item was asked for): "
                              "fail() it before the loop goes on")
        self._reason = _task_reason(reason)

    def __enter__(self) -> "TaskItem":
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is None or not issubclass(kind, Exception):
            return False
        import traceback
        why = _task_reason(f"{kind.__name__}: {value}" if str(value) else kind.__name__)
        try:
            sys.stdout.flush()
        except (AttributeError, ValueError, OSError):
            pass
        sys.stderr.write(f"stdmpi: item {self.id} failed: {why}\n")
        traceback.print_exception(kind, value, tb, file=sys.stderr)
        sys.stderr.flush()
        if self._held:
            self._reason = why
        return True

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"TaskItem(id={self.id}, text={self.text!r})"


def _task_reason(reason: Any) -> str:
    """A failure reason as one line of the request: an int N is "exit N" (a
    negative one "signal -N"); newlines become spaces; long ones are cut."""
    if isinstance(reason, int) and not isinstance(reason, bool):
        reason = f"signal {-reason}" if reason < 0 else f"exit {reason}"
    text = " ".join(str(reason).split()) or "failed"
    return text if len(text) <= 500 else text[:497] + "..."


# The item this worker holds (None: none); its report goes with the next request.
_task_held: Optional[TaskItem] = None


def task() -> Optional[TaskItem]:
    """The next item, after reporting the one held (done, or failed if it was
    ``fail()``-ed); None when no item is left for this worker (``end``)."""
    global _task_held
    held, _task_held = _task_held, None
    line = b"@mpi task"
    if held is not None:
        held._held = False
        if held._reason is not None:
            line += b" fail " + held._reason.encode("utf-8", "surrogateescape")
    reply = _chan.request(line)
    if reply == "end":
        return None
    item_id, _, text = reply.partition(" ")
    _task_held = TaskItem(int(item_id), text)
    return _task_held


def tasks():
    """Iterates over this worker's items (TaskItem), asking for each in turn::

        for item in stdmpi.tasks():
            with item:
                process(item.text)

    Without ``with item:`` an exception ends the loop and the script: the
    worker exits holding the item, that attempt fails (the joblog shows its
    exit status), and the shim starts the worker again for the items left.
    Leave the loop only at its end: a ``break`` leaves the item held."""
    while True:
        item = task()
        if item is None:
            return
        yield item


def task_map(function, *args: Any, **kwargs: Any) -> dict:
    """Calls ``function(text, *args, **kwargs)`` for each of this worker's items
    (the loop above, with ``with item:``): an exception fails the item and the
    next one follows. Returns ``{id: result}`` of the items that succeeded here."""
    results = {}
    for item in tasks():
        with item:
            results[item.id] = function(item.text, *args, **kwargs)
    return results


__all__ += ["TaskItem", "task", "tasks", "task_map"]
