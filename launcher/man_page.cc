#include "man_page.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace stdmpi {

namespace {

bool ForLauncher(const OptionSpec& o) {
  return (static_cast<int>(o.scope) & static_cast<int>(Scope::kLauncher)) != 0;
}

std::vector<std::string> Split(std::string_view text, std::string_view sep) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t at = text.find(sep, start);
    out.emplace_back(text.substr(start, at - start));
    if (at == std::string_view::npos) return out;
    start = at + sep.size();
  }
}

std::vector<std::string> Lines(std::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  return Split(text, "\n");
}

size_t Indent(const std::string& line) {
  size_t n = line.find_first_not_of(' ');
  return n == std::string::npos ? line.size() : n;
}

// --- the help text, read into parts ------------------------------------------

struct Entry {
  enum Kind { kText, kLiteral, kBreak, kOption } kind;
  std::string text;                 // kText, kLiteral: the line, unindented
  const OptionSpec* row = nullptr;  // kOption
};

struct Section {
  std::string title;
  std::vector<Entry> entries;
};

struct Help {
  std::vector<std::string> synopsis;     // "stdmpirun [OPTIONS] ..."
  std::vector<std::string> description;  // lines; "" between paragraphs
  std::vector<Section> sections;         // "examples" too
  std::vector<std::string> closing;      // lines after the sections, as description
};

// A section's lines as entries: where the text of a row's OptionHelp starts
// (the longest, should one row's text begin another's), that option; any
// other line is prose, a literal one (an example, output) where it is
// indented further than the section's prose.
std::vector<Entry> Entries(const std::vector<std::string>& body,
                           const std::vector<OptionSpec>& options, std::vector<bool>* shown) {
  std::string text;
  for (const std::string& l : body) text += l + "\n";
  std::vector<std::string> helps;
  for (const OptionSpec& o : options) helps.push_back(ForLauncher(o) ? OptionHelp(o) : "");
  std::vector<Entry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = options.size();
    for (size_t k = 0; k < options.size(); ++k) {
      if (!helps[k].empty() && text.compare(pos, helps[k].size(), helps[k]) == 0 &&
          (best == options.size() || helps[k].size() > helps[best].size())) {
        best = k;
      }
    }
    if (best < options.size()) {
      out.push_back({Entry::kOption, "", &options[best]});
      (*shown)[best] = true;
      pos += helps[best].size();
      continue;
    }
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    size_t indent = Indent(line);
    if (indent == line.size()) {
      out.push_back({Entry::kBreak, ""});
    } else if (indent > 2) {
      out.push_back({Entry::kLiteral, line.substr(std::min<size_t>(indent, 4))});
    } else {
      out.push_back({Entry::kText, line.substr(indent)});
    }
  }
  return out;
}

Help ReadHelp(const std::string& usage, const std::vector<OptionSpec>& options,
              std::vector<bool>* shown) {
  Help h;
  std::vector<std::string> lines = Lines(usage);
  size_t i = 0;
  for (; i < lines.size() && !lines[i].empty(); ++i) {
    std::string l = lines[i].rfind("usage:", 0) == 0 ? lines[i].substr(6) : lines[i];
    h.synopsis.push_back(l.substr(Indent(l)));
  }
  while (i < lines.size()) {
    const std::string& l = lines[i];
    if (l.empty()) {
      ++i;
    } else if (Indent(l) == 0 && l.back() == ':') {  // "title:" and its indented lines
      size_t j = i + 1;
      while (j < lines.size() && (lines[j].empty() || Indent(lines[j]) > 0)) ++j;
      size_t end = j;
      while (end > i + 1 && lines[end - 1].empty()) --end;
      std::vector<std::string> body(lines.begin() + i + 1, lines.begin() + end);
      h.sections.push_back({l.substr(0, l.size() - 1), Entries(body, options, shown)});
      i = j;
    } else {
      std::vector<std::string>& prose = h.sections.empty() ? h.description : h.closing;
      if (!prose.empty() && lines[i - 1].empty()) prose.push_back("");
      prose.push_back(l);
      ++i;
    }
  }
  return h;
}

// --- roff ----------------------------------------------------------------------

