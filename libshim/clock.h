// Seconds on the monotonic clock, for timeouts and durations (shim, engine,
// stdmpirun). Header-only, as fsutil.h.
#ifndef STDMPI_LIBSHIM_CLOCK_H_
#define STDMPI_LIBSHIM_CLOCK_H_

#include <time.h>

namespace stdmpi {

inline double MonotonicSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_CLOCK_H_
