// Waiting for MPI while a program waits for its reply.
//
// The poller calls `progress` (the engine's) until it returns true: busily for
// a short budget (a reply is usually a few microseconds away and the program,
// blocked on its stdin, leaves its core idle), then sleeping with a growing
// interval on a timerfd, so that a long wait costs almost no CPU and the event
// loop still sees the program die or a signal arrive.
//
// The budget: both sides of a collective must poll for it to progress; a
// budget much shorter than a scheduler hiccup lets one rank fall asleep, its
// peer then waits out the sleeper's interval and falls asleep too, and every
// later collective costs milliseconds (measured: a bcast+reduce round went
// from 20 us to 0.7-1.6 ms with a 200 us budget). When the node has more
// ranks than cores, the poll yields the core between tests so that computing
// ranks get it.
#ifndef STDMPI_LIBSHIM_POLLER_H_
#define STDMPI_LIBSHIM_POLLER_H_

#include <uv.h>

#include <functional>

namespace stdmpi {

// The default busy-polling budget, in seconds.
inline constexpr double kDefaultSpin = 2e-3;

// The sleeping poll: the first interval doubles up to a cap that grows with
// the time already waited (5% of it, between 1 and 10 ms), so a reply that
// comes late is at most 5% later for it, and a long wait costs almost no CPU.
// Returns the interval after `current_ns`, `waited` seconds into the wait.
inline constexpr long kFirstSleepNs = 10'000;
inline long NextSleepNs(long current_ns, double waited) {
  constexpr long kMinCapNs = 1'000'000, kMaxCapNs = 10'000'000;
  long cap = static_cast<long>(waited * 0.05 * 1e9);
  cap = cap < kMinCapNs ? kMinCapNs : cap > kMaxCapNs ? kMaxCapNs : cap;
  return current_ns * 2 < cap ? current_ns * 2 : cap;
}

class Poller {
 public:
  Poller() = default;
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  ~Poller();

  // `progress` advances the pending operation and returns true once it has
  // finished; then `done` is called. `yield`: give the core up between polls.
  void Init(uv_loop_t* loop, std::function<bool()> progress, std::function<void()> done,
            bool yield);
  // Starts polling: busily for `spin` seconds, then sleeping.
  void Start(double spin);
  void Stop();

 private:
  void OnIdle();
  void OnTimer();
  void ArmSleep();

  std::function<bool()> progress_;
  std::function<void()> done_;
  bool yield_ = false;
  uv_idle_t idle_;
  uv_poll_t sleep_poll_;
  int timer_fd_ = -1;
  bool sleep_armed_ = false;
  double started_ = 0, spin_until_ = 0;
  long sleep_ns_ = kFirstSleepNs;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_POLLER_H_