// A usage line or an option's argument: options ("-n", "--np") and the
// program's name in bold, placeholders ("N", "COMMAND", "ARGS...") in italics.
std::string Marked(std::string_view s) {
  std::string out;
  size_t i = 0;
  auto run = [&](auto in_run) {
    size_t j = i;
    while (j < s.size() && in_run(static_cast<unsigned char>(s[j]))) ++j;
    std::string_view r = s.substr(i, j - i);
    i = j;
    return r;
  };
  while (i < s.size()) {
    const unsigned char c = s[i];
    const bool word_start = i == 0 || std::string_view(" [|,").find(s[i - 1]) != std::string::npos;
    if (word_start && (c == '-' || s.substr(i).rfind("stdmpirun", 0) == 0)) {
      out +=
          "\\fB" + RoffEscape(run([](int ch) { return std::isalnum(ch) || ch == '-'; })) + "\\fR";
    } else if (word_start && std::isupper(c)) {
      out += "\\fI" + RoffEscape(run([](int ch) {
               return std::isupper(ch) || std::isdigit(ch) || ch == '_';
             })) +
             "\\fR";
    } else {
      out += RoffEscape(s.substr(i, 1));
      ++i;
    }
  }
  return out;
}

// "a, b" as "\fBa\fR, \fBb\fR" (font 'B'), or in italics ('I').
std::string InFont(std::string_view list, char font) {
  std::string out;
  for (const std::string& item : Split(list, ", ")) {
    out += (out.empty() ? "" : ", ") + ("\\f" + std::string(1, font) + RoffEscape(item) + "\\fR");
  }
  return out;
}

std::string OptionLabel(const OptionSpec& o) {
  return InFont(o.names, 'B') + (*o.arg != '\0' ? " " + Marked(o.arg) : "");
}

// Writes entries as roff: an option as a tagged paragraph, prose as plain
// paragraphs, literal lines unfilled and indented.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  ~Writer() { Close(); }

  void Text(const std::string& line) {
    if (state_ == kLiteral) Close();
    if (state_ != kText) *out_ += ".PP\n";
    *out_ += RoffEscape(line) + "\n";
    state_ = kText;
  }
  // A line kept as it is, indented by 2 (in an option's text: the text's own
  // indentation, which .RS would not keep).
  void Literal(const std::string& line, bool in_option = false) {
    if (state_ != kLiteral) {
      *out_ += in_option ? ".nf\n" : ".RS 2\n.nf\n";
      inset_ = !in_option;
    }
    *out_ += RoffEscape((in_option ? "  " : "") + line) + "\n";
    state_ = kLiteral;
  }
  void Break() {
    Close();
    state_ = kNone;
  }
  void Option(const OptionSpec& o) {
    Close();
    *out_ += ".TP\n" + OptionLabel(o) + "\n";
    // A help line that shows a command (or continues one) is kept as it is.
    state_ = kOption;
    for (const std::string& line : Split(o.help, "\n")) {
      if (line.rfind("stdmpirun ", 0) == 0 || line.rfind(" ", 0) == 0) {
        Literal(line, true);
      } else {
        Close();
        *out_ += RoffEscape(line) + "\n";
      }
    }
    Close();
    state_ = kOption;
  }
  void Entries(const std::vector<Entry>& entries) {
    for (const Entry& e : entries) {
      if (e.kind == Entry::kOption) Option(*e.row);
      if (e.kind == Entry::kText) Text(e.text);
      if (e.kind == Entry::kLiteral) Literal(e.text);
      if (e.kind == Entry::kBreak) Break();
    }
    Break();
  }
  // Paragraphs of lines ("" between them).
  void Prose(const std::vector<std::string>& lines) {
    for (const std::string& l : lines) {
      if (l.empty()) {
        Break();
      } else {
        Text(l);
      }
    }
    Break();
  }

 private:
  void Close() {
    if (state_ == kLiteral) {
      *out_ += inset_ ? ".fi\n.RE\n" : ".fi\n";
      state_ = kText;
    }
  }

  std::string* out_;
  enum { kNone, kText, kLiteral, kOption } state_ = kNone;
  bool inset_ = false;  // the literal lines are in an .RS
};

void Heading(const char* macro, const std::string& title, std::string* out) {
  *out += std::string(".") + macro + "\n" + RoffEscape(title) + "\n";
}

