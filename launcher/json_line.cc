#include "json_line.h"

#include <cstdlib>

namespace stdmpi {

namespace {

using Visit = std::function<void(std::string_view, std::string_view)>;

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One pass over one object; `path_` holds the keys down to the value at hand.
class Walker {
 public:
  Walker(std::string_view s, const Visit& visit) : s_(s), visit_(visit) {}

  bool Whole() {
    Blanks();
    if (!Peek('{') || !Object(1)) return false;
    Blanks();
    return i_ == s_.size();
  }

 private:
  bool Peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++i_;
    return true;
  }
  void Blanks() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }

  // At '{': its members, each visited (`report`) under its path.
  bool Object(int depth, bool report = true) {
    if (depth > kMaxJsonDepth) return false;
    ++i_;
    Blanks();
    if (Eat('}')) return true;
    for (;;) {
      Blanks();
      const size_t k0 = i_;
      if (!Peek('"') || !String()) return false;
      const std::string_view key = s_.substr(k0 + 1, i_ - k0 - 2);
      Blanks();
      if (!Eat(':')) return false;
      Blanks();
      const size_t saved = path_.size();
      if (report) {
        if (!path_.empty()) path_.push_back('.');
        path_.append(key);
      }
      if (!Value(depth, report)) return false;
      path_.resize(saved);
      Blanks();
      if (Eat(',')) continue;
      return Eat('}');
    }
  }

  // At '[': its elements, checked, never visited.
  bool Array(int depth) {
    if (depth > kMaxJsonDepth) return false;
    ++i_;
    Blanks();
    if (Eat(']')) return true;
    for (;;) {
      Blanks();
      if (!Value(depth, false)) return false;
      Blanks();
      if (Eat(',')) continue;
      return Eat(']');
    }
  }

  bool Value(int depth, bool report) {
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return Object(depth + 1, report);
    if (c == '[') return Array(depth + 1);
    const size_t v0 = i_;
    bool ok = c == '"'   ? String()
              : c == 't' ? Word("true")
              : c == 'f' ? Word("false")
              : c == 'n' ? Word("null")
                         : Number();
    if (ok && report) visit_(path_, s_.substr(v0, i_ - v0));
    return ok;
  }

  bool Word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }

  bool Digits() {
    const size_t d0 = i_;
    while (i_ < s_.size() && IsDigit(s_[i_])) ++i_;
    return i_ > d0;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  bool Number() {
    Eat('-');
    if (Eat('0')) {
      if (i_ < s_.size() && IsDigit(s_[i_])) return false;
    } else if (!Digits()) {
      return false;
    }
    if (Eat('.') && !Digits()) return false;
    if (Peek('e') || Peek('E')) {
      ++i_;
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    return true;
  }

  // At '"': to just past the closing quote.
  bool String() {
    ++i_;
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      if (e == 'u') {
        for (int k = 0; k < 4; ++k) {
          if (i_ >= s_.size() || HexValue(s_[i_++]) < 0) return false;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }

  std::string_view s_;
  const Visit& visit_;
  size_t i_ = 0;
  std::string path_;
};

void AppendUtf8(std::string* out, unsigned cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// The 4 hex digits at `s` (already checked by the walker, or -1).
int Hex4(std::string_view s) {
  if (s.size() < 4) return -1;
  int v = 0;
  for (int k = 0; k < 4; ++k) {
    const int h = HexValue(s[static_cast<size_t>(k)]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

}  // namespace

bool VisitJsonObject(std::string_view line, const Visit& visit) {
  return Walker(line, visit).Whole();
}

std::string JsonText(std::string_view raw) {
  std::string out;
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return out;
  raw = raw.substr(1, raw.size() - 2);
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '\\' || i + 1 >= raw.size()) {
      out.push_back(c);
      continue;
    }
    const char e = raw[++i];
    static constexpr std::string_view kFrom = "bfnrt", kTo = "\b\f\n\r\t";
    if (size_t k = kFrom.find(e); k != std::string_view::npos) {
      out.push_back(kTo[k]);
    } else if (e != 'u') {
      out.push_back(e);
    } else {
      int cp = Hex4(raw.substr(i + 1));
      if (cp < 0) continue;
      i += 4;
      if (cp >= 0xd800 && cp < 0xdc00 && raw.substr(i + 1, 2) == "\\u") {
        const int low = Hex4(raw.substr(i + 3));
        if (low >= 0xdc00 && low < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          i += 6;
        }
      }
      if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;  // a lone surrogate
      AppendUtf8(&out, static_cast<unsigned>(cp));
    }
  }
  return out;
}

double JsonNumber(std::string_view raw, double fallback) {
  if (raw.empty() || raw.size() > 64 || (raw[0] != '-' && !IsDigit(raw[0]))) return fallback;
  char buf[72];
  raw.copy(buf, raw.size());
  buf[raw.size()] = '\0';
  char* end = nullptr;
  const double v = std::strtod(buf, &end);
  return end == buf + raw.size() ? v : fallback;
}

}  // namespace stdmpi
