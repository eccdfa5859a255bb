// --trace FILE: after the job, the ranks' parts (PREFIX.rank<N>, one JSON
// event per line, see libshim/trace.h) become one Chrome trace-event file, a
// JSON array that Perfetto (ui.perfetto.dev) and chrome://tracing open.
//
// PREFIX is FILE with a token of this job (stdmpirun's pid and start), so
// that only this job's parts are taken. The directory may be the programs'
// working directory: a part is read only if it is a regular file of this
// user's, and FILE is created anew, never written through a link.
#ifndef STDMPI_LAUNCHER_TRACE_MERGE_H_
#define STDMPI_LAUNCHER_TRACE_MERGE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

struct TraceMerge {
  std::vector<int> ranks;  // the ranks whose part was found, in order
  long events = 0;         // events written (metadata included)
  long cut = 0;            // incomplete last lines left out (a rank killed mid-write)
};

// Reads every PREFIX.rank<N> (N below `max_ranks`; 0: any), writes FILE,
// removes the parts. False (with *err) if FILE cannot be written; no parts
// gives an empty array.
bool MergeTrace(const std::string& prefix, const std::string& file, int max_ranks, TraceMerge* out,
                std::string* err);

// --summary, --profile, --report: calls `line(rank, text)` for each complete
// line (without its LF) of every part PREFIX.rank<N> (N below `max_ranks`;
// 0: any), rank by rank, reading only regular files of this user's; lines
// longer than kMaxPartLine are left out and counted in out->cut. With
// `remove`, removes each part after. Fills out->ranks (events: lines read).
inline constexpr size_t kMaxPartLine = size_t{1} << 20;
void ReadTraceParts(const std::string& prefix, int max_ranks, bool remove,
                    const std::function<void(int rank, std::string_view text)>& line,
                    TraceMerge* out);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_TRACE_MERGE_H_
