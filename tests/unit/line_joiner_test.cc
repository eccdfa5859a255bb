#include "line_joiner.h"

#include <catch2/catch.hpp>
#include <string>

using namespace stdmpi;

TEST_CASE("whole lines only, across reads") {
  LineJoiner j(1024);
  std::string out;
  j.Feed("ab", &out);
  CHECK(out.empty());
  CHECK(j.pending() == 2);
  j.Feed("c\nde", &out);
  CHECK(out == "abc\n");
  j.Feed("f\ng\nh", &out);
  CHECK(out == "abc\ndef\ng\n");
  j.Finish(&out);  // a last line without its newline still goes out
  CHECK(out == "abc\ndef\ng\nh");
  CHECK(j.pending() == 0);
}

TEST_CASE("an overlong line goes out in pieces, memory stays bounded") {
  LineJoiner j(8);
  std::string out;
  j.Feed("12345", &out);
  CHECK(out.empty());
  j.Feed("6789", &out);  // 9 bytes held: more than 8
  CHECK(out == "123456789");
  CHECK(j.pending() == 0);
  j.Feed("x\ny", &out);
  CHECK(out == "123456789x\n");
  CHECK(j.pending() == 1);
}
