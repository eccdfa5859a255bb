// What the shim tells stdmpi-init (init_main.cc), the supervisor it starts its
// program under: the container to build, the limits to set, the program's
// LD_PRELOAD. Typed here, encoded into and decoded from the supervisor's
// environment here, and nowhere else.
//
// The environment carries it because the supervisor is exec'd with the
// program's environment anyway, and it must start in microseconds: no file,
// no parser. Every variable is removed before the program starts, so a
// program never sees them.
//
// Header-only: stdmpi-init links no stdmpi library (it must start fast).
#ifndef STDMPI_LIBSHIM_INIT_CONFIG_H_
#define STDMPI_LIBSHIM_INIT_CONFIG_H_

#include <signal.h>
#include <stdlib.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stdmpi {

struct InitConfig {
  enum class Isolate { kNone, kHost, kImage };
  Isolate isolate = Isolate::kNone;
  bool keep_net = false;  // an isolated program keeps the host's network
  // kImage: the root filesystem's directories, base first, then layers.
  std::vector<std::string> layers;
  // kImage: (source on the host, destination in the image).
  std::vector<std::pair<std::string, std::string>> binds;
  // kImage: keep the writable layer in UPPER/upper (stdmpirun --pack); empty:
  // a throwaway layer.
  std::string upper;
  // The cgroup.procs files of the rank's cgroups, to join before anything else.
  std::vector<std::string> cgroups;
  // Where no cgroup could be made: RLIMIT_AS and RLIMIT_NPROC (0: none).
  uint64_t rlimit_as = 0, rlimit_nproc = 0;
  // The program's LD_PRELOAD: the supervisor must not load it itself.
  std::string ld_preload;
  bool has_ld_preload = false;
  // Namespaces to join instead of making new ones (-1: make new ones): open
  // descriptors of the rank's network namespace (and, for a normal user, the
  // user namespace owning it), made once (MakeRankNamespaces in spawn.h). A
  // rank that starts program after program (a task farm) makes its
  // loopback-only network once: a new one is a quarter of a container's start.
  // They stay open across the supervisor's exec, which closes them at once.
  int join_user_fd = -1, join_net_fd = -1;
};

