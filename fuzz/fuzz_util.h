// What the fuzz targets share: an invariant check that stops the run, and
// the feeding of a stream in reads of fuzzer-chosen sizes.
#ifndef STDMPI_FUZZ_FUZZ_UTIL_H_
#define STDMPI_FUZZ_FUZZ_UTIL_H_

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace stdmpi {

// Stops the run (libFuzzer keeps the input) when an invariant breaks.
inline void Check(bool ok, const char* what) {
  if (!ok) {
    fprintf(stderr, "broken invariant: %s\n", what);
    abort();
  }
}

// Feeds `in` to `reader` (a StdoutDemux or RequestReader) in reads of 1..97
// bytes taken from `cuts` in turn (empty: all at once), calling drain() after
// each read and after the end; checks that what the reader holds stays within
// `limit` bytes beyond the read.
template <typename Reader, typename Drain>
void FeedAll(Reader& reader, const std::string& in, const std::string& cuts, size_t limit,
             Drain drain) {
  size_t pos = 0, cut = 0;
  while (pos < in.size()) {
    size_t n = in.size() - pos;
    if (!cuts.empty()) {
      n = std::min<size_t>(n, 1 + static_cast<unsigned char>(cuts[cut++ % cuts.size()]) % 97);
    }
    reader.Append(in.data() + pos, n);
    pos += n;
    drain();
    Check(reader.buffered() <= limit + n + 1,
          "buffered bytes stay within the line and payload limits");
  }
  reader.Finish();
  drain();
}

}  // namespace stdmpi

#endif  // STDMPI_FUZZ_FUZZ_UTIL_H_
