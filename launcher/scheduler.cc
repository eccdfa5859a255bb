#include "scheduler.h"

#include <set>

#include "numbers.h"

namespace stdmpi {

const char* Scheduler::name() const {
  switch (kind) {
    case Kind::kSlurm:
      return "SLURM";
    case Kind::kPbs:
      return "PBS";
    case Kind::kLsf:
      return "LSF";
    case Kind::kNone:
      break;
  }
  return "none";
}

const std::vector<std::string>& SchedulerVariables() {
  static const std::vector<std::string> kVars = {
      "SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_TASKS_PER_NODE", "SLURM_JOB_NUM_NODES",
      "SLURM_NNODES", "PBS_JOBID",    "PBS_NODEFILE",         "PBS_NP",
      "NCPUS",        "LSB_JOBID",    "LSB_DJOB_HOSTFILE",    "LSB_MCPU_HOSTS",
  };
  return kVars;
}

int SumSlurmCounts(std::string_view s) {
  if (s.empty()) return -1;
  int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t end = s.find(',', i);
    std::string_view part = s.substr(i, end == std::string_view::npos ? end : end - i);
    int64_t count, times = 1;
    size_t paren = part.find('(');
    if (paren == std::string_view::npos) {
      if (!ParseCount(part, 1 << 24, &count)) return -1;
    } else {
      if (part.size() < paren + 4 || part.substr(paren, 2) != "(x" || part.back() != ')' ||
          !ParseCount(part.substr(0, paren), 1 << 24, &count) ||
          !ParseCount(part.substr(paren + 2, part.size() - paren - 3), 1 << 24, &times)) {
        return -1;
      }
    }
    total += count * times;
    if (total > (1 << 30)) return -1;
    if (end == std::string_view::npos) break;
    i = end + 1;
  }
  return static_cast<int>(total);
}

namespace {

std::string Get(const std::map<std::string, std::string>& env, const std::string& k) {
  auto it = env.find(k);
  return it == env.end() ? std::string() : it->second;
}

int Int(const std::string& v) {
  int64_t n;
  return ParseCount(v, 1 << 24, &n) ? static_cast<int>(n) : 0;
}

// Slots and hosts of a node file (one host per line per slot), as an mpirun
// host list with counts ("n1:2,n2:2", hosts in the order they first appear):
// mpirun would read a line without "slots=" as all of that host's cores.
void ReadNodefile(const std::vector<std::string>& lines, Scheduler* s) {
  std::vector<std::pair<std::string, int>> hosts;
  std::map<std::string, size_t> index;
  int slots = 0;
  for (const std::string& raw : lines) {
    std::string line = raw;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.pop_back();
    }
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    std::string host = line.substr(start, line.find_first_of(" \t", start) - start);
    ++slots;
    auto [it, added] = index.emplace(host, hosts.size());
    if (added) hosts.emplace_back(host, 0);
    ++hosts[it->second].second;
  }
  s->slots = slots;
  s->nodes = static_cast<int>(hosts.size());
  s->host_list.clear();
  for (const auto& [host, n] : hosts) {
    if (!s->host_list.empty()) s->host_list += ',';
    s->host_list += host + ":" + std::to_string(n);
  }
}

}  // namespace

Scheduler DetectScheduler(const std::map<std::string, std::string>& env,
                          const std::vector<std::string>& nodefile) {
  Scheduler s;
  if (!Get(env, "SLURM_JOB_ID").empty()) {
    s.kind = Scheduler::Kind::kSlurm;
    s.job_id = Get(env, "SLURM_JOB_ID");
    s.slots = Int(Get(env, "SLURM_NTASKS"));
    if (s.slots == 0) {
      int t = SumSlurmCounts(Get(env, "SLURM_TASKS_PER_NODE"));
      s.slots = t > 0 ? t : 0;
    }
    s.nodes = Int(Get(env, "SLURM_JOB_NUM_NODES"));
    if (s.nodes == 0) s.nodes = Int(Get(env, "SLURM_NNODES"));
    if (s.slots == 0) s.problem = "SLURM_NTASKS and SLURM_TASKS_PER_NODE are not usable";
    return s;
  }
  if (!Get(env, "PBS_NODEFILE").empty()) {
    s.kind = Scheduler::Kind::kPbs;
    s.job_id = Get(env, "PBS_JOBID");
    s.hostfile = Get(env, "PBS_NODEFILE");
    ReadNodefile(nodefile, &s);
    if (s.slots == 0) {
      s.slots = Int(Get(env, "PBS_NP"));
      if (s.slots == 0) s.slots = Int(Get(env, "NCPUS"));
    }
    if (nodefile.empty()) s.problem = "the node file " + s.hostfile + " is empty or unreadable";
    return s;
  }
  if (!Get(env, "LSB_DJOB_HOSTFILE").empty() || !Get(env, "LSB_MCPU_HOSTS").empty()) {
    s.kind = Scheduler::Kind::kLsf;
    s.job_id = Get(env, "LSB_JOBID");
    s.hostfile = Get(env, "LSB_DJOB_HOSTFILE");
    if (!s.hostfile.empty() && !nodefile.empty()) {
      ReadNodefile(nodefile, &s);
      return s;
    }
    // "host1 4 host2 4": hosts and their slots, for mpirun --host h1:4,h2:4.
    s.hostfile.clear();
    std::string m = Get(env, "LSB_MCPU_HOSTS");
    std::vector<std::string> words;
    size_t i = 0;
    while (i < m.size()) {
      size_t j = m.find(' ', i);
      if (j == std::string::npos) j = m.size();
      if (j > i) words.push_back(m.substr(i, j - i));
      i = j + 1;
    }
    for (size_t k = 0; k + 1 < words.size(); k += 2) {
      int n = Int(words[k + 1]);
      if (n <= 0) continue;
      if (!s.host_list.empty()) s.host_list += ',';
      s.host_list += words[k] + ":" + std::to_string(n);
      s.slots += n;
      ++s.nodes;
    }
    if (s.slots == 0) s.problem = "neither LSB_DJOB_HOSTFILE nor LSB_MCPU_HOSTS is usable";
    return s;
  }
  return s;
}

}  // namespace stdmpi
