#include "report_mark.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

namespace stdmpi {

namespace {

constexpr std::string_view kHead = "[stdmpi-report ";
constexpr std::string_view kTail = "] ";
constexpr size_t kDigits = 16;

}  // namespace

std::string NewReportMark() {
  uint64_t bits = 0;
  if (getrandom(&bits, sizeof(bits), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(bits))) {
    // No entropy yet (early boot): unpredictable enough for telling a
    // program's text from a report.
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    bits = (static_cast<uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ull) ^
           (static_cast<uint64_t>(ts.tv_sec) << 20) ^ static_cast<uint64_t>(getpid());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string mark(kHead);
  for (size_t i = 0; i < kDigits; ++i) mark += kHex[(bits >> (4 * i)) & 0xf];
  mark += kTail;
  return mark;
}

bool IsReportMark(std::string_view mark) {
  if (mark.size() != kHead.size() + kDigits + kTail.size()) return false;
  if (mark.substr(0, kHead.size()) != kHead || mark.substr(mark.size() - kTail.size()) != kTail) {
    return false;
  }
  for (char c : mark.substr(kHead.size(), kDigits)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string TakeReportMark() {
  const char* v = getenv(kReportMarkVariable);
  std::string mark = v != nullptr && IsReportMark(v) ? v : "";
  unsetenv(kReportMarkVariable);
  return mark;
}

}  // namespace stdmpi