std::string Capitalized(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// "  stdmpirun -n 4 python3 pi.py    # 4 ranks" as a command and its comment.
void Examples(const Section& s, std::string* out) {
  *out += ".SH EXAMPLES\n";
  for (const Entry& e : s.entries) {
    if (e.kind != Entry::kText) continue;
    size_t hash = e.text.find("  #");
    std::string command = e.text.substr(0, hash);
    command.erase(command.find_last_not_of(' ') + 1);
    *out += ".PP\n.nf\n\\fB" + RoffEscape(command) + "\\fR\n.fi\n";
    if (hash != std::string::npos) {
      std::string comment = e.text.substr(e.text.find_first_not_of("# ", hash));
      *out += ".RS 4\n" + RoffEscape(Capitalized(comment)) + "\n.RE\n";
    }
  }
}

// --- ENVIRONMENT ---------------------------------------------------------------

struct Variable {
  const char* names;  // ", "-separated
  const char* text;
};

// function_lengths: table
const std::vector<Variable>& KnownVariables() {
  static const std::vector<Variable> known = {
      {"STDMPI_RANK, STDMPI_SIZE",
       "Set for each rank's program: its rank (from 0) and the number of ranks. A bridge "
       "that finds no STDMPI_RANK answers as the only rank of a job."},
      {"STDMPI_LOCAL_RANK, STDMPI_LOCAL_SIZE",
       "Set for each rank's program: its rank among the ranks on the same machine, and "
       "their number."},
      {"STDMPI_APPNUM",
       "Set for each rank's program: which program of a multi-program (:) job it is, from 0."},
      {"STDMPI_HOME, STDMPI_NCL, STDMPI_BASH, STDMPI_AWK",
       "Set for each rank's program: where the bridges are (PREFIX/share/stdmpi) and the "
       "NCL, bash and awk bridges' files. The shim fills in $STDMPI_NAME in a command's "
       "arguments, so that stdmpirun -n 4 awk -f '$STDMPI_AWK' -f prog.awk works."},
      {"STDMPI_TASK_ID, STDMPI_TASK_ATTEMPT",
       "Set in a task of a task farm (--tasks): its number (from 1, in file order) and "
       "which attempt it is."},
      {"STDMPI_MERGE_OUTPUT",
       "0: the ranks' output goes through mpirun or srun instead of stdmpirun's "
       "line-by-line merge."},
      {"STDMPI_SHM", "0: no memory shared between a rank and its program for large arrays."},
      {"STDMPI_SHM_MIN_BYTES", "The payload size from which the bridges use the shared memory."},
      {"STDMPI_START_EARLY",
       "0: programs start after MPI_Init, not while their rank's MPI starts."},
      {"STDMPI_IMAGE_CACHE",
       "Where --image unpacks tar archives (default: $XDG_CACHE_HOME/stdmpi/images, else "
       "~/.cache/stdmpi/images)."},
      {"SLURM_JOB_ID, PBS_NODEFILE, LSB_DJOB_HOSTFILE, LSB_MCPU_HOSTS",
       "The batch job stdmpirun runs in, which decides the launcher, the hosts and the "
       "default -n."},
      {"OMPI_MCA_*",
       "Open MPI's parameters, which mpirun reads as always (OMPI_MCA_pml, "
       "OMPI_MCA_plm_rsh_agent for ssh, ...)."},
  };
  return known;
}

// What the help text names besides options, each with where it does so (an
// option's name, a group of OPTIONS): variables (NAME_LIKE_THIS, two parts or
// more) for ENVIRONMENT, and files (/etc/..., ~/...) for FILES.
struct Mentions {
  std::map<std::string, std::string> variables, files;
};

void FindMentions(const std::string& text, const std::string& where, Mentions* found) {
  auto in_word = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_./~-").find(c) != std::string_view::npos;
  };
  for (size_t i = 0, j; i < text.size(); i = j + 1) {
    for (j = i; j < text.size() && in_word(text[j]);) ++j;
    std::string word = text.substr(i, j - i);
    while (!word.empty() && word.back() == '.') word.pop_back();  // a sentence's end
    const bool variable = word.size() > 2 && std::isupper(static_cast<unsigned char>(word[0])) &&
                          word.find('_') != std::string::npos && word.back() != '_' &&
                          std::all_of(word.begin(), word.end(), [](char c) {
                            return std::isupper(static_cast<unsigned char>(c)) ||
                                   std::isdigit(static_cast<unsigned char>(c)) || c == '_';
                          });
    if (variable) found->variables.emplace(word, where);
    if (word.rfind("/etc/", 0) == 0 || word.rfind("~/", 0) == 0) found->files.emplace(word, where);
  }
}

