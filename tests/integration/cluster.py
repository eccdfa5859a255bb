"""Real clusters on one machine, for the integration tests.

SlurmCluster: munged, slurmctld and slurmd (SLURM 22.05 from Debian), started
without systemd in a directory of their own, on free ports, and stopped by pid.
NamespaceHosts: hosts h1..hN as network namespaces with addresses 10.200.0.1N,
joined by a bridge or by LatencyHub (a userspace hub that delays every frame,
since this kernel has no netem), and an rsh agent through which mpirun starts
processes in them. Everything started is undone in stop(), which the tests
call from tearDown/addCleanup so a failing test leaves nothing behind.

All of this needs root (namespaces, daemons); the tests skip only when not
root, and fail when a tool is missing (scripts/setup.sh test installs them).
"""
from __future__ import annotations

import glob
import heapq
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional


class Reaper:
    """Undoes what a test set up even if the test process itself is killed
    (a CTest TIMEOUT): a helper in a session of its own holds a pipe from the
    test; commands added with add() run, newest first, when the pipe closes
    without done()."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "reap"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     close_fds=True)

    def add(self, argv: List[str]) -> None:
        self.proc.stdin.write((json.dumps(argv) + "\n").encode())
        self.proc.stdin.flush()

    def done(self) -> None:
        if self.proc.stdin.closed:
            return
        self.proc.stdin.write(b"done\n")
        self.proc.stdin.close()
        self.proc.wait(30)


def _reap() -> None:
    commands = []
    for line in sys.stdin:
        if line.strip() == "done":
            return
        commands.append(json.loads(line))
    for argv in reversed(commands):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)


def _free_ports(n: int) -> List[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _kill(proc: Optional[subprocess.Popen], timeout: float = 5) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _kill_pidfile(path: str) -> None:
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class SlurmCluster:
    """A SLURM cluster: one node, this machine under its own name, or with
    `hosts` (a started NamespaceHosts) one node per namespace host, the
    controller on the first. Commands that talk to the controller run with
    `client` before them (entering the first host's network)."""

    def __init__(self, hosts: Optional["NamespaceHosts"] = None) -> None:
        self.dir = ""
        self.env: Dict[str, str] = {}
        self.procs: List[subprocess.Popen] = []
        self.hosts = hosts
        if hosts:
            self.nodes = list(zip(hosts.names, hosts.addrs))
            self.client = ["nsenter", f"--net=/run/netns/{hosts.names[0]}"]
        else:
            self.nodes = [(socket.gethostname().split(".")[0], "127.0.0.1")]
            self.client = []
        self.reaper: Optional[Reaper] = None

    def start(self, timeout: float = 60) -> "SlurmCluster":
        for tool in ["munged", "slurmctld", "slurmd", "sbatch", "srun", "sinfo"]:
            if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
                raise AssertionError(f"{tool} not found: run scripts/setup.sh test")
        self.dir = tempfile.mkdtemp(prefix="stdmpi-slurm-")
        os.chmod(self.dir, 0o755)
        d = self.dir
        self.reaper = Reaper()
        self.reaper.add(["rm", "-rf", d])
        for sub in ["munge", "state", "spool", "tmpfs", "log"]:
            os.mkdir(os.path.join(d, sub))
        # munged runs as the munge user with its own key, socket and files.
        munge = os.path.join(d, "munge")
        key = os.path.join(munge, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        self.socket = os.path.join(munge, "munge.sock")
        subprocess.run(
            ["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--socket", self.socket,
             "--key-file", key, "--pid-file", os.path.join(munge, "munged.pid"),
             "--log-file", os.path.join(munge, "munged.log"),
             "--seed-file", os.path.join(munge, "munged.seed"), "--force"],
            check=True, timeout=30)
        self.reaper.add(["sh", "-c", 'kill $(cat "$1")', "sh", os.path.join(munge, "munged.pid")])
        ctl_port, node_port = _free_ports(2)
        hw = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30,
                            check=True).stdout.splitlines()[0]
        # "NodeName=vm CPUs=2 ...": every node gets this machine's resources.
        resources = hw.split(" ", 1)[1] if hw.startswith("NodeName=") else hw
        node_lines = "".join(f"NodeName={n} {resources} NodeAddr={a} State=UNKNOWN\n"
                             for n, a in self.nodes)
        ctl_name, ctl_addr = self.nodes[0]
        for n, _ in self.nodes:
            os.makedirs(os.path.join(d, "spool", n))
        conf = os.path.join(d, "slurm.conf")
        with open(conf, "w") as f:
            f.write(f"""ClusterName=stdmpitest
SlurmctldHost={ctl_name}({ctl_addr})
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.socket}
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd-%n.log
TmpFS={d}/tmpfs
SlurmctldPort={ctl_port}
SlurmdPort={node_port}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
{node_lines}PartitionName=debug Nodes=ALL Default=YES State=UP MaxTime=INFINITE
""")
        self.env = {"SLURM_CONF": conf}
        env = dict(os.environ, **self.env)
        daemons = [("slurmctld", ["slurmctld", "-D", "-f", conf])]
        daemons += [(f"slurmd-{n}", ["slurmd", "-D", "-f", conf, "-N", n]) for n, _ in self.nodes]
        for name, argv in daemons:
            if self.hosts:
                # Each node: its host's network, its own hostname, its own
                # TmpFS (PMIx keeps per-step directories there)
                node = self.nodes[0][0] if name == "slurmctld" else name[len("slurmd-"):]
                # and its own /dev/shm, as real nodes have (Open MPI's shared
                # memory files of one node's ranks must not meet another's).
                mount = "" if name == "slurmctld" else (
                    f"mount -t tmpfs tmpfs {d}/tmpfs && mount -t tmpfs -o mode=1777 tmpfs "
                    "/dev/shm && ")
                argv = ["nsenter", f"--net=/run/netns/{node}", "unshare", "--uts", "--mount",
                        "sh", "-c", f"hostname {node} && {mount}exec \"$@\"", "sh", *argv]
            log = open(os.path.join(d, "log", name + ".out"), "wb")
            self.procs.append(subprocess.Popen(argv, env=env, stdout=log,
                                               stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL))
            log.close()
            self.reaper.add(["kill", "-9", str(self.procs[-1].pid)])
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise AssertionError(f"a SLURM daemon exited ({p.args[0]}, status "
                                         f"{p.returncode}):\n{self.logs()}")
            r = subprocess.run([*self.client, "sinfo", "-h", "-o", "%T %D"], capture_output=True,
                               text=True, env=env, timeout=30)
            state = r.stdout.strip()
            if state == f"idle {len(self.nodes)}":
                return self
            time.sleep(0.2)
        raise AssertionError(f"SLURM not idle after {timeout} s (state {state!r}):\n"
                             f"{self.logs()}")

    def cpus(self) -> int:
        """CPUs per node, as SLURM counts them."""
        r = subprocess.run([*self.client, "sinfo", "-h", "-o", "%c"], capture_output=True,
                           text=True, env=dict(os.environ, **self.env), timeout=30, check=True)
        return int(r.stdout.split()[0])

    def logs(self) -> str:
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "log", "*"))):
            with open(path, errors="replace") as f:
                out.append(f"--- {os.path.basename(path)} ---\n" + "".join(f.readlines()[-30:]))
        return "\n".join(out)

    def stop(self) -> None:
        for p in reversed(self.procs):
            _kill(p)
        self.procs = []
        if self.dir:
            _kill_pidfile(os.path.join(self.dir, "munge", "munged.pid"))
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""
        if self.reaper:
            self.reaper.done()
            self.reaper = None


