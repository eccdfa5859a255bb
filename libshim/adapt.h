// What the shim changes so that a language works with no effort from its user.
//
// Pure logic: given the command and the real path of its executable (symlinks
// followed: on Debian `awk` is often mawk), say which arguments to add and
// which treatment the child needs.
#ifndef STDMPI_LIBSHIM_ADAPT_H_
#define STDMPI_LIBSHIM_ADAPT_H_

#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

enum class Lang { kOther, kNcl, kMawk };

// Recognizes the programs that need help from the executable's real path.
Lang DetectLanguage(std::string_view real_path);

struct Adaptation {
  // The command to run: mawk gets -W interactive, ncl gets -Q -n.
  std::vector<std::string> argv;
  // Make C stdio line-buffered in the child (LD_PRELOAD of the shim's library).
  bool line_buffered = false;
  // NCL: when the script has ended, NCL reads further commands from its stdin
  // (the reply pipe) instead of exiting; the shim must tell it to exit.
  bool ends_by_reading_stdin = false;
  // NCL reports errors as "fatal:" lines on stdout and still exits 0; such a
  // line makes the rank fail.
  bool fatal_lines = false;
};

// `line_buffered`: the user asked for it (--line-buffered) for any program.
Adaptation AdaptCommand(const std::vector<std::string>& argv, Lang lang, bool line_buffered);

// True if `output` (whole lines) holds a line starting with "fatal:"; sets
// *line to the first such line, without its LF, cut to 200 bytes.
bool FindFatalLine(std::string_view output, std::string* line);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_ADAPT_H_
