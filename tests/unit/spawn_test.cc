// Spawn starts real processes; each test waits for them with a bound.
#include "spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace stdmpi;

namespace {

// A directory of its own, removed with what is in it at the end of the test.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/stdmpi-spawn-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

int WaitFor(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 1000; ++i) {  // 10 s at most
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  FAIL("child did not exit");
  return -1;
}

std::string ReadAll(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

SpawnRequest Sh(const std::string& script) {
  SpawnRequest r;
  r.argv = {"sh", "-c", script};
  r.env = {"PATH=/usr/bin:/bin", "GREETING=hi there"};
  return r;
}

}  // namespace

TEST_CASE("PATH lookup like execvp, with shell exit statuses") {
  TempDir tmp;
  const std::string& dir = tmp.path;
  WriteFile(dir + "/tool", "#!/bin/sh\nexit 0\n", 0755);
  WriteFile(dir + "/data", "not a program\n", 0644);
  mkdir((dir + "/adir").c_str(), 0755);
  std::string path;
  SpawnFailure f;
  REQUIRE(ResolveExecutable("tool", "/nonexistent:" + dir, &path, &f));
  CHECK(path == dir + "/tool");
  REQUIRE(ResolveExecutable("sh", "", &path, &f));  // the default PATH
  CHECK_FALSE(ResolveExecutable("no-such-tool-xyz", dir, &path, &f));
  CHECK(f.exit_status == 127);
  CHECK(f.message == "command not found: no-such-tool-xyz (searched PATH=" + dir + ")");
  CHECK_FALSE(ResolveExecutable("data", dir, &path, &f));
  CHECK(f.exit_status == 126);
  CHECK(f.message == dir + "/data: permission denied (not executable)");
  CHECK_FALSE(ResolveExecutable(dir + "/adir", "", &path, &f));
  CHECK(f.exit_status == 126);
  CHECK(f.message == dir + "/adir: is a directory");
  CHECK_FALSE(ResolveExecutable(dir + "/missing", "", &path, &f));
  CHECK(f.exit_status == 127);
  CHECK_FALSE(ResolveExecutable("", "", &path, &f));
  CHECK(f.exit_status == 127);
}

TEST_CASE("a spawned child gets its argv, env, cwd and pipes, and exits as it says") {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  SpawnRequest r = Sh("echo \"$GREETING\" \"$0\" $(pwd); exit 3");
  r.cwd = "/tmp";
  r.stdout_fd = out[1];
  SpawnFailure f;
  pid_t pid = Spawn(r, &f);
  REQUIRE(pid > 0);
  close(out[1]);
  CHECK(ReadAll(out[0]) == "hi there sh /tmp\n");
  close(out[0]);
  int st = WaitFor(pid);
  CHECK(JobStatusOf(st) == 3);
  CHECK(DescribeWaitStatus(st) == "exited with status 3");
}

TEST_CASE("a killed child is 128 + signal") {
  SpawnFailure f;
  pid_t pid = Spawn(Sh("kill -9 $$"), &f);
  REQUIRE(pid > 0);
  int st = WaitFor(pid);
  CHECK(JobStatusOf(st) == 137);
  CHECK(DescribeWaitStatus(st) == "killed by signal 9 (SIGKILL)");
}

TEST_CASE("exec failures are reported, not run") {
  TempDir tmp;
  const std::string& dir = tmp.path;
  WriteFile(dir + "/noshebang", "echo hi\n", 0755);
  WriteFile(dir + "/badinterp", "#!/no/such/interpreter\n", 0755);
  SpawnFailure f;
  SpawnRequest r;
  r.env = {"PATH=" + dir};
  r.argv = {"noshebang"};
  CHECK(Spawn(r, &f) == -1);
  CHECK(f.exit_status == 126);
  CHECK(f.message ==
        "cannot run " + dir + "/noshebang: exec: not a binary, and no #! line to run it with");
  r.argv = {"badinterp"};
  CHECK(Spawn(r, &f) == -1);
  CHECK(f.exit_status == 127);
  CHECK(f.message ==
        "cannot run " + dir + "/badinterp: exec: its interpreter (the #! line) was not found");
  r.argv = {"nothing-here"};
  CHECK(Spawn(r, &f) == -1);
  CHECK(f.exit_status == 127);
  r = Sh("true");
  r.cwd = dir + "/missing";
  CHECK(Spawn(r, &f) == -1);
  CHECK(f.message.find("chdir: " + dir + "/missing: No such file or directory") !=
        std::string::npos);
}

TEST_CASE("the child leads its own process group") {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  SpawnRequest r = Sh("ps -o pgid= -p $$ | tr -d ' '");
  r.stdout_fd = out[1];
  SpawnFailure f;
  pid_t pid = Spawn(r, &f);
  REQUIRE(pid > 0);
  close(out[1]);
  std::string pgid = ReadAll(out[0]);
  close(out[0]);
  WaitFor(pid);
  CHECK(pgid == std::to_string(pid) + "\n");
}

TEST_CASE("the child starts with default signal handling and none blocked") {
  struct sigaction sa = {};
  sa.sa_handler = [](int) {};
  sigaction(SIGUSR1, &sa, nullptr);  // a handler of the parent's
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigprocmask(SIG_BLOCK, &block, nullptr);
  SpawnFailure f;
  pid_t pid = Spawn(Sh("kill -USR1 $$; sleep 5"), &f);
  REQUIRE(pid > 0);
  int st = WaitFor(pid);
  CHECK(DescribeWaitStatus(st) == "killed by signal 10 (SIGUSR1)");
  pid = Spawn(Sh("grep -q '^SigBlk:\t0*$' /proc/self/status"), &f);
  CHECK(JobStatusOf(WaitFor(pid)) == 0);
  sigprocmask(SIG_UNBLOCK, &block, nullptr);
  signal(SIGUSR1, SIG_DFL);
}

TEST_CASE("the child dies with its parent") {
  // A middle process spawns a sleeper, passes its pid on once it runs, and
  // exits; the kernel must then kill the sleeper.
  int to_middle[2], to_test[2];
  REQUIRE(pipe(to_middle) == 0);
  REQUIRE(pipe(to_test) == 0);
  pid_t middle = fork();
  REQUIRE(middle >= 0);
  if (middle == 0) {
    SpawnRequest r = Sh("echo $$; exec sleep 30");
    r.stdout_fd = to_middle[1];
    SpawnFailure f;
    pid_t p = Spawn(r, &f);
    close(to_middle[1]);
    std::string pid;
    char c;
    while (read(to_middle[0], &c, 1) == 1 && c != '\n') pid += c;  // one line: the pid
    ssize_t w = write(to_test[1], pid.data(), pid.size());
    (void)w;
    _exit(p > 0 ? 0 : 1);
  }
  close(to_middle[0]);
  close(to_middle[1]);
  close(to_test[1]);
  std::string pid_text = ReadAll(to_test[0]);
  close(to_test[0]);
  WaitFor(middle);
  pid_t sleeper = std::atoi(pid_text.c_str());
  REQUIRE(sleeper > 0);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(sleeper) + "/stat");
    std::string s;
    std::getline(stat, s);
    gone = !stat || s.empty() || s.find(") Z ") != std::string::npos;  // a zombie is gone too
    if (!gone) usleep(10000);
  }
  CHECK(gone);
}

