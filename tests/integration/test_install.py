"""stdmpi installed as a cluster's software is (docs/install.md).

`cmake --install` into a temporary prefix: stdmpirun finds the shim and the
shim the bridges; the man page renders and names every option of --help; a C
program finds stdmpi.h through pkg-config and a CMake project through
find_package(stdmpi); `module load stdmpi` (Debian's Lmod) puts stdmpirun,
its man page and its completion in reach; the bash completion completes
options, values, files and commands; the installed pi example gives pi.

`cpack -G DEB` makes a package that dpkg installs, that runs the pi example
from /usr/share/doc, and that dpkg removes again (always, in a finally).

Nothing is skipped for a missing tool: CI installs lmod, man-db and
bash-completion (scripts/setup.sh test), and dpkg-dev and file come with the
build tools. Only the .deb needs root, as dpkg does.
"""
import glob
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import textwrap
import unittest

import harness
from harness import BUILD, PYTHON, SOURCE, Job, is_root, require


def project_version() -> str:
    """stdmpi's version, from project(stdmpi VERSION x.y.z) in the top CMakeLists.txt."""
    with open(os.path.join(SOURCE, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(stdmpi\s+VERSION\s+([0-9.]+)", f.read())
    assert m, "no project(stdmpi VERSION ...) in CMakeLists.txt"
    return m.group(1)


def user_env(**extra: str) -> dict:
    """The environment of a user's shell before `module load`: no module
    system state, MANPATH or XDG_DATA_DIRS (their unset defaults must
    survive), no PKG_CONFIG_PATH or CMAKE_PREFIX_PATH, and none of a job's
    STDMPI_ variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LMOD", "_LMOD", "__LMOD", "MODULE", "_ModuleTable", "STDMPI_"))
           and k not in ("MANPATH", "XDG_DATA_DIRS", "PKG_CONFIG_PATH", "CMAKE_PREFIX_PATH",
                         "LOADEDMODULES", "MANPAGER", "PAGER", "MANWIDTH")}
    env.update(LC_ALL="C.UTF-8", MANWIDTH="100")
    env.update(extra)
    return env


def sh(script: str, cwd: str = "/", timeout: float = 120, env=None) -> Job:
    """Runs a bash script (the test's own text, no user input) as a user would."""
    return harness.run(["bash", "-c", script], timeout=timeout, cwd=cwd,
                       env=env if env is not None else user_env())


def check_pi(tc: unittest.TestCase, job: Job, terms: int) -> None:
    """The pi example's one line: pi to double precision, from 2 ranks."""
    tc.assertEqual(job.rc, 0, job.describe())
    m = re.fullmatch(r"pi = (3\.14159265358\d*)  \((\d+) terms, (\d+) ranks, compute [0-9.]+ s\)\n",
                     job.stdout)
    tc.assertIsNotNone(m, job.describe())
    tc.assertAlmostEqual(float(m.group(1)), math.pi, places=12)
    tc.assertEqual((int(m.group(2)), int(m.group(3))), (terms, 2))


def rendered(text: str) -> str:
    """A man page as text, without overstrikes (bold, underline) if any."""
    return re.sub(r".\x08", "", text)


def help_option_names(help_text: str) -> list:
    """The names of the options that `stdmpirun --help` lists ("-n", "-np",
    "--np", ":", "--tag-output", ...): its entry lines, not its prose."""
    names = []
    for line in help_text.splitlines():
        m = re.match(r"  ((?:-{1,2}[A-Za-z0-9][A-Za-z0-9-]*|:)"
                     r"(?:, -{1,2}[A-Za-z0-9][A-Za-z0-9-]*)*)(?: |$)", line)
        if m:
            names += m.group(1).split(", ")
    return names


C_PROGRAM = r"""
#include <stdmpi.h>
int main(void) {
  int rank = stdmpi_rank(), size = stdmpi_size();
  double mine = rank + 1, sum = 0;
  stdmpi_allreduce(&mine, &sum, 1, "sum");
  printf("rank %d of %d: sum %g\n", rank, size, sum);
  return 0;
}
"""

CMAKE_PROJECT = r"""
cmake_minimum_required(VERSION 3.18)
project(uses_stdmpi C)
find_package(stdmpi 99 QUIET)          # too new: the version file refuses it
set(too_new "${stdmpi_FOUND}")
find_package(stdmpi 0.1 REQUIRED)
add_executable(hello hello.c)
target_link_libraries(hello PRIVATE stdmpi::stdmpi)
file(WRITE ${CMAKE_BINARY_DIR}/found.txt
     "${too_new}\n${stdmpi_VERSION}\n${stdmpi_INCLUDE_DIRS}\n${stdmpi_STDMPIRUN}\n")
"""


class InstallTree(unittest.TestCase):
    """One `cmake --install` into a temporary prefix, looked at in every way."""

    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="stdmpi-install-")
        p = subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            shutil.rmtree(cls.prefix, ignore_errors=True)
            raise AssertionError(f"cmake --install failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        cls.stdmpirun = os.path.join(cls.prefix, "bin", "stdmpirun")
        cls.man = os.path.join(cls.prefix, "share", "man", "man1", "stdmpirun.1")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix, ignore_errors=True)

    def path(self, *parts: str) -> str:
        return os.path.join(self.prefix, *parts)

    def test_the_layout(self):
        version = project_version()
        for f in ("bin/stdmpirun", "bin/stdmpi-shim", "bin/stdmpi-init", "bin/stdmpi-taskrun",
                  "lib/stdmpi/libstdmpi-preload.so", "include/stdmpi.h",
                  "share/man/man1/stdmpirun.1", "share/bash-completion/completions/stdmpirun",
                  "lib/pkgconfig/stdmpi.pc", "lib/cmake/stdmpi/stdmpiConfig.cmake",
                  "lib/cmake/stdmpi/stdmpiConfigVersion.cmake",
                  f"share/modulefiles/stdmpi/{version}", "share/doc/stdmpi/LICENSE"):
            self.assertTrue(os.path.isfile(self.path(f)), f)
        self.assertFalse(os.path.exists(self.path("bin", "stdmpi-gendoc")))  # a build tool
        with open(self.path("share/doc/stdmpi/LICENSE"), encoding="utf-8") as f:
            self.assertTrue(f.read().startswith("MIT License"))
        examples = sorted(os.listdir(os.path.join(SOURCE, "examples")))
        self.assertIn("pi.py", examples)
        self.assertEqual(sorted(os.listdir(self.path("share/doc/stdmpi/examples"))), examples)
        # Job scripts stay executable.
        self.assertTrue(os.access(self.path("share/doc/stdmpi/examples/pi.sbatch"), os.X_OK))

    def test_installed_tree_runs_jobs(self):
        job = harness.run([self.stdmpirun, "-n", "2", PYTHON, "-c",
                           "import stdmpi; c = stdmpi.COMM_WORLD; "
                           "print(c.allreduce(1), stdmpi.__file__)"],
                          timeout=60, cwd="/")
        self.assertEqual(job.rc, 0, job.describe())
        want = f"2 {self.prefix}/share/stdmpi/python/stdmpi/__init__.py"
        self.assertEqual(job.stdout.splitlines(), [want, want])
        # Every bridge resolves to the installed tree.
        prog = ('echo "$STDMPI_NCL $STDMPI_BASH $STDMPI_AWK"; '
                'Rscript -e "library(stdmpi); cat(find.package(\'stdmpi\'), allreduce(1), \'\\n\')"')
        job = harness.run([self.stdmpirun, "-n", "2", "bash", "-c", prog], timeout=120, cwd="/")
        self.assertEqual(job.rc, 0, job.describe())
        share = os.path.realpath(self.path("share", "stdmpi"))
        self.assertIn(f"{share}/ncl/stdmpi.ncl {share}/bash/stdmpi.sh {share}/awk/stdmpi.awk",
                      job.stdout)
        self.assertIn(f"{share}/R/stdmpi 2", job.stdout)

    def test_the_pi_example_from_the_docs_directory(self):
        pi = self.path("share", "doc", "stdmpi", "examples", "pi.py")
        check_pi(self, harness.run([self.stdmpirun, "-n", "2", PYTHON, pi, "1e6"], timeout=60,
                                   cwd="/"), 1000000)

    def test_the_man_page_renders_with_every_option_of_help(self):
        job = sh(f"man --warnings -l {shlex.quote(self.man)} 2>&1 >/dev/null")
        self.assertEqual((job.rc, job.stdout), (0, ""), job.describe())
        job = harness.run(["man", "-P", "cat", "-l", self.man], env=user_env(), timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        page = rendered(job.stdout)
        self.assertIn("stdmpirun - run any program that prints a line and reads a line", page)
        headings = [l for l in page.splitlines() if re.fullmatch(r"[A-Z][A-Z ]+", l)]
        for h in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES",
                  "EXAMPLES", "SEE ALSO"):
            self.assertIn(h, headings)
        self.assertLess(headings.index("OPTIONS"), headings.index("EXAMPLES"))
        help_job = harness.run([self.stdmpirun, "--help"], timeout=30)
        self.assertEqual(help_job.rc, 0, help_job.describe())
        names = help_option_names(help_job.stdout)
        self.assertGreater(len(names), 30, names)
        for name in ("--tag-output", "-np", "--mca", ":", "-V", "--version"):
            self.assertIn(name, names)
        missing = [n for n in names
                   if not re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", page)]
        self.assertEqual(missing, [], "options of --help that the man page lacks")
        # The groups of --help are the subsections of OPTIONS, in its order.
        groups = [l[:-1] for l in help_job.stdout.splitlines()
                  if re.fullmatch(r"[a-z][^:]*:", l) and l != "examples:"]
        self.assertGreater(len(groups), 5, groups)
        subsections = [l.strip() for l in page.splitlines() if re.fullmatch(r"   \S.*", l)]
        self.assertEqual(subsections, [g[0].upper() + g[1:] for g in groups])

    def test_a_c_program_through_pkg_config(self):
        work = tempfile.mkdtemp(prefix="stdmpi-pkgconfig-")
        self.addCleanup(shutil.rmtree, work, True)
        with open(os.path.join(work, "hello.c"), "w", encoding="utf-8") as f:
            f.write(C_PROGRAM)
        env = user_env(PKG_CONFIG_PATH=self.path("lib", "pkgconfig"))
        job = sh("pkg-config --modversion stdmpi && pkg-config --cflags stdmpi && "
                 "cc -Wall -Werror $(pkg-config --cflags stdmpi) hello.c -o hello",
                 cwd=work, env=env)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(job.stdout.split(), [project_version(), f"-I{self.prefix}/include"])
        job = harness.run([self.stdmpirun, "-n", "2", "./hello"], cwd=work, timeout=60)
        self.assertEqual(job.rc, 0, job.describe())
        self.assertEqual(sorted(job.stdout.splitlines()),
                         ["rank 0 of 2: sum 3", "rank 1 of 2: sum 3"])

    def test_a_cmake_project_finds_stdmpi_where_it_is_copied(self):
        # The package files hold no absolute path: a copy of the tree elsewhere
        # is found there.
        work = tempfile.mkdtemp(prefix="stdmpi-cmake-")
        self.addCleanup(shutil.rmtree, work, True)
        moved = os.path.join(work, "moved")
        for d in ("include", "lib/cmake", "bin"):
            shutil.copytree(self.path(d), os.path.join(moved, d), symlinks=True)
        src = os.path.join(work, "src")
        os.makedirs(src)
        with open(os.path.join(src, "CMakeLists.txt"), "w", encoding="utf-8") as f:
            f.write(CMAKE_PROJECT)
        with open(os.path.join(src, "hello.c"), "w", encoding="utf-8") as f:
            f.write(C_PROGRAM)
        build = os.path.join(work, "build")
        job = sh(f"cmake -S src -B build -DCMAKE_PREFIX_PATH={shlex.quote(moved)} >/dev/null && "
                 "cmake --build build", cwd=work)
        self.assertEqual(job.rc, 0, job.describe())
        with open(os.path.join(build, "found.txt"), encoding="utf-8") as f:
            too_new, version, include, run = f.read().splitlines()
        self.assertEqual(too_new, "0")
        self.assertEqual(version, project_version())
        self.assertEqual(include, f"{moved}/include")
        self.assertEqual(run, f"{moved}/bin/stdmpirun")
        job = harness.run([self.stdmpirun, "-n", "2", os.path.join(build, "hello")], cwd=work,
                          timeout=60)
        self.assertEqual(sorted(job.stdout.splitlines()),
                         ["rank 0 of 2: sum 3", "rank 1 of 2: sum 3"], job.describe())

    def test_module_load_with_lmod(self):
        modules = self.path("share", "modulefiles")
        script = textwrap.dedent(f"""\
            source /usr/share/lmod/lmod/init/bash || exit 90
            man_before=$(man -w man 2>/dev/null)
            module use {shlex.quote(modules)}
            module load stdmpi || exit 91
            echo "stdmpirun=$(command -v stdmpirun)"
            echo "man=$(man -w stdmpirun)"
            echo "MANPATH=$MANPATH"
            [ -z "$man_before" ] || echo "system pages=$([ "$(man -w man)" = "$man_before" ] && echo kept)"
            echo "title=$(man -P cat stdmpirun | grep -m1 'stdmpirun - ')"
            echo "pkg-config=$(pkg-config --cflags stdmpi)"
            echo "CMAKE_PREFIX_PATH=$CMAKE_PREFIX_PATH"
            source /usr/share/bash-completion/bash_completion
            __load_completion stdmpirun && echo "completion=$(complete -p stdmpirun)"
            module unload stdmpi
            echo "unloaded=$(command -v stdmpirun | grep -c {shlex.quote(self.prefix)})"
            """)
        job = sh(script)
        self.assertEqual(job.rc, 0, job.describe())
        got = dict(l.split("=", 1) for l in job.stdout.splitlines() if "=" in l)
        self.assertEqual(got.get("stdmpirun"), self.stdmpirun, job.describe())
        self.assertEqual(got.get("man"), self.man, job.describe())
        # man's own search path stays (an empty element), as do the system's pages.
        self.assertRegex(got.get("MANPATH", ""), r"^" + re.escape(self.prefix) + r"/share/man:.*:$")
        self.assertIn(got.get("system pages", "kept"), "kept")
        self.assertEqual(got.get("title", "").strip(),
                         "stdmpirun - run any program that prints a line and reads a line as the "
                         "ranks of an MPI job", job.describe())
        self.assertEqual(got.get("pkg-config", "").strip(), f"-I{self.prefix}/include")
        self.assertEqual(got.get("CMAKE_PREFIX_PATH"), self.prefix)
        self.assertEqual(got.get("completion"), "complete -o bashdefault -o default -F _stdmpirun "
                                                "stdmpirun", job.describe())
        self.assertEqual(got.get("unloaded"), "0", job.describe())

    def test_bash_completion(self):
        work = tempfile.mkdtemp(prefix="stdmpi-completion-")
        self.addCleanup(shutil.rmtree, work, True)
        for name in ("hostfile.txt", "host.d"):
            open(os.path.join(work, name), "w").close()
        cases = [
            ("stdmpirun", "--tag-o"),
            ("stdmpirun", "--bind-to", ""),
            ("stdmpirun", "--hostfile", "hostf"),
            ("stdmpirun", "-n", "2", "python"),
            ("stdmpirun", "-n", "1", "true", ":", "--n"),
            ("stdmpirun", "--mca", "btl", "tcp", "--tag-o"),
            ("stdmpirun", "-n", "2", "--launcher", "m"),
        ]
        lines = ["source /usr/share/bash-completion/bash_completion",
                 "source " + shlex.quote(self.path("share/bash-completion/completions/stdmpirun"))]
        for words in cases:
            line = " ".join(words)
            lines.append(f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); "
                         f"COMP_CWORD={len(words) - 1}; COMP_LINE={shlex.quote(line)}; "
                         "COMP_POINT=${#COMP_LINE}; COMPREPLY=(); "
                         f"_stdmpirun stdmpirun {shlex.quote(words[-1])} {shlex.quote(words[-2])}; "
                         "printf '%s\\n' \"reply: ${COMPREPLY[*]}\"")
        job = sh("\n".join(lines), cwd=work)
        self.assertEqual(job.rc, 0, job.describe())
        replies = [set(l[len("reply: "):].split()) for l in job.stdout.splitlines()
                   if l.startswith("reply: ")]
        self.assertEqual(len(replies), len(cases), job.describe())
        self.assertEqual(replies[0], {"--tag-output"})
        self.assertEqual(replies[1], {"core", "l3cache", "numa", "package", "none"})
        self.assertEqual(replies[2], {"hostfile.txt"})
        self.assertIn("python3", replies[3])
        self.assertEqual(replies[4], {"--np", "--native"})  # after ':' only these
        self.assertEqual(replies[5], {"--tag-output"})  # --mca took two values
        self.assertEqual(replies[6], {"mpirun"})


class DebianPackage(unittest.TestCase):
    """`cpack -G DEB`, `dpkg -i`, a job, `dpkg -r`."""

    def setUp(self):
        require(is_root(), "root (dpkg -i)")
        state = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "stdmpi"],
                               capture_output=True, text=True)
        # A stdmpi package of someone else's is not ours to replace or remove.
        self.assertNotIn("installed", state.stdout.replace("not-installed", ""),
                         "a stdmpi package is installed on this machine already")
        self.out = tempfile.mkdtemp(prefix="stdmpi-deb-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def deb(self) -> str:
        job = harness.run(["cpack", "-G", "DEB", "-B", self.out], cwd=BUILD, timeout=300)
        self.assertEqual(job.rc, 0, job.describe())
        debs = glob.glob(os.path.join(self.out, "*.deb"))
        arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                              text=True).stdout.strip()
        self.assertEqual([os.path.basename(d) for d in debs],
                         [f"stdmpi_{project_version()}_{arch}.deb"])
        return debs[0]

    def check_fields(self, deb: str) -> None:
        fields = {}
        for name in ("Package", "Version", "Maintainer", "Depends", "Recommends", "Description"):
            job = harness.run(["dpkg-deb", "-f", deb, name], timeout=30)
            fields[name] = job.stdout.strip()
        self.assertEqual(fields["Package"], "stdmpi")
        self.assertEqual(fields["Version"], project_version())
        self.assertRegex(fields["Maintainer"], r"^[^<>]+ <[^<>@]+@[^<>]+>$")
        depends = [d.split()[0] for d in fields["Depends"].split(", ")]
        for package in ("openmpi-bin", "libopenmpi3", "libhwloc15", "libuv1", "libc6",
                        "libstdc++6"):
            self.assertIn(package, depends, fields["Depends"])
        self.assertEqual(fields["Recommends"], "python3, r-base-core")
        self.assertIn("MPI rank", fields["Description"])
        listing = harness.run(["dpkg-deb", "-c", deb], timeout=30).stdout
        files = {l.split()[-1] for l in listing.splitlines()}
        for f in ("./usr/bin/stdmpirun", "./usr/bin/stdmpi-shim",
                  "./usr/share/man/man1/stdmpirun.1", "./usr/share/doc/stdmpi/examples/pi.py",
                  "./usr/share/doc/stdmpi/LICENSE", "./usr/lib/pkgconfig/stdmpi.pc",
                  "./usr/lib/cmake/stdmpi/stdmpiConfig.cmake",
                  f"./usr/share/modulefiles/stdmpi/{project_version()}",
                  "./usr/share/bash-completion/completions/stdmpirun",
                  "./usr/share/stdmpi/python/stdmpi/__init__.py"):
            self.assertIn(f, files)
        job = sh(f"dpkg-deb --fsys-tarfile {shlex.quote(deb)} | tar -xO ./usr/lib/pkgconfig/stdmpi.pc")
        self.assertIn("prefix=/usr\n", job.stdout, job.describe())

    def test_the_deb_installs_runs_and_is_removed(self):
        deb = self.deb()
        self.check_fields(deb)
        try:
            # Docker's Debian images may leave out /usr/share/doc and man pages
            # (/etc/dpkg/dpkg.cfg.d/excludes): the test asks for stdmpi's.
            job = harness.run(["dpkg", "-i", "--path-include=/usr/share/doc/stdmpi/*",
                               "--path-include=/usr/share/man/man1/stdmpirun.1*", deb],
                              timeout=300)
            self.assertEqual(job.rc, 0, job.describe())
            check_pi(self, harness.run(["/usr/bin/stdmpirun", "-n", "2", PYTHON,
                                        "/usr/share/doc/stdmpi/examples/pi.py", "1e6"],
                                       timeout=60, cwd="/"), 1000000)
            job = sh("man --warnings -l /usr/share/man/man1/stdmpirun.1 2>&1 >/dev/null; "
                     "man -w stdmpirun; man -P cat stdmpirun | grep -m1 'stdmpirun - '")
            self.assertEqual(job.rc, 0, job.describe())
            self.assertEqual(job.stdout.splitlines(),
                             ["/usr/share/man/man1/stdmpirun.1",
                              "       stdmpirun - run any program that prints a line and reads "
                              "a line as the ranks of an MPI job"])
        finally:
            # dpkg -r takes the files; --purge then the package's entry in
            # dpkg's database (kept after -r for its postrm, which runs ldconfig).
            removed = harness.run(["dpkg", "-r", "stdmpi"], timeout=300)
            left = [f for f in ("/usr/bin/stdmpirun", "/usr/bin/stdmpi-shim", "/usr/share/stdmpi",
                                "/usr/share/doc/stdmpi", "/usr/share/man/man1/stdmpirun.1",
                                "/usr/lib/pkgconfig/stdmpi.pc", "/usr/lib/stdmpi")
                    if os.path.exists(f)]
            purged = harness.run(["dpkg", "--purge", "stdmpi"], timeout=300)
        self.assertEqual(removed.rc, 0, removed.describe())
        self.assertEqual(left, [], "left behind by dpkg -r stdmpi")
        self.assertEqual(purged.rc, 0, purged.describe())
        state = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "stdmpi"],
                               capture_output=True, text=True)
        self.assertNotEqual(state.returncode, 0, state.stdout)


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
