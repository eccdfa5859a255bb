#include "init_config.h"

#include <catch2/catch.hpp>
#include <cstdlib>

using namespace stdmpi;

namespace {

// Puts `env` into this process's environment (as stdmpi-init gets it).
void Export(const std::vector<std::string>& env) {
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
  }
}

}  // namespace

TEST_CASE("the supervisor's config survives its trip through the environment") {
  InitConfig c;
  c.isolate = InitConfig::Isolate::kImage;
  c.keep_net = true;
  c.layers = {"/img/base", "/img/layer 1"};
  c.binds = {{"/data", "/data"}, {"/home/u/in", "/in"}};
  c.upper = "/tmp/pack";
  c.cgroups = {"/sys/fs/cgroup/memory/x/cgroup.procs", "/sys/fs/cgroup/pids/x/cgroup.procs"};
  c.rlimit_as = 1 << 30;
  c.rlimit_nproc = 64;
  c.join_user_fd = 7;
  c.join_net_fd = 9;
  std::vector<std::string> env = {"PATH=/usr/bin", "LD_PRELOAD=/lib/libstdmpi-preload.so"};
  EncodeInitConfig(c, &env);
  // The supervisor itself runs without the program's LD_PRELOAD.
  for (const std::string& e : env) CHECK(e.rfind("LD_PRELOAD=", 0) != 0);
  Export(env);
  InitConfig d = TakeInitConfig();
  CHECK(d.isolate == InitConfig::Isolate::kImage);
  CHECK(d.keep_net);
  CHECK(d.layers == c.layers);
  CHECK(d.binds == c.binds);
  CHECK(d.upper == c.upper);
  CHECK(d.cgroups == c.cgroups);
  CHECK(d.rlimit_as == c.rlimit_as);
  CHECK(d.rlimit_nproc == 64);
  CHECK(d.has_ld_preload);
  CHECK(d.ld_preload == "/lib/libstdmpi-preload.so");
  CHECK(d.join_user_fd == 7);
  CHECK(d.join_net_fd == 9);
  // Taken: the program never sees them.
  for (const char* v : {"STDMPI_INIT_ISOLATE", "STDMPI_INIT_IMAGE", "STDMPI_INIT_BINDS",
                        "STDMPI_INIT_UPPER", "STDMPI_INIT_CGROUPS", "STDMPI_INIT_RLIMITS",
                        "STDMPI_INIT_LD_PRELOAD", "STDMPI_INIT_JOIN"}) {
    CHECK(getenv(v) == nullptr);
  }
}

TEST_CASE("no isolation, no limits: nothing is set") {
  std::vector<std::string> env = {"HOME=/root"};
  EncodeInitConfig(InitConfig{}, &env);
  CHECK(env == std::vector<std::string>{"HOME=/root"});
  InitConfig host;
  host.isolate = InitConfig::Isolate::kHost;
  EncodeInitConfig(host, &env);
  Export(env);
  InitConfig d = TakeInitConfig();
  CHECK(d.isolate == InitConfig::Isolate::kHost);
  CHECK_FALSE(d.keep_net);
  CHECK(d.layers.empty());
  CHECK_FALSE(d.has_ld_preload);
  CHECK(d.join_user_fd == -1);
  CHECK(d.join_net_fd == -1);
  // Only descriptors above stdio, and only for a container, are taken.
  host.join_net_fd = 2;
  host.join_user_fd = 5;
  env = {"HOME=/root"};
  EncodeInitConfig(host, &env);
  Export(env);
  d = TakeInitConfig();
  CHECK(d.join_net_fd == -1);
  CHECK(d.join_user_fd == 5);
}
