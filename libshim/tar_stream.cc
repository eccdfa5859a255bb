#include "tar_stream.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace stdmpi {

namespace {

constexpr size_t kBlock = 512;

// A numeric header field: octal digits (leading spaces allowed, ended by NUL
// or spaces; an empty field is 0), or GNU's base-256 for large values (the
// first byte's top bit set). Negative and out-of-range values are refused.
bool ParseNumber(const char* f, size_t len, int64_t* out) {
  const auto* u = reinterpret_cast<const unsigned char*>(f);
  if (len > 0 && (u[0] & 0x80) != 0) {
    if ((u[0] & 0x40) != 0) return false;  // negative
    uint64_t v = u[0] & 0x3f;
    for (size_t i = 1; i < len; ++i) {
      if ((v >> 55) != 0) return false;
      v = (v << 8) | u[i];
    }
    *out = static_cast<int64_t>(v);
    return true;
  }
  size_t i = 0;
  while (i < len && f[i] == ' ') ++i;
  uint64_t v = 0;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; ++i) {
    if ((v >> 59) != 0) return false;
    v = v * 8 + static_cast<uint64_t>(f[i] - '0');
  }
  for (; i < len; ++i) {
    if (f[i] != ' ' && f[i] != '\0') return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

std::string Field(const char* f, size_t len) {
  return std::string(f, strnlen(f, len));
}

bool AllZero(const char* b) {
  for (size_t i = 0; i < kBlock; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

// The sum of the header's bytes with the checksum field read as spaces;
// old writers summed signed chars, so either sum is taken.
bool ChecksumMatches(const char* b) {
  int64_t stored = 0;
  if (!ParseNumber(b + 148, 8, &stored)) return false;
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    const char c = i >= 148 && i < 156 ? ' ' : b[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || stored == signed_sum;
}

int64_t Padding(int64_t size) {
  return (kBlock - size % kBlock) % kBlock;
}

// A decimal number of a pax record; a fraction (mtime) is dropped.
bool ParseDecimal(std::string_view s, int64_t* out) {
  size_t dot = s.find('.');
  if (dot != std::string_view::npos) s = s.substr(0, dot);
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

int TarReader::Fail(std::string why) {
  if (error_.empty()) error_ = std::move(why);
  return -1;
}

bool TarReader::Refuse(std::string why) {
  Fail(std::move(why));
  return false;
}

bool TarReader::ReadExact(char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read_(buf + got, n - got);
    if (r < 0) return Refuse("cannot read the archive");
    if (r == 0) return Refuse("the archive ends in the middle of a member: it is cut short");
    got += static_cast<size_t>(r);
  }
  return true;
}

bool TarReader::Skip(int64_t n) {
  char scratch[8192];
  while (n > 0) {
    const size_t step = static_cast<size_t>(std::min<int64_t>(n, sizeof(scratch)));
    if (!ReadExact(scratch, step)) return false;
    n -= static_cast<int64_t>(step);
  }
  return true;
}

bool TarReader::ReadSmall(int64_t size, int64_t limit, std::string* out) {
  if (size > limit) {
    return Refuse("a header of " + std::to_string(size) + " bytes is over the limit of " +
                  std::to_string(limit));
  }
  out->resize(static_cast<size_t>(size));
  return ReadExact(out->data(), out->size()) && Skip(Padding(size));
}

// Records "LENGTH KEY=VALUE\n", LENGTH counting the whole record.
bool TarReader::ApplyPax(std::string_view records) {
  while (!records.empty()) {
    size_t space = records.find(' ');
    int64_t len = 0;
    if (space == std::string_view::npos || !ParseDecimal(records.substr(0, space), &len) ||
        len <= static_cast<int64_t>(space) + 1 || len > static_cast<int64_t>(records.size()) ||
        records[static_cast<size_t>(len) - 1] != '\n') {
      return Refuse("a pax header is malformed");
    }
    std::string_view rec = records.substr(space + 1, static_cast<size_t>(len) - space - 2);
    records.remove_prefix(static_cast<size_t>(len));
    size_t eq = rec.find('=');
    if (eq == std::string_view::npos) return Refuse("a pax header is malformed");
    std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    if (key == "path" || key == "linkpath") {
      if (value.size() > kMaxName) return Refuse("a path in a pax header is too long");
      (key == "path" ? next_path_ : next_link_) = value;
    } else if (key == "size" || key == "mtime") {
      int64_t v = 0;
      if (!ParseDecimal(value, &v)) {
        // A negative mtime (before 1970) is taken as 0; a bad size is damage.
        if (key == "size") return Refuse("a pax header has a bad size");
        v = 0;
      }
      (key == "size" ? next_size_ : next_mtime_) = v;
    }
  }
  return true;
}

// The kind of member a header's type flag names; "" or why it is refused.
static std::string TypeOf(char flag, const std::string& path, TarMember::Type* type) {
  using Type = TarMember::Type;
  switch (flag) {
    case '0':
    case '7':  // contiguous: a plain file
      *type = Type::kFile;
      return {};
    case '\0':  // old archives mark a directory by its name alone
      *type = !path.empty() && path.back() == '/' ? Type::kDirectory : Type::kFile;
      return {};
    case '1':
      *type = Type::kHardLink;
      return {};
    case '2':
      *type = Type::kSymlink;
      return {};
    case '3':
      *type = Type::kCharDevice;
      return {};
    case '4':
      *type = Type::kBlockDevice;
      return {};
    case '5':
    case 'D':  // GNU: a directory with a listing of its contents
      *type = Type::kDirectory;
      return {};
    case '6':
      *type = Type::kFifo;
      return {};
    case 'S':
      return "member \"" + path +
             "\" is a sparse file, which stdmpi does not unpack (make the archive without "
             "--sparse)";
    default:
      return "member \"" + path + "\" has type '" + std::string(1, flag) +
             "', which stdmpi does not unpack";
  }
}

int TarReader::Next(TarMember* m) {
  if (ended_) return 0;
  if (!Skip(left_ + padding_)) return -1;
  left_ = padding_ = 0;
  for (;;) {
    char b[kBlock];
    // Where a header may start, the archive may also just end (the zero
    // blocks that should close it are missing): that is its end.
    ssize_t first = read_(b, kBlock);
    if (first == 0) {
      ended_ = true;
      return 0;
    }
    if (first < 0) return Fail("cannot read the archive");
    if (!ReadExact(b + first, kBlock - static_cast<size_t>(first))) return -1;
    if (AllZero(b)) {
      ended_ = true;
      return 0;
    }
    if (!ChecksumMatches(b)) {
      return Fail("a header's checksum does not match: the file is damaged or not a tar archive");
    }
    int64_t size = 0;
    if (!ParseNumber(b + 124, 12, &size)) return Fail("a header has a bad size");
    const char flag = b[156];
    if (flag == 'L' || flag == 'K') {  // GNU: the next member's long name or link target
      std::string s;
      if (!ReadSmall(size, kMaxName + 1, &s)) return -1;
      (flag == 'L' ? next_path_ : next_link_) = s.substr(0, strnlen(s.data(), s.size()));
    } else if (flag == 'x') {  // pax: the next member's attributes
      std::string s;
      if (!ReadSmall(size, kMaxPaxHeader, &s) || !ApplyPax(s)) return -1;
    } else if (flag == 'g' || flag == 'V') {  // pax globals, a GNU volume label: unused
      if (!Skip(size + Padding(size))) return -1;
    } else {
      return Member(b, size, m);
    }
  }
}

int TarReader::Member(const char* b, int64_t size, TarMember* m) {
  *m = TarMember{};
  const bool posix = std::memcmp(b + 257, "ustar\0", 6) == 0;
  if (!next_path_.empty()) {
    m->path = next_path_;
  } else {
    m->path = Field(b, 100);
    std::string prefix = posix ? Field(b + 345, 155) : "";
    if (!prefix.empty()) m->path = prefix + "/" + m->path;
  }
  m->link = !next_link_.empty() ? next_link_ : Field(b + 157, 100);
  int64_t mode = 0, mtime = 0, major = 0, minor = 0;
  if (!ParseNumber(b + 100, 8, &mode) || !ParseNumber(b + 136, 12, &mtime)) {
    return Fail("member \"" + m->path + "\" has a bad header");
  }
  if (next_size_ >= 0) size = next_size_;
  m->mode = static_cast<uint32_t>(mode & 07777);
  m->mtime = next_mtime_ >= 0 ? next_mtime_ : mtime;
  next_path_.clear();
  next_link_.clear();
  next_size_ = next_mtime_ = -1;
  std::string why = TypeOf(b[156], m->path, &m->type);
  if (!why.empty()) return Fail(why);
  if (m->type == TarMember::Type::kCharDevice || m->type == TarMember::Type::kBlockDevice) {
    if (!ParseNumber(b + 329, 8, &major) || !ParseNumber(b + 337, 8, &minor) ||
        major > UINT32_MAX || minor > UINT32_MAX) {
      return Fail("member \"" + m->path + "\" has a bad device number");
    }
    m->dev_major = static_cast<uint32_t>(major);
    m->dev_minor = static_cast<uint32_t>(minor);
  }
  // Data of another type (a link's, say) is skipped, never read.
  if (m->type == TarMember::Type::kFile) {
    m->size = left_ = size;
    padding_ = Padding(size);
  } else {
    padding_ = size + Padding(size);
  }
  return 1;
}

ssize_t TarReader::ReadData(char* buf, size_t n) {
  if (left_ == 0) return 0;
  const size_t want = static_cast<size_t>(std::min<int64_t>(left_, static_cast<int64_t>(n)));
  ssize_t r = read_(buf, want);
  if (r < 0) return Fail("cannot read the archive");
  if (r == 0) return Fail("the archive ends in the middle of a member: it is cut short");
  left_ -= r;
  return r;
}

bool CleanMemberPath(std::string_view path, std::string* out, std::string* why) {
  out->clear();
  if (path.find('\0') != std::string_view::npos) {
    *why = "has a NUL byte";
    return false;
  }
  if (path.size() > TarReader::kMaxName) {
    *why = "is longer than " + std::to_string(TarReader::kMaxName) + " bytes";
    return false;
  }
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..") {
      *why = "goes up a directory (\"..\")";
      return false;
    }
    if (part.size() > 255) {
      *why = "has a name longer than 255 bytes";
      return false;
    }
    if (!part.empty() && part != ".") {
      if (!out->empty()) *out += '/';
      out->append(part);
    }
    i = j + 1;
  }
  return true;
}

void SplitMemberPath(const std::string& clean, std::string* dir, std::string* base) {
  size_t slash = clean.rfind('/');
  if (slash == std::string::npos) {
    dir->clear();
    *base = clean;
  } else {
    *dir = clean.substr(0, slash);
    *base = clean.substr(slash + 1);
  }
}

}  // namespace stdmpi
