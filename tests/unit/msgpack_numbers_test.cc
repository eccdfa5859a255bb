// The msgpack framing of numbers, checked against msgpack-c (the reference
// implementation) in both directions, and its :msgpack request form.
#include "msgpack_numbers.h"

#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <msgpack.hpp>
#include <string>
#include <vector>

#include "request.h"

using namespace stdmpi;

namespace {

std::string Packed(const msgpack::sbuffer& b) {
  return std::string(b.data(), b.size());
}

template <typename T>
std::string PackWithMsgpackC(const std::vector<T>& v) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, v);
  return Packed(buf);
}

struct Decoded {
  bool ok = false;
  std::vector<double> f64;
  std::vector<int64_t> i64;
  MsgpackForm form = MsgpackForm::kArray;
  std::string err;
};

Decoded Decode(std::string_view data, bool integers) {
  Decoded d;
  d.ok = DecodeMsgpackNumbers(data, integers, &d.f64, &d.i64, &d.form, &d.err);
  return d;
}

std::string DecodeError(std::string_view data, bool integers) {
  Decoded d = Decode(data, integers);
  REQUIRE_FALSE(d.ok);
  return d.err;
}

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string LittleEndian(const std::vector<double>& v) {
  std::string s(v.size() * 8, '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());  // the test machine is little-endian
  return s;
}

}  // namespace

TEST_CASE("msgpack arrays of doubles from msgpack-c decode to the same bits") {
  std::vector<double> v = {0.0,
                           -0.0,
                           0.1,
                           -1.5e300,
                           std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN(),
                           3.0};
  Decoded d = Decode(PackWithMsgpackC(v), false);
  REQUIRE(d.ok);
  CHECK(d.form == MsgpackForm::kArray);
  REQUIRE(d.f64.size() == v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    // msgpack-c 4 packs a double with an integral value as an integer, and
    // -0.0 as the integer 0: the sign of a zero is lost on its side.
    if (v[i] == 0) {
      CHECK(d.f64[i] == 0);
    } else {
      CHECK(std::bit_cast<uint64_t>(d.f64[i]) == std::bit_cast<uint64_t>(v[i]));
    }
  }
  CHECK(static_cast<unsigned char>(PackWithMsgpackC(std::vector<double>{3.0})[1]) == 0x03);
}

TEST_CASE("every msgpack integer width decodes, as i64 and as f64") {
  // msgpack-c writes each in its smallest encoding: positive and negative
  // fixint, uint 8..64, int 8..64.
  std::vector<int64_t> v = {0,
                            1,
                            127,
                            128,
                            255,
                            256,
                            65535,
                            65536,
                            4294967295LL,
                            4294967296LL,
                            -1,
                            -32,
                            -33,
                            -128,
                            -129,
                            -32768,
                            -32769,
                            -2147483648LL,
                            -2147483649LL,
                            std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max()};
  std::string packed = PackWithMsgpackC(v);
  Decoded i = Decode(packed, true);
  REQUIRE(i.ok);
  CHECK(i.i64 == v);
  Decoded f = Decode(packed, false);
  REQUIRE(f.ok);
  REQUIRE(f.f64.size() == v.size());
  for (size_t k = 0; k < v.size(); ++k) CHECK(f.f64[k] == static_cast<double>(v[k]));
}

TEST_CASE("float 32, mixed types and unsigned 64 in a msgpack array") {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(4);
  pk.pack_float(0.1f);
  pk.pack_int64(-7);
  pk.pack_double(2.5);
  pk.pack_uint64(18446744073709551615ULL);
  Decoded d = Decode(Packed(buf), false);
  REQUIRE(d.ok);
  CHECK(d.f64 == std::vector<double>{static_cast<double>(0.1f), -7, 2.5, 18446744073709551615.0});
  CHECK(DecodeError(Packed(buf), true) ==
        "element 0 of the msgpack array is a float, and an :i64 verb takes integers");

  msgpack::sbuffer big;
  msgpack::packer<msgpack::sbuffer> pb(big);
  pb.pack_array(2);
  pb.pack_uint64(9223372036854775807ULL);
  pb.pack_uint64(9223372036854775808ULL);
  CHECK(DecodeError(Packed(big), true) ==
        "element 1 of the msgpack array (9223372036854775808) is out of the 64-bit signed range");
}

