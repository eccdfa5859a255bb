#include "version_info.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace stdmpi {

std::string FirstLinesOf(const std::vector<std::string>& argv, int max_lines, double seconds) {
  if (argv.empty()) return {};
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return {};
  std::vector<char*> av;
  for (const std::string& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return {};
  }
  if (pid == 0) {
    setpgid(0, 0);  // what it starts goes with it (kill below)
    dup2(p[1], 1);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 2);
    }
    execv(av[0], av.data());
    _exit(127);
  }
  close(p[1]);
  std::string out;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1e3));
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd = {p[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || out.size() > 65536) break;
    out.append(buf, static_cast<size_t>(n));
    if (std::count(out.begin(), out.end(), '\n') >= max_lines) break;
  }
  close(p[0]);
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  size_t end = 0;
  for (int i = 0; i < max_lines && end < out.size(); ++i) {
    size_t nl = out.find('\n', end);
    end = nl == std::string::npos ? out.size() : nl + 1;
  }
  out.resize(end);
  return out;
}

std::string LauncherVersion(const std::string& path) {
  if (path.empty()) return "";
  if (access(path.c_str(), X_OK) != 0) return "not found";
  return FirstLinesOf({path, "--version"}, 1, 10);
}

std::string FormatVersion(const std::string& version, const std::string& shim,
                          const std::string& shim_lines,
                          const std::vector<std::pair<std::string, std::string>>& launchers) {
  std::string s = "stdmpirun (stdmpi) " + version + "\n";
  s += "rank program: " + shim + "\n";
  size_t first_nl = shim_lines.find('\n');
  if (shim_lines.empty() || first_nl == std::string::npos) {
    s += "  (it did not answer --version: the MPI, hwloc and libuv it runs on are unknown)\n";
  } else {
    std::string rest = shim_lines.substr(first_nl + 1);
    if (!rest.empty() && rest.back() != '\n') rest += '\n';
    s += rest;
  }
  for (const auto& [path, line] : launchers) {
    if (path.empty()) continue;

    std::string l = line;
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    s += "launcher: " + path + " (" + (l.empty() ? "it did not say its version" : l) + ")\n";
  }
  return s;
}

}  // namespace stdmpi
