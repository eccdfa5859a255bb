"""Helpers for the integration tests: run real stdmpi jobs and look at them.

Every job runs with a time limit, so a hang fails the test instead of blocking
CTest (which has its own TIMEOUT on top).
"""
from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

BUILD = os.environ.get("STDMPI_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(BUILD, "bin")
STDMPIRUN = os.path.join(BIN, "stdmpirun")
SHIM = os.path.join(BIN, "stdmpi-shim")
PROTOCLIENT = os.path.join(BUILD, "tests", "protoclient")
# Debian's python3: the one python3-mpi4py is built for, and quick to start.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def in_ci() -> bool:
    """True in CI (CI=true), where everything the tests need is installed."""
    return os.environ.get("CI") == "true"


def require(condition, why: str) -> None:
    """For a test that needs what a machine may lack (root, R, NCL, NumPy,
    busybox, 2 cores): skips the test on a developer's machine, but fails it
    in CI (CI=true), where a skip would hide a test that never ran. `why`
    names what is missing, e.g. "root" or "NumPy for /usr/bin/python3".
    Works in a test, in setUp and in setUpClass."""
    if condition:
        return
    if in_ci():
        raise AssertionError(f"this test needs {why}, which this CI machine lacks "
                             "(CI=true: a test that cannot run fails; scripts/setup.sh test "
                             "installs the packages)")
    raise unittest.SkipTest(f"needs {why}")


def is_root() -> bool:
    return os.geteuid() == 0


@dataclass
class Job:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    stdout_bytes: bytes = b""

    def describe(self) -> str:
        return (f"exit status {self.rc} after {self.seconds:.2f} s\n--- stdout ---\n"
                f"{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}")


def run(args: Sequence[str], timeout: float = 60, env: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None, stdin: Optional[bytes] = None) -> Job:
    """Runs a command (usually stdmpirun ...) and returns what it did."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    start = time.monotonic()
    try:
        p = subprocess.run(list(args), capture_output=True, timeout=timeout, env=full_env, cwd=cwd,
                           input=stdin if stdin is not None else b"")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = (e.stderr or b"").decode("utf-8", "replace")
        raise AssertionError(f"timed out after {timeout} s: {' '.join(args)}\n--- stdout ---\n"
                             f"{out[-3000:]}\n--- stderr ---\n{err[-3000:]}") from None
    seconds = time.monotonic() - start
    return Job(p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"), seconds, p.stdout)


def stdmpirun(*args: str, **kw) -> Job:
    return run([STDMPIRUN, *args], **kw)


def stop_process(p: subprocess.Popen) -> None:
    """Ends a process a test started, if it still runs (for addCleanup: a
    test that failed half-way leaves no job behind): SIGTERM, which ends a
    stdmpirun job, then SIGKILL."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Background:
    """A command (usually stdmpirun ...) running in the background while the
    test acts on it: its stdout and stderr are read as they come, so the test
    can wait for a line, send signals, and then collect the whole Job."""

    def __init__(self, args: Sequence[str], env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.args = list(args)
        self.start = time.monotonic()
        self.p = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=full_env, cwd=cwd)
        self._out: List[bytes] = []
        self._err: List[str] = []
        self._changed = threading.Condition()
        self._threads = [threading.Thread(target=self._read, args=(self.p.stdout, False),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.p.stderr, True),
                                          daemon=True)]
        for t in self._threads:
            t.start()

    def _read(self, f, is_err: bool) -> None:
        for line in iter(f.readline, b""):
            with self._changed:
                if is_err:
                    self._err.append(line.decode("utf-8", "replace"))
                else:
                    self._out.append(line)
                self._changed.notify_all()
        f.close()

    def stderr_lines(self) -> List[str]:
        with self._changed:
            return list(self._err)

    def wait_for_stderr(self, pattern: str, timeout: float = 60, signal_to_send=None,
                        count: int = 1) -> List[str]:
        """Waits until `count` stderr lines (newline included) match the regex
        `pattern`, sending `signal_to_send` (if any) each time nothing new came
        for a moment (e.g. SIGQUIT, to ask for a report until it says what
        is awaited: only once the job is up, e.g. its programs said so after
        a barrier, since a signal stdmpirun or a shim has no handler for yet
        ends it). Fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            with self._changed:
                matches = [l for l in self._err if re.search(pattern, l)]
                if len(matches) >= count:
                    return matches
                if self.p.poll() is not None and not any(t.is_alive() for t in self._threads):
                    raise AssertionError(f"the job ended before stderr showed /{pattern}/:\n"
                                         + "".join(self._err)[-3000:])
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"stderr did not show /{pattern}/ within {timeout} s:\n"
                                         + "".join(self._err)[-3000:])
                if signal_to_send is None or len(self._err) > seen:
                    seen = len(self._err)
                    self._changed.wait(0.2)
                    continue
            self.p.send_signal(signal_to_send)
            with self._changed:
                self._changed.wait(0.3)

    def stop(self) -> None:
        """Ends the command, politely first (stdmpirun ends its job on SIGTERM)."""
        stop_process(self.p)

    def finish(self, timeout: float = 60) -> Job:
        """Waits for the command to end (failing the test after `timeout`
        seconds, the command ended) and returns what it did."""
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"timed out after {timeout} s: {' '.join(self.args)}\n"
                                 f"--- stderr ---\n{''.join(self.stderr_lines())[-3000:]}") from None
        for t in self._threads:
            t.join(10)
        out = b"".join(self._out)
        return Job(self.p.returncode, out.decode("utf-8", "replace"), "".join(self._err),
                   time.monotonic() - self.start, out)


def lines_of_rank(stdout: str, rank: int) -> List[str]:
    """The lines of one rank from --tag-output output, without the tag."""
    tag = f"[{rank}] "
    return [line[len(tag):] for line in stdout.splitlines() if line.startswith(tag)]


JOBLOG_HEADER = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"


def joblog(path: str) -> List[tuple]:
    """A task farm's joblog (GNU parallel's format), checked field by field:
    its entries as (seq, exitval, signal, command), in file order."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[0] == JOBLOG_HEADER, lines[0]
    assert lines[-1] == "", "the joblog ends with a newline"
    out = []
    for line in lines[1:-1]:
        f = line.split("\t", 8)
        assert len(f) == 9, line
        assert re.fullmatch(r"\d+\.\d{3}", f[2]), f[2]
        assert re.fullmatch(r" *\d+\.\d{3}", f[3]) and len(f[3]) >= 10, f[3]
        assert f[4] == "0" and f[5] == "0"
        out.append((int(f[0]), int(f[6]), int(f[7]), f[8]))
    return out


