#include "banner_filter.h"

#include <catch2/catch.hpp>

using namespace stdmpi;

namespace {
const std::string kRule(74, '-');
const std::string kMark = "[stdmpi-report 0123456789abcdef] ";

std::string Abort() {
  return kRule +
         "\nMPI_ABORT was invoked on rank 1 in communicator MPI_COMM_WORLD\nwith errorcode "
         "3.\n\nNOTE: invoking MPI_ABORT causes Open MPI to kill all MPI processes.\n" +
         kRule + "\n";
}
}  // namespace

TEST_CASE("the MPI_ABORT box is dropped, the rest passes in order") {
  BannerFilter f;
  std::string out = f.Feed("before\n" + Abort() + "after\n");
  out += f.Flush();
  CHECK(out == "before\nafter\n");
}

TEST_CASE("other boxes pass through unchanged") {
  BannerFilter f;
  std::string box = kRule + "\nThere are not enough slots available in the system\n" + kRule + "\n";
  std::string out = f.Feed(box);
  out += f.Flush();
  CHECK(out == box);
}

TEST_CASE("boxes split across reads, byte by byte") {
  BannerFilter f;
  std::string in = "x\n" + Abort() + "y\n";
  std::string out;
  for (char c : in) out += f.Feed(std::string(1, c));
  out += f.Flush();
  CHECK(out == "x\ny\n");
}

TEST_CASE("a partial ordinary line passes at once") {
  BannerFilter f;
  CHECK(f.Feed("progress 50%") == "progress 50%");
  CHECK(f.Feed(" done\n") == " done\n");
  CHECK(f.Feed("---") == "");  // could be a rule: held
  CHECK(f.Feed(" not a rule\n") == "--- not a rule\n");
}

TEST_CASE("an unclosed box comes out at the end, an unterminated last line too") {
  for (const std::string& in : {kRule + "\nsomething\n", kRule + "\nfirst line\nlast words"}) {
    BannerFilter f;
    CHECK(f.Feed(in).empty());
    CHECK(f.holding());
    CHECK(f.Flush() == in);
    CHECK_FALSE(f.holding());
  }
}

TEST_CASE("Open MPI's teardown noise line is dropped") {
  BannerFilter f;
  std::string out = f.Feed(
      "a\n[vm:13768] [[22838,0],0] ORTE_ERROR_LOG: Data unpack would read past end of buffer in "
      "file ../../../orte/util/show_help.c at line 507\nb\n");
  CHECK(out == "a\nb\n");
  CHECK(f.Feed("ORTE_ERROR_LOG: Not found in file base.c\n") ==
        "ORTE_ERROR_LOG: Not found in file base.c\n");
}

TEST_CASE("help-machinery errors and the abort aggregate count are dropped") {
  BannerFilter f;
  std::string out = f.Feed(
      "[vm:02070] [[25832,0],0] ORTE_ERROR_LOG: Out of resource in file "
      "../../../orte/util/show_help.c at line 501\n"
      "[vm:00490] 1 more process has sent help message help-mpi-api.txt / mpi-abort\n"
      "[vm:00490] Set MCA parameter \"orte_base_help_aggregate\" to 0 to see all help / error "
      "messages\n"
      "kept\n"
      "[vm:00491] 3 more processes have sent help message help-mpi-api.txt / mpi-abort\n");
  CHECK(out == "kept\n");
  // The hint stays when it follows another aggregate.
  CHECK(f.Feed("[vm:1] 2 more processes have sent help message help-foo.txt / bar\n"
               "[vm:1] Set MCA parameter \"orte_base_help_aggregate\" to 0 to see all help / "
               "error messages\n") ==
        "[vm:1] 2 more processes have sent help message help-foo.txt / bar\n"
        "[vm:1] Set MCA parameter \"orte_base_help_aggregate\" to 0 to see all help / error "
        "messages\n");
}

TEST_CASE("srun's repeats of a reported failure are dropped, its other news passes") {
  const std::string teardown =
      "srun: Job step aborted: Waiting up to 32 seconds for job step to finish.\n"
      "slurmstepd-vm: error: *** STEP 1.0 ON vm CANCELLED AT 2026-11-22T05:27:09 ***\n"
      "srun: error: vm: task 0: Killed\n"
      "srun: launch/slurm: _step_signal: Terminating StepId=1.0\n"
      "srun: error: vm: task 1: Exited with exit code 3\n";
  const std::string news = "srun: error: vm: task 2: Out Of Memory\n";
  BannerFilter f;
  f.SetReportMark(kMark);
  std::string out = f.Feed(kMark + "stdmpi: rank 1 (a): exited with status 3; ending the job\n" +
                           teardown + news);
  out += f.Flush();
  CHECK(out == "stdmpi: rank 1 (a): exited with status 3; ending the job\n" + news);

  // Without a rank's own report (a native program crashed, scancel), srun's
  // lines are the only news: they pass, but for its note that it is waiting.
  BannerFilter g;
  out = g.Feed(teardown);
  out += g.Flush();
  CHECK(out == teardown.substr(teardown.find('\n') + 1));
}

