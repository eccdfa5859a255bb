#include "output_merger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"

namespace stdmpi {

OutputMerger::~OutputMerger() {
  for (auto& c : conns_) close(c->fd);
  if (listen_fd_ >= 0) close(listen_fd_);
  if (!path_.empty()) unlink(path_.c_str());
  if (!dir_.empty()) rmdir(dir_.c_str());
}

bool OutputMerger::Listen(std::string* err) {
  const char* tmp = getenv("TMPDIR");
  std::string base = tmp != nullptr && *tmp == '/' ? tmp : "/tmp";
  // A socket's path has room for 107 bytes: a deep TMPDIR gives way to /tmp.
  if (base.size() + sizeof("/stdmpirun-XXXXXX/out") > sizeof(sockaddr_un::sun_path)) base = "/tmp";
  std::string tmpl = base + "/stdmpirun-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    *err = "cannot create a directory in " + base + ": " + strerror(errno);
    return false;
  }
  dir_ = tmpl;
  std::string path = dir_ + "/out";
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    *err = "the socket path " + path + " is too long";
    return false;
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, SOMAXCONN) != 0) {
    *err = "cannot listen on " + path + ": " + strerror(errno);
    return false;
  }
  path_ = path;
  return true;
}

void OutputMerger::AddPollFds(std::vector<pollfd>* fds) const {
  fds->push_back({listen_fd_, POLLIN, 0});
  for (const auto& c : conns_) fds->push_back({c->fd, POLLIN, 0});
}

void OutputMerger::Accept() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: no more waiting
    }
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->filter.SetReportMark(mark_);
    conns_.push_back(std::move(c));
  }
}

void OutputMerger::Emit(Conn* c, std::string_view data, bool end) {
  std::string joined;
  c->joiner.Feed(data, &joined);
  if (end) c->joiner.Finish(&joined);
  if (c->stream == 2) {
    joined = c->filter.Feed(joined);
    if (end) joined += c->filter.Flush();
    if (!c->reported && c->filter.reported()) {
      c->reported = true;
      if (on_report_) on_report_();
    }
    if (!c->filter.holding()) {
      c->held_since = 0;
    } else if (c->held_since == 0) {
      c->held_since = MonotonicSeconds();
    }
  }
  if (c->stream != 0 && !joined.empty()) write_(c->stream, joined);
}

bool OutputMerger::Read(Conn* c) {
  char buf[65536];
  ssize_t n;
  do {
    n = read(c->fd, buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    Emit(c, {}, true);
    return false;
  }
  std::string_view data(buf, static_cast<size_t>(n));
  if (c->stream == 0) {
    c->stream = data[0] == '2' ? 2 : 1;
    data.remove_prefix(1);
  }
  Emit(c, data, false);
  return true;
}

void OutputMerger::Handle(const std::vector<pollfd>& fds, size_t first) {
  // fds[first + 1 + i] is conns_[i]: nothing changed conns_ since
  // AddPollFds (only Accept, below, appends).
  std::vector<bool> ended(conns_.size(), false);
  for (size_t i = 0; i < conns_.size(); ++i) {
    if (fds[first + 1 + i].revents != 0 && !Read(conns_[i].get())) ended[i] = true;
  }
  for (size_t i = conns_.size(); i-- > 0;) {
    if (!ended[i]) continue;
    close(conns_[i]->fd);
    conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (fds[first].revents != 0) Accept();
}

bool OutputMerger::holding() const {
  for (const auto& c : conns_) {
    if (c->held_since != 0) return true;
  }
  return false;
}

void OutputMerger::FlushHeld(double seconds) {
  const double now = MonotonicSeconds();
  for (auto& c : conns_) {
    if (c->held_since == 0 || now - c->held_since < seconds) continue;
    c->held_since = 0;
    std::string held = c->filter.Flush();
    if (!held.empty()) write_(c->stream, held);
  }
}

void OutputMerger::Drain(double seconds) {
  if (listen_fd_ < 0) return;
  const double deadline = MonotonicSeconds() + seconds;
  for (;;) {
    Accept();
    if (conns_.empty()) return;
    std::vector<pollfd> fds;
    AddPollFds(&fds);
    double left = deadline - MonotonicSeconds();
    if (left <= 0) break;
    int r = poll(fds.data(), fds.size(), static_cast<int>(left * 1000) + 1);
    if (r < 0 && errno != EINTR) break;
    if (r > 0) Handle(fds, 0);
  }
  // Out of time: what arrived of the last lines still goes out.
  for (auto& c : conns_) Emit(c.get(), {}, true);
}

}  // namespace stdmpi