TEST_CASE("the bin form holds 8-byte little-endian numbers") {
  std::vector<double> v = {1.5, -2.25, 1e-300};
  std::string bin = Bytes({0xc4, 24}) + LittleEndian(v);
  Decoded d = Decode(bin, false);
  REQUIRE(d.ok);
  CHECK(d.form == MsgpackForm::kBin);
  CHECK(d.f64 == v);

  std::vector<int64_t> iv = {-1, 42, std::numeric_limits<int64_t>::min()};
  std::string ibin = Bytes({0xc5, 0, 24});
  ibin.append(reinterpret_cast<const char*>(iv.data()), 24);
  Decoded id = Decode(ibin, true);
  REQUIRE(id.ok);
  CHECK(id.i64 == iv);

  Decoded empty = Decode(Bytes({0xc6, 0, 0, 0, 0}), false);
  REQUIRE(empty.ok);
  CHECK(empty.f64.empty());
  CHECK(empty.form == MsgpackForm::kBin);

  // msgpack-c's own bin of the same bytes is read the same way.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  std::string raw = LittleEndian(v);
  pk.pack_bin(static_cast<uint32_t>(raw.size()));
  pk.pack_bin_body(raw.data(), static_cast<uint32_t>(raw.size()));
  Decoded c = Decode(Packed(buf), false);
  REQUIRE(c.ok);
  CHECK(c.f64 == v);
}

TEST_CASE("malformed msgpack payloads: each gets its exact reason") {
  CHECK(DecodeError("", false) ==
        "the msgpack payload is empty: give a msgpack array of numbers (the byte 0x90 for none) "
        "or a bin of 8-byte little-endian numbers");
  CHECK(DecodeError(Bytes({0xa3, 'a', 'b', 'c'}), false) ==
        "the msgpack payload is a string: expected an array of numbers, or a bin of 8-byte "
        "little-endian numbers");
  CHECK(DecodeError(Bytes({0x80}), false).find("is a map:") != std::string::npos);
  CHECK(DecodeError(Bytes({0xcb, 0, 0, 0, 0, 0, 0, 0, 0}), false).find("is a float:") !=
        std::string::npos);
  CHECK(DecodeError(Bytes({0x92, 0x01, 0xc0}), false) ==
        "element 1 of the msgpack array is a nil, not a number");
  CHECK(DecodeError(Bytes({0x92, 0x01, 0xc3}), false) ==
        "element 1 of the msgpack array is a boolean, not a number");
  CHECK(DecodeError(Bytes({0x91, 0x91, 0x01}), false) ==
        "element 0 of the msgpack array is a array, not a number");
  CHECK(DecodeError(Bytes({0x91, 0xc1}), false) ==
        "element 0 of the msgpack array is a byte 0xc1 (never used by msgpack), not a number");
  CHECK(DecodeError(Bytes({0x93, 0x01, 0x02}), false) ==
        "the msgpack array says it has 3 elements, but only 2 bytes follow its header");
  CHECK(DecodeError(Bytes({0x92, 0x01, 0xcb, 0x40}), false) ==
        "the msgpack payload is cut short in a number (it is 4 bytes, as the request announced)");
  CHECK(DecodeError(Bytes({0x92, 0x01, 0xcb}), false) ==
        "the msgpack payload is cut short in a number (it is 3 bytes, as the request announced)");
  CHECK(DecodeError(Bytes({0xdd, 0xff}), false) ==
        "the msgpack payload is cut short in the array header (it is 2 bytes, as the request "
        "announced)");
  CHECK(DecodeError(Bytes({0x91, 0x01, 0x02, 0x03}), false) ==
        "2 byte(s) follow the msgpack value: the announced byte count must be the value's exact "
        "size");
  CHECK(DecodeError(Bytes({0xc4, 3, 1, 2, 3}), false) ==
        "the msgpack bin holds 3 bytes, not a whole number of 8-byte numbers");
  CHECK(DecodeError(Bytes({0xc4, 8, 1, 2}), false) ==
        "the msgpack payload is cut short in the bin's bytes (it is 4 bytes, as the request "
        "announced)");
  // A count that claims four billion elements allocates nothing first.
  CHECK(DecodeError(Bytes({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}), false) ==
        "the msgpack array says it has 4294967295 elements, but only 1 bytes follow its header");
}

