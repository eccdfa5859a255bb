// Defaults a site or a user sets once: stdmpirun reads, in this order (a
// later one wins),
//   /etc/stdmpi/stdmpi.conf          (or $STDMPI_SYSTEM_CONF)
//   ~/.config/stdmpi/stdmpi.conf     ($XDG_CONFIG_HOME/stdmpi/stdmpi.conf)
//   $STDMPI_OPTIONS                  (options as on the command line)
//   the command line.
// A file has the shape of Open MPI's mca-params.conf: one "name = value" per
// line, the name an option of stdmpirun without its dashes, "#" comments:
//   isolate = host
//   tag-output = true          # a flag: true/false (yes/no, 1/0)
//   mca = btl tcp,self         # two values: KEY VALUE
// Options that name one job (-n, --tasks, --native, ...) are refused there.
// Pure logic: the caller reads the files.
#ifndef STDMPI_LAUNCHER_CONFIG_FILES_H_
#define STDMPI_LAUNCHER_CONFIG_FILES_H_

#include <string>
#include <string_view>
#include <vector>

#include "option_table.h"

namespace stdmpi {

// The settings of every source, merged, as command-line words in front of
// the real command line, with where each word came from.
class ConfigArgs {
 public:
  // A config file's text; `where` names it in messages ("/etc/stdmpi/stdmpi.conf").
  // False with *err ("FILE line 3: ...") on a line that is not a setting.
  bool AddFile(std::string_view text, const std::string& where, std::string* err);
  // $STDMPI_OPTIONS: words split as a shell splits them (quotes and
  // backslashes; no expansion), options only. False with *err.
  bool AddWords(std::string_view text, const std::string& where, std::string* err);

  // The settings as command-line words, in order, for a job whose own
  // command line is `command_line` (an --mca KEY or -x NAME it gives is left
  // to it: mpirun refuses a parameter given twice).
  std::vector<std::string> Words(const std::vector<std::string>& command_line) const;
  // For --dry-run: one line per option not at its default and where it came
  // from ("--isolate host: /etc/stdmpi/stdmpi.conf line 2"); `command_line`:
  // the options given there, each with its values ("--timeout 60").
  std::string Describe(const std::vector<std::string>& command_line) const;

 private:
  struct Setting {
    std::string option;               // "--isolate"
    std::vector<std::string> values;  // 0, 1 or 2
    std::string where;                // "/etc/stdmpi/stdmpi.conf line 3"
  };
  // A later setting of an option replaces an earlier one (a flag set false
  // removes it), except for those that add up (--mca, -x, --bind, ...).
  // False with *err if the value is not one the option takes.
  bool Set(Setting s, bool on, std::string* err);
  // The same option, and for those that add up the same key.
  static bool SameKey(const Setting& a, const Setting& b);
  std::vector<Setting> settings_;
};

// The options given in a parsed command line, each as its name and value
// ("--timeout 60"), in table order (for ConfigArgs::Describe).
std::vector<std::string> GivenOptions(const LaunchOptions& l);

// Reads the files and $STDMPI_OPTIONS into *out (a file that does not exist
// is no error); false with *err naming the file and line.
bool LoadConfig(ConfigArgs* out, std::string* err);

// Splits `text` into words as a shell would (no expansion); false with *err
// on an open quote.
bool SplitWords(std::string_view text, std::vector<std::string>* words, std::string* err);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_CONFIG_FILES_H_
