// --trace FILE: after the job, the ranks' parts (FILE.rank<N>, one JSON event
// per line, see libshim/trace.h) become one Chrome trace-event file, a JSON
// array that Perfetto (ui.perfetto.dev) and chrome://tracing open.
#ifndef STDMPI_LAUNCHER_TRACE_MERGE_H_
#define STDMPI_LAUNCHER_TRACE_MERGE_H_

#include <string>
#include <vector>

namespace stdmpi {

struct TraceMerge {
  std::vector<int> ranks;  // the ranks whose part was found, in order
  long events = 0;         // events written (metadata included)
  long cut = 0;            // incomplete last lines left out (a rank killed mid-write)
};

// Reads every FILE.rank<N> next to FILE, writes FILE, removes the parts.
// False (with *err) if FILE cannot be written; no parts gives an empty array.
bool MergeTrace(const std::string& file, TraceMerge* out, std::string* err);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_TRACE_MERGE_H_
