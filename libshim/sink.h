// A destination for bytes: the shim's stdout and stderr, or the program's stdin.
//
// Streams (pipes, ttys) are written without blocking and report how much is
// queued, so the reader feeding them can pause (back-pressure); regular files
// are written directly.
#ifndef STDMPI_LIBSHIM_SINK_H_
#define STDMPI_LIBSHIM_SINK_H_

#include <uv.h>

#include <cstddef>
#include <functional>
#include <string>

namespace stdmpi {

class Sink {
 public:
  // `on_drain`: called after a queued write went out (may be empty).
  void Open(uv_loop_t* loop, int fd, std::function<void()> on_drain);
  void Write(std::string data);
  // Bytes queued, not yet written.
  size_t queued() const { return queued_; }
  // Bytes written that the reader has not read yet: not yet in the pipe, plus
  // what sits in the pipe. (libuv's own count: queued() drops only when a
  // write's callback runs, which may be an event-loop turn after the bytes
  // went into the pipe and were read.)
  size_t Unread() const;
  // Stops writing (the reader is gone); queued writes are cancelled.
  void Close();

  Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

 private:
  struct WriteReq {
    uv_write_t req;
    Sink* sink;
    std::string data;
  };
  static void OnWritten(uv_write_t* req, int status);
  void WriteBlocking(const char* p, size_t n);

  int fd_ = -1;
  union {
    uv_tty_t tty;
    uv_pipe_t pipe;
  } h_;
  uv_stream_t* stream_ = nullptr;
  std::function<void()> on_drain_;
  size_t queued_ = 0;
  bool broken_ = false;
  bool open_ = false;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_SINK_H_
