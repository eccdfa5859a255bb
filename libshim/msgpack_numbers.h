// The msgpack framing of numbers (the `:msgpack` form of the numeric verbs).
//
// A program that can write and read raw bytes sends its numbers as one msgpack
// value after the request line instead of as decimal text, and gets its result
// back the same way. Two forms of the value are accepted:
//
//   array  a msgpack array of numbers, each in any msgpack integer or float
//          encoding: what every msgpack library writes for a list of numbers;
//   bin    a msgpack bin whose bytes are the numbers as 8-byte little-endian
//          IEEE doubles (f64 verbs) or two's-complement integers (:i64 verbs):
//          a program's own array memory, with no per-number conversion at all.
//
// The reply has the form of the request. In it every number has the verb's
// type, written at full width (float 64 / int 64 in an array), so a reader
// without a msgpack library can cut it by fixed offsets.
//
// Pure logic, no I/O. The decoder reads only what the grammar above needs, with
// every length checked against the bytes there and the numbers' 8 bytes each
// against the message limit; tests check it against msgpack-c.
#ifndef STDMPI_LIBSHIM_MSGPACK_NUMBERS_H_
#define STDMPI_LIBSHIM_MSGPACK_NUMBERS_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

enum class MsgpackForm : uint8_t { kArray, kBin };

// Decodes `data` (the whole payload) into `f64` (when `integers` is false) or
// `i64`. On failure returns false with a reason that names the element and
// what was found there, e.g. "element 3 is a msgpack string, not a number".
// The numbers decoded take `number_bytes` each (8; 16 for minloc/maxloc):
// more than `max_bytes` of them (a 1-byte fixint is 8 bytes once decoded) is
// refused before any is stored.
bool DecodeMsgpackNumbers(std::string_view data, bool integers, std::vector<double>* f64,
                          std::vector<int64_t>* i64, MsgpackForm* form, std::string* err,
                          uint64_t max_bytes = UINT64_MAX, uint64_t number_bytes = 8);

// The reason a request's `n` numbers (`number_bytes` each, as MPI carries
// them) are over `max_bytes`, or "" when they are within it.
std::string NumbersOverLimit(uint64_t n, uint64_t max_bytes, uint64_t number_bytes = 8);

// Writes msgpack values of numbers onto the end of a string. It makes room for
// `max_bytes` at once (see MsgpackNumbersSize) and writes with plain stores;
// Finish (or the destructor) cuts the string to what was written.
class MsgpackWriter {
 public:
  MsgpackWriter(std::string* out, size_t max_bytes);
  ~MsgpackWriter() { Finish(); }
  MsgpackWriter(const MsgpackWriter&) = delete;
  MsgpackWriter& operator=(const MsgpackWriter&) = delete;

  // The array header for `n` elements (fixarray, array 16 or array 32).
  void ArrayHeader(size_t n);
  // One element of an array: float 64 or int 64, always at full width.
  void F64(double v) { Be(0xcb, std::bit_cast<uint64_t>(v), 8); }
  void I64(int64_t v) { Be(0xd3, static_cast<uint64_t>(v), 8); }
  // The bin header for `bytes` bytes (bin 8, 16 or 32).
  void BinHeader(size_t bytes);
  // One element of a bin: 8 bytes, little-endian.
  void F64Le(double v) { I64Le(static_cast<int64_t>(std::bit_cast<uint64_t>(v))); }
  void I64Le(int64_t v) {
    uint64_t u = static_cast<uint64_t>(v);
    if constexpr (std::endian::native == std::endian::big) u = __builtin_bswap64(u);
    std::memcpy(p_, &u, 8);
    p_ += 8;
  }
  void Finish();

 private:
  // `tag`, then the low `width` bytes of `value`, big-endian.
  void Be(uint8_t tag, uint64_t value, int width) {
    *p_++ = static_cast<char>(tag);
    if (width == 8) {
      uint64_t be = value;
      if constexpr (std::endian::native == std::endian::little) be = __builtin_bswap64(be);
      std::memcpy(p_, &be, 8);
      p_ += 8;
      return;
    }
    for (int i = width - 1; i >= 0; --i) *p_++ = static_cast<char>(value >> (8 * i));
  }

  std::string* out_;
  char* p_;
  bool finished_ = false;
};

// The most bytes a value of `n` numbers takes in `form` (header included).
size_t MsgpackNumbersSize(MsgpackForm form, size_t n);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_MSGPACK_NUMBERS_H_
