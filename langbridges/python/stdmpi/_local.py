"""A world of one rank, answered inside the process: what the bridge talks to
when the script runs outside stdmpirun (``python3 x.py``, Jupyter, an IDE).

It answers the stdmpi line protocol (docs/protocol.md) as a one-rank job's
shim would, as an MPI singleton does: rank 0 of 1, collectives give a rank's
own contribution back, a message sent to rank 0 waits in a queue for its
receive, and a receive that nothing can ever satisfy fails at once with the
shim's reason instead of waiting forever. Every function of the bridge works
unchanged on top of it, because it speaks the same bytes.
"""

from __future__ import annotations

import os
import struct
import time
from typing import Dict, List, Optional, Tuple

_T0 = time.monotonic()


class _Fail(Exception):
    """A request that fails: its reply is ``@error REASON``."""


def _f64_text(v: float) -> str:
    """The shim's shortest form: 3 for 3.0, -0 for -0.0."""
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def _number_text(v, i64: bool) -> str:
    return str(int(v)) if i64 else _f64_text(v)


def _msgpack_numbers(data: bytes, i64: bool) -> Tuple[List[float], str]:
    """The numbers of a msgpack array or bin value, and its form."""
    if not data:
        raise _Fail("empty msgpack value")
    first = data[0]
    if first in (0xC4, 0xC5, 0xC6):
        head = {0xC4: 1, 0xC5: 2, 0xC6: 4}[first]
        body = data[1 + head:]
        code = "<q" if i64 else "<d"
        return [v for (v,) in struct.iter_unpack(code, body)], "bin"
    if 0x90 <= first <= 0x9F:
        n, pos = first & 0x0F, 1
    elif first == 0xDC:
        n, pos = struct.unpack(">H", data[1:3])[0], 3
    elif first == 0xDD:
        n, pos = struct.unpack(">I", data[1:5])[0], 5
    else:
        raise _Fail("the msgpack value is neither an array nor a bin of numbers")
    out: List[float] = []
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i",
             0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
    for _ in range(n):
        b = data[pos]
        if b <= 0x7F or b >= 0xE0:
            out.append(b if b <= 0x7F else b - 256)
            pos += 1
        elif b in fixed:
            size = struct.calcsize(fixed[b])
            out.append(struct.unpack(fixed[b], data[pos + 1:pos + 1 + size])[0])
            pos += 1 + size
        else:
            raise _Fail(f"element {len(out)} of the msgpack array is not a number")
    return out, "array"


def _msgpack_reply(values: List[float], i64: bool, form: str) -> bytes:
    if form == "bin":
        body = struct.pack(("<%dq" if i64 else "<%dd") % len(values), *values)
        n = len(body)
        head = (b"\xc4" + bytes([n]) if n < 0x100 else
                b"\xc5" + struct.pack(">H", n) if n < 0x10000 else b"\xc6" + struct.pack(">I", n))
        value = head + body
    else:
        n = len(values)
        head = (bytes([0x90 | n]) if n < 16 else
                b"\xdc" + struct.pack(">H", n) if n < 0x10000 else b"\xdd" + struct.pack(">I", n))
        value = head + b"".join((b"\xd3" + struct.pack(">q", int(v))) if i64 else
                                (b"\xcb" + struct.pack(">d", float(v))) for v in values)
    return str(len(value)).encode() + b"\n" + value


