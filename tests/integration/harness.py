"""Helpers for the integration tests: run real stdmpi jobs and look at them.

Every job runs with a time limit, so a hang fails the test instead of blocking
CTest (which has its own TIMEOUT on top).
"""
from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
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


def lines_of_rank(stdout: str, rank: int) -> List[str]:
    """The lines of one rank from --tag-output output, without the tag."""
    tag = f"[{rank}] "
    return [line[len(tag):] for line in stdout.splitlines() if line.startswith(tag)]


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
    """Creates `user` if needed (skipping the test unless root can) and copies
    the build's bin, share and lib, plus the files `extra` and the files
    `texts` (name -> content), to ~user/NAME, owned by the user: a normal user
    cannot reach a build under /root or a private /tmp. The environment is
    this one without the OMPI_ALLOW_* of root, HOME the user's."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        raise unittest.SkipTest("needs root to create a user")
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "-m", user], check=True)
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
    subprocess.run(["chown", "-R", f"{user}:{user}", dest], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMPI_ALLOW")}
    env["HOME"] = home
    return UserCopy(user, home, dest, env)