namespace {

SpawnRequest UnderInit(const std::string& script) {
  SpawnRequest r = Sh(script);
  r.init_path = STDMPI_INIT_PATH;
  return r;
}

bool GoneWithin(pid_t pid, int ms) {
  for (int i = 0; i < ms / 10; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string s;
    std::getline(stat, s);
    if (!stat || s.empty() || s.find(") Z ") != std::string::npos) return true;
    usleep(10000);
  }
  return false;
}

}  // namespace

TEST_CASE("under stdmpi-init the command's own status comes back") {
  SpawnFailure f;
  pid_t pid = Spawn(UnderInit("exit 3"), &f);
  REQUIRE(pid > 0);
  CHECK(DescribeWaitStatus(WaitFor(pid)) == "exited with status 3");
  pid = Spawn(UnderInit("kill -9 $$"), &f);
  REQUIRE(pid > 0);
  CHECK(DescribeWaitStatus(WaitFor(pid)) == "killed by signal 9 (SIGKILL)");
  pid = Spawn(UnderInit("kill -SEGV $$"), &f);
  REQUIRE(pid > 0);
  CHECK(JobStatusOf(WaitFor(pid)) == 128 + SIGSEGV);
}

TEST_CASE("under stdmpi-init exec failures are reported as without it") {
  TempDir tmp;
  const std::string& dir = tmp.path;
  WriteFile(dir + "/noshebang", "echo hi\n", 0755);
  SpawnRequest r;
  r.env = {"PATH=" + dir};
  r.argv = {"noshebang"};
  r.init_path = STDMPI_INIT_PATH;
  SpawnFailure f;
  CHECK(Spawn(r, &f) == -1);
  CHECK(f.exit_status == 126);
  CHECK(f.message ==
        "cannot run " + dir + "/noshebang: exec: not a binary, and no #! line to run it with");
}

