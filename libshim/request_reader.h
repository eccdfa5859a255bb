// A program's stdout as the protocol reads it (docs/protocol.md, "Lockstep" and
// "What a request looks like"):
// ordinary output, and requests that are complete, payload included, and
// checked as far as one rank can check them.
//
// The shim appends the bytes it reads and takes events: output to forward, a
// request to start, a request that failed here (failure.h decides what
// follows), or the end of the job (the stream broke the protocol). Inside,
// StdoutDemux splits the stream, ParseRequest reads each request line, a
// request that announces raw bytes waits here for them, and a `:msgpack`
// request's numbers are decoded. The lockstep rule (every reply read, all of
// it, before the next request) is checked through `unread_reply`, which says
// how many bytes of earlier replies the program has not read.
//
// Pure logic: no MPI, no event loop; unit-tested and fuzzed (fuzz_reader).
#ifndef STDMPI_LIBSHIM_REQUEST_READER_H_
#define STDMPI_LIBSHIM_REQUEST_READER_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "demux.h"
#include "failure.h"
#include "numbers.h"
#include "request.h"

namespace stdmpi {

class RequestReader {
 public:
  enum class Kind {
    kNone,     // need more input (or, after Finish(), nothing is left)
    kOutput,   // ordinary output: one or more lines, with their LFs
    kRequest,  // a request to carry out
    kFailed,   // a request that failed on this rank
    kEnd,      // the stream broke the protocol: the job ends
  };

  struct Event {
    Kind kind = Kind::kNone;
    // kOutput: the lines.
    std::string_view output;
    // kRequest. Its text, and `payload` (the raw bytes of sendb and of bcastb
    // on the root), view the reader's buffer: valid until the next call of a
    // non-const method. A `:msgpack` request arrives with its numbers decoded;
    // a `:shm=OFF` request's payload views the shared region (its numbers
    // too: they stay there, to be reduced in place).
    Request request;
    std::string_view payload;
    // kFailed.
    Failure failure;
    // kEnd: why, for the user (without the rank's prefix), and the status.
    std::string message;
    int code = 0;
  };

  // `unread_reply`: bytes of earlier replies the program has not read yet.
  RequestReader(int64_t max_line, std::function<size_t()> unread_reply);

  // The shared region of the `:shm=OFF` form: `view` gives its bytes
  // [off, off + n) or says why not (past its end, no region).
  using ShmView =
      std::function<bool(int64_t off, int64_t n, std::string_view* out, std::string* why)>;
  void set_shm(ShmView view) { shm_view_ = std::move(view); }

  // The rank and size requests are checked against (known once MPI runs).
  void set_context(const ParseContext& ctx) { ctx_ = ctx; }
  // `@mpi errors return|fatal`: in fatal mode a failed request is reported at
  // once; in return mode only after the raw bytes it announced went by.
  void set_errors_return(bool on) { errors_return_ = on; }
  bool errors_return() const { return errors_return_; }
  // The job ends: from now on only output matters; requests and payloads
  // are dropped unread.
  void OutputOnly() { output_only_ = true; }
  // Keep trace_name() and trace_line() (--trace).
  void KeepTraceInfo() { keep_trace_ = true; }

  // A new program on the same rank (a task farm's worker started again):
  // nothing of the old stream is left, and errors are fatal again.
  void Reset() {
    demux_.Reset();
    pending_.reset();
    deferred_.reset();
    errors_return_ = false;
  }

  void Append(const char* data, size_t n) { demux_.Append(data, n); }
  // The stream ended.
  void Finish() { demux_.Finish(); }
  Event Next();

  // A request waits for the raw bytes it announced.
  bool payload_pending() const { return pending_.has_value(); }
  // Inside an announced payload: its size, and the bytes still to come.
  int64_t payload_announced() const { return demux_.payload_announced(); }
  int64_t payload_remaining() const { return demux_.payload_remaining(); }
  // Bytes held in memory right now.
  size_t buffered() const { return demux_.buffered(); }

  // The last request line, quoted for messages (first 160 bytes).
  std::string request_quoted() const { return QuoteForMessage(line_head_, quote_max_); }
  // For --trace: the last request's name ("allreduce:i64", "(bad request)")
  // and its line (first 200 bytes).
  const std::string& trace_name() const { return trace_name_; }
  const std::string& trace_line() const { return trace_line_; }

 private:
  // Returns true with *ev set when the line yields an event now.
  bool TakeLine(std::string_view line, Event* ev);
  bool TakePayload(std::string_view data, Event* ev);
  Event Failed(std::string reason, std::optional<Verb> collective, int64_t comm = 0);
  // Keeps the line's head for request_quoted(), quoted only when a message
  // needs it (most requests never fail).
  void Remember(std::string_view line, size_t max) {
    line_head_.assign(line.substr(0, std::min(line.size(), max + 1)));
    quote_max_ = max;
  }

  StdoutDemux demux_;
  int64_t max_line_;
  std::function<size_t()> unread_reply_;
  ShmView shm_view_;
  ParseContext ctx_;
  bool errors_return_ = false;
  bool output_only_ = false;
  bool keep_trace_ = false;
  // A valid request whose payload is still to come.
  std::optional<Request> pending_;
  // A failed request whose announced bytes are being skipped (errors return).
  std::optional<Failure> deferred_;
  std::string line_head_, trace_name_, trace_line_;
  size_t quote_max_ = 160;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_REQUEST_READER_H_
