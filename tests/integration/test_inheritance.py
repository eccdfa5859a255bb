"""What a rank's program inherits from its shim: stdin, stdout, stderr, the
shared region (STDMPI_SHM_FD) and the variables docs/protocol.md documents, nothing else (no MPI or PMIx socket,
no output socket, no launcher variable), whether it starts before MPI_Init
or after it, isolated or not."""
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


if __name__ == "__main__":
    unittest.main()
