#include "config_files.h"

#include <stdlib.h>

#include <algorithm>

#include "fsutil.h"
#include "option_table.h"

namespace stdmpi {

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Options that describe one job, not a default.
bool NamesOneJob(const std::string& option) {
  static const char* const kJob[] = {
      "--np",      "--native", "--tasks", "--resume",  "--resume-failed", "--joblog", "--status",
      "--retries", "--pack",   "--help",  "--version", "--dry-run",       "--apps"};
  return std::find(std::begin(kJob), std::end(kJob), option) != std::end(kJob);
}

// Options whose settings add up rather than replace each other.
bool AddsUp(const std::string& option) {
  return option == "--mca" || option == "-x" || option == "--bind" || option == "--launcher-arg";
}

// The canonical name of the launcher option `name` ("isolate", "--isolate",
// "-x"), or "" with *why.
std::string OptionNamed(const std::string& name, const OptionSpec** spec) {
  for (const std::string& n : {name, "--" + name, "-" + name}) {
    if (n.size() < 2 || n[0] != '-') continue;
    if (const OptionSpec* o = FindOption(n, Scope::kLauncher); o != nullptr) {
      *spec = o;
      return std::string(CanonicalName(*o));
    }
  }
  return "";
}

bool ParseFlag(std::string_view v, bool* on) {
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "true" || s == "yes" || s == "1" || s == "on") {
    *on = true;
  } else if (s == "false" || s == "no" || s == "0" || s == "off") {
    *on = false;
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool ConfigArgs::Set(Setting s, bool on, std::string* err) {
  // Checked as the command line would check it, but named by its source.
  std::vector<std::string> words = {s.option};
  words.insert(words.end(), s.values.begin(), s.values.end());
  LaunchOptions scratch;
  size_t i = 0;
  bool unknown = false;
  if (on && !TakeOption(words, &i, Scope::kLauncher, &scratch, &scratch.shim, err, &unknown)) {
    *err = s.where + ": " + *err;
    return false;
  }
  if (on && i != words.size()) {  // every word is the option's
    *err = s.where + ": " + s.option + " takes " + std::to_string(i - 1) + " value(s)";
    return false;
  }
  // A later setting replaces an earlier one; of those that add up, one with
  // the same key (--mca btl ..., -x NAME).
  settings_.erase(std::remove_if(settings_.begin(), settings_.end(),
                                 [&](const Setting& o) { return SameKey(o, s); }),
                  settings_.end());
  if (on) settings_.push_back(std::move(s));
  return true;
}

bool ConfigArgs::AddFile(std::string_view text, const std::string& where, std::string* err) {
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    const std::string at = where + " line " + std::to_string(line_no);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      *err = at + ": expected \"name = value\", not \"" + std::string(line) + "\"";
      return false;
    }
    const std::string name(Trim(line.substr(0, eq)));
    const std::string_view value = Trim(line.substr(eq + 1));
    const OptionSpec* o = nullptr;
    const std::string option = OptionNamed(name, &o);
    if (option.empty()) {
      *err = at + ": \"" + name + "\" is not an option of stdmpirun (see stdmpirun --help)";
      return false;
    }
    if (NamesOneJob(option)) {
      *err = at + ": " + option + " belongs on the command line of a job, not in a config file";
      return false;
    }
    Setting s{option, {}, at};
    bool on = true;
    if (o->nargs == 0) {
      if (!ParseFlag(value, &on)) {
        *err =
            at + ": " + name + " is a flag: give true or false, not \"" + std::string(value) + "\"";
        return false;
      }
    } else if (o->nargs == 1) {
      s.values.emplace_back(value);
    } else {
      const size_t sp = value.find_first_of(" \t");
      if (sp == std::string_view::npos) {
        *err = at + ": " + name + " needs two values (" + o->arg + "), e.g. mca = btl tcp,self";
        return false;
      }
      s.values.emplace_back(value.substr(0, sp));
      s.values.emplace_back(Trim(value.substr(sp)));
    }
    if (!Set(std::move(s), on, err)) return false;
  }
  return true;
}

bool ConfigArgs::AddWords(std::string_view text, const std::string& where, std::string* err) {
  std::vector<std::string> words;
  if (!SplitWords(text, &words, err)) {
    *err = where + ": " + *err;
    return false;
  }
  for (size_t i = 0; i < words.size();) {
    const std::string& w = words[i];
    const size_t eq = w.find('=');
    const bool inline_value = w.compare(0, 2, "--") == 0 && eq != std::string::npos;
    const OptionSpec* o = nullptr;
    const std::string option = OptionNamed(inline_value ? w.substr(0, eq) : w, &o);
    if (w.empty() || w[0] != '-' || option.empty() || NamesOneJob(option)) {
      *err = where + ": \"" + w + "\" is not " +
             (option.empty() ? "an option of stdmpirun" : "an option for every job") +
             " (it holds options only, e.g. STDMPI_OPTIONS=\"--isolate host --tag-output\")";
      return false;
    }
    Setting s{option, {}, where};
    ++i;
    bool on = true;
    if (inline_value && o->nargs == 0) {
      // --tag-output=false turns off what a file turned on.
      if (!ParseFlag(w.substr(eq + 1), &on)) {
        *err = where + ": " + option + " is a flag: give =true or =false, not \"" + w + "\"";
        return false;
      }
    } else if (inline_value) {
      s.values.push_back(w.substr(eq + 1));
    } else {
      for (int k = 0; k < o->nargs; ++k) {
        if (i == words.size()) {
          *err = where + ": " + option + " needs a value";
          return false;
        }
        s.values.push_back(words[i++]);
      }
    }
    if (!Set(std::move(s), on, err)) return false;
  }
  return true;
}

