// The clocks of stdmpi: monotonic seconds for timeouts and durations, and
// wall-clock seconds since the epoch for --trace, whose times are compared
// across ranks. Header-only, as fsutil.h.
#ifndef STDMPI_LIBSHIM_CLOCK_H_
#define STDMPI_LIBSHIM_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace stdmpi {

inline double MonotonicSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Monotonic nanoseconds, for deadlines kept as integers (stdmpi-init).
inline long MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000L + ts.tv_nsec;
}

// Milliseconds of the coarse monotonic clock: cheap enough for a busy loop
// that does something now and then (a tick or so late).
inline int64_t CoarseMonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

inline double RealSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_CLOCK_H_