TEST_CASE("the writer's arrays and bins read back with msgpack-c") {
  for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{65535}, size_t{65536}}) {
    std::string out = "x";  // the writer appends
    {
      MsgpackWriter w(&out, MsgpackNumbersSize(MsgpackForm::kArray, 2 * n));
      w.ArrayHeader(2 * n);
      for (size_t i = 0; i < n; ++i) {
        w.F64(static_cast<double>(i) + 0.5);
        w.I64(-static_cast<int64_t>(i) - 1);
      }
    }
    REQUIRE(out[0] == 'x');
    out.erase(0, 1);
    msgpack::object_handle oh = msgpack::unpack(out.data(), out.size());
    const msgpack::object& o = oh.get();
    REQUIRE(o.type == msgpack::type::ARRAY);
    REQUIRE(o.via.array.size == 2 * n);
    for (size_t i = 0; i < n; ++i) {
      CHECK(o.via.array.ptr[2 * i].as<double>() == static_cast<double>(i) + 0.5);
      CHECK(o.via.array.ptr[2 * i + 1].as<int64_t>() == -static_cast<int64_t>(i) - 1);
    }
    // Every element at full width: 9 bytes each after the header.
    size_t header = n == 0 ? 1 : (2 * n <= 15 ? 1 : (2 * n <= 65535 ? 3 : 5));
    CHECK(out.size() == header + 18 * n);
  }
  // Array headers at each size boundary: fixarray up to 15, array 16 up to
  // 65535, array 32 beyond.
  for (size_t n : {size_t{15}, size_t{16}, size_t{17}, size_t{65535}, size_t{65536}}) {
    std::string out;
    {
      MsgpackWriter w(&out, MsgpackNumbersSize(MsgpackForm::kArray, n));
      w.ArrayHeader(n);
      for (size_t i = 0; i < n; ++i) w.I64(static_cast<int64_t>(i));
    }
    msgpack::object_handle oh = msgpack::unpack(out.data(), out.size());
    REQUIRE(oh.get().type == msgpack::type::ARRAY);
    REQUIRE(oh.get().via.array.size == n);
    CHECK(oh.get().via.array.ptr[n - 1].as<int64_t>() == static_cast<int64_t>(n) - 1);
    CHECK(out.size() == (n <= 15 ? 1 : n <= 65535 ? 3 : 5) + 9 * n);
  }
  for (size_t bytes : {size_t{0}, size_t{8}, size_t{256}, size_t{65536}}) {
    std::string out;
    MsgpackWriter w(&out, MsgpackNumbersSize(MsgpackForm::kBin, bytes / 8));
    w.BinHeader(bytes);
    for (size_t i = 0; i < bytes / 8; ++i) w.F64Le(static_cast<double>(i));
    w.Finish();
    msgpack::object_handle oh = msgpack::unpack(out.data(), out.size());
    REQUIRE(oh.get().type == msgpack::type::BIN);
    REQUIRE(oh.get().via.bin.size == bytes);
    Decoded d = Decode(out, false);
    REQUIRE(d.ok);
    REQUIRE(d.f64.size() == bytes / 8);
    for (size_t i = 0; i < d.f64.size(); ++i) CHECK(d.f64[i] == static_cast<double>(i));
  }
}

TEST_CASE(":msgpack requests announce their payload") {
  ParseContext c;
  c.rank = 0;
  c.size = 4;
  c.max_payload = 1 << 20;
  auto parse = [&](std::string_view line, Request* r) { return ParseRequest(line, c, r); };
  Request r;
  ParseResult pr = parse("@mpi allreduce:msgpack sum 17", &r);
  REQUIRE(pr.ok);
  CHECK(r.msgpack);
  CHECK(r.type == NumType::kF64);
  CHECK(r.payload_bytes == 17);
  CHECK(r.count() == 0);

  REQUIRE(parse("@mpi reduce:i64:msgpack band 2 9", &r).ok);
  CHECK((r.msgpack && r.type == NumType::kI64 && r.peer == 2 && r.payload_bytes == 9));
  REQUIRE(parse("@mpi gather:msgpack:i64 1 5", &r).ok);
  CHECK((r.msgpack && r.type == NumType::kI64 && r.peer == 1 && r.payload_bytes == 5));
  REQUIRE(parse("@mpi allgather:msgpack 1", &r).ok);
  REQUIRE(parse("@mpi scan:msgpack max 1", &r).ok);
  // A non-root's value only picks its reply's form; it is still read.
  REQUIRE(parse("@mpi scatter:msgpack 3 1", &r).ok);
  CHECK(r.payload_bytes == 1);

  // A request that is wrong still says how many bytes follow, so they are skipped.
  pr = parse("@mpi allreduce:msgpack plus 40", &r);
  CHECK_FALSE(pr.ok);
  CHECK(r.payload_bytes == 40);
  pr = parse("@mpi reduce:msgpack sum 9 40", &r);
  CHECK(pr.error == "ROOT 9 out of range: ranks are 0..3");
  CHECK(r.payload_bytes == 40);

  CHECK_FALSE(parse("@mpi allreduce:msgpack sum", &r).ok);
  CHECK_FALSE(parse("@mpi allreduce:msgpack sum 1 2", &r).ok);
  pr = parse("@mpi allreduce:msgpack sum 2000000", &r);
  CHECK(pr.error ==
        "byte count 2000000 over the limit of 1048576 bytes (raise it with stdmpirun "
        "--max-message, or send in pieces)");
  CHECK(parse("@mpi allreduce:msgpack:msgpack sum 1", &r).error ==
        "suffix \":msgpack\" given twice or with another type");
  CHECK(parse("@mpi allreduce:i64:f64 sum 1", &r).error ==
        "suffix \":f64\" given twice or with another type");
  CHECK(parse("@mpi send:msgpack 1 0 5", &r).error ==
        "verb \"send\" takes no suffix (\":msgpack\"): only the numeric verbs take :i64, :f64 "
        "and :msgpack");
}

