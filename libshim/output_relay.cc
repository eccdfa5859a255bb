#include "output_relay.h"

#include "adapt.h"
#include "clock.h"
#include "options.h"

namespace stdmpi {

void OutputRelay::Open(uv_loop_t* loop, std::function<void()> on_drain, int program_stderr,
                       int messages) {
  out_.Open(loop, 1, on_drain);
  err_.Open(loop, program_stderr, on_drain);
  if (messages != program_stderr) {
    own_msg_.Open(loop, messages, on_drain);
    msg_ = &own_msg_;
  }
}

void OutputRelay::Configure(int rank, bool tag, bool timestamp, bool merge_stderr,
                            bool fatal_lines) {
  tag_output_ = tag;
  tag_ = "[" + std::to_string(rank) + "] ";
  timestamp_ = timestamp;
  merge_stderr_ = merge_stderr;
  fatal_lines_ = fatal_lines;
}

void OutputRelay::Stdout(std::string_view data) {
  if (fatal_lines_ && fatal_line_.empty()) FindFatalLine(data, &fatal_line_);
  if (!data.empty()) out_mid_line_ = data.back() != '\n';
  Write(&out_, data, &out_prefix_);
}

void OutputRelay::Stderr(std::string_view data) {
  if (merge_stderr_) {
    // Whole lines (or a progress bar's piece) only, so that a piece of an
    // error message never lands inside a line of stdout.
    std::string whole;
    merged_err_.Feed(data, &whole);
    WriteMerged(whole);
    return;
  }
  if (!data.empty()) err_mid_line_ = data.back() != '\n';
  Write(&err_, data, &err_prefix_);
}

void OutputRelay::WriteMerged(std::string_view data) {
  if (data.empty()) return;
  out_mid_line_ = data.back() != '\n';
  Write(&out_, data, &out_prefix_);
}

void OutputRelay::FlushMerged() {
  std::string rest;
  merged_err_.Finish(&rest);
  WriteMerged(rest);
}

void OutputRelay::EndLines() {
  FlushMerged();
  if (out_mid_line_) Stdout("\n");
  if (err_mid_line_) Stderr("\n");
}

void OutputRelay::Message(std::string text) {
  if (text.empty()) return;
  if (msg_ != &err_) {  // a stream of their own: always whole lines
    msg_->Write(std::move(text));
    return;
  }
  if (err_mid_line_) text.insert(text.begin(), '\n');
  err_mid_line_ = text.back() != '\n';
  err_prefix_ = PrefixState();
  err_prefix_.line_start = !err_mid_line_;
  err_.Write(std::move(text));
}

void OutputRelay::Report(std::string_view mark, std::string text) {
  if (text.empty()) return;
  Message(text.insert(0, mark));
}

void OutputRelay::Flush(uv_loop_t* loop, double seconds) {
  FlushMerged();
  const double deadline = MonotonicSeconds() + seconds;
  // A timer, so that a turn of the loop ends even when no write completes.
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 10, 10);
  while (!empty() && MonotonicSeconds() < deadline) uv_run(loop, UV_RUN_ONCE);
  uv_timer_stop(&tick);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);  // lets the close complete before `tick` goes
}

void OutputRelay::Write(Sink* sink, std::string_view data, PrefixState* st) {
  if (!tag_output_ && !timestamp_) {
    sink->Write(std::string(data));
    return;
  }
  // Lines that arrived together carry the same time.
  const std::string prefix =
      (timestamp_ ? TimestampPrefix(RealSeconds()) : std::string()) + (tag_output_ ? tag_ : "");
  std::string tagged;
  AppendPrefixedRedraws(&tagged, data, prefix, st);
  sink->Write(std::move(tagged));
}

}  // namespace stdmpi
