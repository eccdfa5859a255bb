// A rank's program: its placement, its start, and what the shim learns of it
// while it runs.
//
// Start() creates the three pipes, binds this process (and so the program it
// starts) to the rank's cores, builds the program's environment (childenv.h),
// the language adaptations (adapt.h), the limits (rank_limits.h) and the
// container (init_config.h), and spawns the program under its supervisor,
// stdmpi-init (spawn.h). Afterwards the shim signals the program's process
// group, reaps it, and asks /proc whether it is blocked reading its stdin.
#ifndef STDMPI_LIBSHIM_PROGRAM_H_
#define STDMPI_LIBSHIM_PROGRAM_H_

#include <sched.h>
#include <signal.h>
#include <sys/types.h>

#include <string>

#include "adapt.h"
#include "options.h"
#include "position.h"
#include "rank_limits.h"
#include "spawn.h"

namespace stdmpi {

class Program {
 public:
  explicit Program(const ShimOptions& opts) : opts_(opts) {}
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Places this rank and starts the command. `prefix` starts the warnings
  // ("stdmpi: rank 1 (python3 x.py): "). On failure pid() < 0 and failure()
  // says why; without pipes (pipes_ok() false) nothing can be relayed.
  void Start(const Position& where, const std::string& prefix);

  // The shared region's descriptor (shm_region.h): the command inherits it,
  // its number in STDMPI_SHM_FD.
  void set_shared_fd(int fd) { shared_fd_ = fd; }

  pid_t pid() const { return pid_; }
  bool pipes_ok() const { return stdin_fd_ >= 0; }
  const SpawnFailure& failure() const { return failure_; }
  // The shim's ends of the program's stdin, stdout and stderr.
  int stdin_fd() const { return stdin_fd_; }
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  const Adaptation& adaptation() const { return adapt_; }
  // The cores Start() bound this process to, if it did.
  bool bound() const { return bound_; }
  const cpu_set_t& bound_cpus() const { return bound_cpus_; }
  // When the spawn began and ended (epoch seconds, for --trace; 0: never),
  // and when the program started (monotonic seconds).
  double spawn_begin() const { return spawn_begin_; }
  double spawn_end() const { return spawn_end_; }
  double started_at() const { return started_at_; }
  RankLimits& limits() { return limits_; }

  // Signals the program's process group (its supervisor passes it on).
  void Kill(int sig) const {
    if (pid_ > 0) ::kill(-pid_, sig);
  }
  // Reaps the program if it has exited: true, with its wait status.
  bool Reap(int* status);
  // It runs under stdmpi-init.
  bool supervised() const { return under_init_; }
  // It was reaped, or never started.
  bool exited() const { return exited_; }
  // Makes sure the program is gone: SIGTERM, up to 1 s, then SIGKILL.
  void Stop();
  // True if the command itself (below its supervisors) is blocked reading
  // its stdin: NCL does so once its script has ended.
  bool BlockedReadingStdin() const;

 private:
  // Binds this process to the rank's cores (--bind-to, --cpus-per-rank);
  // returns the program's thread count.
  int Place(const Position& where, const std::string& prefix);
  // Finds the executable and the language adaptations; false with failure_.
  bool Resolve(std::string* path, InitConfig* init);
  bool MakePipes(int in[2], int out[2], int err[2]);
  void PrepareLimits(const Position& where, InitConfig* init);

  const ShimOptions& opts_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  SpawnFailure failure_;
  Adaptation adapt_;
  bool under_init_ = false;
  bool contained_ = false;  // a second stdmpi-init is PID 1 of a container
  bool bound_ = false;
  cpu_set_t bound_cpus_{};
  int shared_fd_ = -1;
  double spawn_begin_ = 0, spawn_end_ = 0, started_at_ = 0;
  RankLimits limits_;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_PROGRAM_H_