namespace init_config_detail {

inline constexpr const char* kIsolate = "STDMPI_INIT_ISOLATE";
inline constexpr const char* kImage = "STDMPI_INIT_IMAGE";
inline constexpr const char* kBinds = "STDMPI_INIT_BINDS";
inline constexpr const char* kUpper = "STDMPI_INIT_UPPER";
inline constexpr const char* kCgroups = "STDMPI_INIT_CGROUPS";
inline constexpr const char* kRlimits = "STDMPI_INIT_RLIMITS";
inline constexpr const char* kLdPreload = "STDMPI_INIT_LD_PRELOAD";
inline constexpr const char* kJoin = "STDMPI_INIT_JOIN";
inline constexpr const char* kAll[] = {kIsolate, kImage,   kBinds,     kUpper,
                                       kCgroups, kRlimits, kLdPreload, kJoin};

inline std::vector<std::string> Lines(const char* s) {
  std::vector<std::string> out;
  if (s == nullptr) return out;
  std::string_view all(s);
  size_t start = 0;
  while (start <= all.size()) {
    size_t nl = all.find('\n', start);
    if (nl == std::string_view::npos) nl = all.size();
    if (nl > start) out.emplace_back(all.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

inline void Put(std::vector<std::string>* env, const char* name, const std::string& value) {
  const std::string prefix = std::string(name) + "=";
  for (std::string& e : *env) {
    if (e.compare(0, prefix.size(), prefix) == 0) {
      e = prefix + value;
      return;
    }
  }
  env->push_back(prefix + value);
}

}  // namespace init_config_detail

// The signal that asks stdmpi-init to end the command's whole tree at once
// (--time-limit): SIGKILL to its group and to everything it left, orphans
// in sessions of their own included. Sent to stdmpi-init, never forwarded.
inline int KillTreeSignal() {
  return SIGRTMIN + 1;
}

// Adds the config's variables to `env` (an environment, "NAME=VALUE" each).
// An LD_PRELOAD in `env` moves into the config's variable: the supervisor
// runs without it and hands it on to the program.
inline void EncodeInitConfig(const InitConfig& c, std::vector<std::string>* env) {
  namespace d = init_config_detail;
  using Isolate = InitConfig::Isolate;
  if (c.isolate != Isolate::kNone) {
    std::string mode = c.isolate == Isolate::kImage ? "image" : "host";
    d::Put(env, d::kIsolate, c.keep_net ? mode + "+net" : mode);
  }
  if (c.isolate == Isolate::kImage) {
    std::string layers, binds;
    for (const std::string& l : c.layers) layers += l + "\n";
    for (const auto& [from, to] : c.binds) binds += from + "\n" + to + "\n";
    d::Put(env, d::kImage, layers);
    d::Put(env, d::kBinds, binds);
    if (!c.upper.empty()) d::Put(env, d::kUpper, c.upper);
  }
  if (!c.cgroups.empty()) {
    std::string files;
    for (const std::string& f : c.cgroups) files += f + "\n";
    d::Put(env, d::kCgroups, files);
  }
  if (c.rlimit_as > 0 || c.rlimit_nproc > 0) {
    std::string r;
    if (c.rlimit_as > 0) r += "as=" + std::to_string(c.rlimit_as) + "\n";
    if (c.rlimit_nproc > 0) r += "nproc=" + std::to_string(c.rlimit_nproc) + "\n";
    d::Put(env, d::kRlimits, r);
  }
  if (c.isolate != Isolate::kNone && (c.join_user_fd >= 0 || c.join_net_fd >= 0)) {
    d::Put(env, d::kJoin, std::to_string(c.join_user_fd) + " " + std::to_string(c.join_net_fd));
  }
  for (std::string& e : *env) {
    if (e.compare(0, 11, "LD_PRELOAD=") == 0) e = std::string(d::kLdPreload) + "=" + e.substr(11);
  }
}

// Reads the config from this process's environment and removes its
// variables from it.
inline InitConfig TakeInitConfig() {
  namespace d = init_config_detail;
  InitConfig c;
  if (const char* iso = getenv(d::kIsolate)) {
    std::string_view v(iso);
    c.isolate =
        v.substr(0, 5) == "image" ? InitConfig::Isolate::kImage : InitConfig::Isolate::kHost;
    c.keep_net = v.find("+net") != std::string_view::npos;
  }
  if (c.isolate == InitConfig::Isolate::kImage) {
    c.layers = d::Lines(getenv(d::kImage));
    std::vector<std::string> b = d::Lines(getenv(d::kBinds));
    for (size_t i = 0; i + 1 < b.size(); i += 2) c.binds.emplace_back(b[i], b[i + 1]);
    if (const char* u = getenv(d::kUpper)) c.upper = u;
  }
  c.cgroups = d::Lines(getenv(d::kCgroups));
  for (const std::string& r : d::Lines(getenv(d::kRlimits))) {
    size_t eq = r.find('=');
    if (eq == std::string::npos) continue;
    uint64_t v = strtoull(r.c_str() + eq + 1, nullptr, 10);
    (r.compare(0, eq, "as") == 0 ? c.rlimit_as : c.rlimit_nproc) = v;
  }
  if (const char* p = getenv(d::kLdPreload)) {
    c.ld_preload = p;
    c.has_ld_preload = true;
  }
  if (const char* j = getenv(d::kJoin); j != nullptr && c.isolate != InitConfig::Isolate::kNone) {
    // Any descriptor above stdio (Spawn passes only its own); -1 for none.
    char* end = nullptr;
    long user = strtol(j, &end, 10);
    long net = strtol(end, nullptr, 10);
    c.join_user_fd = user >= 3 && user <= INT32_MAX ? static_cast<int>(user) : -1;
    c.join_net_fd = net >= 3 && net <= INT32_MAX ? static_cast<int>(net) : -1;
  }
  for (const char* name : d::kAll) unsetenv(name);
  return c;
}

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_INIT_CONFIG_H_
