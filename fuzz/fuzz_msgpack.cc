// Fuzzes the :msgpack payload decoder (libshim/msgpack_numbers.h) against
// msgpack-c, the reference implementation, and checks its own invariants:
//   - it never reads past the payload or sizes a buffer beyond it (ASan);
//   - on success it decoded at most one number per payload byte, and
//     writing the numbers back in the same form and decoding again gives the
//     same bits;
//   - for f64 it accepts exactly the payloads that msgpack-c reads as one
//     value, using every byte, that is an array of numbers or a bin of a whole
//     number of 8-byte numbers, and the numbers agree.
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <msgpack.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "msgpack_numbers.h"

using namespace stdmpi;

namespace {

// What msgpack-c makes of the payload: true if it is one array of numbers or
// a bin of 8-byte numbers with no byte left over; then `out` holds them.
bool Reference(std::string_view data, std::vector<double>* out) {
  try {
    std::size_t off = 0;
    // msgpack-c sizes an array's storage by its header's count before reading
    // an element: a count the payload cannot hold (every element takes a
    // byte) is refused first, as the decoder refuses it.
    msgpack::unpack_limit limit(data.size(), data.size(), data.size(), data.size(), data.size(), 2);
    msgpack::object_handle oh =
        msgpack::unpack(data.data(), data.size(), off, nullptr, nullptr, limit);
    if (off != data.size()) return false;
    const msgpack::object& o = oh.get();
    if (o.type == msgpack::type::BIN) {
      if (o.via.bin.size % 8 != 0) return false;
      for (std::size_t i = 0; i < o.via.bin.size / 8; ++i) {
        double d;
        std::memcpy(&d, o.via.bin.ptr + 8 * i, 8);
        out->push_back(d);
      }
      return true;
    }
    if (o.type != msgpack::type::ARRAY) return false;
    for (std::size_t i = 0; i < o.via.array.size; ++i) {
      const msgpack::object& e = o.via.array.ptr[i];
      switch (e.type) {
        case msgpack::type::POSITIVE_INTEGER:
          out->push_back(static_cast<double>(e.via.u64));
          break;
        case msgpack::type::NEGATIVE_INTEGER:
          out->push_back(static_cast<double>(e.via.i64));
          break;
        case msgpack::type::FLOAT32:
        case msgpack::type::FLOAT64:
          out->push_back(e.via.f64);
          break;
        default:
          return false;
      }
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool SameBits(double a, double b) {
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  for (bool integers : {false, true}) {
    std::vector<double> f64;
    std::vector<int64_t> i64;
    MsgpackForm form;
    std::string err;
    bool ok = DecodeMsgpackNumbers(data, integers, &f64, &i64, &form, &err);
    Check(ok || !err.empty(), "a failure without a reason");
    if (!ok) {
      if (!integers) {
        std::vector<double> ref;
        Check(!Reference(data, &ref), "msgpack-c reads numbers where the decoder fails");
      }
      continue;
    }
    size_t n = integers ? i64.size() : f64.size();
    Check(n <= size, "more numbers than payload bytes");
    Check(integers ? f64.empty() : i64.empty(), "numbers in the wrong vector");
    // Write back, read again: the same numbers, bit for bit.
    std::string again;
    {
      MsgpackWriter w(&again, MsgpackNumbersSize(form, n));
      if (form == MsgpackForm::kArray) {
        w.ArrayHeader(n);
      } else {
        w.BinHeader(8 * n);
      }
      for (size_t i = 0; i < n; ++i) {
        if (form == MsgpackForm::kArray) {
          integers ? w.I64(i64[i]) : w.F64(f64[i]);
        } else {
          integers ? w.I64Le(i64[i]) : w.F64Le(f64[i]);
        }
      }
    }
    std::vector<double> f2;
    std::vector<int64_t> i2;
    MsgpackForm form2;
    Check(DecodeMsgpackNumbers(again, integers, &f2, &i2, &form2, &err), "own output rejected");
    Check(form2 == form, "the form changed");
    Check(integers ? i2 == i64 : f2.size() == f64.size(), "the numbers changed");
    for (size_t i = 0; !integers && i < n; ++i) Check(SameBits(f2[i], f64[i]), "a double changed");
    if (!integers) {
      std::vector<double> ref;
      Check(Reference(data, &ref), "msgpack-c rejects what the decoder accepts");
      Check(ref.size() == n, "msgpack-c reads another count");
      for (size_t i = 0; i < n; ++i) {
        Check(SameBits(ref[i], f64[i]) || (ref[i] != ref[i] && f64[i] != f64[i]),
              "msgpack-c reads another number");
      }
    }
  }
  return 0;
}