class LocalWorld:
    """Answers requests: ``feed(data)`` takes what the program wrote (request
    lines and the raw bytes they announce) and returns the replies."""

    def __init__(self) -> None:
        self.pending = b""
        # Messages sent to this rank itself: (communicator, tag, bytes), in order.
        self.queue: List[Tuple[int, int, bytes]] = []
        self.status: Optional[Tuple[int, int, int]] = None
        self.requests: Dict[int, Tuple[str, int, int, int, bytes]] = {}
        self.next_id = 1
        self.comms = {0, 1}
        self.next_comm = 2

    def feed(self, data: bytes) -> bytes:
        self.pending += data
        out = b""
        while True:
            nl = self.pending.find(b"\n")
            if nl < 0:
                return out
            line = self.pending[:nl].rstrip(b"\r").decode("utf-8", "surrogateescape")
            need = self._payload_size(line)
            if len(self.pending) < nl + 1 + need:
                return out
            payload = self.pending[nl + 1:nl + 1 + need]
            self.pending = self.pending[nl + 1 + need:]
            if not line.startswith("@mpi ") and line != "@mpi":
                continue  # ordinary output never comes here; ignore it
            try:
                out += self._answer(line, payload)
            except _Fail as e:
                out += b"@error " + str(e).encode("utf-8", "surrogateescape") + b"\n"
            except (ValueError, IndexError, KeyError, struct.error) as e:
                out += f"@error malformed request {line[:80]!r} ({e})\n".encode()

    @staticmethod
    def _payload_size(line: str) -> int:
        """How many raw bytes follow a request line."""
        f = line.split(" ")
        if len(f) < 2:
            return 0
        verb = f[1].split(":")[0]
        msgpack = ":msgpack" in f[1]
        try:
            if msgpack or verb in ("gatherb", "allgatherb", "sendrecvb", "sendb", "isendb"):
                return int(f[-1])
            if verb in ("alltoallb",):
                return sum(int(x) for x in f[2:] if x)
            if verb == "scatterb":
                return sum(int(x) for x in f[3:] if x)
            if verb == "bcastb" and len(f) > 3:
                return int(f[3])
        except ValueError:
            return 0
        return 0

    # --- the verbs ------------------------------------------------------------

    def _answer(self, line: str, payload: bytes) -> bytes:
        f = line.split(" ")
        word = f[1] if len(f) > 1 else ""
        verb, *suffixes = word.split(":")
        i64 = "i64" in suffixes
        msgpack = "msgpack" in suffixes
        comm = 0
        for s in suffixes:
            if len(s) > 1 and s[0] == "c" and s[1:].isdigit():
                comm = int(s[1:])
                if comm not in self.comms:
                    raise _Fail(f"communicator {comm} does not exist on this rank "
                                "(split and dup make them, free ends them)")
        args = f[2:]
        text = line.split(" ", 1 + self._fixed_args(verb))[-1] if self._fixed_args(verb) < len(f) - 1 else ""
        handler = getattr(self, "_v_" + verb, None)
        if handler is not None:
            return handler(args=args, text=text, payload=payload, comm=comm)
        if verb in ("reduce", "allreduce", "scan", "exscan", "gather", "allgather", "scatter"):
            return self._numbers(verb, args, payload, i64, msgpack)
        raise _Fail(f"unknown verb {verb!r}")

    @staticmethod
    def _fixed_args(verb: str) -> int:
        """Arguments before TEXT (for the verbs that have one)."""
        return {"send": 3, "isend": 3, "sendrecv": 5, "bcast": 2, "abort": 2}.get(verb, 99)

    def _check_rank(self, r: str, any_ok: bool = True) -> None:
        if r == "any" and any_ok:
            return
        if r != "0":
            raise _Fail(f"rank {r} out of range: the only rank is 0 (outside stdmpirun the job "
                        "is this one rank; start it with stdmpirun -n N for more)")

    def _v_rank(self, **_):
        return b"0\n"

    def _v_size(self, **_):
        return b"1\n"

    def _v_wtime(self, **_):
        return _f64_text(time.monotonic() - _T0 + 1e-6).encode() + b"\n"

    def _v_barrier(self, **_):
        return b"ok\n"

    def _v_errors(self, **_):
        return b"ok\n"

    def _v_abort(self, args, **_):
        os._exit(int(args[0]))

    def _v_status(self, **_):
        if self.status is None:
            raise _Fail("no receive has completed on this rank yet")
        return ("%d %d %d\n" % self.status).encode()

    def _send(self, comm: int, dest: str, tag: str, data: bytes) -> None:
        self._check_rank(dest, any_ok=False)
        self.queue.append((comm, int(tag), data))

    def _v_send(self, args, text, comm, **_):
        self._send(comm, args[0], args[1], text.encode("utf-8", "surrogateescape"))
        return b"ok\n"

    def _v_sendb(self, args, payload, comm, **_):
        self._send(comm, args[0], args[1], payload)
        return b"ok\n"

    def _match(self, comm: int, src: str, tag: str, verb: str, take: bool) -> Tuple[int, bytes]:
        self._check_rank(src)
        for i, (c, t, data) in enumerate(self.queue):
            if c == comm and (tag == "any" or t == int(tag)):
                if take:
                    del self.queue[i]
                return t, data
        tag_name = "any tag" if tag == "any" else f"tag {tag}"
        raise _Fail(f"{verb} from {'any rank' if src == 'any' else 'rank 0'} {tag_name} can never "
                    f"complete: this rank sent itself no message with {tag_name}, and no other "
                    "rank can send one in its place (outside stdmpirun the job is this one rank)")

    def _recv(self, comm, args, text_reply: bool, verb: str) -> bytes:
        tag, data = self._match(comm, args[0], args[1], verb, take=False)
        if text_reply and b"\n" in data:
            self.status = (0, tag, len(data))
            raise _Fail(f"the message from rank 0 tag {tag} ({len(data)} bytes) contains a "
                        "newline, which a text reply cannot carry; it stays first in line: "
                        "receive it with recvb")
        self._match(comm, args[0], args[1], verb, take=True)
        self.status = (0, tag, len(data))
        return data + b"\n" if text_reply else str(len(data)).encode() + b"\n" + data

    def _v_recv(self, args, comm, **_):
        return self._recv(comm, args, True, "recv")

    def _v_recvb(self, args, comm, **_):
        return self._recv(comm, args, False, "recvb")

    def _v_probe(self, args, comm, **_):
        tag, data = self._match(comm, args[0], args[1], "probe", take=False)
        return f"0 {tag} {len(data)}\n".encode()

    def _v_iprobe(self, args, comm, **_):
        try:
            return self._v_probe(args=args, comm=comm)
        except _Fail:
            return b"none\n"

    def _v_sendrecv(self, args, text, comm, **_):
        self._send(comm, args[0], args[1], text.encode("utf-8", "surrogateescape"))
        return self._recv(comm, args[2:4], True, "sendrecv: recv")

    def _v_sendrecvb(self, args, payload, comm, **_):
        self._send(comm, args[0], args[1], payload)
        return self._recv(comm, args[2:4], False, "sendrecvb: recvb")

    def _v_bcast(self, args, text, **_):
        self._check_rank(args[0], any_ok=False)
        return text.encode("utf-8", "surrogateescape") + b"\n"

    def _v_bcastb(self, args, payload, **_):
        self._check_rank(args[0], any_ok=False)
        return str(len(payload)).encode() + b"\n" + payload

    def _v_gatherb(self, args, payload, **_):
        self._check_rank(args[0], any_ok=False)
        return str(len(payload)).encode() + b"\n" + payload

    def _v_allgatherb(self, payload, **_):
        return str(len(payload)).encode() + b"\n" + payload

    _v_alltoallb = _v_allgatherb

    def _v_scatterb(self, args, payload, **_):
        self._check_rank(args[0], any_ok=False)
        return str(len(payload)).encode() + b"\n" + payload

    def _v_split(self, args, **_):
        if args[0] == "none":
            return b"none\n"
        return self._v_dup()

    def _v_dup(self, **_):
        self.comms.add(self.next_comm)
        self.next_comm += 1
        return f"{self.next_comm - 1} 0 1\n".encode()

    def _v_free(self, args, **_):
        c = int(args[0])
        if c < 2 or c not in self.comms:
            raise _Fail(f"communicator {c} cannot be freed" if c < 2 else
                        f"communicator {c} does not exist on this rank")
        self.comms.discard(c)
        return b"ok\n"

    # non-blocking: sends to rank 0 are queued at once; receives match at their wait

    def _post(self, kind: str, comm: int, args, data: bytes = b"") -> bytes:
        if kind == "send":
            self._send(comm, args[0], args[1], data)
        else:
            self._check_rank(args[0])
        rid = self.next_id
        self.next_id += 1
        self.requests[rid] = (kind, comm, args[0], args[1], b"")
        return f"{rid}\n".encode()

    def _v_isend(self, args, text, comm, **_):
        return self._post("send", comm, args, text.encode("utf-8", "surrogateescape"))

    def _v_isendb(self, args, payload, comm, **_):
        return self._post("send", comm, args, payload)

    def _v_irecv(self, args, comm, **_):
        return self._post("recv", comm, args)

    def _v_irecvb(self, args, comm, **_):
        return self._post("recvb", comm, args)

    def _request(self, rid: str):
        r = self.requests.get(int(rid))
        if r is None:
            raise _Fail(f"request {rid} is not pending on this rank (ids come from isend, isendb, "
                        "irecv and irecvb; wait frees its id)")
        return r

    def _done(self, rid: str) -> bool:
        kind, comm, src, tag, _ = self._request(rid)
        if kind == "send":
            return True
        try:
            self._match(comm, src, tag, "irecv", take=False)
            return True
        except _Fail:
            return False

    def _v_wait(self, args, **_):
        kind, comm, src, tag, _ = self._request(args[0])
        del self.requests[int(args[0])]
        if kind == "send":
            return b"ok\n"
        try:
            return self._recv(comm, [src, tag], kind == "recv", "i" + kind)
        except _Fail as e:
            raise _Fail(f"request {args[0]}: {e}") from None

    def _v_test(self, args, **_):
        return b"1\n" if self._done(args[0]) else b"0\n"

    def _v_waitany(self, args, **_):
        for rid in args:
            if self._done(rid):
                return f"{int(rid)}\n".encode()
        return self._v_wait(args=args[:1])  # fails with the reason

    def _v_waitall(self, args, **_):
        for rid in args:
            if not self._done(rid):
                return self._v_wait(args=[rid])
        return b"ok\n"

    # numbers

    def _numbers(self, verb: str, args, payload: bytes, i64: bool, msgpack: bool) -> bytes:
        op = args[0] if verb in ("reduce", "allreduce", "scan", "exscan") else None
        rest = args[1:] if op else args
        if verb in ("reduce", "gather", "scatter"):
            self._check_rank(rest[0], any_ok=False)
            rest = rest[1:]
        if msgpack:
            values, form = _msgpack_numbers(payload, i64)
        else:
            values = [int(x) if i64 else float(x) for x in rest if x]
            form = "text"
        if verb == "exscan":
            return b"ok\n"
        if op in ("land", "lor", "lxor"):
            values = [1 if v != 0 else 0 for v in values]
        if op in ("minloc", "maxloc"):
            values = [x for v in values for x in (v, 0)]
        if form == "text":
            return " ".join(_number_text(v, i64) for v in values).encode() + b"\n"
        return _msgpack_reply(values, i64, form)

    # task farms: outside stdmpirun, STDMPI_TASKS=FILE gives FILE's items here

    def _task_items(self) -> List[Tuple[int, str]]:
        items = getattr(self, "_items", None)
        if items is not None:
            return items
        path = os.environ.get("STDMPI_TASKS")
        if not path:
            raise _Fail("@mpi task is for task farms: start the job with stdmpirun --tasks FILE "
                        "COMMAND (outside stdmpirun, STDMPI_TASKS=FILE works through FILE's "
                        "items in this process)")
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.read().split("\n")
        except OSError as e:
            raise _Fail(f"STDMPI_TASKS={path}: cannot read the items: {e.strerror}") from None
        # As stdmpirun numbers them: every line but empty ones and # lines
        # (comments, #BARRIER, #TASK), from 1, in file order.
        items = []
        for line in lines:
            line = line[:-1] if line.endswith("\r") else line
            if line.strip() and not line.strip().startswith("#"):
                items.append((len(items) + 1, line))
        self._items = items
        self._next_item = 0
        self._held_item: Optional[Tuple[int, str]] = None
        self._failed_items: List[Tuple[int, str, str]] = []
        return items

    def _v_task(self, args, **_):
        items = self._task_items()
        if args and args[0] and args[0] != "fail":
            raise _Fail(f"unexpected argument {args[0]!r} (usage: @mpi task, or @mpi task fail "
                        "REASON)")
        if self._held_item is not None:
            if args and args[0] == "fail":
                reason = " ".join(a for a in args[1:] if a) or "fail"
                self._failed_items.append((*self._held_item, reason))
            self._held_item = None
        if self._next_item >= len(items):
            if not getattr(self, "_summary_printed", False):
                self._summary_printed = True
                bad = self._failed_items
                import sys
                sys.stdout.flush()
                sys.stderr.write(f"stdmpi: tasks: {len(items)} item(s) in this process "
                                 f"(STDMPI_TASKS): {len(items) - len(bad)} succeeded, "
                                 f"{len(bad)} failed\n" +
                                 "".join(f"stdmpi: failed: item {i} ({why}): {text}\n"
                                         for i, text, why in bad))
                sys.stderr.flush()
            return b"end\n"
        self._held_item = items[self._next_item]
        self._next_item += 1
        return f"{self._held_item[0]} {self._held_item[1]}\n".encode("utf-8", "surrogateescape")

    def _v_taskinfo(self, **_):
        self._task_items()
        if self._held_item is None:
            raise _Fail("no item is held: ask for one with @mpi task")
        return f"{self._held_item[0]} 1\n".encode()