TEST_CASE("a signal to stdmpi-init reaches the command's whole group") {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  SpawnRequest r = UnderInit("trap 'exit 7' TERM; sleep 30 & echo $!; wait");
  r.stdout_fd = out[1];
  SpawnFailure f;
  pid_t init = Spawn(r, &f);
  REQUIRE(init > 0);
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  pid_t sleeper = std::atoi(line.c_str());
  REQUIRE(sleeper > 0);
  kill(init, SIGTERM);
  CHECK(DescribeWaitStatus(WaitFor(init)) == "exited with status 7");
  CHECK(GoneWithin(sleeper, 2000));
}

TEST_CASE("when the shim is SIGKILLed, stdmpi-init ends everything the command started") {
  // A stand-in for the shim spawns a command under init that starts a
  // background process, reports both pids, and is then SIGKILLed.
  int to_test[2];
  REQUIRE(pipe(to_test) == 0);
  pid_t shim = fork();
  REQUIRE(shim >= 0);
  if (shim == 0) {
    SpawnRequest r = UnderInit("sleep 30 & echo $$ $!; exec sleep 30");
    r.stdout_fd = to_test[1];
    SpawnFailure f;
    Spawn(r, &f);
    pause();
    _exit(0);
  }
  close(to_test[1]);
  std::string line;
  char c;
  while (read(to_test[0], &c, 1) == 1 && c != '\n') line += c;
  close(to_test[0]);
  int command = 0, background = 0;
  REQUIRE(std::sscanf(line.c_str(), "%d %d", &command, &background) == 2);
  kill(shim, SIGKILL);
  WaitFor(shim);
  CHECK(GoneWithin(command, 3000));
  CHECK(GoneWithin(background, 3000));
}

TEST_CASE("the command under stdmpi-init gets LD_PRELOAD, stdmpi-init itself does not") {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  // libc itself is a harmless library to preload.
  SpawnRequest r = UnderInit(
      "echo \"cmd=$LD_PRELOAD\"; tr '\\0' '\\n' < /proc/$PPID/environ | grep -c '^LD_PRELOAD=' "
      "|| true; echo \"left=${STDMPI_INIT_LD_PRELOAD-unset}\"");
  r.env.push_back("LD_PRELOAD=libc.so.6");
  r.stdout_fd = out[1];
  SpawnFailure f;
  pid_t pid = Spawn(r, &f);
  REQUIRE(pid > 0);
  close(out[1]);
  std::string got = ReadAll(out[0]);
  close(out[0]);
  WaitFor(pid);
  CHECK(got == "cmd=libc.so.6\n0\nleft=unset\n");
}

