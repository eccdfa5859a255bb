// libuv timers, signal watchers and pipe readers that call a std::function,
// so that the shim says what a handle does where it starts it, without a cast
// per handle.
//
// Init() ties a handle to its loop; the loop's owner closes every handle
// (uv_walk) before the handle's memory goes.
#ifndef STDMPI_LIBSHIM_LOOP_HANDLES_H_
#define STDMPI_LIBSHIM_LOOP_HANDLES_H_

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string_view>

namespace stdmpi {

// Closes every handle of `loop`, lets the closes complete, closes the loop.
inline void CloseLoop(uv_loop_t* loop) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
}

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

// Reads a pipe while its owner wants it read: the bytes go to `on_data`, the
// end to `on_eof` (once). Readers may share one buffer: each read is handed
// on before the next.
class PipeReader {
 public:
  void Open(uv_loop_t* loop, int fd, char* buf, size_t size,
            std::function<void(std::string_view)> on_data, std::function<void()> on_eof) {
    buf_ = buf;
    size_ = size;
    on_data_ = std::move(on_data);
    on_eof_ = std::move(on_eof);
    uv_pipe_init(loop, &h_, 0);
    uv_pipe_open(&h_, fd);
    h_.data = this;
    open_ = true;
  }
  // Closes the pipe (the object must live until the loop ran once more).
  void Close() {
    if (!open_) return;
    Stop();
    open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&h_), nullptr);
  }
  // Reads while `want` is true and the pipe has not ended; pauses otherwise.
  void Want(bool want) {
    want = want && !eof_;
    if (want == reading_) return;
    reading_ = want;
    auto* st = reinterpret_cast<uv_stream_t*>(&h_);
    if (!want) {
      uv_read_stop(st);
      return;
    }
    uv_read_start(
        st,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* self = static_cast<PipeReader*>(h->data);
          *b = uv_buf_init(self->buf_, static_cast<unsigned>(self->size_));
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
          auto* self = static_cast<PipeReader*>(st->data);
          if (n > 0) {
            self->on_data_(std::string_view(b->base, static_cast<size_t>(n)));
          } else if (n < 0) {
            self->Stop();
            self->on_eof_();
          }
        });
  }
  // Reads no more, as if the pipe had ended (on_eof is not called).
  void Stop() {
    eof_ = true;
    Want(false);
  }
  bool eof() const { return eof_; }

 private:
  uv_pipe_t h_;
  char* buf_ = nullptr;
  size_t size_ = 0;
  std::function<void(std::string_view)> on_data_;
  std::function<void()> on_eof_;
  bool reading_ = false, eof_ = false, open_ = false;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_LOOP_HANDLES_H_
