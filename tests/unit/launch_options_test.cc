#include "launch_options.h"
#include "launch_parse.h"
#include "version_info.h"

#include <catch2/catch.hpp>

using namespace stdmpi;

namespace {

LaunchOptions Parse(std::vector<std::string> args) {
  LaunchOptions o;
  std::string err;
  INFO(err);
  REQUIRE(ParseLaunchArgs(args, &o, &err));
  return o;
}

std::string Error(std::vector<std::string> args) {
  return LaunchParseError(std::move(args));
}

Facts Here(int cores = 2, bool root = false) {
  Facts f;
  f.cores = cores;
  f.root = root;
  f.mpirun = "/usr/bin/mpirun";
  f.shim = "/opt/bin/stdmpi-shim";
  f.start_early = false;  // its own test case below; the others stay shorter
  return f;
}

std::string Cmd(const LaunchOptions& o, const Facts& f, Plan* plan = nullptr) {
  Plan p;
  std::string err;
  REQUIRE(BuildPlan(o, f, &p, &err));
  if (plan) *plan = p;
  return ShellQuote(p.argv);
}

}  // namespace

TEST_CASE("the command starts at the first non-option and keeps its options") {
  LaunchOptions o = Parse({"-n", "4", "--tag-output", "python3", "-u", "x.py", "--tag-output"});
  REQUIRE(o.apps.size() == 1);
  CHECK(o.apps[0].np == 4);
  CHECK(o.shim.tag_output);
  CHECK(o.apps[0].command == std::vector<std::string>{"python3", "-u", "x.py", "--tag-output"});
  CHECK(Parse({"-np", "3", "a"}).apps[0].np == 3);
  CHECK(Parse({"--np=5", "a"}).apps[0].np == 5);
  CHECK(Parse({"-n2", "a"}).apps[0].np == 2);
  CHECK(Parse({"--", "-weird-name"}).apps[0].command == std::vector<std::string>{"-weird-name"});
  CHECK(Parse({"a"}).apps[0].np == 0);
}

TEST_CASE("multi-program jobs") {
  LaunchOptions o = Parse({"-n", "1", "python3", "m.py", ":", "-n", "8", "Rscript", "w.R"});
  REQUIRE(o.apps.size() == 2);
  CHECK(o.apps[1].np == 8);
  CHECK(o.apps[1].command == std::vector<std::string>{"Rscript", "w.R"});
  CHECK(Error({"-n", "1", "a", ":", "b"}) ==
        "every command of a multi-program job needs -n for each command (b has none)");
  CHECK(Error({"-n", "1", "a", ":"}) == "no command after \":\"");
  CHECK(Error({"-n", "1", "a", ":", "--tag-output", "-n", "1", "b"}) ==
        "option --tag-output must come before the first command (after \":\" only -n and "
        "--native are allowed)");
}

TEST_CASE("option errors say what is wrong") {
  CHECK(Error({}) == "no command given (try: stdmpirun -n 2 python3 script.py)");
  CHECK(Error({"-n", "4"}) == "no command given (try: stdmpirun -n 2 python3 script.py)");
  CHECK(Error({"-n", "0", "a"}) == "-n 0: expected a number of ranks >= 1");
  CHECK(Error({"-n", "x", "a"}) == "-n x: expected a number of ranks >= 1");
  CHECK(Error({"-n"}) == "-n needs a value");
  CHECK(Error({"--frob", "a"}) ==
        "unknown option --frob (pass options to mpirun or srun with --launcher-arg, see --help)");
  CHECK(Error({"--max-line", "huge", "a"}) ==
        "--max-line huge: expected a size from 64 bytes to 2G-1 (e.g. 64M)");
  CHECK(Error({"--mca", "btl"}) == "--mca needs a KEY and a VALUE, e.g. --mca btl tcp,self");
  CHECK(Parse({"--help"}).help);
  CHECK(Parse({"-V"}).version);
}

TEST_CASE("the mpirun command for a local job") {
  LaunchOptions o = Parse({"-n", "2", "python3", "my script.py"});
  Plan p;
  CHECK(Cmd(o, Here(), &p) ==
        "/usr/bin/mpirun --stdin none --bind-to none --mca pml ob1 -n 2 /opt/bin/stdmpi-shim -- "
        "python3 "
        "'my script.py'");
  CHECK(p.warnings.empty());
  CHECK(p.total_ranks == 2);
  CHECK(p.local);
}