TEST_CASE("a :msgpack payload fills the request's numbers") {
  ParseContext c;
  c.rank = 0;
  c.size = 2;
  Request r;
  REQUIRE(ParseRequest("@mpi scatter:msgpack 0 4", c, &r).ok);
  std::string err;
  CHECK(DecodeNumberPayload(Bytes({0x93, 1, 2, 3}), c, &r, &err) == false);
  CHECK(err == "scatter root gives 3 numbers, not a multiple of the 2 ranks");
  REQUIRE(DecodeNumberPayload(Bytes({0x92, 1, 2}), c, &r, &err));
  CHECK(r.f64 == std::vector<double>{1, 2});

  REQUIRE(ParseRequest("@mpi allreduce:i64:msgpack sum 3", c, &r).ok);
  REQUIRE(DecodeNumberPayload(Bytes({0x92, 0xff, 0x05}), c, &r, &err));
  CHECK(r.i64 == std::vector<int64_t>{-1, 5});
  CHECK(r.count() == 2);
}

TEST_CASE("numbers count 8 bytes each against the message limit, however small their encoding") {
  // 16 fixints are 17 bytes of msgpack and 128 bytes once decoded.
  std::string sixteen = Bytes({0xdc, 0x00, 0x10});
  sixteen.append(16, '\x01');
  std::vector<double> f64;
  std::vector<int64_t> i64;
  MsgpackForm form;
  std::string err;
  CHECK(DecodeMsgpackNumbers(sixteen, true, &f64, &i64, &form, &err, 128));
  CHECK(i64.size() == 16);
  CHECK_FALSE(DecodeMsgpackNumbers(sixteen, true, &f64, &i64, &form, &err, 127));
  CHECK(err ==
        "16 numbers are 128 bytes for MPI, over the limit of 127 bytes (raise it with stdmpirun "
        "--max-message, or send in pieces)");
  CHECK(i64.empty());
  // A bin counts the same way.
  std::string bin = Bytes({0xc4, 16});
  bin.append(16, '\0');
  CHECK(DecodeMsgpackNumbers(bin, false, &f64, &i64, &form, &err, 16));
  CHECK_FALSE(DecodeMsgpackNumbers(bin, false, &f64, &i64, &form, &err, 15));
  CHECK(err.rfind("2 numbers are 16 bytes for MPI, over the limit of 15 bytes", 0) == 0);
  // The request's own limit is the one applied.
  ParseContext c;
  c.rank = 0;
  c.size = 2;
  c.max_payload = 127;
  Request r;
  REQUIRE(ParseRequest("@mpi allreduce:i64:msgpack sum 19", c, &r).ok);
  CHECK_FALSE(DecodeNumberPayload(sixteen, c, &r, &err));
  CHECK(err.rfind("16 numbers are 128 bytes for MPI", 0) == 0);
  CHECK(NumbersOverLimit(UINT64_MAX, 1024).rfind("18446744073709551615 numbers are too many", 0) ==
        0);
  CHECK(NumbersOverLimit(128, 1024).empty());
}
