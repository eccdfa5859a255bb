#include "rank_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "fsutil.h"

namespace stdmpi {

namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of "key N" in a flat-keyed file (memory.events, oom_control).
int64_t Counter(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  int64_t v;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// This process's cgroup path for a v1 controller, or for v2 ("" controller).
std::string OwnCgroup(const std::string& controller) {
  std::istringstream in(Read("/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controller.empty()
            ? (line.compare(0, 2, "0:") == 0 && ctrls.empty())
            : ("," + ctrls + ",").find("," + controller + ",") != std::string::npos) {
      return path == "/" ? "" : path;
    }
  }
  return "/nonexistent";
}

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

void RankLimits::Prepare(int64_t mem, int procs, int rank, InitConfig* init, std::string* how) {
  if (mem <= 0 && procs <= 0) return;
  const std::string name = "stdmpi-" + std::to_string(getpid()) + "-r" + std::to_string(rank);

  // cgroup v2: a subtree of our own that we may write, with the controllers.
  std::string v2root =
      IsDir("/sys/fs/cgroup/unified") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
  std::string own = v2root + OwnCgroup("");
  std::string controllers = Read(own + "/cgroup.subtree_control");
  bool v2_ok = access((own + "/cgroup.procs").c_str(), W_OK) == 0 &&
               (mem <= 0 || controllers.find("memory") != std::string::npos) &&
               (procs <= 0 || controllers.find("pids") != std::string::npos);
  if (v2_ok) {
    std::string dir = own + "/" + name;
    if (mkdir(dir.c_str(), 0755) == 0) {
      // No swap beyond the limit, where swap is accounted (best effort).
      if (mem > 0) WriteFile(dir + "/memory.swap.max", "0");
      bool ok = (mem <= 0 || WriteFile(dir + "/memory.max", std::to_string(mem))) &&
                (procs <= 0 || WriteFile(dir + "/pids.max", std::to_string(procs)));
      if (ok) {
        v2_dir_ = dir;
        init->cgroups = {dir + "/cgroup.procs"};
        *how = "cgroup v2";
        return;
      }
      rmdir(dir.c_str());
    }
  }
  // cgroup v1 (as root): memory and pids hierarchies.
  std::vector<std::string> procs_files;
  bool v1_ok = true;
  if (mem > 0) {
    std::string dir = "/sys/fs/cgroup/memory" + OwnCgroup("memory") + "/" + name;
    if (mkdir(dir.c_str(), 0755) == 0) {
      mem_dir_ = dir;
      WriteFile(dir + "/memory.swappiness", "0");
      v1_ok = WriteFile(dir + "/memory.limit_in_bytes", std::to_string(mem));
      WriteFile(dir + "/memory.memsw.limit_in_bytes", std::to_string(mem));  // if swap is accounted
      procs_files.push_back(dir + "/cgroup.procs");
    } else {
      v1_ok = false;
    }
  }
  if (v1_ok && procs > 0) {
    std::string dir = "/sys/fs/cgroup/pids" + OwnCgroup("pids") + "/" + name;
    if (mkdir(dir.c_str(), 0755) == 0) {
      pids_dir_ = dir;
      v1_ok = WriteFile(dir + "/pids.max", std::to_string(procs));
      procs_files.push_back(dir + "/cgroup.procs");
    } else {
      v1_ok = false;
    }
  }
  if (v1_ok) {
    init->cgroups = procs_files;
    *how = "cgroup v1";
    return;
  }
  Remove();
  // No cgroup: rlimits. Address space stands in for memory (it counts
  // reservations too), and the process count is per user.
  init->rlimit_as = mem > 0 ? static_cast<uint64_t>(mem) : 0;
  init->rlimit_nproc = procs > 0 ? static_cast<uint64_t>(procs) : 0;
  *how = "rlimits (no writable cgroup)";
  rlimits_ = true;
}

std::string RankLimits::LimitHit() const {
  if (!v2_dir_.empty()) {
    if (Counter(Read(v2_dir_ + "/memory.events"), "oom_kill") > 0) return "memory";
    if (Counter(Read(v2_dir_ + "/pids.events"), "max") > 0) return "processes";
  }
  if (!mem_dir_.empty() && Counter(Read(mem_dir_ + "/memory.oom_control"), "oom_kill") > 0) {
    return "memory";
  }
  if (!pids_dir_.empty() && Counter(Read(pids_dir_ + "/pids.events"), "max") > 0) {
    return "processes";
  }
  return "";
}

void RankLimits::Remove() {
  for (std::string* d : {&v2_dir_, &mem_dir_, &pids_dir_}) {
    if (d->empty()) continue;
    // The cgroup empties a moment after its last process is reaped.
    for (int i = 0; i < 50 && rmdir(d->c_str()) != 0 && errno == EBUSY; ++i) usleep(10000);
    d->clear();
  }
}

}  // namespace stdmpi
