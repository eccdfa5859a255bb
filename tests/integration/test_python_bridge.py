"""The Python bridge in real jobs of 1 to 4 ranks, and the pi example."""
import math
import os
import re
import subprocess
import unittest

import harness
from harness import PYTHON, require, stdmpirun

HERE = os.path.dirname(os.path.abspath(__file__))


def has_numpy() -> bool:
    """Whether the ranks' Python (PYTHON) can import NumPy (python3-numpy)."""
    return subprocess.run([PYTHON, "-c", "import numpy"], capture_output=True,
                          timeout=60).returncode == 0


class Bridge(unittest.TestCase):
    def test_every_function_with_1_to_4_ranks(self):
        # With NumPy there, bridge_check.py must run its NumPy checks too.
        numpy = has_numpy()
        for n in (1, 2, 3, 4):
            with self.subTest(ranks=n):
                job = stdmpirun("-n", str(n), "--oversubscribe", PYTHON,
                                os.path.join(HERE, "bridge_check.py"), timeout=120,
                                env={"STDMPI_TEST_NUMPY": "1" if numpy else "0"})
                self.assertEqual(job.rc, 0, job.describe())
                self.assertEqual(sorted(re.findall(r"rank (\d+) bridge ok", job.stdout)),
                                 [str(r) for r in range(n)])
                self.assertEqual(sorted(re.findall(r"rank (\d+) numpy checked", job.stdout)),
                                 [str(r) for r in range(n)] if numpy else [], job.describe())

    def test_numpy_arrays_with_1_to_3_ranks(self):
        require(has_numpy(), f"NumPy for {PYTHON} (python3-numpy; scripts/setup.sh test)")
        for n in (1, 2, 3):
            with self.subTest(ranks=n):
                job = stdmpirun("-n", str(n), "--oversubscribe", PYTHON,
                                os.path.join(HERE, "numpy_check.py"), timeout=120)
                self.assertEqual(job.rc, 0, job.describe())
                self.assertEqual(sorted(re.findall(r"rank (\d+) numpy ok", job.stdout)),
                                 [str(r) for r in range(n)], job.describe())

    def test_import_needs_nothing_installed(self):
        # PYTHONPATH is the shim's doing; the rank sees the build's bridge.
        prog = "import stdmpi, os; print(stdmpi.__file__); print(os.environ['STDMPI_HOME'])"
        job = stdmpirun("-n", "1", PYTHON, "-c", prog, timeout=30)
        self.assertEqual(job.rc, 0, job.describe())
        path, home = job.stdout.split()
        self.assertTrue(path.startswith(home + "/python/stdmpi/"), job.stdout)

    def test_outside_a_job_it_is_a_world_of_one_rank(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.join(harness.BUILD, "share", "stdmpi", "python")
        env.pop("STDMPI_RANK", None)
        prog = ("import stdmpi\n"
                "c = stdmpi.COMM_WORLD\n"
                "print(c.rank, c.size, c.allreduce([1, 2.5]), c.gather({'a': 1}))\n"
                "c.send('to myself', dest=0, tag=4)\n"
                "print(c.recv(source=0, tag=4))\n"
                "c.send('x', dest=1)\n")
        p = subprocess.run([PYTHON, "-c", prog], capture_output=True, text=True, env=env,
                           timeout=30)
        self.assertEqual(p.stdout, "0 1 [1, 2.5] [{'a': 1}]\nto myself\n")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("stdmpi.StdmpiError: rank 1 out of range: the only rank is 0 (outside "
                      "stdmpirun the job is this one rank; start it with stdmpirun -n N for more)",
                      p.stderr)

    def test_a_rank_variable_not_set_by_a_shim_is_an_error_that_says_how_to_start(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.join(harness.BUILD, "share", "stdmpi", "python")
        env["STDMPI_RANK"] = "x"
        p = subprocess.run([PYTHON, "-c", "import stdmpi; stdmpi.COMM_WORLD.allreduce(1)"],
                           capture_output=True, text=True, env=env, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not running as a stdmpi rank (STDMPI_RANK is set to 'x', not a rank "
                      "number): start the script with stdmpirun", p.stderr)

    def test_an_uncaught_error_ends_the_job_with_its_reason(self):
        job = stdmpirun("-n", "2", PYTHON, "-c",
                        "import stdmpi; stdmpi.COMM_WORLD.send('x', dest=5)", timeout=30)
        self.assertEqual(job.rc, 1, job.describe())
        self.assertIn("stdmpi.StdmpiError: DEST 5 out of range: ranks are 0..1", job.stderr)
        self.assertIn("exited with status 1; ending the job", job.stderr)

    def test_abort(self):
        # Rank 0 would sleep for 10 minutes: the abort ends it, within the
        # run's time limit.
        job = stdmpirun("-n", "2", PYTHON, "-c",
                        "import stdmpi, time\n"
                        "c = stdmpi.COMM_WORLD\n"
                        "c.Abort(9, 'bad input') if c.rank == 1 else time.sleep(600)\n"
                        "print('rank', c.rank, 'went on')", timeout=60)
        self.assertEqual(job.rc, 9, job.describe())
        self.assertIn("called abort with code 9: bad input", job.stderr)
        self.assertNotIn("went on", job.stdout)


class PiExample(unittest.TestCase):
    def test_pi_is_the_same_on_any_number_of_ranks(self):
        values = {}
        for n in (1, 2, 3, 4):
            job = stdmpirun("-n", str(n), "--oversubscribe", PYTHON,
                            os.path.join(harness.SOURCE, "examples", "pi.py"), "200000",
                            timeout=120)
            self.assertEqual(job.rc, 0, job.describe())
            m = re.match(r"pi = (\S+)  \(200000 terms, (\d) ranks, compute [0-9.]+ s\)\n$", job.stdout)
            self.assertIsNotNone(m, job.stdout)
            self.assertEqual(int(m.group(2)), n)
            values[n] = float(m.group(1))
        for n, v in values.items():
            self.assertLess(abs(v - math.pi), 1e-12, (n, v))
            self.assertLess(abs(v - values[1]), 1e-14, (n, v))


if __name__ == "__main__":
    unittest.main()
