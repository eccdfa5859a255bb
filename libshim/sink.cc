#include "sink.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace stdmpi {

void Sink::Open(uv_loop_t* loop, int fd, std::function<void()> on_drain) {
  fd_ = fd;
  on_drain_ = std::move(on_drain);
  uv_handle_type t = uv_guess_handle(fd);
  if (t == UV_TTY && uv_tty_init(loop, &h_.tty, fd, 0) == 0) {
    stream_ = reinterpret_cast<uv_stream_t*>(&h_.tty);
  } else if (t == UV_NAMED_PIPE && uv_pipe_init(loop, &h_.pipe, 0) == 0) {
    if (uv_pipe_open(&h_.pipe, fd) == 0) {
      stream_ = reinterpret_cast<uv_stream_t*>(&h_.pipe);
    } else {
      uv_close(reinterpret_cast<uv_handle_t*>(&h_.pipe), nullptr);
    }
  }
  open_ = true;
}

void Sink::Write(std::string data) {
  if (data.empty() || broken_ || !open_) return;
  if (stream_ == nullptr) {
    WriteBlocking(data.data(), data.size());
    return;
  }
  std::vector<uv_buf_t> b = UvBuffers(data.data(), data.size());
  // A pipe takes far less than 2 GiB at once, so the count fits in an int.
  int n = uv_try_write(stream_, b.data(), static_cast<unsigned>(b.size()));
  if (n >= 0 && static_cast<size_t>(n) == data.size()) return;
  if (n < 0 && n != UV_EAGAIN) {
    broken_ = true;
    return;
  }
  if (n > 0) data.erase(0, static_cast<size_t>(n));
  auto* w = new WriteReq;
  w->sink = this;
  w->data = std::move(data);
  b = UvBuffers(w->data.data(), w->data.size());
  queued_ += w->data.size();
  if (uv_write(&w->req, stream_, b.data(), static_cast<unsigned>(b.size()), &Sink::OnWritten) !=
      0) {
    queued_ -= w->data.size();
    delete w;
    broken_ = true;
  }
}

size_t Sink::Unread() const {
  if (!open_ || broken_) return 0;
  int in_pipe = 0;
  if (ioctl(fd_, FIONREAD, &in_pipe) != 0) in_pipe = 0;
  size_t not_written = stream_ != nullptr ? uv_stream_get_write_queue_size(stream_) : 0;
  return not_written + static_cast<size_t>(in_pipe);
}

void Sink::Close() {
  if (!open_) return;
  open_ = false;
  if (stream_ != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(stream_), nullptr);
  stream_ = nullptr;
}

void Sink::OnWritten(uv_write_t* req, int status) {
  auto* w = reinterpret_cast<WriteReq*>(req);
  Sink* s = w->sink;
  s->queued_ -= w->data.size();
  delete w;
  if (status < 0) s->broken_ = true;
  if (s->on_drain_) s->on_drain_();
}

void Sink::WriteBlocking(const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      broken_ = true;
      return;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace stdmpi
