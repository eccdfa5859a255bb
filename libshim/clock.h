// The clocks of stdmpi: monotonic seconds for timeouts and durations, and
// wall-clock seconds since the epoch for --trace, whose times are compared
// across ranks. Header-only, as fsutil.h.
#ifndef STDMPI_LIBSHIM_CLOCK_H_
#define STDMPI_LIBSHIM_CLOCK_H_

#include <time.h>

namespace stdmpi {

inline double MonotonicSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

inline double RealSeconds() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_CLOCK_H_
