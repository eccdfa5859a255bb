#include "output_merger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "output_files.h"

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
  if (c->stream >= 2) {
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
  Deliver(c, joined);
}

void OutputMerger::Deliver(Conn* c, const std::string& joined) {
  if (joined.empty() || c->stream == 0) return;
  if (c->file_fd >= 0) {
    if (!WriteFully(c->file_fd, joined.data(), joined.size())) {
      // A full disk: what is left goes to the terminal, said once.
      if (!warned_files_) {
        warned_files_ = true;
        write_(2, "stdmpirun: warning: --output-filename: cannot write rank " +
                      std::to_string(c->rank) + "'s output (" + strerror(errno) +
                      "); the rest of it goes to the terminal\n");
      }
      close(c->file_fd);
      c->file_fd = -1;
      write_(c->stream, joined);
    }
    return;
  }
  write_(c->stream == 3 ? 2 : c->stream, joined);
}

OutputMerger::Conn::~Conn() {
  if (file_fd >= 0) close(file_fd);
}

bool OutputMerger::TakeHello(Conn* c, std::string_view* data) {
  size_t nl = data->find('\n');
  c->hello.append(data->substr(0, nl == std::string_view::npos ? data->size() : nl));
  if (c->hello.size() > 128) return false;
  if (nl == std::string_view::npos) {
    data->remove_prefix(data->size());
    return true;
  }
  data->remove_prefix(nl + 1);
  // "S RANK MARK": S 1..3, RANK digits only, MARK this job's.
  const std::string& h = c->hello;
  const size_t sp = h.find(' ', 2);
  const std::string digits = h.substr(2, sp == std::string::npos ? std::string::npos : sp - 2);
  const std::string mark = sp == std::string::npos ? "" : h.substr(sp + 1);
  if (h.size() < 3 || h[0] < '1' || h[0] > '3' || h[1] != ' ' || digits.empty() ||
      digits.size() > 8 || digits.find_first_not_of("0123456789") != std::string::npos ||
      mark != mark_) {
    return false;
  }
  c->stream = h[0] - '0';
  c->rank = std::stoi(digits);
  // One connection per stream of a rank: a second one is not its shim's.
  if (!connected_.insert({c->rank, c->stream}).second) return false;
  OpenFile(c);
  return true;
}

void OutputMerger::OpenFile(Conn* c) {
  if (files_fd_ < 0 || c->stream == 3) return;
  std::string err;
  c->file_fd = CreateRankOutputFile(files_fd_, files_dir_, c->rank,
                                    c->stream == 1 ? "stdout" : "stderr", &err);
  if (c->file_fd < 0 && !warned_files_) {
    warned_files_ = true;
    write_(2, "stdmpirun: warning: " + err + "; rank " + std::to_string(c->rank) +
                  "'s output goes to the terminal\n");
  }
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
    if (!TakeHello(c, &data)) return false;  // not a shim: dropped
    if (c->stream == 0) return true;         // the line is not whole yet
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
    Deliver(c.get(), c->filter.Flush());
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
