#include "adapt.h"

#include <catch2/catch.hpp>

using namespace stdmpi;

TEST_CASE("which programs need help, by their real path") {
  CHECK(DetectLanguage("/usr/bin/ncl") == Lang::kNcl);
  CHECK(DetectLanguage("/usr/bin/mawk") == Lang::kMawk);
  CHECK(DetectLanguage("/usr/bin/gawk") == Lang::kOther);
  CHECK(DetectLanguage("/usr/bin/python3.11") == Lang::kOther);
  CHECK(DetectLanguage("ncl") == Lang::kNcl);
}

TEST_CASE("NCL runs quietly, unprefixed, line-buffered, and is watched") {
  Adaptation a = AdaptCommand({"ncl", "script.ncl"}, Lang::kNcl, false);
  CHECK(a.argv == std::vector<std::string>{"ncl", "-Q", "-n", "script.ncl"});
  CHECK(a.line_buffered);
  CHECK(a.ends_by_reading_stdin);
  CHECK(a.fatal_lines);
  CHECK(AdaptCommand({"ncl", "-Q", "-n", "s.ncl"}, Lang::kNcl, false).argv ==
        std::vector<std::string>{"ncl", "-Q", "-n", "s.ncl"});
  CHECK(AdaptCommand({"ncl", "-n", "x=1", "s.ncl"}, Lang::kNcl, false).argv ==
        std::vector<std::string>{"ncl", "-Q", "-n", "x=1", "s.ncl"});
}

TEST_CASE("mawk gets -W interactive once") {
  CHECK(AdaptCommand({"awk", "-f", "a.awk"}, Lang::kMawk, false).argv ==
        std::vector<std::string>{"awk", "-W", "interactive", "-f", "a.awk"});
  CHECK(AdaptCommand({"mawk", "-W", "interactive", "-f", "a.awk"}, Lang::kMawk, false).argv ==
        std::vector<std::string>{"mawk", "-W", "interactive", "-f", "a.awk"});
  CHECK_FALSE(AdaptCommand({"mawk"}, Lang::kMawk, false).line_buffered);
}

TEST_CASE("line buffering on request for any program, nothing else changes") {
  Adaptation a = AdaptCommand({"./prog", "x"}, Lang::kOther, true);
  CHECK(a.argv == std::vector<std::string>{"./prog", "x"});
  CHECK(a.line_buffered);
  CHECK_FALSE(a.ends_by_reading_stdin);
  CHECK_FALSE(AdaptCommand({"./prog"}, Lang::kOther, false).line_buffered);
}

TEST_CASE("NCL's fatal lines are found at line starts only") {
  std::string line;
  CHECK(FindFatalLine("ok\nfatal:Variable (x) is undefined\nmore\n", &line));
  CHECK(line == "fatal:Variable (x) is undefined");
  CHECK(FindFatalLine("fatal:first\n", &line));
  CHECK(line == "fatal:first");
  CHECK_FALSE(FindFatalLine("not fatal: here\n (0) fatal:no\n", &line));
}