TEST_CASE("root, oversubscription and the user's pml") {
  LaunchOptions o = Parse({"-n", "3", "--tag-output", "--max-line", "1K", "a"});
  Plan p;
  CHECK(Cmd(o, Here(2, true), &p) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --oversubscribe --bind-to none --mca pml "
        "ob1 -n 3 "
        "/opt/bin/stdmpi-shim --quiet --tag-output --max-line 1024 -- a");
  REQUIRE(p.warnings.size() == 1);
  CHECK(p.warnings[0] ==
        "3 ranks on 2 cores: oversubscribing, ranks not bound to cores (they share cores; fine "
        "for testing, slower for real work; --oversubscribe silences this)");
  o = Parse({"-n", "3", "--oversubscribe", "--mca", "pml", "ucx", "a"});
  CHECK(Cmd(o, Here(2), &p) ==
        "/usr/bin/mpirun --stdin none --oversubscribe --bind-to none --mca pml ucx -n 3 "
        "/opt/bin/stdmpi-shim "
        "--quiet -- a");
  CHECK(p.warnings.empty());
  Facts f = Here();
  f.env_sets_pml = true;
  CHECK(Cmd(Parse({"-n", "1", "a"}), f) ==
        "/usr/bin/mpirun --stdin none --bind-to none -n 1 /opt/bin/stdmpi-shim -- a");
}

TEST_CASE("default rank count, hostfiles and pass-through arguments") {
  Plan p;
  CHECK(Cmd(Parse({"a"}), Here(8), &p) ==
        "/usr/bin/mpirun --stdin none --bind-to none --mca pml ob1 -n 8 /opt/bin/stdmpi-shim -- a");
  CHECK(p.total_ranks == 8);
  LaunchOptions o = Parse({"--hostfile", "hosts", "-x", "FOO=1", "--mpirun-arg", "--bind-to",
                           "--mpirun-arg", "none", "a"});
  CHECK(
      Cmd(o, Here(2), &p) ==
      "/usr/bin/mpirun --stdin none -x STDMPI_REPORT_MARK -x FOO=1 --hostfile hosts --bind-to none "
      "/opt/bin/stdmpi-shim -- a");
  CHECK_FALSE(p.local);
  CHECK(p.total_ranks == 0);
}

TEST_CASE("placement options reach the shims, mpirun does not bind them") {
  Plan p;
  LaunchOptions o =
      Parse({"--cpus-per-rank", "2", "--bind-to", "socket", "--report-bindings", "a"});
  CHECK(Cmd(o, Here(8), &p) ==
        "/usr/bin/mpirun --stdin none --bind-to none --mca pml ob1 -n 4 /opt/bin/stdmpi-shim "
        "--bind-to package --cpus-per-rank 2 --report-bindings -- a");
  CHECK(p.total_ranks == 4);  // cores / cpus-per-rank
  o = Parse({"-n", "3", "--cpus-per-rank", "2", "a"});
  CHECK(Cmd(o, Here(4), &p) ==
        "/usr/bin/mpirun --stdin none --oversubscribe --bind-to none --mca pml ob1 -n 3 "
        "/opt/bin/stdmpi-shim --cpus-per-rank 2 --quiet -- a");
  REQUIRE(p.warnings.size() == 1);
  CHECK(p.warnings[0].rfind("3 ranks x 2 cores on 4 cores: oversubscribing", 0) == 0);
  // The user's own binding for the launcher: stdmpirun adds none.
  o = Parse({"--launcher-arg=--bind-to", "--launcher-arg=core", "-n", "1", "a"});
  CHECK(Cmd(o, Here(4)) ==
        "/usr/bin/mpirun --stdin none --mca pml ob1 --bind-to core -n 1 /opt/bin/stdmpi-shim -- a");
  LaunchOptions bad;
  std::string err;
  CHECK_FALSE(ParseLaunchArgs({"--bind-to", "board", "a"}, &bad, &err));
  CHECK(err == "--bind-to board: expected core, l3cache, numa, package or none");
  CHECK_FALSE(ParseLaunchArgs({"--cpus-per-rank", "0", "a"}, &bad, &err));
  CHECK(err == "--cpus-per-rank 0: expected a number of cores >= 1");
}

TEST_CASE("MPMD jobs give each command its own shim") {
  LaunchOptions o = Parse({"-n", "1", "python3", "m.py", ":", "-n", "2", "Rscript", "w.R"});
  CHECK(Cmd(o, Here(4)) ==
        "/usr/bin/mpirun --stdin none --bind-to none --mca pml ob1 -n 1 /opt/bin/stdmpi-shim "
        "--app-sizes 1,2 -- python3 m.py : "
        "-n 2 /opt/bin/stdmpi-shim --app-sizes 1,2 -- Rscript w.R");
}

