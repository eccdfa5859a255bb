// libuv timers and signal watchers that call a std::function, so that the
// shim says what a timer does where it starts it, without a cast per handle.
//
// Init() ties a handle to its loop; the loop's owner closes every handle
// (uv_walk) before the handle's memory goes.
#ifndef STDMPI_LIBSHIM_LOOP_HANDLES_H_
#define STDMPI_LIBSHIM_LOOP_HANDLES_H_

#include <uv.h>

#include <cstdint>
#include <functional>

namespace stdmpi {

class Timer {
 public:
  void Init(uv_loop_t* loop) {
    uv_timer_init(loop, &h_);
    h_.data = this;
  }
  // Calls `f` after `ms` milliseconds, then every `repeat_ms` if not 0.
  // Restarting a timer from its own callback is fine.
  void Start(uint64_t ms, std::function<void()> f, uint64_t repeat_ms = 0) {
    f_ = std::move(f);
    uv_timer_start(
        &h_,
        [](uv_timer_t* t) {
          std::function<void()> f = static_cast<Timer*>(t->data)->f_;  // it may restart
          f();
        },
        ms, repeat_ms);
  }
  void Stop() { uv_timer_stop(&h_); }
  bool active() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&h_)) != 0; }

 private:
  uv_timer_t h_;
  std::function<void()> f_;
};

class SignalWatch {
 public:
  void Start(uv_loop_t* loop, int sig, std::function<void(int)> f) {
    f_ = std::move(f);
    uv_signal_init(loop, &h_);
    h_.data = this;
    uv_signal_start(
        &h_, [](uv_signal_t* h, int sig) { static_cast<SignalWatch*>(h->data)->f_(sig); }, sig);
  }

 private:
  uv_signal_t h_;
  std::function<void(int)> f_;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_LOOP_HANDLES_H_
