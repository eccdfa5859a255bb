#include "adapt.h"

namespace stdmpi {

Lang DetectLanguage(std::string_view real_path) {
  std::string_view base = real_path.substr(real_path.rfind('/') + 1);
  if (base == "ncl") return Lang::kNcl;
  if (base == "mawk") return Lang::kMawk;
  return Lang::kOther;
}

Adaptation AdaptCommand(const std::vector<std::string>& argv, Lang lang, bool line_buffered) {
  Adaptation a;
  a.argv = argv;
  a.line_buffered = line_buffered;
  switch (lang) {
    case Lang::kNcl: {
      a.line_buffered = true;
      a.ends_by_reading_stdin = true;
      a.fatal_lines = true;
      // -Q: no banner; -n: no "(0)\t" before each printed line, which would
      // hide a printed request. Options come before the script.
      bool has_q = false, has_n = false;
      for (size_t i = 1; i < argv.size() && !argv[i].empty() && argv[i][0] == '-'; ++i) {
        if (argv[i].find('Q') != std::string::npos) has_q = true;
        if (argv[i].find('n') != std::string::npos) has_n = true;
      }
      std::vector<std::string> add;
      if (!has_q) add.push_back("-Q");
      if (!has_n) add.push_back("-n");
      if (!argv.empty()) a.argv.insert(a.argv.begin() + 1, add.begin(), add.end());
      break;
    }
    case Lang::kMawk: {
      // mawk buffers its output and its reads from /dev/stdin unless
      // interactive: the request would never leave, the reply never be read.
      bool has = false;
      for (size_t i = 1; i < argv.size(); ++i) {
        if (argv[i] == "-Winteractive" || argv[i] == "-Wi" ||
            (argv[i] == "-W" && i + 1 < argv.size() &&
             (argv[i + 1] == "interactive" || argv[i + 1] == "i"))) {
          has = true;
        }
      }
      if (!has && !argv.empty()) a.argv.insert(a.argv.begin() + 1, {"-W", "interactive"});
      break;
    }
    case Lang::kOther:
      break;
  }
  return a;
}

bool FindFatalLine(std::string_view output, std::string* line) {
  size_t pos = 0;
  while (pos < output.size()) {
    size_t nl = output.find('\n', pos);
    size_t end = nl == std::string_view::npos ? output.size() : nl;
    if (output.compare(pos, 6, "fatal:") == 0) {
      size_t len = end - pos < 200 ? end - pos : 200;
      *line = std::string(output.substr(pos, len));
      return true;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return false;
}

}  // namespace stdmpi
