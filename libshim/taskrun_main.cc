// stdmpi-taskrun: the worker of a farm of command tasks (stdmpirun --tasks
// FILE with no COMMAND; docs/tasks.md). Each rank runs one; it asks its shim
// for the next task with `@mpi task`, runs the line with `/bin/sh -c` and
// reports how it ended (`@mpi task fail exit 3`), until the shim says `end`.
//
//   stdmpi-taskrun [--time-limit SECONDS]
//
// A task runs in a process group of its own, with stdin from /dev/null (the
// worker's stdin carries the shim's replies) and STDMPI_TASK_ID and
// STDMPI_TASK_ATTEMPT set; whatever it leaves running in its group is ended
// with it. Its stdout passes through the worker, so that the worker's next
// request starts on a line of its own even after output with no final
// newline; a line of a task that starts with "@mpi" gets a space first (it
// is output, not a request). When the job ends (SIGTERM, SIGINT, SIGHUP), the
// running task ends with it and is not reported as failed: the joblog has no
// entry for it, and --resume runs it again.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>

namespace {

bool g_at_line_start = true;
int g_prefix = 0;  // how much of "@mpi" the current line has begun with
// The job is ending (SIGTERM, SIGINT or SIGHUP to this worker): the task
// running is ended too, and nothing is reported for it (it was not its fault;
// --resume runs it again).
volatile sig_atomic_t g_stop = 0;

void OnStop(int sig) {
  g_stop = sig;
}

void WriteAll(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(1);  // the shim is gone
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// Passes a task's output on, a space before a line that starts with "@mpi".
void Relay(const char* p, size_t n) {
  static const char kMark[] = "@mpi";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (g_at_line_start && g_prefix < 4) {
      if (c == kMark[g_prefix]) {
        if (++g_prefix == 4) {
          out += " @mpi";
          g_at_line_start = false;
        }
        continue;
      }
      out.append(kMark, static_cast<size_t>(g_prefix));
      g_at_line_start = false;
    }
    out += c;
    if (c == '\n') {
      g_at_line_start = true;
      g_prefix = 0;
    }
  }
  WriteAll(out.data(), out.size());
}

// A partial line the task left ("@m" held back, or text without newline)
// is finished, so that the next request starts a line.
void EndLine() {
  if (g_at_line_start && g_prefix > 0) {
    WriteAll("@mpi", static_cast<size_t>(g_prefix));
    g_at_line_start = false;
  }
  if (!g_at_line_start) WriteAll("\n", 1);
  g_at_line_start = true;
  g_prefix = 0;
}

std::string ReadLine() {
  std::string line;
  char c;
  for (;;) {
    ssize_t r = read(0, &c, 1);
    if (g_stop != 0) _exit(128 + g_stop);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(0);  // the job is ending
    if (c == '\n') return line;
    line += c;
  }
}

std::string Ask(const std::string& request) {
  EndLine();
  std::string line = request + "\n";
  WriteAll(line.data(), line.size());
  return ReadLine();
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Runs one task; returns "" if it succeeded, else why not ("exit 3").
std::string RunTask(const std::string& id, const std::string& attempt, const std::string& line,
                    double limit) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return "exit 126";
  pid_t pid = fork();
  if (pid < 0) return "exit 126";
  if (pid == 0) {
    setpgid(0, 0);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);  // only its copy as fd 0 stays
    if (null >= 0) dup2(null, 0);
    dup2(out[1], 1);
    setenv("STDMPI_TASK_ID", id.c_str(), 1);
    setenv("STDMPI_TASK_ATTEMPT", attempt.c_str(), 1);
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP}) signal(sig, SIG_DFL);
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  close(out[1]);
  const double started = Now();
  bool timed_out = false, stopping = false;
  double kill_at = 0;
  char buf[65536];
  for (;;) {
    int wait_ms = -1;
    if (limit > 0) {
      double left = (timed_out ? kill_at : started + limit) - Now();
      wait_ms = left <= 0 ? 0 : static_cast<int>(left * 1000) + 1;
    }
    if (g_stop != 0 && !stopping) {
      kill(-pid, SIGTERM);  // the job ends: so does its task
      stopping = true;
    }
    pollfd p = {out[0], POLLIN, 0};
    int r = poll(&p, 1, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      // The time limit: the task's whole group, SIGTERM then SIGKILL.
      kill(-pid, timed_out ? SIGKILL : SIGTERM);
      if (!timed_out) kill_at = Now() + 1.0;
      timed_out = true;
      if (kill_at <= Now()) limit = 0;
      continue;
    }
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    Relay(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  kill(-pid, SIGKILL);  // whatever it left running in its group
  // A task killed by a signal the job's end sends: it may have come a moment
  // before this worker's own; wait a moment to tell the two apart.
  if (!timed_out && WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGKILL) {
      for (int i = 0; i < 30 && g_stop == 0; ++i) usleep(10000);
    }
  }
  if (g_stop != 0) _exit(128 + g_stop);  // the job ends: no report
  char why[96];
  if (timed_out) {
    snprintf(why, sizeof why, "signal %d (over the time limit of %g s)",
             WIFSIGNALED(status) ? WTERMSIG(status) : SIGTERM, limit > 0 ? limit : 0.0);
    return why;
  }
  if (WIFSIGNALED(status)) {
    snprintf(why, sizeof why, "signal %d", WTERMSIG(status));
    return why;
  }
  if (WEXITSTATUS(status) != 0) {
    snprintf(why, sizeof why, "exit %d", WEXITSTATUS(status));
    return why;
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  double limit = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--time-limit") == 0 && i + 1 < argc) {
      limit = atof(argv[++i]);
    } else {
      fprintf(stderr,
              "usage: stdmpi-taskrun [--time-limit SECONDS]\n"
              "(the worker of stdmpirun --tasks FILE; it is not meant to be run by hand)\n");
      return 64;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  // The shared region is this worker's, not its tasks' (they are commands,
  // not protocol speakers): they inherit neither it nor its variable.
  if (const char* shm = getenv("STDMPI_SHM_FD")) {
    int fd = atoi(shm);
    if (fd > 2) fcntl(fd, F_SETFD, FD_CLOEXEC);
    unsetenv("STDMPI_SHM_FD");
  }
  struct sigaction sa = {};
  sa.sa_handler = OnStop;  // no SA_RESTART: poll and read wake up
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &sa, nullptr);
  std::string failed;
  for (;;) {
    std::string reply = Ask(failed.empty() ? "@mpi task" : "@mpi task fail " + failed);
    if (reply == "end") return 0;
    if (reply.rfind("@error ", 0) == 0) {
      fprintf(stderr, "stdmpi-taskrun: %s\n", reply.c_str() + 7);
      return 1;
    }
    size_t sp = reply.find(' ');
    std::string id = reply.substr(0, sp);
    std::string line = sp == std::string::npos ? "" : reply.substr(sp + 1);
    std::string info = Ask("@mpi taskinfo");
    std::string attempt = info.substr(info.find(' ') + 1);
    failed = RunTask(id, attempt, line, limit);
  }
}
