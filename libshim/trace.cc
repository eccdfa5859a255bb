#include "trace.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fsutil.h"

namespace stdmpi {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", c);
      out.append(esc);
    }
  }
  out.push_back('"');
  return out;
}

std::string TraceEvent(std::string_view name, double ts_us, double dur_us, int rank,
                       std::string_view request, bool ok, int64_t bytes,
                       std::string_view extra_args) {
  char times[96];
  std::snprintf(times, sizeof(times), "\"ts\":%.3f,\"dur\":%.3f", ts_us, dur_us);
  return "{\"name\":" + JsonString(name) + ",\"cat\":\"request\",\"ph\":\"X\"," + times +
         ",\"pid\":" + std::to_string(rank) + ",\"tid\":" + std::to_string(rank) +
         ",\"args\":{\"request\":" + JsonString(request) + ",\"ok\":" + (ok ? "true" : "false") +
         ",\"reply_bytes\":" + std::to_string(bytes) + (extra_args.empty() ? "" : ",") +
         std::string(extra_args) + "}}";
}

std::string TraceStartupEvent(std::string_view name, double ts_us, double dur_us, int rank) {
  char times[96];
  std::snprintf(times, sizeof(times), "\"ts\":%.3f,\"dur\":%.3f", ts_us, dur_us);
  return "{\"name\":" + JsonString(name) + ",\"cat\":\"startup\",\"ph\":\"X\"," + times +
         ",\"pid\":" + std::to_string(rank) + ",\"tid\":" + std::to_string(rank) + "}";
}

std::string TraceProcessName(int rank, std::string_view command) {
  std::string r = std::to_string(rank);
  return "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" + r + ",\"tid\":" + r +
         ",\"args\":{\"name\":" + JsonString("rank " + r + ": " + std::string(command)) +
         "}}\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":" + r + ",\"tid\":" + r +
         ",\"args\":{\"sort_index\":" + r + "}}";
}

bool TraceWriter::Open(const std::string& prefix, int rank, std::string_view command, double t0,
                       std::string* err) {
  std::string path = prefix + ".rank" + std::to_string(rank);
  // The program may share the directory: never write through its links.
  int fd = CreateFileNoFollow(path, 0644);
  f_ = fd < 0 ? nullptr : fdopen(fd, "w");
  if (f_ == nullptr) {
    if (fd >= 0) close(fd);
    *err = "--trace: cannot write " + path + ": " + std::strerror(errno);
    return false;
  }
  static char buf[1 << 16];
  std::setvbuf(f_, buf, _IOFBF, sizeof(buf));
  rank_ = rank;
  t0_ = t0;
  std::fputs((TraceProcessName(rank, command) + "\n").c_str(), f_);
  return true;
}

void TraceWriter::Add(std::string_view name, double begin, double end, std::string_view request,
                      bool ok, int64_t bytes, std::string_view extra_args) {
  if (!tracing()) return;
  if (events_ >= kMaxTraceEvents) {
    ++dropped_;
    return;
  }
  ++events_;
  std::string e = TraceEvent(name, (begin - t0_) * 1e6, (end - begin) * 1e6, rank_, request, ok,
                             bytes, extra_args);
  e.push_back('\n');
  std::fwrite(e.data(), 1, e.size(), f_);
}

void TraceWriter::AddStartup(std::string_view name, double begin, double end) {
  if (!tracing()) return;
  std::string e = TraceStartupEvent(name, (begin - t0_) * 1e6, (end - begin) * 1e6, rank_);
  e.push_back('\n');
  std::fwrite(e.data(), 1, e.size(), f_);
}

void TraceWriter::AddLine(std::string_view json) {
  if (f_ == nullptr) return;
  std::fwrite(json.data(), 1, json.size(), f_);
  std::fputc('\n', f_);
}

void TraceWriter::Close() {
  if (f_ == nullptr) return;
  if (dropped_ > 0) {
    std::string r = std::to_string(rank_);
    std::fprintf(f_,
                 "{\"name\":\"process_labels\",\"ph\":\"M\",\"pid\":%s,\"tid\":%s,"
                 "\"args\":{\"labels\":\"%lld later requests not traced (limit %lld)\"}}\n",
                 r.c_str(), r.c_str(), static_cast<long long>(dropped_),
                 static_cast<long long>(kMaxTraceEvents));
  }
  std::fclose(f_);
  f_ = nullptr;
}

}  // namespace stdmpi
