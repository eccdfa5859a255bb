// Batch-system detection and the launch plans built inside a job.
#include "scheduler.h"

#include <catch2/catch.hpp>

#include "launch_options.h"
#include "options.h"

using namespace stdmpi;

namespace {

Facts InJob(const std::map<std::string, std::string>& env,
            const std::vector<std::string>& nodefile = {}) {
  Facts f;
  f.cores = 2;
  f.root = true;
  f.mpirun = "/usr/bin/mpirun";
  f.srun = "/usr/bin/srun";
  f.shim = "/opt/bin/stdmpi-shim";
  f.scheduler = DetectScheduler(env, nodefile);
  return f;
}

LaunchOptions Parse(std::vector<std::string> args) {
  LaunchOptions o;
  std::string err;
  REQUIRE(ParseLaunchArgs(args, &o, &err));
  return o;
}

Plan PlanOf(const LaunchOptions& o, const Facts& f) {
  Plan p;
  std::string err;
  INFO(err);
  REQUIRE(BuildPlan(o, f, &p, &err));
  return p;
}

std::string PlanError(const LaunchOptions& o, const Facts& f) {
  Plan p;
  std::string err;
  REQUIRE_FALSE(BuildPlan(o, f, &p, &err));
  return err;
}

const std::map<std::string, std::string> kSlurm2x4 = {{"SLURM_JOB_ID", "42"},
                                                      {"SLURM_NTASKS", "8"},
                                                      {"SLURM_TASKS_PER_NODE", "4(x2)"},
                                                      {"SLURM_JOB_NUM_NODES", "2"}};

}  // namespace

TEST_CASE("SLURM task counts") {
  CHECK(SumSlurmCounts("4") == 4);
  CHECK(SumSlurmCounts("2(x3)") == 6);
  CHECK(SumSlurmCounts("2(x3),1") == 7);
  CHECK(SumSlurmCounts("16,8(x2),4") == 36);
  CHECK(SumSlurmCounts("") == -1);
  CHECK(SumSlurmCounts("2(3)") == -1);
  CHECK(SumSlurmCounts("2(x)") == -1);
  CHECK(SumSlurmCounts("a") == -1);
  CHECK(SumSlurmCounts("2,,3") == -1);
}

TEST_CASE("detection: SLURM, PBS, LSF, none") {
  Scheduler s = DetectScheduler(kSlurm2x4, {});
  CHECK(s.kind == Scheduler::Kind::kSlurm);
  CHECK(s.job_id == "42");
  CHECK(s.slots == 8);
  CHECK(s.nodes == 2);

  // sbatch without -n sets no SLURM_NTASKS: the per-node counts still tell.
  s = DetectScheduler({{"SLURM_JOB_ID", "7"}, {"SLURM_TASKS_PER_NODE", "2(x3),1"}}, {});
  CHECK(s.slots == 7);
  s = DetectScheduler({{"SLURM_JOB_ID", "7"}, {"SLURM_TASKS_PER_NODE", "junk"}}, {});
  CHECK(s.slots == 0);
  CHECK(s.problem == "SLURM_NTASKS and SLURM_TASKS_PER_NODE are not usable");

  s = DetectScheduler({{"PBS_NODEFILE", "/var/spool/pbs/aux/9"}, {"PBS_JOBID", "9.srv"}},
                      {"n1", "n1", "n2", "", "n2\r", "n3"});
  CHECK(s.kind == Scheduler::Kind::kPbs);
  CHECK(s.slots == 5);
  CHECK(s.nodes == 3);
  CHECK(s.hostfile == "/var/spool/pbs/aux/9");
  CHECK(s.host_list == "n1:2,n2:2,n3:1");
  s = DetectScheduler({{"PBS_NODEFILE", "/gone"}, {"PBS_NP", "4"}}, {});
  CHECK(s.slots == 4);
  CHECK(s.problem == "the node file /gone is empty or unreadable");

  s = DetectScheduler({{"LSB_DJOB_HOSTFILE", "/tmp/lsf.hosts"}, {"LSB_JOBID", "3"}},
                      {"a", "a", "b", "b"});
  CHECK(s.kind == Scheduler::Kind::kLsf);
  CHECK(s.slots == 4);
  CHECK(s.nodes == 2);
  s = DetectScheduler({{"LSB_MCPU_HOSTS", "a 4 b 2"}}, {});
  CHECK(s.kind == Scheduler::Kind::kLsf);
  CHECK(s.hostfile.empty());
  CHECK(s.host_list == "a:4,b:2");
  CHECK(s.slots == 6);

  CHECK(DetectScheduler({}, {}).kind == Scheduler::Kind::kNone);
  // SLURM wins when a job has both (a PBS variable leaking into a SLURM job).
  CHECK(DetectScheduler({{"SLURM_JOB_ID", "1"}, {"SLURM_NTASKS", "1"}, {"PBS_NODEFILE", "f"}}, {})
            .kind == Scheduler::Kind::kSlurm);
}

