#include "output_relay.h"

#include "adapt.h"
#include "clock.h"
#include "options.h"

namespace stdmpi {

void OutputRelay::Open(uv_loop_t* loop, std::function<void()> on_drain) {
  out_.Open(loop, 1, on_drain);
  err_.Open(loop, 2, on_drain);
}

void OutputRelay::Configure(int rank, bool tag, bool fatal_lines) {
  tag_output_ = tag;
  tag_ = "[" + std::to_string(rank) + "] ";
  fatal_lines_ = fatal_lines;
}

void OutputRelay::Stdout(std::string_view data) {
  if (fatal_lines_ && fatal_line_.empty()) FindFatalLine(data, &fatal_line_);
  if (!data.empty()) out_mid_line_ = data.back() != '\n';
  Write(&out_, data, &out_at_line_start_);
}

void OutputRelay::Stderr(std::string_view data) {
  if (!data.empty()) err_mid_line_ = data.back() != '\n';
  Write(&err_, data, &err_at_line_start_);
}

void OutputRelay::EndLines() {
  if (out_mid_line_) Stdout("\n");
  if (err_mid_line_) Stderr("\n");
}

void OutputRelay::Message(std::string text) {
  if (text.empty()) return;
  if (err_mid_line_) text.insert(text.begin(), '\n');
  err_mid_line_ = text.back() != '\n';
  err_at_line_start_ = !err_mid_line_;
  err_.Write(std::move(text));
}

void OutputRelay::Report(std::string_view mark, std::string text) {
  if (text.empty()) return;
  Message(text.insert(0, mark));
}

void OutputRelay::Flush(uv_loop_t* loop, double seconds) {
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

void OutputRelay::Write(Sink* sink, std::string_view data, bool* at_line_start) {
  if (!tag_output_) {
    sink->Write(std::string(data));
    return;
  }
  std::string tagged;
  AppendPrefixed(&tagged, data, tag_, at_line_start);
  sink->Write(std::move(tagged));
}

}  // namespace stdmpi
