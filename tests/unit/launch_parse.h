// Test helper: the error stdmpirun's parser gives for `args`.
#ifndef STDMPI_TESTS_UNIT_LAUNCH_PARSE_H_
#define STDMPI_TESTS_UNIT_LAUNCH_PARSE_H_

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "launch_options.h"

inline std::string LaunchParseError(std::vector<std::string> args) {
  stdmpi::LaunchOptions o;
  std::string err;
  CHECK_FALSE(stdmpi::ParseLaunchArgs(args, &o, &err));
  return err;
}

#endif  // STDMPI_TESTS_UNIT_LAUNCH_PARSE_H_
