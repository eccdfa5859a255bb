"""What a rank's program inherits from its shim: stdin, stdout, stderr, the
shared region (STDMPI_SHM_FD) and the variables docs/protocol.md documents, nothing else (no MPI or PMIx socket,
no output socket, no launcher variable), whether it starts before MPI_Init
or after it, isolated or not."""
import os
import subprocess
import tempfile
import unittest

import harness
from harness import PYTHON, lines_of_rank, stdmpirun

# Prints the descriptors above 2 that are open besides the shared region,
# what the region's descriptor is, and the variables that are the shim's or
# the launcher's own.
PROBE = r"""
import os
region = int(os.environ.get("STDMPI_SHM_FD", "-1"))
open_fds = []
for fd in range(3, 1024):
    try:
        os.fstat(fd)
        if fd != region:
            open_fds.append(fd)
    except OSError:
        pass
print("fds=" + ",".join(map(str, open_fds)))
print("region=" + (os.readlink(f"/proc/self/fd/{region}") if region >= 10 else "none"))
leaked = sorted(k for k in os.environ
                if k.startswith(("PMIX_", "OMPI_COMM_WORLD", "STDMPI_INIT_"))
                or k == "STDMPI_OUTPUT_SOCKET")
print("vars=" + ",".join(leaked))
"""


class Inheritance(unittest.TestCase):
    def check(self, *args, env=None):
        job = stdmpirun("--tag-output", "-n", "2", *args, PYTHON, "-c", PROBE, timeout=60,
                        env=env)
        self.assertEqual(job.rc, 0, job.describe())
        for rank in (0, 1):
            self.assertEqual(lines_of_rank(job.stdout, rank),
                             ["fds=", "region=/memfd:stdmpi-shm (deleted)", "vars="],
                             job.describe())

    def test_started_before_mpi_init(self):
        self.check()

    def test_started_after_mpi_init(self):
        # The shim's MPI and PMIx sockets are open by then.
        self.check(env={"STDMPI_START_EARLY": "0"})

    def test_isolated(self):
        self.check("--isolate", "host", env={"STDMPI_START_EARLY": "0"})


class UserPaths(unittest.TestCase):
    """mpirun, started by its full path, puts /usr/bin and /usr/lib first in
    its ranks' PATH and LD_LIBRARY_PATH; the program must see the user's own,
    or `python3` in an activated virtualenv (or a module's) would be the
    system's."""

    def test_python3_of_an_activated_virtualenv_is_the_one_that_runs(self):
        with tempfile.TemporaryDirectory() as d:
            venv = os.path.join(d, "venv")
            subprocess.run([PYTHON, "-m", "venv", "--without-pip", venv], check=True,
                           timeout=120)
            path = os.path.join(venv, "bin") + ":" + os.environ["PATH"]
            probe = ("import os, sys; print(sys.prefix); print(os.environ['PATH']); "
                     "print(os.environ.get('LD_LIBRARY_PATH', '(unset)')); "
                     "print(sorted(k for k in os.environ if k.startswith('STDMPI_') and "
                     "k.endswith('PATH')))")
            for ld in (None, "/opt/lib-of-a-module"):
                env = {"PATH": path}
                if ld:
                    env["LD_LIBRARY_PATH"] = ld
                elif "LD_LIBRARY_PATH" in os.environ:
                    env["LD_LIBRARY_PATH"] = ""
                job = stdmpirun("--tag-output", "-n", "2", "python3", "-c", probe, timeout=60,
                                env=env)
                self.assertEqual(job.rc, 0, job.describe())
                for rank in (0, 1):
                    self.assertEqual(lines_of_rank(job.stdout, rank),
                                     [venv, path, ld or ("" if "LD_LIBRARY_PATH" in env
                                                         else "(unset)"), "[]"],
                                     job.describe())


if __name__ == "__main__":
    unittest.main()
