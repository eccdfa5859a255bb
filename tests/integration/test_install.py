"""After `cmake --install`, stdmpirun finds the shim and the shim the bridges."""
import os
import shutil
import subprocess
import tempfile
import unittest

import harness


class Install(unittest.TestCase):
    def test_installed_tree_runs_jobs(self):
        prefix = tempfile.mkdtemp(prefix="stdmpi-install-")
        try:
            subprocess.run(["cmake", "--install", harness.BUILD, "--prefix", prefix], check=True,
                           capture_output=True, timeout=120)
            for f in ("bin/stdmpirun", "bin/stdmpi-shim", "bin/stdmpi-init",
                      "lib/stdmpi/libstdmpi-preload.so", "include/stdmpi.h",
                      "share/stdmpi/python/stdmpi/__init__.py", "share/stdmpi/ncl/stdmpi.ncl",
                      "share/stdmpi/bash/stdmpi.sh", "share/stdmpi/awk/stdmpi.awk",
                      "share/stdmpi/R/stdmpi/DESCRIPTION"):
                self.assertTrue(os.path.exists(os.path.join(prefix, f)), f)
            job = harness.run([os.path.join(prefix, "bin", "stdmpirun"), "-n", "2", harness.PYTHON,
                               "-c", "import stdmpi; c = stdmpi.COMM_WORLD; "
                                     "print(c.allreduce(1), stdmpi.__file__)"],
                              timeout=60, cwd="/")
            self.assertEqual(job.rc, 0, job.describe())
            want = f"2 {prefix}/share/stdmpi/python/stdmpi/__init__.py"
            self.assertEqual(job.stdout.splitlines(), [want, want])
            # Every bridge resolves to the installed tree.
            prog = ('echo "$STDMPI_NCL $STDMPI_BASH $STDMPI_AWK"; '
                    'Rscript -e "library(stdmpi); cat(find.package(\'stdmpi\'), allreduce(1), \'\\n\')"')
            job = harness.run([os.path.join(prefix, "bin", "stdmpirun"), "-n", "2", "bash", "-c",
                               prog], timeout=120, cwd="/")
            self.assertEqual(job.rc, 0, job.describe())
            share = os.path.realpath(os.path.join(prefix, "share", "stdmpi"))
            self.assertIn(f"{share}/ncl/stdmpi.ncl {share}/bash/stdmpi.sh {share}/awk/stdmpi.awk",
                          job.stdout)
            self.assertIn(f"{share}/R/stdmpi 2", job.stdout)
        finally:
            shutil.rmtree(prefix, ignore_errors=True)


class Singleton(unittest.TestCase):
    def test_the_shim_alone_is_a_one_rank_job(self):
        job = harness.run([harness.SHIM, "--", "bash", "-c",
                           'echo "@mpi size"; read s; echo "@mpi allreduce sum 2"; read x; '
                           'echo "size $s sum $x"'], timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout, "size 1 sum 2\n")

    def test_shim_usage_errors(self):
        job = harness.run([harness.SHIM, "--max-line"], timeout=30)
        self.assertEqual(job.rc, 64)
        self.assertIn("stdmpi-shim: --max-line needs a value", job.stderr)
        self.assertIn("usage: stdmpi-shim", job.stderr)


if __name__ == "__main__":
    unittest.main()