TEST_CASE("inside SLURM: srun with the allocation's task count") {
  Plan p = PlanOf(Parse({"python3", "pi.py"}), InJob(kSlurm2x4));
  CHECK(p.srun);
  CHECK_FALSE(p.local);
  CHECK(p.total_ranks == 8);
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --quit-on-interrupt --input=none -n 8 "
        "/opt/bin/stdmpi-shim -- python3 pi.py");
  CHECK(p.env.empty());  // two nodes: Open MPI picks its own transport
  // SLURM allots cores per task for --cpus-per-rank.
  CHECK(ShellQuote(PlanOf(Parse({"--cpus-per-rank", "4", "a"}), InJob(kSlurm2x4)).argv) ==
        "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --quit-on-interrupt --input=none -n 8 "
        "--cpus-per-task=4 /opt/bin/stdmpi-shim --cpus-per-rank 4 -- a");
  CHECK(p.summary == "launcher: srun; inside SLURM job 42, 8 tasks on 2 nodes, 8 ranks");

  // One node: the fast-starting transport, through the environment srun hands on.
  Facts one = InJob({{"SLURM_JOB_ID", "5"}, {"SLURM_NTASKS", "3"}, {"SLURM_JOB_NUM_NODES", "1"}});
  p = PlanOf(Parse({"-n", "2", "--mca", "btl", "self,vader", "-x", "A=1", "--tag-output", "a"}),
             one);
  CHECK(p.local);
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --quit-on-interrupt --input=none -n 2 "
        "/opt/bin/stdmpi-shim --tag-output -- a");
  CHECK(p.env == std::vector<std::pair<std::string, std::string>>{
                     {"OMPI_MCA_pml", "ob1"}, {"OMPI_MCA_btl", "self,vader"}, {"A", "1"}});
  // More ranks than cores is the allocation's business, not a warning of ours.
  p = PlanOf(Parse({"-n", "3", "a"}), one);
  CHECK(p.warnings.empty());
}

TEST_CASE("inside SLURM: several programs go through one srun command and --apps") {
  Plan p =
      PlanOf(Parse({"-n", "1", "--native", "./solver", "-v", ":", "-n", "3", "Rscript", "w.R"}),
             InJob(kSlurm2x4));
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --quit-on-interrupt --input=none -n 4 "
        "/opt/bin/stdmpi-shim --native-ranks 0 --apps 1:2:native,3:2 -- ./solver -v Rscript w.R");
  // And the shim reads it back: each rank gets its own program.
  std::vector<std::string> shim_args(p.argv.begin() + 8, p.argv.end());
  ShimOptions so;
  bool help = false, native = false;
  std::string err;
  REQUIRE(ParseShimArgs(shim_args, &so, &help, &err));
  ShimOptions r0 = so, r3 = so;
  REQUIRE(SelectApp(0, &r0, &native, &err));
  CHECK(native);
  CHECK(r0.command == std::vector<std::string>{"./solver", "-v"});
  REQUIRE(SelectApp(3, &r3, &native, &err));
  CHECK_FALSE(native);
  CHECK(r3.command == std::vector<std::string>{"Rscript", "w.R"});
  CHECK_FALSE(SelectApp(4, &r3, &native, &err));
  CHECK(err == "rank 4 is beyond the 4 ranks that --apps gives programs for");
}