Mentions Collect(const Help& h) {
  Mentions found;
  for (const Section& s : h.sections) {
    for (const Entry& e : s.entries) {
      if (e.kind == Entry::kOption) {
        FindMentions(e.row->help, InFont(Split(e.row->names, ", ").back(), 'B'), &found);
      } else if (s.title == "examples") {
        FindMentions(e.text, "EXAMPLES", &found);
      } else {
        FindMentions(e.text, "\\fI" + RoffEscape(Capitalized(s.title)) + "\\fR under OPTIONS",
                     &found);
      }
    }
  }
  for (const auto* prose : {&h.description, &h.closing}) {
    for (const std::string& l : *prose) FindMentions(l, "DESCRIPTION", &found);
  }
  return found;
}

void Environment(std::map<std::string, std::string> named, std::string* out) {
  *out += ".SH ENVIRONMENT\n";
  for (const Variable& v : KnownVariables()) {
    for (const std::string& name : Split(v.names, ", ")) named.erase(name);
    *out += ".TP\n" + InFont(v.names, 'B') + "\n" + RoffEscape(v.text) + "\n";
  }
  for (const auto& [name, where] : named) {
    if (name.rfind("OMPI_MCA_", 0) == 0) continue;
    *out += ".TP\n" + InFont(name, 'B') + "\nSee " + where + ".\n";
  }
}

// --- the fixed parts -----------------------------------------------------------

void Files(const ManPageInfo& info, std::map<std::string, std::string> named, std::string* out) {
  const std::pair<std::string, std::string> files[] = {
      {"PREFIX/bin/stdmpi-shim, PREFIX/bin/stdmpi-init, PREFIX/bin/stdmpi-taskrun",
       "Each rank: the relay between MPI and the rank's program, the supervisor between the two, "
       "and the worker of a task farm. stdmpirun finds them next to itself."},
      {"PREFIX/share/stdmpi/", "The bridges for Python, R, NCL, bash and awk."},
      {"PREFIX/include/stdmpi.h",
       "The C bridge, a header alone: cc $(pkg-config --cflags stdmpi), or find_package(stdmpi) "
       "and the target stdmpi::stdmpi in CMake."},
      {"PREFIX/lib/stdmpi/libstdmpi-preload.so",
       "Loaded into programs whose output must be line-buffered (--line-buffered, NCL)."},
      {"PREFIX/share/doc/stdmpi/examples/",
       "Nilakantha's series for pi in every bridged language, and SLURM and PBS job scripts."},
      {"PREFIX/share/modulefiles/stdmpi/" + info.version,
       "A module file for Lmod and Environment Modules: module use PREFIX/share/modulefiles; "
       "module load stdmpi."},
      {"~/.cache/stdmpi/images", "Where --image unpacks tar archives (see STDMPI_IMAGE_CACHE)."},
  };
  *out +=
      ".SH FILES\nPREFIX is the directory above the one that holds stdmpirun, such as\n"
      ".I /usr\nor\n.IR /opt/stdmpi .\n";
  for (const auto& [names, text] : files) {
    for (const std::string& name : Split(names, ", ")) named.erase(name);
    *out += ".TP\n" + InFont(names, 'I') + "\n" + RoffEscape(text) + "\n";
  }
  for (const auto& [name, where] : named) {
    *out += ".TP\n" + InFont(name, 'I') + "\nSee " + where + ".\n";
  }
}

void Closing(const Help& h, std::string* out) {
  // "exit status: 0 when ..." makes EXIT STATUS; other paragraphs, NOTES.
  std::vector<std::vector<std::string>> paragraphs(1);
  for (const std::string& l : h.closing) {
    if (l.empty()) {
      paragraphs.emplace_back();
    } else {
      paragraphs.back().push_back(l);
    }
  }
  std::vector<std::string> notes;
  for (std::vector<std::string>& p : paragraphs) {
    if (p.empty()) continue;
    size_t colon = p[0].find(": ");
    const std::string head = colon == std::string::npos ? "" : p[0].substr(0, colon);
    if (!head.empty() && head.size() <= 30 && std::all_of(head.begin(), head.end(), [](char c) {
          return c == ' ' || (c >= 'a' && c <= 'z');
        })) {
      std::string title = head;
      for (char& c : title) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      *out += ".SH " + title + "\n";  // letters and blanks: one macro line
      p[0] = Capitalized(p[0].substr(colon + 2));
      Writer(out).Prose(p);
    } else {
      if (!notes.empty()) notes.push_back("");
      notes.insert(notes.end(), p.begin(), p.end());
    }
  }
  if (!notes.empty()) {
    *out += ".SH NOTES\n";
    Writer(out).Prose(notes);
  }
}