class LatencyHub:
    """Forwards Ethernet frames among interfaces, each after `delay` seconds:
    a hub with a long wire. Frames it sends itself are not read back."""

    def __init__(self, interfaces: List[str], delay: float) -> None:
        self.delay = delay
        self.socks = []
        for ifname in interfaces:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
            s.bind((ifname, 0))
            s.setblocking(False)
            self.socks.append(s)
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        queue: list = []  # (due, seq, out_index, frame)
        seq = 0
        fds = [s.fileno() for s in self.socks] + [self.stop_r]
        while True:
            wait = None
            if queue:
                wait = max(0.0, queue[0][0] - time.monotonic())
            ready, _, _ = select.select(fds, [], [], wait)
            if self.stop_r in ready:
                return
            now = time.monotonic()
            for i, s in enumerate(self.socks):
                if s.fileno() not in ready:
                    continue
                while True:
                    try:
                        frame, addr = s.recvfrom(65536)
                    except BlockingIOError:
                        break
                    if addr[2] == socket.PACKET_OUTGOING:
                        continue
                    for j in range(len(self.socks)):
                        if j != i:
                            heapq.heappush(queue, (now + self.delay, seq, j, frame))
                            seq += 1
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, _, j, frame = heapq.heappop(queue)
                try:
                    self.socks[j].send(frame)
                except OSError:
                    pass

    def stop(self) -> None:
        os.write(self.stop_w, b"x")
        self.thread.join(5)
        for s in self.socks:
            s.close()
        os.close(self.stop_r)
        os.close(self.stop_w)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=30, capture_output=True)