namespace {

// What a contained program sees of its network and its descriptors, started
// under `config`: "NETNS|NAMESPACE DESCRIPTORS IT HAS|loopback". Bash's /dev/tcp to a closed
// port on 127.0.0.1 says "refused" when the loopback is up.
std::string ContainedView(const InitConfig* config, const std::string& init) {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  SpawnRequest r = UnderInit(
      "printf '%s|' \"$(readlink /proc/self/ns/net)\"; "
      "printf '%s|' \"$(ls -l /proc/$$/fd | grep -c 'net:\\|user:')\"; "
      "bash -c 'exec 3<>/dev/tcp/127.0.0.1/9' 2>&1 | grep -o -m1 'refused\\|unreachable'");
  r.init = *config;
  r.init_path = init;
  r.stdout_fd = out[1];
  SpawnFailure f;
  pid_t pid = Spawn(r, &f);
  INFO(f.message);
  REQUIRE(pid > 0);
  close(out[1]);
  std::string got = ReadAll(out[0]);
  close(out[0]);
  CHECK(JobStatusOf(WaitFor(pid)) == 0);
  if (!got.empty() && got.back() == '\n') got.pop_back();
  return got;
}

// The rank's namespaces, made once ("net:[N]" first), three starts that join
// them, and one given a descriptor that is no namespace (it makes its own).
std::string JoinedStarts(const std::string& init = STDMPI_INIT_PATH) {
  InitConfig c;
  c.isolate = InitConfig::Isolate::kHost;
  std::string err;
  if (!MakeRankNamespaces(&c, &err)) return "not made: " + err;
  char made[64] = {};
  if (readlink(("/proc/self/fd/" + std::to_string(c.join_net_fd)).c_str(), made,
               sizeof(made) - 1) <= 0) {
    return "unreadable";
  }
  std::string views = made;
  for (int i = 0; i < 3; ++i) views += "\n" + ContainedView(&c, init);
  ForgetJoinedNamespaces(&c);
  c.join_net_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  views += "\n" + ContainedView(&c, init);
  close(c.join_net_fd);
  return views;
}

void CheckJoined(const std::string& all) {
  INFO(all);
  std::vector<std::string> views;
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);) views.push_back(line);
  REQUIRE(views.size() == 5);
  const std::string net = views[0];
  CHECK(net.rfind("net:[", 0) == 0);
  // The host's network is not the container's.
  char host[64] = {};
  CHECK(readlink("/proc/self/ns/net", host, sizeof(host) - 1) > 0);
  CHECK(net != host);
  // The rank's network, its loopback up, and nothing of it inherited.
  CHECK(views[1] == net + "|0|refused");
  CHECK(views[2] == net + "|0|refused");
  CHECK(views[3] == net + "|0|refused");
  // Not a namespace: a network of its own, up as well.
  CHECK(views[4].substr(0, views[4].find('|')) != net);
  CHECK(views[4].substr(views[4].find('|')) == "|0|refused");
}

}  // namespace

TEST_CASE(
    "a rank's later containers join its first one's network, loopback up, nothing inherited") {
  REQUIRE(geteuid() == 0);  // the tests run as root; a normal user's case is below
  CheckJoined(JoinedStarts());
}

TEST_CASE("a normal user's containers join the user and network namespaces made once") {
  REQUIRE(geteuid() == 0);
  // A copy of stdmpi-init that nobody can run, and a directory it can be in
  // (the build may be in a private directory).
  TempDir tmp;
  chmod(tmp.path.c_str(), 0755);
  const std::string init = tmp.path + "/stdmpi-init";
  std::filesystem::copy_file(STDMPI_INIT_PATH, init);
  chmod(init.c_str(), 0755);
  int out[2];
  REQUIRE(pipe(out) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(out[0]);
    // nobody, with no supplementary groups, in a directory it may enter.
    if (chdir(tmp.path.c_str()) != 0 || setgroups(0, nullptr) != 0 ||
        setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
      _exit(3);
    }
    try {
      std::string all = JoinedStarts(init);
      ssize_t w = write(out[1], all.data(), all.size());
      _exit(w == static_cast<ssize_t>(all.size()) ? 0 : 4);
    } catch (...) {  // a failed REQUIRE: this copy of the test runner ends here
      _exit(5);
    }
  }
  close(out[1]);
  std::string all = ReadAll(out[0]);
  close(out[0]);
  CHECK(JobStatusOf(WaitFor(child)) == 0);
  CheckJoined(all);
}