TEST_CASE("inside SLURM: --launcher mpirun and user hosts choose mpirun") {
  Plan p = PlanOf(Parse({"--launcher", "mpirun", "a"}), InJob(kSlurm2x4));
  CHECK_FALSE(p.srun);
  CHECK(
      ShellQuote(p.argv) ==
      "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none -x STDMPI_REPORT_MARK -n 8 "
      "/opt/bin/stdmpi-shim --start-early -- a");
  p = PlanOf(Parse({"--hostfile", "h", "a"}), InJob(kSlurm2x4));
  CHECK_FALSE(p.srun);
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none -x STDMPI_REPORT_MARK "
        "--hostfile h "
        "/opt/bin/stdmpi-shim --start-early -- a");
  // No srun on PATH: mpirun, which reads the allocation itself.
  Facts no_srun = InJob(kSlurm2x4);
  no_srun.srun.clear();
  CHECK_FALSE(PlanOf(Parse({"a"}), no_srun).srun);
  CHECK(PlanError(Parse({"--launcher", "srun", "a"}), no_srun) ==
        "--launcher srun: srun not found on PATH");
  CHECK(PlanError(Parse({"--launcher", "srun", "--host", "x", "a"}), InJob(kSlurm2x4)) ==
        "--hostfile and --host are mpirun options; srun takes its hosts from the allocation");
  Facts broken = InJob({{"SLURM_JOB_ID", "9"}});
  CHECK(PlanError(Parse({"a"}), broken) ==
        "inside a SLURM job but SLURM_NTASKS and SLURM_TASKS_PER_NODE are not usable; give -n N "
        "(and --hostfile FILE for mpirun)");
  CHECK(PlanOf(Parse({"-n", "2", "a"}), broken).total_ranks == 2);
}

TEST_CASE("srun chosen by --launcher outside a job, and option errors") {
  Facts f = InJob({});
  Plan p = PlanOf(Parse({"--launcher", "srun", "-n", "2", "a"}), f);
  CHECK(p.srun);
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/srun --mpi=pmix --kill-on-bad-exit=1 --quit-on-interrupt --input=none -n 2 "
        "/opt/bin/stdmpi-shim -- a");
  LaunchOptions o;
  std::string err;
  CHECK_FALSE(ParseLaunchArgs({"--launcher", "qsub", "a"}, &o, &err));
  CHECK(err == "--launcher qsub: expected auto, mpirun or srun");
}

TEST_CASE("inside PBS and LSF: mpirun on the job's hosts") {
  Facts pbs =
      InJob({{"PBS_NODEFILE", "/var/pbs/9"}, {"PBS_JOBID", "9.srv"}}, {"n1", "n1", "n2", "n2"});
  Plan p = PlanOf(Parse({"python3", "pi.py"}), pbs);
  CHECK_FALSE(p.srun);
  CHECK_FALSE(p.local);
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none -x STDMPI_REPORT_MARK "
        "--host n1:2,n2:2 -n 4 "
        "/opt/bin/stdmpi-shim --start-early -- python3 pi.py");
  // PMIx would try munge first wherever SLURM's libmunge is installed.
  CHECK(p.env == std::vector<std::pair<std::string, std::string>>{{"PMIX_MCA_psec", "native"}});
  CHECK(p.summary ==
        "launcher: mpirun; inside PBS job 9.srv, 4 tasks on 2 nodes, hosts from /var/pbs/9, 4 "
        "ranks");
  // A one-node PBS job: still the job's hosts (the name may not be this
  // host's), with the single-node transport.
  Facts pbs1 = InJob({{"PBS_NODEFILE", "/var/pbs/1"}}, {"n1", "n1"});
  CHECK(ShellQuote(PlanOf(Parse({"-n", "1", "a"}), pbs1).argv) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none --mca pml ob1 --host n1:2 "
        "-n 1 "
        "/opt/bin/stdmpi-shim --start-early -- a");

  Facts lsf = InJob({{"LSB_MCPU_HOSTS", "a 4 b 2"}, {"LSB_JOBID", "3"}});
  p = PlanOf(Parse({"a"}), lsf);
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none -x STDMPI_REPORT_MARK "
        "--host a:4,b:2 -n 6 "
        "/opt/bin/stdmpi-shim --start-early -- a");
  Facts lsf_file = InJob({{"LSB_DJOB_HOSTFILE", "/tmp/h"}}, {"a", "b"});
  CHECK(ShellQuote(PlanOf(Parse({"a"}), lsf_file).argv) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none -x STDMPI_REPORT_MARK "
        "--host a:1,b:1 -n 2 "
        "/opt/bin/stdmpi-shim --start-early -- a");
  // The user's own hosts win over the job's.
  CHECK(ShellQuote(PlanOf(Parse({"--host", "x:1", "a"}), lsf).argv) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none -x STDMPI_REPORT_MARK "
        "--host x:1 "
        "/opt/bin/stdmpi-shim --start-early -- a");
}