class NamespaceHosts:
    """Hosts h1..hN as network namespaces on one Ethernet segment; with
    `latency` (seconds) every frame between them is delayed by that much."""

    def __init__(self, count: int = 3, latency: float = 0.0, prefix: str = "smh") -> None:
        self.count = count
        self.latency = latency
        # Names unique to this process, so two test runs never collide.
        tag = f"{os.getpid() % 100000}"
        self.names = [f"{prefix}{tag}n{i + 1}" for i in range(count)]
        self.addrs = [f"10.200.0.{11 + i}" for i in range(count)]
        self.bridge = f"{prefix}{tag}br"
        self.created: List[str] = []
        self.links: List[str] = []
        self.hub: Optional[LatencyHub] = None
        self.dir = ""
        self.reaper: Optional[Reaper] = None

    def start(self) -> "NamespaceHosts":
        for tool in ["ip", "nsenter", "unshare"]:
            if shutil.which(tool) is None:
                raise AssertionError(f"{tool} not found: run scripts/setup.sh test")
        if self.latency > 0 and shutil.which("ethtool") is None:
            raise AssertionError("ethtool not found: run scripts/setup.sh test")
        self.dir = tempfile.mkdtemp(prefix="stdmpi-hosts-")
        os.chmod(self.dir, 0o755)
        self.reaper = Reaper()
        self.reaper.add(["rm", "-rf", self.dir])
        if self.latency == 0:
            self.reaper.add(["ip", "link", "del", self.bridge])
            _ip("link", "add", self.bridge, "type", "bridge")
            self.links.append(self.bridge)
            _ip("link", "set", self.bridge, "up")
        outside = []
        for i, (ns, addr) in enumerate(zip(self.names, self.addrs)):
            # Whatever still runs in it first, then the namespace.
            self.reaper.add(["ip", "netns", "del", ns])
            self.reaper.add(["sh", "-c", 'kill -9 $(ip netns pids "$1")', "sh", ns])
            _ip("netns", "add", ns)
            self.created.append(ns)
            veth = f"{self.bridge[:-2]}v{i + 1}"
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            self.links.append(veth)
            outside.append(veth)
            if self.latency == 0:
                _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            _ip("-n", ns, "addr", "add", addr + "/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            if self.latency > 0:
                # Frames leave the namespace complete (the hub copies them as
                # they are; nothing computes checksums or splits segments later).
                subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off",
                                "tso", "off", "gso", "off"], check=True, timeout=30,
                               capture_output=True)
        if self.latency > 0:
            self.hub = LatencyHub(outside, self.latency)
        # /etc/hosts is shared: names go in a hostfile as addresses instead.
        self.agent = os.path.join(self.dir, "ns-rsh")
        with open(self.agent, "w") as f:
            # mpirun calls "AGENT HOST COMMAND...", COMMAND being one shell string.
            cases = "\n".join(f"  {a}|{n}) ns={n} ;;" for n, a in zip(self.names, self.addrs))
            f.write(f"""#!/bin/sh
# rsh for namespace hosts: runs COMMAND inside the namespace named by HOST,
# with a login's environment as ssh would give it (not mpirun's: what the
# ranks need must be passed on explicitly, as on a real cluster). The
# sanitizer options are the exception, as a site's shell profile would set
# them: a sanitized shim on another host must not report Open MPI's leaks.
host=$1; shift
case $host in
{cases}
  *) echo "ns-rsh: unknown host $host" >&2; exit 255 ;;
esac
exec env -i PATH="$PATH" HOME="$HOME" USER="$USER" LOGNAME="$LOGNAME" SHELL=/bin/sh \
  ${{ASAN_OPTIONS+"ASAN_OPTIONS=$ASAN_OPTIONS"}} ${{UBSAN_OPTIONS+"UBSAN_OPTIONS=$UBSAN_OPTIONS"}} \
  nsenter --net=/run/netns/$ns unshare --uts sh -c "hostname $ns && $*"
""")
        os.chmod(self.agent, 0o755)
        return self

    def hostfile(self, slots: int = 1) -> str:
        path = os.path.join(self.dir, f"hosts.{slots}")
        with open(path, "w") as f:
            for a in self.addrs:
                f.write(f"{a} slots={slots}\n")
        return path

    def stop(self) -> None:
        if self.hub:
            self.hub.stop()
            self.hub = None
        # Anything still running inside a namespace would keep it alive.
        for ns in self.created:
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                               timeout=30)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in self.created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        for link in self.links:
            subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=30)
        self.created, self.links = [], []
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""
        if self.reaper:
            self.reaper.done()
            self.reaper = None


if __name__ == "__main__" and sys.argv[1:] == ["reap"]:
    _reap()
