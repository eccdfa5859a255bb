#include "msgpack_numbers.h"

#include <bit>
#include <cstring>
#include <limits>

namespace stdmpi {

namespace {

const char* TypeName(uint8_t b) {
  if (b <= 0x7f || b >= 0xe0) return "integer";
  if (b <= 0x8f) return "map";
  if (b <= 0x9f) return "array";
  if (b <= 0xbf) return "string";
  switch (b) {
    case 0xc0:
      return "nil";
    case 0xc2:
    case 0xc3:
      return "boolean";
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return "bin";
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      return "ext";
    case 0xca:
    case 0xcb:
      return "float";
    case 0xd9:
    case 0xda:
    case 0xdb:
      return "string";
    case 0xdc:
    case 0xdd:
      return "array";
    case 0xde:
    case 0xdf:
      return "map";
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
      return "integer";
    default:
      return "byte 0xc1 (never used by msgpack)";
  }
}

// Reads big-endian unsigned integers of 1..8 bytes.
uint64_t ReadBe(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

uint64_t Le8(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

class Reader {
 public:
  Reader(std::string_view data, bool integers, uint64_t max_bytes, uint64_t number_bytes,
         std::string* err)
      : p_(reinterpret_cast<const unsigned char*>(data.data())),
        end_(p_ + data.size()),
        size_(data.size()),
        integers_(integers),
        max_bytes_(max_bytes),
        number_bytes_(number_bytes),
        err_(err) {}

  bool Fail(std::string reason) {
    *err_ = std::move(reason);
    return false;
  }

  bool CutShort(const char* what) {
    return Fail(std::string("the msgpack payload is cut short in ") + what + " (it is " +
                std::to_string(size_) + " bytes, as the request announced)");
  }

  size_t Left() const { return static_cast<size_t>(end_ - p_); }

  // Takes `n` big-endian bytes after the current tag byte.
  bool Take(int n, const char* what, uint64_t* v) {
    if (Left() < static_cast<size_t>(n)) return CutShort(what);
    *v = ReadBe(p_, n);
    p_ += n;
    return true;
  }

  bool Run(std::vector<double>* f64, std::vector<int64_t>* i64, MsgpackForm* form) {
    if (Left() == 0) {
      return Fail(
          "the msgpack payload is empty: give a msgpack array of numbers (the byte 0x90 for "
          "none) or a bin of 8-byte little-endian numbers");
    }
    uint8_t b = *p_++;
    uint64_t n = 0;
    if (b >= 0x90 && b <= 0x9f) {
      n = b & 0x0f;
    } else if (b == 0xdc || b == 0xdd) {
      if (!Take(b == 0xdc ? 2 : 4, "the array header", &n)) return false;
    } else if (b >= 0xc4 && b <= 0xc6) {
      if (!Take(1 << (b - 0xc4), "the bin header", &n)) return false;
      *form = MsgpackForm::kBin;
      return Bin(n, f64, i64);
    } else {
      return Fail(std::string("the msgpack payload is a ") + TypeName(b) +
                  ": expected an array of numbers, or a bin of 8-byte little-endian numbers");
    }
    *form = MsgpackForm::kArray;
    // Every element takes at least one byte: a count beyond the bytes left is
    // a lie, caught before it can size an allocation.
    if (n > Left()) {
      return Fail("the msgpack array says it has " + std::to_string(n) + " elements, but only " +
                  std::to_string(Left()) + " bytes follow its header");
    }
    if (std::string over = NumbersOverLimit(n, max_bytes_, number_bytes_); !over.empty())
      return Fail(over);
    if (integers_) {
      i64->reserve(n);
    } else {
      f64->reserve(n);
    }
    for (uint64_t i = 0; i < n; ++i) {
      // The common case first: a float 64 for an f64 verb.
      if (!integers_ && Left() >= 9 && *p_ == 0xcb) {
        uint64_t bits;
        std::memcpy(&bits, p_ + 1, 8);
        if constexpr (std::endian::native == std::endian::little) bits = __builtin_bswap64(bits);
        f64->push_back(std::bit_cast<double>(bits));
        p_ += 9;
        continue;
      }
      if (!Element(i, f64, i64)) return false;
    }
    return Rest();
  }

 private:
  bool Rest() {
    if (Left() == 0) return true;
    return Fail(std::to_string(Left()) +
                " byte(s) follow the msgpack value: the announced byte count must be the "
                "value's exact size");
  }

  bool Bin(uint64_t len, std::vector<double>* f64, std::vector<int64_t>* i64) {
    if (len > Left()) return CutShort("the bin's bytes");
    if (len % 8 != 0) {
      return Fail("the msgpack bin holds " + std::to_string(len) +
                  " bytes, not a whole number of 8-byte numbers");
    }
    if (std::string over = NumbersOverLimit(len / 8, max_bytes_, number_bytes_); !over.empty())
      return Fail(over);
    size_t n = len / 8;
    if (integers_) {
      i64->resize(n);
      for (size_t i = 0; i < n; ++i) (*i64)[i] = static_cast<int64_t>(Le8(p_ + 8 * i));
    } else if constexpr (std::endian::native == std::endian::little) {
      f64->resize(n);
      if (n > 0) std::memcpy(f64->data(), p_, len);
    } else {
      f64->resize(n);
      for (size_t i = 0; i < n; ++i) (*f64)[i] = std::bit_cast<double>(Le8(p_ + 8 * i));
    }
    p_ += len;
    return Rest();
  }

  bool Element(uint64_t index, std::vector<double>* f64, std::vector<int64_t>* i64) {
    if (Left() == 0) return CutShort(("element " + std::to_string(index)).c_str());
    uint8_t b = *p_++;
    // Integers as (negative, magnitude-or-value) so uint 64 above INT64_MAX is seen.
    uint64_t u = 0;
    int64_t s = 0;
    bool is_unsigned = true;
    double d = 0;
    bool is_float = false;
    uint64_t bits = 0;
    const char* what = "a number";
    if (b <= 0x7f) {
      u = b;
    } else if (b >= 0xe0) {
      s = static_cast<int8_t>(b);
      is_unsigned = false;
    } else if (b >= 0xcc && b <= 0xcf) {
      if (!Take(1 << (b - 0xcc), what, &u)) return false;
    } else if (b >= 0xd0 && b <= 0xd3) {
      int w = 1 << (b - 0xd0);
      if (!Take(w, what, &bits)) return false;
      // Sign-extend from w bytes.
      int shift = 64 - 8 * w;
      s = static_cast<int64_t>(bits << shift) >> shift;
      is_unsigned = false;
    } else if (b == 0xca) {
      if (!Take(4, what, &bits)) return false;
      d = std::bit_cast<float>(static_cast<uint32_t>(bits));
      is_float = true;
    } else if (b == 0xcb) {
      if (!Take(8, what, &bits)) return false;
      d = std::bit_cast<double>(bits);
      is_float = true;
    } else {
      return Fail("element " + std::to_string(index) + " of the msgpack array is a " + TypeName(b) +
                  ", not a number");
    }
    if (integers_) {
      if (is_float) {
        return Fail("element " + std::to_string(index) +
                    " of the msgpack array is a float, and an :i64 verb takes integers");
      }
      if (is_unsigned) {
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return Fail("element " + std::to_string(index) + " of the msgpack array (" +
                      std::to_string(u) + ") is out of the 64-bit signed range");
        }
        s = static_cast<int64_t>(u);
      }
      i64->push_back(s);
    } else {
      if (!is_float) d = is_unsigned ? static_cast<double>(u) : static_cast<double>(s);
      f64->push_back(d);
    }
    return true;
  }

  const unsigned char* p_;
  const unsigned char* end_;
  size_t size_;
  bool integers_;
  uint64_t max_bytes_;
  uint64_t number_bytes_;
  std::string* err_;
};

}  // namespace

bool DecodeMsgpackNumbers(std::string_view data, bool integers, std::vector<double>* f64,
                          std::vector<int64_t>* i64, MsgpackForm* form, std::string* err,
                          uint64_t max_bytes, uint64_t number_bytes) {
  f64->clear();
  i64->clear();
  Reader r(data, integers, max_bytes, number_bytes, err);
  return r.Run(f64, i64, form);
}

std::string NumbersOverLimit(uint64_t n, uint64_t max_bytes, uint64_t number_bytes) {
  if (n <= max_bytes / number_bytes) return "";
  // The bytes may not fit in 64 bits; say it in numbers then.
  std::string bytes = n <= UINT64_MAX / number_bytes ? std::to_string(n * number_bytes) + " bytes"
                                                     : "too many bytes";
  return std::to_string(n) + " numbers are " + bytes + " for MPI, over the limit of " +
         std::to_string(max_bytes) +
         " bytes (raise it with stdmpirun --max-message, or send in pieces)";
}

MsgpackWriter::MsgpackWriter(std::string* out, size_t max_bytes) : out_(out) {
  size_t at = out->size();
  out->resize(at + max_bytes);
  p_ = out->data() + at;
}

void MsgpackWriter::Finish() {
  if (finished_) return;
  finished_ = true;
  out_->resize(static_cast<size_t>(p_ - out_->data()));
}

void MsgpackWriter::ArrayHeader(size_t n) {
  if (n <= 15) {
    *p_++ = static_cast<char>(0x90 | n);
  } else if (n <= 0xffff) {
    Be(0xdc, n, 2);
  } else {
    Be(0xdd, n, 4);
  }
}

void MsgpackWriter::BinHeader(size_t bytes) {
  if (bytes <= 0xff) {
    Be(0xc4, bytes, 1);
  } else if (bytes <= 0xffff) {
    Be(0xc5, bytes, 2);
  } else {
    Be(0xc6, bytes, 4);
  }
}

size_t MsgpackNumbersSize(MsgpackForm form, size_t n) {
  return 5 + n * (form == MsgpackForm::kArray ? 9 : 8);
}

}  // namespace stdmpi
