#include "demux.h"

#include <string.h>

#include <algorithm>
#include <cstring>

#include "request.h"

namespace stdmpi {

void StdoutDemux::Bytes::reserve(size_t cap) {
  if (cap <= cap_) return;
  char* q = static_cast<char*>(std::realloc(p_, cap));
  if (q == nullptr) std::abort();  // as std::string would throw bad_alloc
  p_ = q;
  cap_ = cap;
}

void StdoutDemux::Bytes::append(const char* d, size_t n) {
  if (n == 0) return;
  if (n_ + n > cap_) reserve(std::max(n_ + n, cap_ < 4096 ? 4096 : cap_ * 2));
  std::memcpy(p_ + n_, d, n);
  n_ += n;
}

void StdoutDemux::Bytes::erase_front(size_t n) {
  std::memmove(p_, p_ + n, n_ - n);
  n_ -= n;
}

void StdoutDemux::Bytes::clear() {
  n_ = 0;
  if (cap_ > (size_t{4} << 20)) {
    // Held for a large line or payload: give it back.
    std::free(p_);
    p_ = nullptr;
    cap_ = 0;
  }
}

void StdoutDemux::Append(const char* data, size_t n) {
  if (mode_ == Mode::kSkipPayload) {
    // Drop what belongs to the skipped payload without ever holding it.
    size_t drop = static_cast<size_t>(remaining_) < n ? static_cast<size_t>(remaining_) : n;
    remaining_ -= static_cast<int64_t>(drop);
    data += drop;
    n -= drop;
    if (n == 0) return;
  }
  if (mode_ == Mode::kSkipLine) {
    const void* nl = std::memchr(data, '\n', n);
    if (nl == nullptr) return;
    size_t used = static_cast<size_t>(static_cast<const char*>(nl) - data) + 1;
    mode_ = Mode::kLines;
    data += used;
    n -= used;
  }
  Compact();
  if (mode_ == Mode::kPayload) {
    // Grow once to the whole payload instead of doubling through it.
    size_t want = pos_ + static_cast<size_t>(remaining_);
    if (buf_.capacity() < want) buf_.reserve(want);
  } else if (mode_ == Mode::kLines && std::memchr(data, '\n', n) == nullptr) {
    // Hold at most max_line + 1 bytes of a line without its LF: that is
    // enough to call it too long (Next() does, and drops the rest of it), so
    // the bytes after that are dropped here already.
    const char* base = buf_.data();
    size_t line = pos_;
    if (buf_.size() > pos_) {
      const void* nl = memrchr(base + pos_, '\n', buf_.size() - pos_);
      if (nl != nullptr) line = static_cast<size_t>(static_cast<const char*>(nl) - base) + 1;
    }
    // An output line's CRs end pieces that go out at once (TakeDrawnPiece):
    // the limit counts from the last one.
    size_t keep = 0;  // bytes of `data` up to its last CR, kept whole
    if (SplitsAtCr(line, data, n)) {
      // Where the last piece starts (LineLength): after the first CR of the
      // last run of CRs that follows something drawn. Found from the end.
      const size_t held = buf_.size() - line;
      auto at = [&](size_t i) { return i < held ? base[line + i] : data[i - held]; };
      const void* dcr = n > 0 ? memrchr(data, '\r', n) : nullptr;
      const void* bcr = held > 0 ? memrchr(base + line, '\r', held) : nullptr;
      size_t r = dcr != nullptr   ? held + static_cast<size_t>(static_cast<const char*>(dcr) - data)
                 : bcr != nullptr ? static_cast<size_t>(static_cast<const char*>(bcr) - base) - line
                                  : SIZE_MAX;
      if (r != SIZE_MAX) {
        while (r > 0 && at(r - 1) == '\r') --r;
        if (r > 0 && r >= held) {
          keep = r - held + 1;
          line = buf_.size() + keep;
        } else if (r > 0) {
          line += r + 1;
        }
      }
    }
    const size_t have = buf_.size() + keep - line;
    if (have + (n - keep) > max_line_ + 1) n = keep + (have > max_line_ ? 0 : max_line_ + 1 - have);
    // Grow to what the line may need, not past it by doubling.
    size_t need = buf_.size() + n;
    if (need > buf_.capacity()) {
      buf_.reserve(std::max(need, std::min(buf_.capacity() * 2, line + max_line_ + 1)));
    }
  }
  buf_.append(data, n);
}

void StdoutDemux::Compact() {
  if (pos_ == 0) return;
  if (pos_ == buf_.size()) {
    buf_.clear();
    scan_ = 0;
    pos_ = 0;
    return;
  }
  // Move the unconsumed tail to the front only when it is cheap relative to
  // what was consumed, so long payloads are not copied over and over.
  if (pos_ >= 65536 && pos_ >= buf_.size() / 2) {
    buf_.erase_front(pos_);
    scan_ -= pos_;
    pos_ = 0;
  }
}

void StdoutDemux::ExpectPayload(int64_t n, bool discard) {
  announced_ = n;
  remaining_ = n;
  if (!discard) {
    mode_ = Mode::kPayload;
    return;
  }
  // Drop what is already buffered; the rest is dropped in Append.
  size_t have = buf_.size() - pos_;
  size_t drop = static_cast<size_t>(n) < have ? static_cast<size_t>(n) : have;
  pos_ += drop;
  scan_ = pos_;
  remaining_ -= static_cast<int64_t>(drop);
  mode_ = Mode::kSkipPayload;
}

StdoutDemux::Item StdoutDemux::Next() {
  return mode_ == Mode::kLines ? NextLines() : NextInPayload();
}

StdoutDemux::Item StdoutDemux::NextInPayload() {
  Item item;
  switch (mode_) {
    case Mode::kSkipLine:
      return item;  // Append leaves this mode when the newline arrives
    case Mode::kSkipPayload:
      if (remaining_ > 0) {
        if (eof_) {
          mode_ = Mode::kLines;
          item.kind = Kind::kPayloadTruncated;
          item.got = announced_ - remaining_;
        }
        return item;
      }
      mode_ = Mode::kLines;
      item.kind = Kind::kPayloadSkipped;
      return item;
    case Mode::kPayload: {
      size_t have = buf_.size() - pos_;
      if (have < static_cast<size_t>(remaining_)) {
        if (eof_) {
          mode_ = Mode::kLines;
          item.kind = Kind::kPayloadTruncated;
          item.got = static_cast<int64_t>(have);
          pos_ = buf_.size();
          scan_ = pos_;
        }
        return item;
      }
      item.kind = Kind::kPayload;
      item.data = std::string_view(buf_.data() + pos_, static_cast<size_t>(remaining_));
      pos_ += static_cast<size_t>(remaining_);
      scan_ = pos_;
      remaining_ = 0;
      mode_ = Mode::kLines;
      return item;
    }
    case Mode::kLines:
      break;
  }
  return item;
}

// A progress bar ("42%\r"): an output line's start up to its last CR goes
// out at once, as a piece of its own. Not a request line, which waits for its
// LF (its text may hold a CR), and not a bare CR at a line's start (NCL prints
// one after each LF). The bytes before `scanned` held no CR that could go out.
bool StdoutDemux::TakeDrawnPiece(size_t start, size_t line, size_t scanned, bool continued,
                                 Item* item) {
  const char* base = buf_.data();
  const size_t end = buf_.size();
  if (memrchr(base + scanned, '\r', end - scanned) == nullptr) return false;
  if (!continued && KeptWhole(std::string_view(base + line, end - line))) return false;
  const size_t after = EmittableEnd(line, end);
  if (after == line) return false;
  item->kind = Kind::kOutput;
  item->data = std::string_view(base + start, after - start);
  pos_ = scan_ = after;
  mid_line_ = true;
  return true;
}

// A line that may still become a request: its start is "@mpi" followed by a
// space, a CR or nothing yet. Its CRs end no pieces.
bool StdoutDemux::SplitsAtCr(size_t line, const char* data, size_t n) const {
  if (mid_line_ && line == pos_) return true;
  char head[6];
  size_t got = 0;
  for (size_t i = line; i < buf_.size() && got < 6; ++i) head[got++] = buf_.data()[i];
  for (size_t i = 0; i < n && got < 6; ++i) head[got++] = data[i];
  return !KeptWhole(std::string_view(head, got));
}

// Whether a line that starts with `head` is kept whole, never cut into
// pieces at its CRs: it starts as a request does ("@mpi" so far, or followed
// by a space or a CR), whatever comes after.
bool StdoutDemux::KeptWhole(std::string_view head) {
  static constexpr std::string_view kReq = "@mpi";
  if (head.substr(0, 4) != kReq.substr(0, std::min<size_t>(4, head.size()))) return false;
  return head.size() <= 4 || head[4] == ' ' || head[4] == '\r';
}

// Where the drawn pieces of the line at buf_[line] (up to `end`) that may go
// out now end: after the last CR that ends a piece, short of the first piece
// longer than the limit (LineLength); `line` if none.
size_t StdoutDemux::EmittableEnd(size_t line, size_t end) const {
  const char* base = buf_.data();
  size_t result = line, piece_start = line;
  bool drawn = false;
  for (size_t i = line; i < end; ++i) {
    if (base[i] != '\r') {
      drawn = true;
    } else if (drawn) {
      if (i - piece_start > max_line_) break;
      result = piece_start = i + 1;
      drawn = false;
    }
  }
  return result;
}

// A line's length as --max-line counts it: for output, its longest piece
// (what comes up to a CR after something drawn goes out at once,
// TakeDrawnPiece; bare CRs stay with what follows them), so that the limit
// does not depend on how the bytes happened to be read.
size_t StdoutDemux::LineLength(std::string_view line, bool whole) {
  if (whole) return line.size();
  size_t longest = 0, piece = 0;
  bool drawn = false;
  for (char c : line) {
    ++piece;
    if (c != '\r') {
      drawn = true;
    } else if (drawn) {
      longest = std::max(longest, piece - 1);
      piece = 0;
      drawn = false;
    }
  }
  return std::max(longest, piece);
}

// NextLines: the whole line at buf_[line..nlpos) is too long. The pieces
// before the one too long go out first, as they would have if read apart.
StdoutDemux::Item StdoutDemux::TooLongLine(size_t line, size_t nlpos, bool continued, bool whole) {
  const char* base = buf_.data();
  Item item;
  if (const size_t after = whole ? line : EmittableEnd(line, nlpos); after > line) {
    item.kind = Kind::kOutput;
    item.data = std::string_view(base + line, after - line);
    pos_ = scan_ = after;
    mid_line_ = true;
    return item;
  }
  const std::string_view this_line(base + line, nlpos - line);
  item.kind = !continued && IsRequestLine(this_line.substr(0, 5)) ? Kind::kRequestTooLong
                                                                  : Kind::kOutputTooLong;
  item.data = this_line.substr(0, 64);
  pos_ = nlpos + 1;
  scan_ = pos_;
  mid_line_ = false;
  return item;
}

StdoutDemux::Item StdoutDemux::NextLines() {
  Item item;
  const char* base = buf_.data();
  size_t end = buf_.size();
  size_t start = pos_;
  // Gather a run of whole ordinary lines; stop before a request line.
  size_t line = start;
  if (scan_ < line) scan_ = line;
  while (line < end) {
    // The rest of a line whose start went out at a CR is output.
    const bool continued = mid_line_ && line == start;
    const size_t scanned = scan_;
    const void* nl = std::memchr(base + scan_, '\n', end - scan_);
    if (nl == nullptr) {
      if (TakeDrawnPiece(start, line, scanned, continued, &item)) return item;
      size_t len = end - line;
      const std::string_view so_far(base + line, len);
      if (len > max_line_ && LineLength(so_far, !continued && KeptWhole(so_far)) > max_line_) {
        if (line > start) break;  // deliver the whole lines gathered first
        std::string_view head(base + line, len < 64 ? len : 64);
        item.kind = !continued && IsRequestLine(head.substr(0, 5)) ? Kind::kRequestTooLong
                                                                   : Kind::kOutputTooLong;
        item.data = head;
        // Drop the line so far and the rest of it as it arrives. `head` stays
        // valid: dropping only moves offsets.
        pos_ = end;
        scan_ = end;
        mode_ = Mode::kSkipLine;
        mid_line_ = false;
        return item;
      }
      if (eof_ && line == start) {
        // The last line has no LF: it is still a line.
        std::string_view last(base + line, len);
        pos_ = end;
        scan_ = end;
        item.kind = !continued && IsRequestLine(last) ? Kind::kRequest : Kind::kOutput;
        item.data = last;
        mid_line_ = false;
        return item;
      }
      scan_ = end;
      break;
    }
    size_t nlpos = static_cast<size_t>(static_cast<const char*>(nl) - base);
    std::string_view this_line(base + line, nlpos - line);
    const bool whole = !continued && KeptWhole(this_line);
    if (this_line.size() > max_line_ && LineLength(this_line, whole) > max_line_) {
      // Too long even though it arrived whole: the limit must not depend on
      // how the bytes happened to be read.
      if (line > start) break;
      return TooLongLine(line, nlpos, continued, whole);
    }
    if (!continued && IsRequestLine(this_line)) {
      if (line > start) break;  // deliver the output before it first
      pos_ = nlpos + 1;
      scan_ = pos_;
      item.kind = Kind::kRequest;
      item.data = this_line;
      return item;
    }
    line = nlpos + 1;
    scan_ = line;
    mid_line_ = false;
  }
  if (line > start) {
    item.kind = Kind::kOutput;
    item.data = std::string_view(base + start, line - start);
    pos_ = line;
    if (scan_ < pos_) scan_ = pos_;
  }
  return item;
}

}  // namespace stdmpi
