// Splits a child's stdout byte stream into ordinary output, request lines and the
// raw payloads that follow byte-form requests (sendb, bcastb).
//
// Pure logic over bytes handed in by the caller, so it is unit-tested byte by
// byte. Memory is bounded: a line is buffered only up to `max_line` bytes (then
// the caller gets a *TooLong item), a payload only up to what the caller accepted
// with ExpectPayload (the shim's --max-message), and a discarded payload or a
// rejected over-long request is dropped as it streams by.
#ifndef STDMPI_LIBSHIM_DEMUX_H_
#define STDMPI_LIBSHIM_DEMUX_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace stdmpi {

class StdoutDemux {
 public:
  enum class Kind {
    kNone,              // need more input (or, after Finish(), nothing is left)
    kOutput,            // one or more whole ordinary lines, with their LFs, or
                        // a line's start up to a CR (see NextLines)
    kRequest,           // one request line, without its LF
    kPayload,           // the raw bytes announced by ExpectPayload (discard = false)
    kPayloadSkipped,    // the announced bytes were dropped (discard = true)
    kPayloadTruncated,  // the stream ended before the announced bytes
    kRequestTooLong,    // a request line passed max_line; the rest of it is dropped
    kOutputTooLong,     // an ordinary line passed max_line without a newline
  };

  struct Item {
    Kind kind = Kind::kNone;
    // kOutput, kRequest, kPayload: the bytes, valid until the next call of a
    // non-const method. kRequestTooLong/kOutputTooLong: the line's first bytes.
    std::string_view data;
    // kPayloadTruncated: how many of the announced bytes did arrive.
    int64_t got = 0;
  };

  explicit StdoutDemux(size_t max_line) : max_line_(max_line) {}
  // Back to a fresh stream (a new program on the same pipe's place).
  void Reset() {
    buf_.clear();
    pos_ = scan_ = 0;
    eof_ = false;
    mode_ = Mode::kLines;
    remaining_ = announced_ = 0;
    mid_line_ = false;
  }

  void Append(const char* data, size_t n);
  // The stream ended: a last line without LF is delivered as a line.
  void Finish() { eof_ = true; }

  Item Next();

  // The next `n` bytes of the stream are a payload: delivered whole as one
  // kPayload item, or dropped as they arrive and reported as kPayloadSkipped.
  void ExpectPayload(int64_t n, bool discard);

  // Bytes held in memory right now (for back-pressure decisions and tests).
  size_t buffered() const { return buf_.size() - pos_; }
  bool in_payload() const { return mode_ == Mode::kPayload || mode_ == Mode::kSkipPayload; }
  // Inside a payload: the bytes announced, and those not arrived yet.
  int64_t payload_announced() const { return in_payload() ? announced_ : 0; }
  int64_t payload_remaining() const {
    if (mode_ == Mode::kPayload) {
      const int64_t have = static_cast<int64_t>(buffered());
      return remaining_ > have ? remaining_ - have : 0;
    }
    return in_payload() ? remaining_ : 0;
  }

 private:
  enum class Mode { kLines, kPayload, kSkipPayload, kSkipLine };

  // A byte buffer grown with realloc: a large one is mmap'ed by malloc and
  // grows by mremap, without a second copy in memory. So a line near the limit
  // costs about its own size, not twice that; and the memory of a large
  // payload or line goes back to the system once it was consumed.
  class Bytes {
   public:
    Bytes() = default;
    Bytes(const Bytes&) = delete;
    Bytes& operator=(const Bytes&) = delete;
    ~Bytes() { std::free(p_); }
    char* data() { return p_; }
    const char* data() const { return p_; }
    size_t size() const { return n_; }
    size_t capacity() const { return cap_; }
    void reserve(size_t cap);
    void append(const char* d, size_t n);
    void erase_front(size_t n);
    void clear();

   private:
    char* p_ = nullptr;
    size_t n_ = 0, cap_ = 0;
  };

  void Compact();
  // Next() in a payload or a skipped line, and between them.
  Item NextInPayload();
  Item NextLines();
  // Append: whether the CRs of the line that starts at buf_[line] (and goes
  // on with `data`) end pieces, i.e. it cannot become a request.
  bool SplitsAtCr(size_t line, const char* data, size_t n) const;
  static bool KeptWhole(std::string_view head);
  // How long a line is for max_line: its longest piece (KeptWhole: all of it).
  static size_t LineLength(std::string_view line, bool whole);
  size_t EmittableEnd(size_t line, size_t end) const;
  Item TooLongLine(size_t line, size_t nlpos, bool continued, bool whole);
  // NextLines' piece of a line that ends with a CR, if it may go out now.
  bool TakeDrawnPiece(size_t start, size_t line, size_t scanned, bool continued, Item* item);

  size_t max_line_;
  Bytes buf_;
  size_t pos_ = 0;   // start of unconsumed bytes in buf_
  size_t scan_ = 0;  // where the newline search of the current line resumes
  bool eof_ = false;
  Mode mode_ = Mode::kLines;
  int64_t remaining_ = 0;  // kPayload/kSkipPayload: bytes still expected
  int64_t announced_ = 0;  // kPayload/kSkipPayload: bytes announced in total
  // The bytes at pos_ continue a line whose start went out at a CR: they are
  // output up to the line's LF, never a request.
  bool mid_line_ = false;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_DEMUX_H_
