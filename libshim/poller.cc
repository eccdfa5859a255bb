#include "poller.h"

#include <sched.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>

#include "clock.h"

namespace stdmpi {

namespace {
// One turn of busy polling, between turns of the event loop.
constexpr double kSlice = 10e-6;
}  // namespace

Poller::~Poller() {
  if (timer_fd_ >= 0) close(timer_fd_);
}

void Poller::Init(uv_loop_t* loop, std::function<bool()> progress, std::function<void()> done,
                  bool yield) {
  progress_ = std::move(progress);
  done_ = std::move(done);
  yield_ = yield;
  uv_idle_init(loop, &idle_);
  idle_.data = this;
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  uv_poll_init(loop, &sleep_poll_, timer_fd_);
  sleep_poll_.data = this;
}

void Poller::Start(double spin) {
  started_ = MonotonicSeconds();
  spin_until_ = started_ + spin;
  sleep_ns_ = kFirstSleepNs;
  uv_idle_start(&idle_, [](uv_idle_t* h) { static_cast<Poller*>(h->data)->OnIdle(); });
}

void Poller::Stop() {
  uv_idle_stop(&idle_);
  if (sleep_armed_) {
    itimerspec off = {};
    timerfd_settime(timer_fd_, 0, &off, nullptr);
    uv_poll_stop(&sleep_poll_);
    sleep_armed_ = false;
  }
}

void Poller::OnIdle() {
  double t = MonotonicSeconds();
  const double slice_end = t + kSlice;
  do {
    if (progress_()) {
      Stop();
      done_();
      return;
    }
    if (yield_) sched_yield();
    t = MonotonicSeconds();
  } while (t < slice_end && t < spin_until_);
  if (t >= spin_until_) {
    uv_idle_stop(&idle_);
    ArmSleep();
  }
}

void Poller::ArmSleep() {
  itimerspec its = {};
  its.it_value.tv_sec = sleep_ns_ / 1'000'000'000;
  its.it_value.tv_nsec = sleep_ns_ % 1'000'000'000;
  timerfd_settime(timer_fd_, 0, &its, nullptr);
  if (!sleep_armed_) {
    uv_poll_start(&sleep_poll_, UV_READABLE,
                  [](uv_poll_t* h, int, int) { static_cast<Poller*>(h->data)->OnTimer(); });
    sleep_armed_ = true;
  }
}

void Poller::OnTimer() {
  uint64_t expirations;
  ssize_t ignored = read(timer_fd_, &expirations, sizeof(expirations));
  (void)ignored;
  if (progress_()) {
    Stop();
    done_();
    return;
  }
  sleep_ns_ = NextSleepNs(sleep_ns_, MonotonicSeconds() - started_);
  ArmSleep();
}

}  // namespace stdmpi
