#include "numbers.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace stdmpi {

namespace {

// strtod/strtoll need a NUL-terminated string; tokens are views into a line.
template <typename F>
auto WithCString(std::string_view token, F f) {
  char small[64];
  if (token.size() < sizeof(small)) {
    std::memcpy(small, token.data(), token.size());
    small[token.size()] = '\0';
    return f(small);
  }
  std::string copy(token);
  return f(copy.c_str());
}

}  // namespace

bool ParseF64(std::string_view token, double* out) {
  if (token.empty()) return false;
  const char* first = token.data();
  const char* last = first + token.size();
  auto [ptr, ec] = std::from_chars(first, last, *out);
  if (ec == std::errc() && ptr == last) return true;
  // from_chars refuses '+', hex floats and out-of-range values; strtod is the
  // reference, so ask it (on a C string: a NUL inside would end it early).
  if (token.find('\0') != std::string_view::npos) return false;
  return WithCString(token, [&](const char* s) {
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s, &end);
    if (end == s || *end != '\0') return false;
    *out = v;
    return true;
  });
}

IntParse ParseI64(std::string_view token, int64_t* out) {
  if (token.empty()) return IntParse::kNotInteger;
  const char* first = token.data();
  const char* last = first + token.size();
  auto [ptr, ec] = std::from_chars(first, last, *out, 10);
  if (ec == std::errc() && ptr == last) return IntParse::kOk;
  if (token.find('\0') != std::string_view::npos) return IntParse::kNotInteger;
  return WithCString(token, [&](const char* s) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (end == s || *end != '\0') return IntParse::kNotInteger;
    if (errno == ERANGE) return IntParse::kOutOfRange;
    *out = v;
    return IntParse::kOk;
  });
}

bool ParseCount(std::string_view token, int64_t max, int64_t* out) {
  if (token.empty()) return false;
  int64_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

void AppendF64(std::string* out, double v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;  // 32 bytes always hold the shortest form of a double
  out->append(buf, ptr);
}

void AppendI64(std::string* out, int64_t v) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;
  out->append(buf, ptr);
}

void AppendF64List(std::string* out, const double* v, size_t n) {
  out->reserve(out->size() + n * 8);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out->push_back(' ');
    AppendF64(out, v[i]);
  }
}

void AppendI64List(std::string* out, const int64_t* v, size_t n) {
  out->reserve(out->size() + n * 4);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out->push_back(' ');
    AppendI64(out, v[i]);
  }
}

namespace {

template <typename T, typename P>
bool ParseList(std::string_view text, std::vector<T>* out, std::string* err, P parse_one) {
  out->clear();
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    while (i < n && text[i] == ' ') ++i;
    if (i == n) break;
    size_t j = i;
    while (j < n && text[j] != ' ') ++j;
    T v;
    if (!parse_one(text.substr(i, j - i), &v, err)) return false;
    out->push_back(v);
    i = j;
  }
  if (out->empty()) {
    *err = "no numbers given";
    return false;
  }
  return true;
}

}  // namespace

bool ParseF64List(std::string_view text, std::vector<double>* out, std::string* err) {
  return ParseList<double>(text, out, err, [](std::string_view tok, double* v, std::string* e) {
    if (ParseF64(tok, v)) return true;
    *e = "not a number: " + QuoteForMessage(tok, 40);
    return false;
  });
}

bool ParseI64List(std::string_view text, std::vector<int64_t>* out, std::string* err) {
  return ParseList<int64_t>(text, out, err, [](std::string_view tok, int64_t* v, std::string* e) {
    switch (ParseI64(tok, v)) {
      case IntParse::kOk:
        return true;
      case IntParse::kOutOfRange:
        *e = "integer out of the 64-bit range: " + QuoteForMessage(tok, 40);
        return false;
      case IntParse::kNotInteger:
        break;
    }
    *e = "not an integer: " + QuoteForMessage(tok, 40);
    return false;
  });
}

std::string QuoteForMessage(std::string_view s, size_t max) {
  std::string out = "\"";
  size_t n = s.size() < max ? s.size() : max;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
  if (n < s.size()) out += "...";
  return out;
}

}  // namespace stdmpi