bool ConfigArgs::SameKey(const Setting& a, const Setting& b) {
  if (a.option != b.option) return false;
  if (!AddsUp(a.option)) return true;
  auto key = [](const Setting& s) {
    const std::string v = s.values.empty() ? "" : s.values[0];
    return s.option == "-x" ? v.substr(0, v.find('=')) : s.option == "--mca" ? v : "\n" + v;
  };
  return key(a) == key(b);
}

std::vector<std::string> ConfigArgs::Words(const std::vector<std::string>& command_line) const {
  // What the command line sets again (an --mca KEY, a -x NAME) is left to it.
  std::vector<Setting> given;
  for (size_t i = 0; i + 1 < command_line.size(); ++i) {
    if (command_line[i] == "--mca" || command_line[i] == "-x") {
      given.push_back({command_line[i], {command_line[i + 1]}, ""});
    }
  }
  std::vector<std::string> words;
  for (const Setting& s : settings_) {
    if (AddsUp(s.option) &&
        std::any_of(given.begin(), given.end(), [&](const Setting& g) { return SameKey(g, s); })) {
      continue;
    }
    words.push_back(s.option);
    words.insert(words.end(), s.values.begin(), s.values.end());
  }
  return words;
}

std::vector<std::string> GivenOptions(const LaunchOptions& l) {
  std::vector<std::string> out;
  const std::vector<OptionSpec>& table = OptionTable();
  for (size_t r = 0; r < l.given.size() && r < table.size(); ++r) {
    if (l.given[r].empty()) continue;
    const std::string name(CanonicalName(table[r]));
    out.push_back(table[r].nargs == 0 ? name : name + " " + l.given[r]);
  }
  return out;
}

bool LoadConfig(ConfigArgs* out, std::string* err) {
  const char* sys = getenv("STDMPI_SYSTEM_CONF");
  std::vector<std::string> files = {sys != nullptr && *sys != '\0' ? sys
                                                                   : "/etc/stdmpi/stdmpi.conf"};
  const char* xdg = getenv("XDG_CONFIG_HOME");
  const char* home = getenv("HOME");
  if (xdg != nullptr && *xdg == '/') {
    files.push_back(std::string(xdg) + "/stdmpi/stdmpi.conf");
  } else if (home != nullptr && *home == '/') {
    files.push_back(std::string(home) + "/.config/stdmpi/stdmpi.conf");
  }
  for (const std::string& f : files) {
    std::string text, why;
    if (access(f.c_str(), F_OK) != 0) continue;
    if (!ReadFileToString(f, &text, &why)) {
      *err = why;
      return false;
    }
    if (!out->AddFile(text, f, err)) return false;
  }
  const char* env = getenv("STDMPI_OPTIONS");
  return env == nullptr || out->AddWords(env, "STDMPI_OPTIONS", err);
}

std::string ConfigArgs::Describe(const std::vector<std::string>& command_line) const {
  std::string s;
  for (const Setting& set : settings_) {
    std::string line = set.option;
    for (const std::string& v : set.values) line += " " + v;
    const bool replaced =
        !AddsUp(set.option) &&
        std::any_of(command_line.begin(), command_line.end(),
                    [&](const std::string& c) { return c.substr(0, c.find(' ')) == set.option; });
    s += line + ": " + set.where + (replaced ? " (replaced by the command line)" : "") + "\n";
  }
  for (const std::string& c : command_line) s += c + ": the command line\n";
  return s;
}

bool SplitWords(std::string_view text, std::vector<std::string>* words, std::string* err) {
  std::string w;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < text.size() &&
                 (text[i + 1] == '"' || text[i + 1] == '\\')) {
        w += text[++i];
      } else {
        w += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      w += text[++i];
      in_word = true;
    } else if (IsSpace(c) || c == '\n') {
      if (in_word) words->push_back(std::move(w));
      w.clear();
      in_word = false;
    } else {
      w += c;
      in_word = true;
    }
  }
  if (quote != 0) {
    *err = std::string("a ") + quote + " quote is not closed";
    return false;
  }
  if (in_word) words->push_back(std::move(w));
  return true;
}

}  // namespace stdmpi
