// --trace: every request of a rank as a Chrome trace event (the JSON format
// Perfetto and chrome://tracing open), so a user sees where the time goes.
//
// Each shim appends its events, one JSON object per line, to FILE.rank<N> as
// the requests finish (a fixed-size stdio buffer; at most kMaxTraceEvents a
// rank, then a count of what was dropped). After the job stdmpirun merges the
// parts into FILE (launcher/trace_merge.h). The formatting is pure logic here.
#ifndef STDMPI_LIBSHIM_TRACE_H_
#define STDMPI_LIBSHIM_TRACE_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace stdmpi {

inline constexpr int64_t kMaxTraceEvents = 2'000'000;

// `s` as a JSON string, quotes included. Bytes that are not printable ASCII
// are written as \u00XX (so any bytes give valid JSON).
std::string JsonString(std::string_view s);

// One request as a complete event ("ph":"X") of process `rank`: times in
// microseconds from the job's start. `extra_args`: more members of its args
// (`"site":"0:3"`, rank_summary.h), or "".
std::string TraceEvent(std::string_view name, double ts_us, double dur_us, int rank,
                       std::string_view request, bool ok, int64_t bytes,
                       std::string_view extra_args = {});

// A step of the rank's start ("MPI_Init", "start the program") as a complete
// event of category "startup", so the trace shows what came before the first
// request and whether the program started while MPI did.
std::string TraceStartupEvent(std::string_view name, double ts_us, double dur_us, int rank);

// The metadata event naming process `rank` in the viewer: "rank 2: python3 pi.py".
std::string TraceProcessName(int rank, std::string_view command);

class TraceWriter {
 public:
  TraceWriter() = default;
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;
  ~TraceWriter() { Close(); }

  // Opens PREFIX.rank<N>; false (with *err) if it cannot be created. `t0`:
  // the job's start (epoch seconds), from which the events' times count.
  bool Open(const std::string& prefix, int rank, std::string_view command, double t0,
            std::string* err);
  bool open() const { return f_ != nullptr; }
  // --summary alone: the part gets the rank's summary line, no events.
  void set_events(bool on) { events_on_ = on; }
  bool tracing() const { return f_ != nullptr && events_on_; }
  // A request from `begin` to `end` (epoch seconds).
  void Add(std::string_view name, double begin, double end, std::string_view request, bool ok,
           int64_t bytes, std::string_view extra_args = {});
  // A step of the rank's start from `begin` to `end` (epoch seconds).
  void AddStartup(std::string_view name, double begin, double end);
  // One more line (a JSON object, without LF), never dropped: the rank's
  // summary (rank_summary.h).
  void AddLine(std::string_view json);
  // Writes out what is buffered (a rank may be killed any moment now).
  void Flush() {
    if (f_ != nullptr) std::fflush(f_);
  }
  // Writes what is buffered (and how many events were dropped) and closes.
  void Close();

 private:
  FILE* f_ = nullptr;
  int rank_ = 0;
  double t0_ = 0;
  int64_t events_ = 0, dropped_ = 0;
  bool events_on_ = true;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_TRACE_H_
