// stdmpirun's manual page and its bash completion, made from what its --help
// is made from: the help text (LaunchUsage(), which groups the options) and
// the option table (option_table.h). Neither is written by hand: an option
// added to the table is in both at the next build, where stdmpi-gendoc
// (man_page_main.cc) writes them.
//
// Pure logic: text in, text out.
#ifndef STDMPI_LAUNCHER_MAN_PAGE_H_
#define STDMPI_LAUNCHER_MAN_PAGE_H_

#include <string>
#include <string_view>
#include <vector>

#include "option_table.h"

namespace stdmpi {

struct ManPageInfo {
  std::string version;  // "0.1.0": the page's footer, the module file's name
  std::string date;     // "2025-01-31" or "": the page's footer
};

// The man(7) source of stdmpirun(1). `usage` is a --help text shaped as
// LaunchUsage() is: usage lines (SYNOPSIS), a description, "examples:"
// (EXAMPLES), sections of options ("title:" and indented entries: OPTIONS,
// one subsection each) and closing paragraphs (one that starts "exit
// status: " makes EXIT STATUS, the others NOTES). An entry of a section is
// an option where it is the OptionHelp() of one of the stdmpirun rows of
// `options`, else prose, kept where --help has it; rows --help lacks come
// last. ENVIRONMENT lists the variables named anywhere in the help too.
std::string ManPage(const std::string& usage, const std::vector<OptionSpec>& options,
                    const ManPageInfo& info);

// Text made safe for a roff text line: backslashes, dashes and quotes
// escaped (a '-' is "\-", a dash to copy and paste), a leading '.' made
// literal.
std::string RoffEscape(std::string_view text);

// A bash completion script for stdmpirun (a function _stdmpirun, registered
// with `complete`): the names --help shows of the stdmpirun rows of
// `options` (after a ':' only those of -n and --native), the values of an
// option that takes one of a few words (from its own "expected a, b or c"
// message), files after an option that takes a file, then command names,
// then the command's own completion (bash-completion's _command_offset).
std::string BashCompletion(const std::vector<OptionSpec>& options);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_MAN_PAGE_H_
