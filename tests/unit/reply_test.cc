#include "reply.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

using namespace stdmpi;

namespace {

Request Numeric(NumType t, Op op, bool msgpack = false, MsgpackForm form = MsgpackForm::kArray) {
  Request r;
  r.verb = Verb::kAllreduce;
  r.type = t;
  r.op = op;
  r.msgpack = msgpack;
  r.msgpack_form = form;
  return r;
}

// A buffer as MPI would leave it after a reduction of `values`.
NumberBuffer F64s(std::initializer_list<double> values, Op op = Op::kSum) {
  NumberBuffer b(NumType::kF64, op, values.size());
  std::memcpy(b.data(), std::data(values), values.size() * 8);
  return b;
}

}  // namespace

TEST_CASE("the plain replies") {
  CHECK(OkReply() == "ok\n");
  CHECK(NoneReply() == "none\n");
  CHECK(IntReply(-42) == "-42\n");
  CHECK(F64Reply(0.5) == "0.5\n");
  CHECK(StatusReply(3, 17, 1024) == "3 17 1024\n");
  CHECK(ErrorReply("no receive has completed") == "@error no receive has completed\n");
  CHECK(TextReply("hi there") == "hi there\n");
  std::string h;
  AppendBytesHeader(&h, 0);
  AppendBytesHeader(&h, 70000);
  CHECK(h == "0\n70000\n");
}

TEST_CASE("numbers as text: one line, space-separated") {
  NumberBuffer b = F64s({1.5, -2, 3e100});
  CHECK(NumbersReply(b, Numeric(NumType::kF64, Op::kSum)) == "1.5 -2 3e+100\n");
  NumberBuffer i(NumType::kI64, Op::kMax, 3);
  const int64_t v[] = {INT64_MIN, 0, 7};
  std::memcpy(i.data(), v, sizeof(v));
  CHECK(NumbersReply(i, Numeric(NumType::kI64, Op::kMax)) == "-9223372036854775808 0 7\n");
  NumberBuffer empty(NumType::kF64, Op::kSum, 0);
  CHECK(NumbersReply(empty, Numeric(NumType::kF64, Op::kSum)) == "\n");
}

TEST_CASE("logical ops always answer 0 or 1, as integers and as doubles") {
  // Over one rank MPI leaves the input as it is: 5 land ... is 5 there.
  NumberBuffer f = F64s({5, 0, -0.5}, Op::kLand);
  CHECK(NumbersReply(f, Numeric(NumType::kF64, Op::kLand)) == "1 0 1\n");
  NumberBuffer i(NumType::kI64, Op::kLxor, 2);
  const int64_t v[] = {6, 0};
  std::memcpy(i.data(), v, sizeof(v));
  CHECK(NumbersReply(i, Numeric(NumType::kI64, Op::kLxor)) == "1 0\n");
  // Bitwise ops keep their values.
  NumberBuffer x(NumType::kI64, Op::kBxor, 2);
  std::memcpy(x.data(), v, sizeof(v));
  CHECK(NumbersReply(x, Numeric(NumType::kI64, Op::kBxor)) == "6 0\n");
}

TEST_CASE("logical ops in the msgpack forms answer 0 or 1 too") {
  NumberBuffer i(NumType::kI64, Op::kLand, 2);
  const int64_t v[] = {5, 0};
  std::memcpy(i.data(), v, sizeof(v));
  // array: fixarray of 2, then int 64 (0xd3) 1 and 0.
  std::string array = NumbersReply(i, Numeric(NumType::kI64, Op::kLand, true));
  CHECK(array == std::string("19\n\x92\xd3\0\0\0\0\0\0\0\x01\xd3\0\0\0\0\0\0\0\0", 22));
  // bin: 8-byte little-endian 1 and 0.
  std::string bin = NumbersReply(i, Numeric(NumType::kI64, Op::kLand, true, MsgpackForm::kBin));
  CHECK(bin == std::string("18\n\xc4\x10\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 21));
}

TEST_CASE("minloc and maxloc answer value and rank pairs") {
  Request r = Numeric(NumType::kF64, Op::kMinloc);
  r.f64 = {2.5, -1};
  NumberBuffer send;
  auto* pairs = static_cast<F64Loc*>(send.SendData(r, 3));
  CHECK(pairs[0].value == 2.5);
  CHECK(pairs[0].rank == 3);
  CHECK(pairs[1].value == -1);
  CHECK(NumbersReply(send, r) == "2.5 3 -1 3\n");
  Request ri = Numeric(NumType::kI64, Op::kMaxloc);
  ri.i64 = {9};
  NumberBuffer si;
  si.SendData(ri, 1);
  CHECK(NumbersReply(si, ri) == "9 1\n");
}

TEST_CASE("a plain request sends straight from its own numbers") {
  Request r = Numeric(NumType::kF64, Op::kSum);
  r.f64 = {1, 2};
  NumberBuffer b;
  CHECK(b.SendData(r, 0) == r.f64.data());
}

TEST_CASE("numbers as msgpack: N, then an array of float 64 or a bin of the same form") {
  NumberBuffer b = F64s({1.0, 2.0});
  std::string array = NumbersReply(b, Numeric(NumType::kF64, Op::kSum, true));
  // 1 (fixarray) + 2 x 9 (float 64) = 19 bytes.
  REQUIRE(array.rfind("19\n", 0) == 0);
  CHECK(array.substr(3) == std::string("\x92\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"
                                       "\xcb\x40\x00\x00\x00\x00\x00\x00\x00",
                                       19));
  std::string bin = NumbersReply(b, Numeric(NumType::kF64, Op::kSum, true, MsgpackForm::kBin));
  // bin 8 header (2 bytes) + 16 bytes of little-endian doubles.
  REQUIRE(bin.rfind("18\n", 0) == 0);
  CHECK(bin.substr(3, 2) == std::string("\xc4\x10", 2));
  double back[2];
  std::memcpy(back, bin.data() + 5, 16);
  CHECK(back[0] == 1.0);
  CHECK(back[1] == 2.0);
  // A logical op in the bin form is normalised too.
  NumberBuffer l = F64s({3.0}, Op::kLor);
  std::string lb = NumbersReply(l, Numeric(NumType::kF64, Op::kLor, true, MsgpackForm::kBin));
  double one;
  std::memcpy(&one, lb.data() + lb.size() - 8, 8);
  CHECK(one == 1.0);
}

TEST_CASE("the sizes header of a byte collective") {
  std::string out;
  AppendSizesHeader(&out, {3, 0, 12});
  CHECK(out == "3 0 12\n");
  out.clear();
  AppendSizesHeader(&out, {7});
  CHECK(out == "7\n");
}