TEST_CASE("under mpirun binding nothing the shims start their programs early") {
  Facts f = Here(4);
  f.start_early = true;
  CHECK(Cmd(Parse({"-n", "2", "a"}), f) ==
        "/usr/bin/mpirun --stdin none --bind-to none --mca pml ob1 -n 2 /opt/bin/stdmpi-shim "
        "--start-early -- a");
  CHECK(Cmd(Parse({"-n", "1", "a", ":", "-n", "1", "b"}), f) ==
        "/usr/bin/mpirun --stdin none --bind-to none --mca pml ob1 -n 1 /opt/bin/stdmpi-shim "
        "--app-sizes 1,1 --start-early -- a : -n 1 /opt/bin/stdmpi-shim --app-sizes 1,1 "
        "--start-early -- b");
  // Not where mpirun places the ranks itself: a binding, a rankfile, PE=.
  for (const char* arg : {"--launcher-arg=--bind-to=core", "--launcher-arg=--rankfile=rf",
                          "--launcher-arg=--map-by=slot:PE=2", "--mpirun-arg=--cpus-per-proc=2"}) {
    CAPTURE(arg);
    CHECK(Cmd(Parse({arg, "-n", "1", "a"}), f).find("--start-early") == std::string::npos);
  }
  // Not with native ranks: they count among mpirun's local ranks.
  CHECK(Cmd(Parse({"-n", "1", "a", ":", "-n", "1", "--native", "b"}), f).find("--start-early") ==
        std::string::npos);
  // Not under srun (its binding is its own), nor when turned off.
  f.scheduler.kind = Scheduler::Kind::kSlurm;
  f.scheduler.slots = 2;
  f.srun = "/usr/bin/srun";
  std::string srun = Cmd(Parse({"-n", "2", "a"}), f);
  CHECK(srun.rfind("/usr/bin/srun ", 0) == 0);
  CHECK(srun.find("--start-early") == std::string::npos);
  f = Here(4);
  CHECK(Cmd(Parse({"-n", "2", "a"}), f).find("--start-early") == std::string::npos);
}

TEST_CASE("shell quoting for display") {
  CHECK(ShellQuote({"a", "b c", "it's", "", "$HOME"}) == "a 'b c' 'it'\\''s' '' '$HOME'");
}

TEST_CASE("native MPI programs run without a shim, and the shims know their ranks") {
  LaunchOptions o = Parse({"-n", "1", "python3", "m.py", ":", "-n", "2", "--native", "./solver",
                           "--x", ":", "-n", "3", "Rscript", "w.R"});
  REQUIRE(o.apps.size() == 3);
  CHECK(o.apps[1].native);
  CHECK(o.apps[1].command == std::vector<std::string>{"./solver", "--x"});
  CHECK(Cmd(o, Here(8)) ==
        "/usr/bin/mpirun --stdin none --bind-to none --mca pml ob1 -n 1 /opt/bin/stdmpi-shim "
        "--native-ranks 1-2 --app-sizes 1,2,3 "
        "-- python3 m.py : -n 2 ./solver --x : -n 3 /opt/bin/stdmpi-shim --native-ranks 1-2 "
        "--app-sizes 1,2,3 -- Rscript w.R");
  CHECK(Error({"--native", "./solver"}) ==
        "a job with --native programs needs -n for each command (./solver has none)");
}

TEST_CASE("the text of --version names the rank program libraries and each launcher") {
  std::string v = FormatVersion(
      "1.2.3", "/opt/bin/stdmpi-shim",
      "stdmpi-shim (stdmpi) 1.2.3\nMPI library: Open MPI v4.1.4\n"
      "hwloc: 2.9.0 (API 2.8 at run time)\nlibuv: 1.44.2\n",
      {{"/usr/bin/mpirun", "mpirun (Open MPI) 4.1.4\n"}, {"/usr/bin/srun", ""}, {"", "never"}});
  CHECK(v ==
        "stdmpirun (stdmpi) 1.2.3\n"
        "rank program: /opt/bin/stdmpi-shim\n"
        "MPI library: Open MPI v4.1.4\n"
        "hwloc: 2.9.0 (API 2.8 at run time)\n"
        "libuv: 1.44.2\n"
        "launcher: /usr/bin/mpirun (mpirun (Open MPI) 4.1.4)\n"
        "launcher: /usr/bin/srun (it did not say its version)\n");
  v = FormatVersion("1.2.3", "/x/stdmpi-shim", "", {});
  CHECK(v.find("it did not answer --version") != std::string::npos);
}
