"""The bridges install as ordinary packages, for notebooks and IDEs
(docs/bridges.md, "Installing the bridges"): the Python bridge with pip from
langbridges/python, offline, into a virtualenv; the R bridge with
`R CMD INSTALL`, help pages included, and `R CMD check` of its tarball passes.
In a stdmpirun job the shim's own copy of a bridge comes first (PYTHONPATH,
R_LIBS), whatever else is installed; an installed copy still works in a job
when it is loaded by name.

Nothing is skipped: CI installs python3-pip, python3-venv and r-base-dev
(scripts/setup.sh test). Nothing is written outside temporary directories:
pip builds in the tree it is given (build/, stdmpi.egg-info), so it is given
a copy of langbridges/python.
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BUILD, PYTHON, SOURCE, STDMPIRUN, Job

PY_SRC = os.path.join(SOURCE, "langbridges", "python")
R_SRC = os.path.join(SOURCE, "langbridges", "r", "stdmpi")


def project_version() -> str:
    """stdmpi's version, from project(stdmpi VERSION x.y.z) in the top CMakeLists.txt."""
    with open(os.path.join(SOURCE, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(stdmpi\s+VERSION\s+([0-9.]+)", f.read())
    assert m, "no project(stdmpi VERSION ...) in CMakeLists.txt"
    return m.group(1)


def namespace_exports() -> list:
    """The names langbridges/r/stdmpi/NAMESPACE exports, sorted."""
    with open(os.path.join(R_SRC, "NAMESPACE"), encoding="utf-8") as f:
        text = f.read()
    exports = " ".join(re.findall(r"export\(([^)]*)\)", text))
    names = re.findall(r"[A-Za-z._][A-Za-z0-9._]*", exports)
    assert len(names) > 40, names
    return sorted(names)


def clean_env(**extra: str) -> dict:
    """The environment of a user outside any job: no PYTHONPATH, R_LIBS or
    STDMPI_* variables, and pip configured by nothing but its options (no
    index, cache or find-links of this machine's)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STDMPI_", "PIP_", "PYTHON", "R_LIBS", "VIRTUAL_ENV"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1", LC_ALL="C.UTF-8")
    env.update(extra)
    return env


def run(args, cwd: str, timeout: float = 120, env=None) -> Job:
    """Runs a command with exactly `env` (clean_env() by default)."""
    start = time.monotonic()
    try:
        p = subprocess.run(list(args), capture_output=True, timeout=timeout, cwd=cwd,
                           env=clean_env() if env is None else env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"timed out after {timeout} s: {' '.join(args)}\n"
                             f"{(e.stdout or b'').decode(errors='replace')[-3000:]}\n"
                             f"{(e.stderr or b'').decode(errors='replace')[-3000:]}") from None
    return Job(p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace"), time.monotonic() - start, p.stdout)


def stop_group(p: subprocess.Popen) -> None:
    """Ends a command started with start_new_session=True and every process
    it started (R CMD check runs R several times), if any still runs."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + 10
        try:
            os.killpg(p.pid, sig)
            while time.monotonic() < deadline:
                p.poll()  # reaps the leader, so that the group can be gone
                os.killpg(p.pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            break
    p.communicate()


def site_packages(venv: str) -> str:
    found = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages"))
    assert len(found) == 1, found
    return found[0]


class PipPackage(unittest.TestCase):
    """`pip install langbridges/python` into a virtualenv, offline."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="stdmpi-pip-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.scratch = os.path.join(cls.tmp, "tmp")  # TMPDIR for pip: nothing left in /tmp
        os.mkdir(cls.scratch)
        cls.src = os.path.join(cls.tmp, "src")
        shutil.copytree(PY_SRC, cls.src,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        cls.venv = os.path.join(cls.tmp, "venv")
        # --system-site-packages: NumPy, and Debian's pip (python3-pip) run by
        # the venv's interpreter, installing into the venv; --without-pip
        # saves the seconds ensurepip takes to put a copy of it there.
        job = run([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", cls.venv],
                  cwd=cls.tmp)
        assert job.rc == 0, "python3 -m venv failed (python3-venv):\n" + job.describe()
        cls.python = os.path.join(cls.venv, "bin", "python")
        cls.installed = cls.pip("install", "--no-build-isolation", "--no-index", cls.src)

    @classmethod
    def pip(cls, *args: str) -> Job:
        return run([cls.python, "-m", "pip", *args], cwd=cls.tmp, timeout=180,
                   env=clean_env(TMPDIR=cls.scratch))

    def test_pip_installs_the_source_tree_offline(self):
        job = self.installed
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn(f"Successfully installed stdmpi-{project_version()}", job.stdout,
                      job.describe())
        # The version is the project's, and the package is the three modules.
        probe = ("import importlib.metadata as m\n"
                 "print(m.version('stdmpi'), m.metadata('stdmpi')['License'])\n"
                 "print(sorted(str(f) for f in m.files('stdmpi') if f.suffix == '.py'))\n")
        got = run([self.python, "-c", probe], cwd=self.tmp)
        self.assertEqual(got.rc, 0, got.describe())
        self.assertEqual(got.stdout.splitlines(),
                         [f"{project_version()} MIT",
                          "['stdmpi/MPI.py', 'stdmpi/__init__.py', 'stdmpi/_local.py']"])

    def test_imports_outside_a_job_as_a_world_of_one_rank(self):
        """From another directory, PYTHONPATH unset: the venv's copy, one rank."""
        self.assertEqual(self.installed.rc, 0, self.installed.describe())
        probe = ("import os, stdmpi\n"
                 "from stdmpi import MPI\n"
                 "comm = MPI.COMM_WORLD\n"
                 "print(comm.Get_rank(), comm.Get_size(), comm.allreduce(5, op=MPI.SUM),\n"
                 "      stdmpi.COMM_WORLD.size, comm.bcast({'n': 3}, root=0))\n"
                 "print(os.path.realpath(stdmpi.__file__))\n")
        outside = tempfile.mkdtemp(dir=self.tmp)  # not the source tree, no stdmpi/ in it
        job = run([self.python, "-c", probe], cwd=outside)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout.splitlines(),
                         ["0 1 5 1 {'n': 3}",
                          os.path.realpath(os.path.join(site_packages(self.venv), "stdmpi",
                                                        "__init__.py"))])

    def test_a_rank_of_a_job_uses_the_shims_copy(self):
        """The shim puts its share/stdmpi/python first on PYTHONPATH, ahead of
        the venv's site-packages: a rank runs the bridge of the stdmpi that
        started it, whatever version pip installed."""
        self.assertEqual(self.installed.rc, 0, self.installed.describe())
        script = os.path.join(self.tmp, "job.py")
        with open(script, "w") as f:
            f.write("import os, sys, stdmpi\n"
                    "from stdmpi import MPI\n"
                    "comm = MPI.COMM_WORLD\n"
                    "total = comm.allreduce(comm.Get_rank() + 1, op=MPI.SUM)\n"
                    "print(f'rank {comm.Get_rank()} of {comm.Get_size()}: {total} '\n"
                    "      f'{os.path.realpath(stdmpi.__file__)} {sys.prefix}')\n")
        job = run([STDMPIRUN, "-n", "2", self.python, script], cwd=self.tmp, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        shims = os.path.realpath(os.path.join(BUILD, "share", "stdmpi", "python", "stdmpi",
                                              "__init__.py"))
        self.assertEqual(sorted(job.stdout.splitlines()),
                         [f"rank 0 of 2: 3 {shims} {self.venv}",
                          f"rank 1 of 2: 3 {shims} {self.venv}"], job.describe())

    def test_pip_uninstall_removes_it(self):
        self.assertEqual(self.installed.rc, 0, self.installed.describe())
        try:
            job = self.pip("uninstall", "-y", "stdmpi")
            self.assertEqual(job.rc, 0, job.describe())
            self.assertIn(f"Successfully uninstalled stdmpi-{project_version()}", job.stdout)
            self.assertEqual(os.listdir(site_packages(self.venv)), [], job.describe())
            job = run([self.python, "-c", "import stdmpi"], cwd=self.tmp)
            self.assertEqual(job.rc, 1, job.describe())
            self.assertIn("ModuleNotFoundError: No module named 'stdmpi'", job.stderr)
        finally:
            # Installed again, for the tests that follow in whatever order.
            again = self.pip("install", "--no-build-isolation", "--no-index", self.src)
            self.assertEqual(again.rc, 0, again.describe())


class RPackage(unittest.TestCase):
    """`R CMD INSTALL langbridges/r/stdmpi`, with help; `R CMD check`."""

    @classmethod
    def setUpClass(cls):
        assert shutil.which("R") and shutil.which("Rscript"), \
            "R is not on PATH (scripts/setup.sh test installs r-base-core and r-base-dev)"
        cls.tmp = tempfile.mkdtemp(prefix="stdmpi-rpkg-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.lib = os.path.join(cls.tmp, "lib")
        os.mkdir(cls.lib)
        cls.scratch = os.path.join(cls.tmp, "tmp")  # TMPDIR for R: no Rtmp* left in /tmp
        os.mkdir(cls.scratch)
        # R CMD check, the slow part, runs while the other tests do.
        cls.check_dir = os.path.join(cls.tmp, "check")
        os.mkdir(cls.check_dir)
        cls.check = subprocess.Popen(
            ["sh", "-c", 'R CMD build --no-build-vignettes "$1" && '
                         'R CMD check --no-manual --no-build-vignettes stdmpi_*.tar.gz', "sh",
             R_SRC], cwd=cls.check_dir, env=cls.check_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        cls.addClassCleanup(stop_group, cls.check)
        cls.installed = run(["R", "CMD", "INSTALL", f"--library={cls.lib}", R_SRC], cwd=cls.tmp,
                            env=clean_env(TMPDIR=cls.scratch))

    @classmethod
    def check_env(cls) -> dict:
        # An empty local repository: the dependency check looks there, not
        # on CRAN over the network.
        repo = os.path.join(cls.tmp, "repo")
        os.makedirs(os.path.join(repo, "src", "contrib"))
        open(os.path.join(repo, "src", "contrib", "PACKAGES"), "w").close()
        profile = os.path.join(cls.tmp, "Rprofile")
        with open(profile, "w") as f:
            f.write(f'options(repos = c(CRAN = "file://{repo}"))\n')
        return clean_env(R_PROFILE_USER=profile, _R_CHECK_FORCE_SUGGESTS_="false",
                         TMPDIR=cls.scratch)

    def test_r_cmd_install(self):
        job = self.installed
        self.assertEqual(job.rc, 0, job.describe())
        self.assertIn("* DONE (stdmpi)", job.stdout + job.stderr, job.describe())
        # A help page R could not parse or link is a warning here.
        self.assertNotIn("Warning", job.stdout + job.stderr, job.describe())
        self.assertTrue(os.path.isfile(os.path.join(self.lib, "stdmpi", "help", "stdmpi.rdb")))

    def test_every_exported_object_has_a_help_page(self):
        """help() finds a page for every name NAMESPACE exports, and renders it."""
        self.assertEqual(self.installed.rc, 0, self.installed.describe())
        prog = r'''
lib <- commandArgs(TRUE)[1]
pkg <- file.path(lib, "stdmpi")
exported <- getNamespaceExports(loadNamespace("stdmpi", lib.loc = lib))
found <- vapply(exported, function(t) length(utils:::index.search(t, pkg)) > 0, TRUE)
cat("exported:", sort(exported), sep = " ")
cat("\nwithout help:", sort(exported[!found]), sep = " ")
cat("\n")
h <- help("allreduce", package = "stdmpi", lib.loc = lib)
tools::Rd2txt(utils:::.getHelpFile(h), out = stdout(), options = list(underline_titles = FALSE))
'''
        job = run(["Rscript", "-e", prog, self.lib], cwd=self.tmp,
                  env=clean_env(TMPDIR=self.scratch))
        self.assertEqual(job.rc, 0, job.describe())
        lines = job.stdout.splitlines()
        self.assertEqual(sorted(lines[0].split()[1:]), namespace_exports(), job.describe())
        self.assertEqual([line.rstrip() for line in lines[1:3]],
                         ["without help:", "Reductions of Numbers over Ranks"],
                         job.describe())
        self.assertIn("     allreduce(x, x.buffer = NULL, op = .ct(\"op\"), comm = .ct(\"comm\"))",
                      lines)

    def test_a_job_loads_the_installed_package(self):
        """R_LIBS=LIB in a job: the shim's share/stdmpi/R comes first (the
        copy a plain library(stdmpi) loads); library(stdmpi, lib.loc = LIB)
        loads the installed one, which talks to the shim as well."""
        self.assertEqual(self.installed.rc, 0, self.installed.describe())
        script = os.path.join(self.tmp, "job.R")
        with open(script, "w") as f:
            f.write('first <- find.package("stdmpi")\n'
                    'library(stdmpi, lib.loc = Sys.getenv("R_LIBS_PKG"))\n'
                    'r <- comm.rank()\n'
                    'total <- allreduce(c(r + 1, 10 * r), op = "sum")\n'
                    'cat(sprintf("rank %d of %d: %s\\n", r, comm.size(), '
                    'paste(total, collapse = " ")))\n'
                    'cat(first, normalizePath(system.file(package = "stdmpi")), "\\n")\n')
        lib = os.path.realpath(self.lib)
        job = run([STDMPIRUN, "-n", "2", "Rscript", script], cwd=self.tmp, timeout=90,
                  env=clean_env(R_LIBS=lib, R_LIBS_PKG=lib))
        self.assertEqual(job.rc, 0, job.describe())
        shims = os.path.realpath(os.path.join(BUILD, "share", "stdmpi", "R", "stdmpi"))
        where = f"{shims} {lib}/stdmpi "
        self.assertEqual(sorted(job.stdout.splitlines()),
                         sorted(["rank 0 of 2: 3 10", "rank 1 of 2: 3 10", where, where]),
                         job.describe())

    def test_r_cmd_check_passes(self):
        """R CMD build, then R CMD check --no-manual of the tarball: no
        ERROR, WARNING or NOTE, and the examples (all of them run outside a
        job, as a world of one rank) ran."""
        try:
            out, _ = self.check.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            self.fail("R CMD build + check took over 300 s")
        out = out.decode("utf-8", "replace")
        self.assertEqual(self.check.returncode, 0, out[-4000:])
        logs = glob.glob(os.path.join(self.check_dir, "stdmpi.Rcheck", "00check.log"))
        self.assertEqual(len(logs), 1, out[-4000:])
        with open(logs[0], encoding="utf-8") as f:
            log = f.read()
        bad = [line for line in log.splitlines() if line.endswith(("ERROR", "WARNING", "NOTE"))]
        self.assertEqual(bad, [], log[-4000:])
        self.assertIn("* checking examples ... OK", log)
        self.assertIn("* checking for code/documentation mismatches ... OK", log)
        self.assertEqual(log.rstrip().splitlines()[-1], "Status: OK", log[-4000:])


if __name__ == "__main__":
    unittest.main()