void Header(const Help& h, const ManPageInfo& info, std::string* out) {
  *out += ".\\\" stdmpirun(1), made by stdmpi-gendoc from stdmpirun's --help and option table.\n";
  *out += ".\\\" Do not edit: change launcher/launch_options.cc or libshim/option_table.cc.\n";
  *out += ".TH STDMPIRUN 1 \"" + info.date + "\" \"stdmpi " + info.version +
          "\" \"User Commands\"\n.nh\n.ad l\n";
  *out +=
      ".SH NAME\nstdmpirun \\- run any program that prints a line and reads a line as the "
      "ranks of an MPI job\n.SH SYNOPSIS\n";
  for (size_t i = 0; i < h.synopsis.size(); ++i) {
    *out += (i ? ".br\n" : "") + Marked(h.synopsis[i]) + "\n";
  }
  *out += ".SH DESCRIPTION\n";
  Writer(out).Prose(h.description);
}

// --- bash completion -------------------------------------------------------------

std::string Joined(const std::vector<std::string>& words, const char* sep) {
  std::string s;
  for (const std::string& w : words) s += (s.empty() ? "" : sep) + w;
  return s;
}

// Words that can stand in a shell script as they are, from a ", " list.
std::vector<std::string> ShellWords(const char* list, bool options) {
  std::vector<std::string> out;
  for (const std::string& w : Split(list, ", ")) {
    const bool plain = !w.empty() && std::all_of(w.begin(), w.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
    if (plain && (!options || w[0] == '-')) out.push_back(w);
  }
  return out;
}

// The values an option takes when they are a few words: those its setter
// names when it refuses a value ("--bind-to ?: expected core, numa or none").
std::vector<std::string> Choices(const OptionSpec& o) {
  if (o.set == nullptr || o.nargs != 1) return {};
  LaunchOptions l;
  ShimOptions s;
  std::string err;
  const std::string refused = "?";
  if (o.set(Split(o.names, ", ").back(), &refused, &l, &s, &err)) return {};
  size_t at = err.find(": expected ");
  if (at == std::string::npos) return {};
  std::vector<std::string> words;
  for (const std::string& part : Split(err.substr(at + 11), ", ")) {
    for (const std::string& w : Split(part, " or ")) words.push_back(w);
  }
  const std::string joined = Joined(words, ", ");
  if (words.size() < 2 || ShellWords(joined.c_str(), false).size() != words.size()) return {};
  return words;
}

bool TakesFile(std::string_view arg) {
  for (const char* kind : {"FILE", "ROOT", "LAYER", "SRC", "DIR", "PATH"}) {
    if (arg.find(kind) != std::string_view::npos) return true;
  }
  return false;
}

const char kCompletion[] =
    R"(# bash completion for stdmpirun(1), made by stdmpi-gendoc from stdmpirun's
# option table: do not edit.
_stdmpirun_files() {
  if declare -F _filedir >/dev/null; then
    _filedir
  else
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
}

_stdmpirun() {
  local cur prev words cword
  if declare -F _get_comp_words_by_ref >/dev/null; then
    _get_comp_words_by_ref -n =: cur prev words cword
  else
    words=("${COMP_WORDS[@]}") cword=$COMP_CWORD cur=${COMP_WORDS[COMP_CWORD]}
  fi
  COMPREPLY=()
  # The words before the cursor: options and their values, then a command and
  # its arguments; ':' starts the next program of a multi-program job.
  local i w want=0 opt= cmd=0 first=1
  for ((i = 1; i < cword; i++)); do
    w=${words[i]}
    if ((want > 0)); then
      ((want--))
    elif ((cmd > 0)); then
      [[ $w == : ]] && cmd=0 first=0
    else
      case $w in
        --) cmd=$((i + 1)) ;;
        :) first=0 ;;
        --*=*) ;;
        @ONE@) want=1 opt=$w ;;
        @TWO@) want=2 opt=$w ;;
        -*) ;;
        *) cmd=$i ;;
      esac
    fi
  done
  if ((want == 0 && cmd == 0)) && [[ $cur == --*=* ]]; then
    opt=${cur%%=*} cur=${cur#*=} want=1
  fi
  if ((want > 0)); then
    case $opt in
@VALUES@      *) compopt +o default 2>/dev/null ;;
    esac
    return 0
  fi
  if ((cmd > 0 && cmd < cword)); then
    # The command's arguments: its own completion, where bash-completion has it.
    if declare -F _command_offset >/dev/null && ((${#words[@]} == ${#COMP_WORDS[@]})); then
      _command_offset "$cmd"
    fi
    return 0
  fi
  if ((cmd == 0)) && [[ $cur == -* ]]; then
    if ((first)); then
      mapfile -t COMPREPLY < <(compgen -W "@SHOWN@" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "@APP@" -- "$cur")
    fi
    return 0
  fi
  mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
}
complete -o bashdefault -o default -F _stdmpirun stdmpirun
)";

std::string Replaced(std::string text, const std::string& key, const std::string& value) {
  size_t at = text.find(key);
  if (at != std::string::npos) text.replace(at, key.size(), value);
  return text;
}

}  // namespace

