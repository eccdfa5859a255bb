// stdmpi-gendoc: writes stdmpirun(1) and stdmpirun's bash completion from
// its --help text and option table, at build time (not installed).
//
//   stdmpi-gendoc --version V [--date D] [--man FILE] [--bash-completion FILE]
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "launch_options.h"
#include "man_page.h"
#include "option_table.h"

namespace {

bool WriteFile(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "stdmpi-gendoc: %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  stdmpi::ManPageInfo info;
  std::string man, completion;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    std::string* value = flag == "--version"           ? &info.version
                         : flag == "--date"            ? &info.date
                         : flag == "--man"             ? &man
                         : flag == "--bash-completion" ? &completion
                                                       : nullptr;
    if (value == nullptr) {
      std::fprintf(stderr, "stdmpi-gendoc: unknown option %s\n", flag.c_str());
      return 64;
    }
    *value = argv[i + 1];
  }
  if (argc % 2 == 0 || info.version.empty()) {
    std::fprintf(stderr,
                 "usage: stdmpi-gendoc --version V [--date D] [--man FILE] "
                 "[--bash-completion FILE]\n");
    return 64;
  }
  const auto& table = stdmpi::OptionTable();
  if (!man.empty() && !WriteFile(man, stdmpi::ManPage(stdmpi::LaunchUsage(), table, info))) {
    return 1;
  }
  if (!completion.empty() && !WriteFile(completion, stdmpi::BashCompletion(table))) return 1;
  return 0;
}
