#include "childenv.h"

#include <catch2/catch.hpp>

using namespace stdmpi;

TEST_CASE("the child gets the rank variables and not the launcher's") {
  ChildEnvInput in;
  in.base = {"PATH=/usr/bin",
             "HOME=/root",
             "PMIX_RANK=3",
             "PMIX_SERVER_URI4=x",
             "OMPI_COMM_WORLD_RANK=3",
             "OMPI_MCA_orte_hnp_uri=y",
             "OMPI_MCA_ess_base_vpid=3",
             "OMPI_MCA_pml=ob1",
             "OMPI_ALLOW_RUN_AS_ROOT=1",
             "OMPI_UNIVERSE_SIZE=4",
             "PYTHONPATH=/mine",
             "STDMPI_OUTPUT_SOCKET=/tmp/stdmpirun-x/out",
             "STDMPI_REPORT_MARK=[stdmpi-report 0123456789abcdef] ",
             "NOEQUALS"};
  in.rank = 3;
  in.size = 4;
  in.local_rank = 1;
  in.local_size = 2;
  in.share_dir = "/opt/stdmpi/share/stdmpi";
  auto env = BuildChildEnv(in);
  CHECK(GetEnv(env, "PATH") == "/usr/bin");
  CHECK(GetEnv(env, "STDMPI_RANK") == "3");
  CHECK(GetEnv(env, "STDMPI_SIZE") == "4");
  CHECK(GetEnv(env, "STDMPI_LOCAL_RANK") == "1");
  CHECK(GetEnv(env, "STDMPI_LOCAL_SIZE") == "2");
  CHECK(GetEnv(env, "PYTHONUNBUFFERED") == "1");
  bool socket;
  GetEnv(env, "STDMPI_OUTPUT_SOCKET", &socket);
  CHECK_FALSE(socket);
  bool mark;
  GetEnv(env, "STDMPI_REPORT_MARK", &mark);
  CHECK_FALSE(mark);
  CHECK(GetEnv(env, "STDMPI_HOME") == "/opt/stdmpi/share/stdmpi");
  CHECK(GetEnv(env, "PYTHONPATH") == "/opt/stdmpi/share/stdmpi/python:/mine");
  CHECK(GetEnv(env, "R_LIBS") == "/opt/stdmpi/share/stdmpi/R");
  CHECK(GetEnv(env, "STDMPI_NCL") == "/opt/stdmpi/share/stdmpi/ncl/stdmpi.ncl");
  CHECK(GetEnv(env, "STDMPI_BASH") == "/opt/stdmpi/share/stdmpi/bash/stdmpi.sh");
  CHECK(GetEnv(env, "STDMPI_AWK") == "/opt/stdmpi/share/stdmpi/awk/stdmpi.awk");
  bool preloaded;
  GetEnv(env, "LD_PRELOAD", &preloaded);
  CHECK_FALSE(preloaded);
  bool found;
  GetEnv(env, "PMIX_RANK", &found);
  CHECK_FALSE(found);
  GetEnv(env, "OMPI_COMM_WORLD_RANK", &found);
  CHECK_FALSE(found);
  GetEnv(env, "OMPI_MCA_orte_hnp_uri", &found);
  CHECK_FALSE(found);
  GetEnv(env, "OMPI_UNIVERSE_SIZE", &found);
  CHECK_FALSE(found);
  CHECK(GetEnv(env, "OMPI_MCA_pml") == "ob1");  // the user's tuning stays
  CHECK(GetEnv(env, "OMPI_ALLOW_RUN_AS_ROOT") == "1");
  for (const auto& e : env) CHECK(e.find('=') != std::string::npos);
}

TEST_CASE("PYTHONPATH is set when there was none, and nothing without a share dir") {
  ChildEnvInput in;
  in.share_dir = "/s";
  CHECK(GetEnv(BuildChildEnv(in), "PYTHONPATH") == "/s/python");
  ChildEnvInput none;
  bool found;
  GetEnv(BuildChildEnv(none), "PYTHONPATH", &found);
  CHECK_FALSE(found);
}

TEST_CASE("SetEnv replaces in place") {
  std::vector<std::string> env = {"A=1", "AB=2"};
  SetEnv(&env, "A", "3");
  CHECK(env == std::vector<std::string>{"A=3", "AB=2"});
  SetEnv(&env, "C", "");
  CHECK(env.back() == "C=");
}

TEST_CASE("line buffering preloads the library in front of the user's") {
  ChildEnvInput in;
  in.base = {"LD_PRELOAD=/usr/lib/libmine.so"};
  in.preload_lib = "/s/lib/stdmpi/libstdmpi-preload.so";
  auto env = BuildChildEnv(in);
  CHECK(GetEnv(env, "LD_PRELOAD") == "/s/lib/stdmpi/libstdmpi-preload.so:/usr/lib/libmine.so");
  CHECK(GetEnv(env, "STDMPI_LINEBUF") == "1");
  CHECK(GetEnv(env, "GFORTRAN_UNBUFFERED_PRECONNECTED") == "y");
}

TEST_CASE("$STDMPI_ variables in arguments come from the rank's environment") {
  std::vector<std::string> env = {"STDMPI_AWK=/s/awk/stdmpi.awk", "HOME=/root", "STDMPI_RANK=3"};
  auto out = ExpandStdmpiVariables({"awk", "-f", "$STDMPI_AWK", "-v", "r=${STDMPI_RANK}x", "$HOME",
                                    "$STDMPI_NOPE", "${STDMPI_AWK", "cost $5", "$"},
                                   env);
  CHECK(out == std::vector<std::string>{"awk", "-f", "/s/awk/stdmpi.awk", "-v", "r=3x", "$HOME",
                                        "$STDMPI_NOPE", "${STDMPI_AWK", "cost $5", "$"});
}

TEST_CASE("$$STDMPI_ is the text $STDMPI_, other $$ stay") {
  std::vector<std::string> env = {"STDMPI_RANK=3"};
  auto out = ExpandStdmpiVariables(
      {"$$STDMPI_RANK", "a$${STDMPI_RANK}b", "echo $$", "$$STDMPI_RANK-$STDMPI_RANK"}, env);
  CHECK(out ==
        std::vector<std::string>{"$STDMPI_RANK", "a${STDMPI_RANK}b", "echo $$", "$STDMPI_RANK-3"});
}

TEST_CASE("thread counts are set to the rank's cores unless the user set them") {
  ChildEnvInput in;
  in.base = {"PATH=/bin", "MKL_NUM_THREADS=7"};
  in.threads = 2;
  std::vector<std::string> env = BuildChildEnv(in);
  CHECK(GetEnv(env, "OMP_NUM_THREADS") == "2");
  CHECK(GetEnv(env, "OPENBLAS_NUM_THREADS") == "2");
  CHECK(GetEnv(env, "MKL_NUM_THREADS") == "7");
  CHECK(GetEnv(env, "BLIS_NUM_THREADS") == "2");
  in.threads = 0;
  bool found = true;
  GetEnv(BuildChildEnv(in), "OMP_NUM_THREADS", &found);
  CHECK_FALSE(found);
}
