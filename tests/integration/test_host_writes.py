"""Files the host side writes after (or while) a program ran, in a directory
the program can write to: never through a link the program made, and no
file of the user's read in their place."""
import os
import tempfile
import unittest

import harness
from harness import PYTHON, stdmpirun

# Rank 0 finds the prefix of the trace parts on its shim's command line,
# then, once both ranks are past a barrier (their shims have created their
# parts), replaces rank 1's part and the merged file's name with links to a
# file of the user's.
ATTACK = r"""
import os, sys
def ask(line):
    sys.stdout.write(line + "\n"); sys.stdout.flush()
    return sys.stdin.readline()
ask("@mpi barrier")
if os.environ["STDMPI_RANK"] == "0":
    pid, prefix = os.getppid(), None
    while prefix is None and pid > 1:
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if b"--trace" in args:
            prefix = args[args.index(b"--trace") + 1].decode()
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    victim = os.environ["VICTIM"]
    os.unlink(prefix + ".rank1")
    os.symlink(victim, prefix + ".rank1")
    os.symlink(victim, os.environ["TRACE"])
    print("planted", flush=True)
ask("@mpi barrier")
"""


class Trace(unittest.TestCase):
    def test_the_trace_is_not_written_or_read_through_links(self):
        with tempfile.TemporaryDirectory() as d:
            victim = os.path.join(d, "victim")
            with open(victim, "w") as f:
                f.write('{"secret":"of the user"}\n')
            trace = os.path.join(d, "job.json")
            job = stdmpirun("-n", "2", "--trace", trace, PYTHON, "-c", ATTACK, timeout=60,
                            env={"VICTIM": victim, "TRACE": trace}, cwd=d)
            self.assertEqual(job.rc, 0, job.describe())
            self.assertIn("planted", job.stdout)
            with open(victim) as f:
                self.assertEqual(f.read(), '{"secret":"of the user"}\n')
            self.assertFalse(os.path.islink(trace))
            with open(trace) as f:
                merged = f.read()
            self.assertNotIn("secret", merged)
            self.assertIn('"barrier"', merged)
            # Only rank 0's part was taken; no part is left behind.
            self.assertIn("trace of 1 rank(s)", job.stderr)
            self.assertEqual(sorted(os.listdir(d)), ["job.json", "victim"])


if __name__ == "__main__":
    unittest.main()