TEST_CASE("after stdmpirun announced the end, srun's teardown is dropped") {
  BannerFilter f;
  f.JobEnding();
  std::string out = f.Feed(
      "srun: forcing job termination\n"
      "srun: Job step aborted: Waiting up to 32 seconds for job step to finish.\n"
      "slurmstepd-vm: error: *** STEP 1.1 ON vm CANCELLED AT 2026-11-22T05:41:31 ***\n"
      "srun: error: vm: tasks 0-1: Killed\n"
      "srun: launch/slurm: _step_signal: Terminating StepId=1.1\n"
      "a rank's own line\n");
  out += f.Flush();
  CHECK(out == "a rank's own line\n");
}

TEST_CASE("mpirun's note that it forwards a signal is dropped") {
  BannerFilter f;
  std::string out = f.Feed("mpirun: Forwarding signal 10 to job\nstdmpi: rank 0 (a): waiting\n");
  out += f.Flush();
  CHECK(out == "stdmpi: rank 0 (a): waiting\n");
}

TEST_CASE("a rank's process killed by a signal becomes one line naming the rank") {
  BannerFilter f;
  std::string out = f.Feed(kRule +
                           "\nmpirun noticed that process rank 2 with PID 0 on node vm exited on "
                           "signal 9 (Killed).\n" +
                           kRule + "\n");
  out += f.Flush();
  CHECK(out ==
        "stdmpirun: the process of rank 2 on vm (its stdmpi-shim, or the rank itself if it is a "
        "native MPI program) was killed by signal 9 (Killed); ending the job\n");
  // After a shim said why the job ends, the box is only a repeat.
  BannerFilter g;
  g.SetReportMark(kMark);
  out = g.Feed(kMark + "stdmpi: rank 1 (x): exited with status 3; ending the job\n" + kRule +
               "\nmpirun noticed that process rank 0 with PID 7 on node vm exited on signal 15 "
               "(Terminated).\n" +
               kRule + "\n");
  out += g.Flush();
  CHECK(out == "stdmpi: rank 1 (x): exited with status 3; ending the job\n");
}

TEST_CASE("a last piece held as a possible rule comes out at the end") {
  // A rank's stderr that ends with dashes and no newline: held (it might
  // become a rule), and Flush at the end of the stream gives it back.
  BannerFilter f;
  std::string out = f.Feed("progress\n---");
  CHECK(out == "progress\n");
  out += f.Feed("--");
  CHECK(out == "progress\n");
  out += f.Flush();
  CHECK(out == "progress\n-----");
  CHECK(f.Flush().empty());  // nothing is given twice
}

TEST_CASE("a last piece without newline after a dropped box comes out at the end") {
  BannerFilter f;
  std::string out = f.Feed(Abort() + "---");
  out += f.Flush();
  CHECK(out == "---");
  BannerFilter g;
  out = g.Feed(Abort() + "tail");
  out += g.Flush();
  CHECK(out == "tail");
}

TEST_CASE("only a line with the job's mark counts as a shim's report") {
  const std::string box = kRule +
                          "\nmpirun noticed that process rank 0 with PID 7 on node vm exited on "
                          "signal 9 (Killed).\n" +
                          kRule + "\n";
  const std::string dead =
      "stdmpirun: the process of rank 0 on vm (its stdmpi-shim, or the rank itself if it is a "
      "native MPI program) was killed by signal 9 (Killed); ending the job\n";
  // A program's look-alike line, a shim's warning, another job's mark: the
  // news that a rank was killed still passes.
  for (const std::string& line : {std::string("stdmpi: rank 1 (x): ending the job\n"),
                                  std::string("stdmpi: rank 0 on vm: cores 0-1\n"),
                                  std::string("[stdmpi-report fedcba9876543210] x: hi\n")}) {
    BannerFilter f;
    f.SetReportMark(kMark);
    std::string out = f.Feed(line + box);
    out += f.Flush();
    CHECK(out == line + dead);
    CHECK_FALSE(f.reported());
  }
  // Without a mark (a shim not started by stdmpirun) no line counts.
  BannerFilter g;
  std::string out = g.Feed(kMark + "x\n" + box);
  CHECK(out == kMark + "x\n" + dead);
}

TEST_CASE("the mark comes off a report that arrives in pieces") {
  BannerFilter f;
  f.SetReportMark(kMark);
  std::string out = f.Feed("a line\n" + kMark.substr(0, 5));
  CHECK(out == "a line\n");
  CHECK(f.holding());  // a start of the mark is held, for at most a moment
  out += f.Feed(kMark.substr(5) + "stdmpi: rank 1 (x): ");
  CHECK(out == "a line\n");
  out += f.Feed("exited with status 3; ending the job\n");
  CHECK(out == "a line\nstdmpi: rank 1 (x): exited with status 3; ending the job\n");
  CHECK(f.reported());
  CHECK_FALSE(f.holding());
  // A piece that only begins like the mark goes out once it differs.
  BannerFilter g;
  g.SetReportMark(kMark);
  out = g.Feed("[stdmpi");
  CHECK(out.empty());
  out += g.Feed("-progress 40%");
  CHECK(out == "[stdmpi-progress 40%");
  // A held start of the mark that never goes on comes out at the end.
  BannerFilter h;
  h.SetReportMark(kMark);
  out = h.Feed("[");
  out += h.Flush();
  CHECK(out == "[");
  CHECK_FALSE(h.reported());
}
