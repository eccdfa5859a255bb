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
  // A piece of exactly the limit is held; one byte more goes out.
  LineJoiner exact(8);
  out.clear();
  exact.Feed("12345678", &out);
  CHECK((out.empty() && exact.pending() == 8));
  exact.Feed("9", &out);
  CHECK((out == "123456789" && exact.pending() == 0));
}

TEST_CASE("the last piece of a stream without its newline comes out at the end") {
  // As stdmpirun's merger uses it for a rank's stderr (and stdout): the
  // piece after the last newline is held until the stream ends, then goes
  // out whole, however it was cut into reads.
  for (size_t cut = 1; cut <= 5; ++cut) {
    const std::string in = "err\nlast words";
    LineJoiner j(1024);
    std::string out;
    for (size_t i = 0; i < in.size(); i += cut) j.Feed(std::string_view(in).substr(i, cut), &out);
    CHECK(out == "err\n");
    CHECK(j.pending() == 10);
    j.Finish(&out);
    CHECK(out == in);
    CHECK(j.pending() == 0);
  }
  // A stream that is only a piece, never a newline.
  LineJoiner j(1024);
  std::string out;
  j.Feed("no newline at all", &out);
  CHECK(out.empty());
  j.Finish(&out);
  CHECK(out == "no newline at all");
}

TEST_CASE("the end of a stream that ended with a newline adds nothing") {
  LineJoiner j(1024);
  std::string out;
  j.Feed("a\nb\n", &out);
  j.Finish(&out);
  CHECK(out == "a\nb\n");
  j.Finish(&out);  // twice: still nothing more
  CHECK(out == "a\nb\n");
  LineJoiner empty(16);
  out.clear();
  empty.Feed("", &out);
  empty.Finish(&out);
  CHECK(out.empty());
}

TEST_CASE("the last piece after an overlong line's pieces comes out at the end") {
  LineJoiner j(8);
  std::string out;
  j.Feed("123456789abc", &out);  // over 8 bytes: out at once
  CHECK(out == "123456789abc");
  j.Feed("\nxyz", &out);
  CHECK(out == "123456789abc\n");
  j.Finish(&out);
  CHECK(out == "123456789abc\nxyz");
}

TEST_CASE("a progress bar's CR sends what came before it at once") {
  LineJoiner j(1024);
  std::string out;
  j.Feed("50%\r", &out);
  CHECK(out == "50%\r");
  CHECK(j.pending() == 0);
  j.Feed("60%\r70", &out);
  CHECK(out == "50%\r60%\r");
  CHECK(j.pending() == 2);
  j.Feed("%\ndone\r\nnext", &out);  // a CRLF line ends as a line
  CHECK(out == "50%\r60%\r70%\ndone\r\n");
  CHECK(j.pending() == 4);
}

TEST_CASE("a bare CR at a line's start waits for its line") {
  // NCL prints "\n\r" between the lines of its errors: the CR belongs to the
  // next line, which must not be cut from it by another rank's.
  LineJoiner j(1024);
  std::string out;
  j.Feed("fatal: one\n\r", &out);
  CHECK(out == "fatal: one\n");
  CHECK(j.pending() == 1);
  j.Feed("\r", &out);
  CHECK(out == "fatal: one\n");
  j.Feed("fatal: two\n", &out);
  CHECK(out == "fatal: one\n\r\rfatal: two\n");
  j.Feed("\r9%\r", &out);  // a bar drawn after a CR goes out
  CHECK(out == "fatal: one\n\r\rfatal: two\n\r9%\r");
}