std::string RoffEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\e";
        break;
      case '-':
        out += "\\-";
        break;
      case '\'':
        out += "\\(aq";
        break;
      case '`':
        out += "\\(ga";
        break;
      default:
        out += c;
    }
  }
  if (!out.empty() && out[0] == '.') out.insert(0, "\\&");
  return out;
}

std::string ManPage(const std::string& usage, const std::vector<OptionSpec>& options,
                    const ManPageInfo& info) {
  std::vector<bool> shown(options.size(), false);
  const Help h = ReadHelp(usage, options, &shown);
  std::string out;
  Header(h, info, &out);
  out += ".SH OPTIONS\n";
  const Section* examples = nullptr;
  for (const Section& s : h.sections) {
    if (s.title == "examples") {
      examples = &s;
      continue;
    }
    Heading("SS", Capitalized(s.title), &out);
    Writer(&out).Entries(s.entries);
  }
  bool others = false;
  for (size_t k = 0; k < options.size(); ++k) {
    if (shown[k] || !ForLauncher(options[k])) continue;
    if (!others) Heading("SS", "Other options", &out);
    others = true;
    Writer(&out).Option(options[k]);
  }
  Closing(h, &out);
  const Mentions mentions = Collect(h);
  Environment(mentions.variables, &out);
  Files(info, mentions.files, &out);
  if (examples != nullptr) Examples(*examples, &out);
  out +=
      ".SH SEE ALSO\n.BR mpirun (1),\n.BR srun (1),\n.BR module (1),\n.BR pkg\\-config (1)\n"
      ".PP\nThe protocol, the bridges and task farms: docs/protocol.md, docs/bridges.md and\n"
      "docs/tasks.md in stdmpi's source.\n";
  return out;
}

std::string BashCompletion(const std::vector<OptionSpec>& options) {
  std::vector<std::string> shown, app, one, two, files;
  std::string values;  // the arms of a case on the option that wants a value
  for (const OptionSpec& o : options) {
    std::vector<std::string> names = ShellWords(o.names, true);
    if (!ForLauncher(o) || names.empty()) continue;
    shown.insert(shown.end(), names.begin(), names.end());
    if (o.set == nullptr) app.insert(app.end(), names.begin(), names.end());  // -n, --native
    std::vector<std::string> all = names, aliases = ShellWords(o.aliases, true);
    all.insert(all.end(), aliases.begin(), aliases.end());
    if (o.nargs == 1) one.insert(one.end(), all.begin(), all.end());
    if (o.nargs == 2) two.insert(two.end(), all.begin(), all.end());
    std::vector<std::string> choices = Choices(o);
    if (!choices.empty()) {
      values += "      " + Joined(all, "|") + ") mapfile -t COMPREPLY < <(compgen -W \"" +
                Joined(choices, " ") + "\" -- \"$cur\") ;;\n";
    } else if (o.nargs > 0 && TakesFile(o.arg)) {
      files.insert(files.end(), all.begin(), all.end());
    }
  }
  if (!files.empty()) values += "      " + Joined(files, "|") + ") _stdmpirun_files ;;\n";
  std::string script = Replaced(kCompletion, "@VALUES@", values);
  script = Replaced(script, "@ONE@", one.empty() ? "-@" : Joined(one, "|"));
  script = Replaced(script, "@TWO@", two.empty() ? "-@" : Joined(two, "|"));
  script = Replaced(script, "@SHOWN@", Joined(shown, " "));
  return Replaced(script, "@APP@", Joined(app, " "));
}

}  // namespace stdmpi
