// Start cost of a rank's program: the plain spawn, under stdmpi-init, and in
// the containers of --isolate host / --image. Each start runs /bin/true (or
// the image's) to its end and reaps it; prints the median per start.
//
//   spawn_cost STDMPI_INIT [IMAGE_DIR] [N]
//
// With CH_RUN=/path/to/ch-run and an image, Charliecloud's start of the same
// image is measured in the same run (the image needs /dev, /proc, /sys, /tmp,
// /home, /mnt and /etc/{hosts,resolv.conf,passwd,group} for it).
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "spawn.h"

extern char** environ;

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Options {
  // Every start joins the rank's network (and user) namespace, made once
  // before the starts (MakeRankNamespaces), as a task farm's starts do.
  bool keep_net_ns = false;
  // A start that fails sets it and ends the measure instead of the program.
  bool* failed = nullptr;
};

// Median milliseconds per start+exit of /bin/true (or of `argv`).
double Measure(const std::string& init, stdmpi::InitConfig config, int n, const std::string& path,
               std::vector<std::string> argv = {"true"}, Options o = {}) {
  bool* failed = o.failed;
  std::string err;
  if (o.keep_net_ns && !stdmpi::MakeRankNamespaces(&config, &err)) {
    std::fprintf(stderr, "could not make the rank's namespaces: %s\n", err.c_str());
    std::exit(1);
  }
  std::vector<double> times;
  for (int i = 0; i < n; ++i) {
    stdmpi::SpawnRequest req;
    req.argv = argv;
    req.path = path;
    for (char** e = environ; *e; ++e) req.env.emplace_back(*e);
    if (getenv("USER") == nullptr) req.env.emplace_back("USER=root");  // ch-run needs one
    req.env.emplace_back("STDMPI_RANK=0");
    req.init_path = init;
    req.init = config;
    stdmpi::SpawnFailure failure;
    double t0 = Now();
    pid_t pid = stdmpi::Spawn(req, &failure);
    if (pid < 0) {
      std::fprintf(stderr, "spawn failed: %s\n", failure.message.c_str());
      std::exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    times.push_back((Now() - t0) * 1e3);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::fprintf(stderr, "%s failed (status %d)\n", argv[0].c_str(), st);
      if (failed == nullptr) std::exit(1);
      *failed = true;
      return 0;
    }
  }
  stdmpi::ForgetJoinedNamespaces(&config);
  return Median(times);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: spawn_cost STDMPI_INIT [IMAGE_DIR] [N]\n");
    return 64;
  }
  std::string init = argv[1];
  std::string image = argc > 2 ? argv[2] : "";
  int n = argc > 3 ? std::atoi(argv[3]) : 200;
  using Isolate = stdmpi::InitConfig::Isolate;
  stdmpi::InitConfig none, host_config, net_config, image_config;
  host_config.isolate = net_config.isolate = Isolate::kHost;
  net_config.keep_net = true;
  image_config.isolate = Isolate::kImage;
  image_config.layers = {image};
  double plain = Measure("", none, n, "/bin/true");
  double under_init = Measure(init, none, n, "/bin/true");
  double host = Measure(init, host_config, n, "/bin/true");
  double host_kept = Measure(init, host_config, n, "/bin/true", {"true"}, {.keep_net_ns = true});
  double host_net = Measure(init, net_config, n, "/bin/true");
  std::printf("| start of /bin/true | median ms | over plain spawn |\n|---|---|---|\n");
  std::printf("| plain spawn | %.3f | - |\n", plain);
  std::printf("| under stdmpi-init (the default) | %.3f | +%.3f |\n", under_init,
              under_init - plain);
  std::printf("| --isolate host, a new network each start | %.3f | +%.3f |\n", host, host - plain);
  std::printf("| --isolate host, the rank's network kept | %.3f | +%.3f |\n", host_kept,
              host_kept - plain);
  std::printf("| --isolate host --net | %.3f | +%.3f |\n", host_net, host_net - plain);
  if (!image.empty()) {
    double img = Measure(init, image_config, n, "true");
    double img_kept = Measure(init, image_config, n, "true", {"true"}, {.keep_net_ns = true});
    std::printf("| --image (a directory), a new network each start | %.3f | +%.3f |\n", img,
                img - plain);
    std::printf("| --image (a directory), the rank's network kept | %.3f | +%.3f |\n", img_kept,
                img_kept - plain);
    // The competitor: Charliecloud's ch-run, started the same way, running the
    // image's /bin/true (its own user namespace and mounts, as --image).
    const char* ch = getenv("CH_RUN");
    if (ch != nullptr && *ch != '\0') {
      bool failed = false;
      double chrun =
          Measure("", none, n, ch, {"ch-run", image, "--", "/bin/true"}, {.failed = &failed});
      if (failed) {
        std::printf("| Charliecloud `ch-run IMAGE -- /bin/true` | did not run here | |\n");
      } else {
        std::printf("| Charliecloud `ch-run IMAGE -- /bin/true` | %.3f | +%.3f |\n", chrun,
                    chrun - plain);
      }
    }
  }
  return 0;
}
