// The program's output on its way to the shim's stdout and stderr: tagged
// with the rank (--tag-output), watched for NCL's "fatal:" lines, and queued
// without blocking, so that the shim can pause reading while too much waits
// (back-pressure). The shim's own messages go out on the same stderr.
#ifndef STDMPI_LIBSHIM_OUTPUT_RELAY_H_
#define STDMPI_LIBSHIM_OUTPUT_RELAY_H_

#include <uv.h>

#include <functional>
#include <string>
#include <string_view>

#include "sink.h"

namespace stdmpi {

class OutputRelay {
 public:
  // Writes to fds 1 and 2; `on_drain` runs after queued output went out.
  void Open(uv_loop_t* loop, std::function<void()> on_drain);
  // --tag-output: "[RANK] " before every line. `fatal_lines`: remember the
  // first "fatal:" line of stdout (NCL's errors).
  void Configure(int rank, bool tag, bool fatal_lines);

  void Stdout(std::string_view data);
  void Stderr(std::string_view data);
  // A message of the shim's own (whole lines), on stderr: on a line of its
  // own, even after a piece of a line the program left there.
  void Message(std::string text);
  // The message that ends the job, after the job's report mark
  // (report_mark.h) so that stdmpirun knows it for a shim's.
  void Report(std::string_view mark, std::string text);

  size_t stdout_queued() const { return out_.queued(); }
  size_t stderr_queued() const { return err_.queued(); }
  bool empty() const { return out_.queued() == 0 && err_.queued() == 0; }
  const std::string& fatal_line() const { return fatal_line_; }
  // A new program (a task farm's worker started again): its own lines count,
  // and start lines of their own (a piece the old one left without a
  // newline is ended).
  void ClearFatalLine() { fatal_line_.clear(); }
  void EndLines();
  // Runs `loop` until what is queued went out, for at most `seconds`.
  void Flush(uv_loop_t* loop, double seconds);

 private:
  void Write(Sink* sink, std::string_view data, bool* at_line_start);

  Sink out_, err_;
  bool tag_output_ = false, fatal_lines_ = false;
  std::string tag_;
  bool out_at_line_start_ = true, err_at_line_start_ = true;  // for the tags
  bool err_mid_line_ = false;  // the last byte on stderr was not a LF
  bool out_mid_line_ = false;  // ... on stdout
  std::string fatal_line_;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_OUTPUT_RELAY_H_