TEST_CASE("shim --apps errors") {
  ShimOptions so;
  bool help = false;
  std::string err;
  for (const char* bad : {"1,2:1", "1:x", "0:1", "1:0", "1:1:nativ", ":1", "1:1,", ""}) {
    so = {};
    INFO(bad);
    CHECK_FALSE(ParseShimArgs({"--apps", bad, "--", "a"}, &so, &help, &err));
    CHECK(err == std::string("--apps ") + bad +
                     ": expected RANKS:WORDS[:native],... such as 1:2:native,4:3");
  }
  so = {};
  CHECK_FALSE(ParseShimArgs({"--apps", "1:1,2:2", "--", "a", "b"}, &so, &help, &err));
  CHECK(err ==
        "--apps counts the words of the commands, and they do not add up to the 2 words "
        "given");
  so = {};
  CHECK_FALSE(ParseShimArgs({"--apps", "1:1,2:1", "--", "a", "b", "c"}, &so, &help, &err));
  so = {};
  REQUIRE(ParseShimArgs({"--apps", "2:2,1:1:native", "--", "a", ":", "b"}, &so, &help, &err));
  CHECK(so.apps[0].command == std::vector<std::string>{"a", ":"});
  CHECK(so.apps[1].command == std::vector<std::string>{"b"});
  CHECK(so.apps[1].native);
}

TEST_CASE("mpirun's ranks get the user's PATH and LD_LIBRARY_PATH back") {
  // mpirun, started by its full path, puts its own bin and lib directories
  // first for the ranks: the shims restore what the user had.
  Facts pbs = InJob({{"PBS_NODEFILE", "/var/pbs/9"}}, {"n1", "n2"});
  pbs.path = "/home/u/venv/bin:/usr/bin";
  pbs.ld_path = "/opt/gcc/lib64";
  pbs.has_ld_path = true;
  Plan p = PlanOf(Parse({"python3", "pi.py"}), pbs);
  CHECK(p.env == std::vector<std::pair<std::string, std::string>>{
                     {"PMIX_MCA_psec", "native"},
                     {"STDMPI_PATH", "/home/u/venv/bin:/usr/bin"},
                     {"STDMPI_LD_LIBRARY_PATH", "/opt/gcc/lib64"}});
  // Other hosts get them through -x.
  CHECK(ShellQuote(p.argv) ==
        "/usr/bin/mpirun --allow-run-as-root --stdin none --bind-to none -x STDMPI_REPORT_MARK "
        "-x STDMPI_PATH -x STDMPI_LD_LIBRARY_PATH --host n1:1,n2:1 -n 2 "
        "/opt/bin/stdmpi-shim --start-early -- python3 pi.py");
  // No LD_LIBRARY_PATH: none is passed (the shim then unsets mpirun's).
  pbs.has_ld_path = false;
  p = PlanOf(Parse({"python3", "pi.py"}), pbs);
  CHECK(p.env.back() ==
        std::pair<std::string, std::string>{"STDMPI_PATH", "/home/u/venv/bin:/usr/bin"});
  // srun changes neither: nothing to restore.
  Facts slurm = InJob(kSlurm2x4);
  slurm.path = "/x";
  CHECK(PlanOf(Parse({"a"}), slurm).env.empty());
}
