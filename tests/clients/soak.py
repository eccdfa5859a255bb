#!/usr/bin/env python3
"""soak.py: many messages of random sizes between the ranks of a stdmpi job,
each checked on arrival. Speaks the raw protocol (no bridge), so what is tested
is the shim alone.

    stdmpirun -n 4 python3 soak.py MESSAGES [SEED]

All ranks draw the same schedule from SEED: in each step the ranks pair up at
random, and in each pair one sends 1..3 messages (tags 0..3, sizes 0..1 MiB,
bytes that include NUL and LF) which the other receives in a random way:
`recvb SRC TAG`, `recvb SRC any` or `recvb any any`; a barrier ends the step. Every message carries
its source, destination, tag, a sequence number per (source, destination,
tag) and a SHA-256 of its body. The receiver checks all of it, and the status
of the receive, so a message lost, duplicated, reordered within (source, tag),
cut short or changed fails the job. At the end the ranks compare counts with
an allreduce, and rank 0 prints one line:

    soak ok: 4 ranks, 1000 messages, 123456789 bytes
"""
import hashlib
import os
import random
import struct
import sys

out = sys.stdout.buffer
inp = sys.stdin.buffer


def request(line: str) -> bytes:
    out.write(line.encode() + b"\n")
    out.flush()
    reply = inp.readline()
    if not reply.endswith(b"\n"):
        sys.exit(f"soak: stdin closed after {line!r}")
    return reply[:-1]


def fail(msg: str):
    sys.stderr.write(f"soak: rank {rank}: {msg}\n")
    sys.stderr.flush()
    request(f"@mpi abort 3 soak check failed")


def sendb(dest: int, tag: int, data: bytes):
    out.write(f"@mpi sendb {dest} {tag} {len(data)}\n".encode())
    out.write(data)
    out.flush()
    r = inp.readline()
    if r != b"ok\n":
        fail(f"sendb to {dest} tag {tag}: reply {r!r}")


def recvb(src: str, tag: str) -> bytes:
    out.write(f"@mpi recvb {src} {tag}\n".encode())
    out.flush()
    head = inp.readline()
    n = int(head)
    data = inp.read(n)
    if len(data) != n:
        fail(f"recvb: {len(data)} of {n} bytes")
    return data


def size_of(rng: random.Random) -> int:
    k = rng.random()
    if k < 0.1:
        return 0
    if k < 0.5:
        return rng.randint(1, 100)
    if k < 0.8:
        return rng.randint(101, 65536)
    return rng.randint(65537, 1 << 20)


HEAD = struct.Struct("<32sIIIQ")  # sha256(body), src, dst, tag, seq

rank = int(request("@mpi rank"))
size = int(request("@mpi size"))
total = int(sys.argv[1])
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rng = random.Random(seed)  # the schedule: the same on every rank
sent_seq = {}  # (dst, tag) -> next seq
want_seq = {}  # (src, tag) -> next seq
sent = received = nbytes = 0
n = 0
while n < total:
    order = list(range(size))
    rng.shuffle(order)
    for i in range(0, size - 1, 2):
        a, b = order[i], order[i + 1]
        if rng.random() < 0.5:
            a, b = b, a
        k = min(rng.randint(1, 3), total - n)
        if k <= 0:
            break
        n += k
        msgs = [(rng.randrange(4), size_of(rng)) for _ in range(k)]
        modes = [rng.randrange(3) for _ in range(k)]
        if rank == a:
            for tag, sz in msgs:
                body = os.urandom(sz)
                if sz >= 2:
                    body = b"\0\n" + body[2:]
                seq = sent_seq.get((b, tag), 0)
                sent_seq[(b, tag)] = seq + 1
                sendb(b, tag, HEAD.pack(hashlib.sha256(body).digest(), a, b, tag, seq) + body)
                sent += 1
        elif rank == b:
            for (tag, sz), mode in zip(msgs, modes):
                spec = [(str(a), str(tag)), (str(a), "any"), ("any", "any")][mode]
                data = recvb(*spec)
                st = request("@mpi status").split()
                if len(data) < HEAD.size:
                    fail(f"message of {len(data)} bytes, shorter than its header")
                digest, src, dst, mtag, seq = HEAD.unpack_from(data)
                body = data[HEAD.size:]
                if (src, dst, mtag, len(body)) != (a, b, tag, sz):
                    fail(f"got src {src} dst {dst} tag {mtag} size {len(body)}, "
                         f"expected src {a} dst {b} tag {tag} size {sz} ({spec})")
                if [int(x) for x in st] != [a, tag, len(data)]:
                    fail(f"status {st} does not match src {a} tag {tag} bytes {len(data)}")
                if hashlib.sha256(body).digest() != digest:
                    fail(f"message {seq} from {a} tag {tag}: the body changed")
                if seq != want_seq.get((a, tag), 0):
                    fail(f"from {a} tag {tag}: sequence {seq}, expected "
                         f"{want_seq.get((a, tag), 0)} (lost, duplicated or reordered)")
                want_seq[(a, tag)] = seq + 1
                received += 1
                nbytes += len(data)
    # No rank starts the next step before this one is received: a message of
    # the next step could otherwise match a receive from `any` of this one.
    if request("@mpi barrier") != b"ok":
        fail("barrier")
totals = request(f"@mpi allreduce:i64 sum {sent} {received} {nbytes}").split()
if rank == 0:
    s, r, b = (int(x) for x in totals)
    if s != r or s != total:
        fail(f"{s} sent, {r} received, {total} scheduled")
    print(f"soak ok: {size} ranks, {s} messages, {b} bytes")
