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
#include <vector>

namespace stdmpi {

// uv_buf_init takes an unsigned int length: `n` bytes at `p` as buffers of at
// most `piece` bytes each (set directly), so a reply of 4 GiB or more goes
// out whole instead of cut to its low 32 bits.
inline std::vector<uv_buf_t> UvBuffers(char* p, size_t n, size_t piece = size_t{1} << 30) {
  std::vector<uv_buf_t> bufs;
  bufs.reserve(n / piece + 1);
  while (n > 0) {
    size_t k = n < piece ? n : piece;
    uv_buf_t b;
    b.base = p;
    b.len = k;
    bufs.push_back(b);
    p += k;
    n -= k;
  }
  return bufs;
}

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
