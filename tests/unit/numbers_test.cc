#include "numbers.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>

using namespace stdmpi;

namespace {
std::string F64(double v) {
  std::string s;
  AppendF64(&s, v);
  return s;
}
}  // namespace

TEST_CASE("f64 replies use the shortest form that reads back") {
  CHECK(F64(0.1) == "0.1");
  CHECK(F64(3.0) == "3");
  CHECK(F64(0.1 + 0.2) == "0.30000000000000004");
  CHECK(F64(-0.0) == "-0");
  CHECK(F64(1e21) == "1e+21");
  CHECK(F64(1e-7) == "1e-07");
  CHECK(F64(123456789012.0) == "123456789012");
  CHECK(F64(std::numeric_limits<double>::infinity()) == "inf");
  CHECK(F64(-std::numeric_limits<double>::infinity()) == "-inf");
  CHECK(F64(std::nan("")) == "nan");
  CHECK(F64(5e-324) == "5e-324");
  CHECK(F64(1.7976931348623157e308) == "1.7976931348623157e+308");
}

TEST_CASE("every formatted double reads back to itself with strtod") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    uint64_t bits = rng();
    double v;
    std::memcpy(&v, &bits, 8);
    if (std::isnan(v)) continue;
    std::string s = F64(v);
    double back = std::strtod(s.c_str(), nullptr);
    INFO(s);
    REQUIRE(std::memcmp(&back, &v, 8) == 0);
    double parsed;
    REQUIRE(ParseF64(s, &parsed));
    REQUIRE(std::memcmp(&parsed, &v, 8) == 0);
  }
}

TEST_CASE("f64 parsing accepts what strtod reads, whole tokens only") {
  double v;
  REQUIRE(ParseF64("1.5", &v));
  CHECK(v == 1.5);
  REQUIRE(ParseF64("+5", &v));
  CHECK(v == 5);
  REQUIRE(ParseF64("-2e3", &v));
  CHECK(v == -2000);
  REQUIRE(ParseF64("0x1p3", &v));
  CHECK(v == 8);
  REQUIRE(ParseF64(".5", &v));
  CHECK(v == 0.5);
  REQUIRE(ParseF64("5.", &v));
  CHECK(v == 5);
  REQUIRE(ParseF64("inf", &v));
  CHECK(std::isinf(v));
  REQUIRE(ParseF64("-Infinity", &v));
  CHECK((std::isinf(v) && v < 0));
  REQUIRE(ParseF64("nan", &v));
  CHECK(std::isnan(v));
  REQUIRE(ParseF64("1e400", &v));
  CHECK(std::isinf(v));
  REQUIRE(ParseF64("1e-400", &v));
  CHECK(v == 0);
  CHECK_FALSE(ParseF64("", &v));
  CHECK_FALSE(ParseF64("abc", &v));
  CHECK_FALSE(ParseF64("1e", &v));
  CHECK_FALSE(ParseF64("1.5x", &v));
  CHECK_FALSE(ParseF64("1,5", &v));
  CHECK_FALSE(ParseF64("--1", &v));
  CHECK_FALSE(ParseF64(std::string_view("1\0", 2), &v));
}

TEST_CASE("i64 parsing is strtoll base 10 with range checks") {
  int64_t v;
  CHECK(ParseI64("42", &v) == IntParse::kOk);
  CHECK(v == 42);
  CHECK(ParseI64("+7", &v) == IntParse::kOk);
  CHECK(v == 7);
  CHECK(ParseI64("-9223372036854775808", &v) == IntParse::kOk);
  CHECK(v == INT64_MIN);
  CHECK(ParseI64("9223372036854775807", &v) == IntParse::kOk);
  CHECK(v == INT64_MAX);
  CHECK(ParseI64("9223372036854775808", &v) == IntParse::kOutOfRange);
  CHECK(ParseI64("1.5", &v) == IntParse::kNotInteger);
  CHECK(ParseI64("1e3", &v) == IntParse::kNotInteger);
  CHECK(ParseI64("0x10", &v) == IntParse::kNotInteger);
  CHECK(ParseI64("", &v) == IntParse::kNotInteger);
}

TEST_CASE("counts are plain digits within a maximum") {
  int64_t v;
  CHECK(ParseCount("0", 10, &v));
  CHECK(v == 0);
  CHECK(ParseCount("007", 10, &v));
  CHECK(v == 7);
  CHECK_FALSE(ParseCount("11", 10, &v));
  CHECK_FALSE(ParseCount("+1", 10, &v));
  CHECK_FALSE(ParseCount("-1", 10, &v));
  CHECK_FALSE(ParseCount(" 1", 10, &v));
  CHECK_FALSE(ParseCount("", 10, &v));
  CHECK(ParseCount("9223372036854775807", INT64_MAX, &v));
  CHECK(v == INT64_MAX);
  CHECK_FALSE(ParseCount("9223372036854775808", INT64_MAX, &v));
  CHECK_FALSE(ParseCount("99999999999999999999999", INT64_MAX, &v));
}

TEST_CASE("number lists tolerate runs of spaces and name the bad token") {
  std::vector<double> f;
  std::string err;
  REQUIRE(ParseF64List(" 1  2.5   3 ", &f, &err));
  CHECK(f == std::vector<double>{1, 2.5, 3});
  CHECK_FALSE(ParseF64List("1 two 3", &f, &err));
  CHECK(err == "not a number: \"two\"");
  CHECK_FALSE(ParseF64List("   ", &f, &err));
  CHECK(err == "no numbers given");
  std::vector<int64_t> i;
  REQUIRE(ParseI64List("1 -2 3", &i, &err));
  CHECK(i == std::vector<int64_t>{1, -2, 3});
  CHECK_FALSE(ParseI64List("1 2.0", &i, &err));
  CHECK(err == "not an integer: \"2.0\"");
  CHECK_FALSE(ParseI64List("18446744073709551616", &i, &err));
  CHECK(err == "integer out of the 64-bit range: \"18446744073709551616\"");
}

TEST_CASE("lists format with single spaces") {
  std::string s;
  double d[] = {1, 0.5, -2};
  AppendF64List(&s, d, 3);
  CHECK(s == "1 0.5 -2");
  s.clear();
  int64_t i[] = {INT64_MIN, 0};
  AppendI64List(&s, i, 2);
  CHECK(s == "-9223372036854775808 0");
}

TEST_CASE("messages quote user bytes safely") {
  CHECK(QuoteForMessage("abc") == "\"abc\"");
  CHECK(QuoteForMessage(std::string_view("a\0\n\"\\", 5)) == "\"a\\x00\\x0a\\\"\\\\\"");
  CHECK(QuoteForMessage("abcdef", 3) == "\"abc\"...");
  CHECK(QuoteForMessage("\xc3\xa9") == "\"\\xc3\\xa9\"");
}
