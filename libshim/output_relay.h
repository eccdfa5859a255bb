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

#include "line_joiner.h"
#include "options.h"
#include "sink.h"

namespace stdmpi {

class OutputRelay {
 public:
  // The program's stdout goes to fd 1, its stderr to `program_stderr`, the
  // shim's messages to `messages` (rank_process.h: OutputFds); `on_drain`
  // runs after queued output went out.
  void Open(uv_loop_t* loop, std::function<void()> on_drain, int program_stderr = 2,
            int messages = 2);
  // --tag-output: "[RANK] " before every line; --timestamp-output: the time
  // before that; --merge-stderr-to-stdout: the program's stderr goes with its
  // stdout. `fatal_lines`: remember the first "fatal:" line of stdout (NCL's
  // errors).
  void Configure(int rank, bool tag, bool timestamp, bool merge_stderr, bool fatal_lines);

  void Stdout(std::string_view data);
  void Stderr(std::string_view data);
  // A message of the shim's own (whole lines), on stderr: on a line of its
  // own, even after a piece of a line the program left there.
  void Message(std::string text);
  // The message that ends the job, after the job's report mark
  // (report_mark.h) so that stdmpirun knows it for a shim's.
  void Report(std::string_view mark, std::string text);

  size_t stdout_queued() const { return out_.queued(); }
  size_t stderr_queued() const { return err_.queued() + (msg_ != &err_ ? msg_->queued() : 0); }
  bool empty() const { return out_.queued() == 0 && stderr_queued() == 0; }
  const std::string& fatal_line() const { return fatal_line_; }
  // A new program (a task farm's worker started again): its own lines count,
  // and start lines of their own (a piece the old one left without a
  // newline is ended).
  void ClearFatalLine() { fatal_line_.clear(); }
  void EndLines();
  // --merge-stderr-to-stdout: what the program's stderr holds of a line goes
  // out (its stderr ended).
  void FlushMerged();
  // Runs `loop` until what is queued went out, for at most `seconds`.
  void Flush(uv_loop_t* loop, double seconds);

 private:
  void Write(Sink* sink, std::string_view data, PrefixState* st);
  // --merge-stderr-to-stdout: the program's stderr into stdout, whole lines
  // at a time; what is held goes out at the end, or past 64 KiB.
  void WriteMerged(std::string_view data);
  LineJoiner merged_err_{64 * 1024};

  Sink out_, err_;
  Sink own_msg_;       // the messages' sink when they have a descriptor of their own
  Sink* msg_ = &err_;  // where Message() writes
  bool tag_output_ = false, fatal_lines_ = false;
  bool timestamp_ = false, merge_stderr_ = false;
  std::string tag_;
  PrefixState out_prefix_, err_prefix_;  // for the tags and stamps
  bool err_mid_line_ = false;            // the last byte on stderr was not a LF
  bool out_mid_line_ = false;            // ... on stdout
  std::string fatal_line_;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_OUTPUT_RELAY_H_