def scenario(text: str) -> str:
    """Writes a protocol scenario (see tests/clients/protoclient.c) to a
    temporary file anyone can read, and returns its path."""
    f = tempfile.NamedTemporaryFile("w", prefix="stdmpi-scenario-", suffix=".txt", delete=False)
    f.write(text)
    f.close()
    os.chmod(f.name, 0o644)
    _scenarios.append(f.name)
    return f.name


_scenarios: list = []


@atexit.register
def _remove_scenarios() -> None:
    for name in _scenarios:
        try:
            os.unlink(name)
        except OSError:
            pass


@dataclass
class UserCopy:
    """stdmpi copied where a normal user can run it (see copy_for_user)."""
    user: str
    home: str
    dest: str  # holds bin/, share/, lib/ and the extra files
    env: Dict[str, str]  # the environment to run as the user with

    def stdmpirun(self) -> str:
        return os.path.join(self.dest, "bin", "stdmpirun")


def copy_for_user(name: str, extra: Sequence[str] = (), texts: Optional[Dict[str, str]] = None,
                  user: str = "stdmpitest") -> UserCopy:
    """Creates `user` if needed (see require: root must be able to) and copies
    the build's bin, share and lib, plus the files `extra` and the files
    `texts` (name -> content), to ~user/NAME, owned by the user: a normal user
    cannot reach a build under /root or a private /tmp. The environment is
    this one without the OMPI_ALLOW_* of root, HOME the user's."""
    require(os.geteuid() == 0, "root (to create a user)")
    require(shutil.which("useradd") is not None, "useradd (to create a user)")
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "-m", user], check=True, timeout=60)
    home = pwd.getpwnam(user).pw_dir
    dest = os.path.join(home, name)
    shutil.rmtree(dest, ignore_errors=True)
    for sub in ["bin", "share", "lib"]:
        shutil.copytree(os.path.join(BUILD, sub), os.path.join(dest, sub))
    for path in extra:
        shutil.copy(path, dest)
    for fname, content in (texts or {}).items():
        with open(os.path.join(dest, fname), "w") as f:
            f.write(content)
    subprocess.run(["chown", "-R", f"{user}:{user}", dest], check=True, timeout=60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_ALLOW")}
    env["HOME"] = home
    return UserCopy(user, home, dest, env)


def processes_matching(pattern: str):
    # Zombies (stat Z) are dead already, waiting for a parent to reap them.
    out = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True,
                         timeout=30).stdout
    return [l for l in out.splitlines()
            if pattern in l and "ps -eo" not in l and l.split()[1][0] != "Z"]


def wait_gone(tc: unittest.TestCase, pattern: str, within: float = 30) -> None:
    """Fails `tc` unless every process matching `pattern` is gone within
    `within` seconds: a generous bound (the processes the tests leave would
    live for minutes) that guards against leftovers, not a speed."""
    deadline = time.monotonic() + within
    while processes_matching(pattern) and time.monotonic() < deadline:
        time.sleep(0.1)
    tc.assertEqual(processes_matching(pattern), [])
