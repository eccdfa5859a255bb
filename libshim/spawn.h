// Starting a rank's child process.
//
// Spawn() is the one place that turns a SpawnRequest into a running child; the
// container engine plugs in here. The shim is an MPI process (threads, possibly
// gigabytes of touched memory), so the child is made with
// clone(CLONE_VM | CLONE_VFORK): no page tables are copied and the parent waits
// only until exec. Everything the child needs (argv, envp, the resolved path) is
// prepared before the clone; the child only resets signals, moves file
// descriptors and execs, and reports an exec failure through a CLOEXEC pipe.
#ifndef STDMPI_LIBSHIM_SPAWN_H_
#define STDMPI_LIBSHIM_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "init_config.h"

namespace stdmpi {

struct SpawnRequest {
  // argv[0] is looked up in the child's PATH unless it contains a '/' or
  // `path` is given.
  std::vector<std::string> argv;
  // The executable, when the caller resolved it already.
  std::string path;
  // The child's whole environment, "NAME=VALUE" each.
  std::vector<std::string> env;
  // Working directory; empty: the shim's.
  std::string cwd;
  // The child's stdin/stdout/stderr (the shim's ends stay with the shim).
  int stdin_fd = 0, stdout_fd = 1, stderr_fd = 2;
  // One more descriptor the child inherits, at the same number (-1: none).
  int keep_fd = -1;
  // Put the child in a process group of its own, so that everything it starts
  // can be signalled at once (kill(-pid, ...)).
  bool new_process_group = true;
  // Sent to the child by the kernel if the shim dies first (0: none).
  int parent_death_signal = 9;
  // The supervisor (stdmpi-init) to run the command under, or empty to exec
  // the command directly. Under it, the child Spawn returns is the supervisor,
  // which mirrors the command's exit status, forwards signals to the command's
  // process group, and ends every descendant when the shim dies (it then gets
  // SIGTERM instead of parent_death_signal).
  std::string init_path;
  // What the supervisor sets up before the command starts (init_config.h).
  InitConfig init;
};

struct SpawnFailure {
  int exit_status = 0;  // what a shell would report: 127 not found, 126 cannot execute
  std::string message;  // names the path and what was looked for
};

// Looks `name` up the way execvp does (PATH from `path_env`, "" meaning the
// default /usr/local/bin:/usr/bin:/bin). On success sets *path. On failure fills
// *failure (127 if nothing was found, 126 if only non-executable files were).
bool ResolveExecutable(const std::string& name, const std::string& path_env, std::string* path,
                       SpawnFailure* failure);

// The failure of a child that reported {step, errno} (child_steps.h) before
// it could run the command at `path`: what a user reads, and the status a
// shell would give (127 not found, 126 cannot execute).
SpawnFailure DescribeStepFailure(int step, int err, const SpawnRequest& req,
                                 const std::string& path);

// Starts the child. Returns its pid, or -1 with *failure filled.
pid_t Spawn(const SpawnRequest& req, SpawnFailure* failure);

// Makes a rank's network namespace (and, for a normal user, the user
// namespace that owns it) once, loopback up, and has every later start under
// `config` join it instead of making its own: a new network namespace is a
// quarter of a container's start, and a rank that starts program after
// program (a task farm) pays it once. What its programs share: the
// loopback's state (a port in TIME_WAIT) and, for a normal user, the user
// namespace; no process (each program's tree ends with it), no address or
// rule (a program has no capability to change them). A short-lived helper
// process makes them and holds them until they are open. Returns false with
// *err when there is nothing to make (no container, --net, made already) or
// the kernel refuses; starts then make their own. The descriptors are the
// caller's: ForgetJoinedNamespaces.
bool MakeRankNamespaces(InitConfig* config, std::string* err);
void ForgetJoinedNamespaces(InitConfig* config);

// Records which signals were ignored when the process started (e.g. SIGHUP
// under nohup), so children get those dispositions and defaults for the rest,
// whatever handlers the shim installs later. Call first thing in main().
void RecordInitialSignalDispositions();

// Runs a helper program (tar, rm) with stdin from /dev/null and waits for it:
// fork and execvp, for single-threaded callers or short-lived helpers. Returns
// its job status (JobStatusOf), 127 if it could not be started.
int RunAndWait(const std::vector<std::string>& argv);

// "exited with status 3", "killed by signal 9 (SIGKILL)"; and the job status
// docs/protocol.md gives it ("Exit statuses"): the exit status, or 128 + signal.
std::string DescribeWaitStatus(int wstatus);
int JobStatusOf(int wstatus);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_SPAWN_H_
