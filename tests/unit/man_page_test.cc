#include "man_page.h"

#include <catch2/catch.hpp>
#include <set>
#include <sstream>

#include "launch_options.h"
#include "option_table.h"

using namespace stdmpi;

namespace {

bool SetGamma(std::string_view name, const std::string* v, LaunchOptions*, ShimOptions*,
              std::string* err) {
  if (v[0] == "one" || v[0] == "two" || v[0] == "three") return true;
  *err = std::string(name) + " " + v[0] + ": expected one, two or three";
  return false;
}

bool SetAny(std::string_view, const std::string*, LaunchOptions*, ShimOptions*, std::string*) {
  return true;
}

// A table of the shapes the real one has: an option with a value, one with
// two names and a hidden alias, a choice, a file, one for the shim alone and
// one that the help text lacks.
const std::vector<OptionSpec>& Rows() {
  static const std::vector<OptionSpec> rows = {
      {"--alpha", "", "N", 1, Scope::kLauncher, "alpha help\nsecond line", SetAny, nullptr, false},
      {"-b, --beta", "--bet", "", 0, Scope::kLauncher, "beta help", SetAny, nullptr, false},
      {"--gamma", "", "WHAT", 1, Scope::kBoth, "gamma help, with OTHER_VAR", SetGamma, nullptr,
       true},
      {"--file", "", "FILE", 1, Scope::kLauncher, "a file\nstdmpirun --file x -n 1 \\\n  cat",
       SetAny, nullptr, false},
      {"--pair", "", "KEY VALUE", 2, Scope::kLauncher, "two values", SetAny, nullptr, false},
      {"--shim-only", "", "", 0, Scope::kShim, "not for stdmpirun", SetAny, nullptr, false},
      {"--hidden", "", "FILE", 1, Scope::kLauncher, "not in the help text", SetAny, nullptr, false},
      {"-n", "", "N", 1, Scope::kLauncher, "ranks", nullptr, nullptr, false},
  };
  return rows;
}

std::string Usage() {
  const auto& r = Rows();
  return "usage: stdmpirun [OPTIONS] -n N COMMAND\n"
         "       stdmpirun --file FILE\n"
         "\n"
         "Runs things.\n"
         "More text.\n"
         "\n"
         "Second paragraph.\n"
         "\n"
         "examples:\n"
         "  stdmpirun -n 2 cat     # two cats\n"
         "  stdmpirun -n 1 ls\n"
         "\n"
         "first group:\n" +
         OptionHelp(r[7]) + OptionHelp(r[0]) + OptionHelp(r[1]) +
         "  Prose in the first group, with MY_VARIABLE and /etc/prog.conf.\n"
         "    stdmpirun --alpha 3 'literal'\n"
         "\n"
         "second group (with notes):\n" +
         OptionHelp(r[2]) + OptionHelp(r[3]) + OptionHelp(r[4]) +
         "\n"
         "exit status: 0 when fine;\n"
         "1 when not.\n"
         "\n"
         "Closing note.\n";
}

size_t At(const std::string& text, const std::string& part) {
  size_t at = text.find(part);
  INFO(part);
  CHECK(at != std::string::npos);
  return at;
}

// The words of the compgen -W list that follows `before` in a completion script.
std::set<std::string> WordList(const std::string& script, const std::string& before) {
  size_t at = script.find(before);
  REQUIRE(at != std::string::npos);
  at = script.find("compgen -W \"", at) + 12;
  std::istringstream in(script.substr(at, script.find('"', at) - at));
  std::set<std::string> words;
  for (std::string w; in >> w;) words.insert(w);
  return words;
}

// The section title of --help (before its ':') that holds `part`.
std::string HelpSectionOf(const std::string& usage, const std::string& part) {
  size_t at = usage.find(part);
  REQUIRE(at != std::string::npos);
  size_t line = at;
  while (line > 0) {
    line = usage.rfind('\n', line - 1);
    size_t next = usage.find('\n', line + 1);
    if (usage[line + 1] != ' ' && usage[next - 1] == ':') {
      return usage.substr(line + 1, next - line - 2);
    }
  }
  return "";
}

}  // namespace

TEST_CASE("text is escaped for roff") {
  CHECK(RoffEscape("a-b \\n 'q' `x`") == "a\\-b \\en \\(aqq\\(aq \\(gax\\(ga");
  CHECK(RoffEscape(".ends") == "\\&.ends");
  CHECK(RoffEscape("a.b") == "a.b");
  CHECK(RoffEscape("") == "");
}

TEST_CASE("the man page has the sections of --help, in man's order") {
  const std::string page = ManPage(Usage(), Rows(), {"9.8.7", "2025-01-31"});
  CHECK(page.find(".TH STDMPIRUN 1 \"2025-01-31\" \"stdmpi 9.8.7\" \"User Commands\"\n") !=
        std::string::npos);
  size_t last = 0;
  for (const char* sh :
       {".SH NAME\n", ".SH SYNOPSIS\n", ".SH DESCRIPTION\n", ".SH OPTIONS\n", ".SH EXIT STATUS\n",
        ".SH NOTES\n", ".SH ENVIRONMENT\n", ".SH FILES\n", ".SH EXAMPLES\n", ".SH SEE ALSO\n"}) {
    size_t at = At(page, sh);
    INFO(sh);
    CHECK(at > last);
    last = at;
  }
  At(page,
     ".SH SYNOPSIS\n\\fBstdmpirun\\fR [\\fIOPTIONS\\fR] \\fB\\-n\\fR \\fIN\\fR \\fICOMMAND\\fR\n"
     ".br\n\\fBstdmpirun\\fR \\fB\\-\\-file\\fR \\fIFILE\\fR\n.SH DESCRIPTION\n"
     ".PP\nRuns things.\nMore text.\n.PP\nSecond paragraph.\n.SH OPTIONS\n");
  At(page, ".SH EXIT STATUS\n.PP\n0 when fine;\n1 when not.\n.SH NOTES\n.PP\nClosing note.\n");
  At(page,
     ".SH EXAMPLES\n.PP\n.nf\n\\fBstdmpirun \\-n 2 cat\\fR\n.fi\n.RS 4\nTwo cats\n.RE\n"
     ".PP\n.nf\n\\fBstdmpirun \\-n 1 ls\\fR\n.fi\n.SH SEE ALSO\n");
}

TEST_CASE("the man page lists the options in --help's groups, with their prose") {
  const std::string page = ManPage(Usage(), Rows(), {"9.8.7", ""});
  At(page,
     ".SH OPTIONS\n.SS\nFirst group\n"
     ".TP\n\\fB\\-n\\fR \\fIN\\fR\nranks\n"
     ".TP\n\\fB\\-\\-alpha\\fR \\fIN\\fR\nalpha help\nsecond line\n"
     ".TP\n\\fB\\-b\\fR, \\fB\\-\\-beta\\fR\nbeta help\n"
     ".PP\nProse in the first group, with MY_VARIABLE and /etc/prog.conf.\n"
     ".RS 2\n.nf\nstdmpirun \\-\\-alpha 3 \\(aqliteral\\(aq\n.fi\n.RE\n"
     ".SS\nSecond group (with notes)\n"
     ".TP\n\\fB\\-\\-gamma\\fR \\fIWHAT\\fR\ngamma help, with OTHER_VAR\n"
     ".TP\n\\fB\\-\\-file\\fR \\fIFILE\\fR\na file\n.nf\n"
     "  stdmpirun \\-\\-file x \\-n 1 \\e\n    cat\n.fi\n"
     ".TP\n\\fB\\-\\-pair\\fR \\fIKEY\\fR \\fIVALUE\\fR\ntwo values\n"
     // A row the help text lacks is listed all the same; the shim's alone is not.
     ".SS\nOther options\n.TP\n\\fB\\-\\-hidden\\fR \\fIFILE\\fR\nnot in the help text\n"
     ".SH EXIT STATUS\n");
  CHECK(page.find("shim\\-only") == std::string::npos);
  CHECK(page.find("\\-\\-bet\\fR") == std::string::npos);  // a hidden alias
  // Variables the help names are in ENVIRONMENT, with where they are named.
  At(page, ".TP\n\\fBMY_VARIABLE\\fR\nSee \\fIFirst group\\fR under OPTIONS.\n");
  At(page, ".TP\n\\fBOTHER_VAR\\fR\nSee \\fB\\-\\-gamma\\fR.\n");
  At(page, ".TP\n\\fBSTDMPI_RANK\\fR, \\fBSTDMPI_SIZE\\fR\n");
  // So are files, after the fixed ones.
  At(page, ".TP\n\\fI/etc/prog.conf\\fR\nSee \\fIFirst group\\fR under OPTIONS.\n.SH EXAMPLES\n");
  At(page, "\\fIPREFIX/share/modulefiles/stdmpi/9.8.7\\fR\n");
}

TEST_CASE("stdmpirun's man page has every option of its --help, in its group") {
  const std::string usage = LaunchUsage();
  const std::string page = ManPage(usage, OptionTable(), {"1.0", ""});
  CHECK(page.find(".SS\nOther options\n") == std::string::npos);
  int options = 0;
  for (const OptionSpec& o : OptionTable()) {
    if (!(static_cast<int>(o.scope) & static_cast<int>(Scope::kLauncher))) continue;
    ++options;
    std::string first = o.names;
    first = first.substr(0, first.find(", "));
    INFO(o.names);
    const size_t at = At(page, ".TP\n\\fB" + RoffEscape(first) + "\\fR");
    const size_t ss = page.rfind(".SS\n", at);
    REQUIRE(ss != std::string::npos);
    std::string group = HelpSectionOf(usage, OptionHelp(o));
    group[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(group[0])));
    CHECK(page.substr(ss + 4, page.find('\n', ss + 4) - ss - 4) == RoffEscape(group));
  }
  CHECK(options > 30);
  // Nothing man would read as a request that is not one: each line that starts
  // with '.' is a macro this generator writes, none is empty or starts with a
  // blank (which breaks a filled line) or a quote (a request too).
  const std::set<std::string> macros = {".TH", ".SH", ".SS", ".TP", ".PP", ".RS", ".RE", ".nf",
                                        ".fi", ".br", ".nh", ".ad", ".BR", ".I",  ".IR", ".\\\""};
  std::istringstream in(page);
  bool literal = false;
  for (std::string line; std::getline(in, line);) {
    INFO(line);
    CHECK_FALSE(line.empty());
    if (line == ".nf") literal = true;
    if (line == ".fi") literal = false;
    if (!literal) CHECK(line[0] != ' ');
    CHECK(line[0] != '\'');
    if (line[0] == '.') CHECK(macros.count(line.substr(0, line.find(' '))) == 1);
  }
}

TEST_CASE("the bash completion offers what the option table has") {
  const std::string script = BashCompletion(Rows());
  CHECK(WordList(script, "if ((first))") == std::set<std::string>{"--alpha", "-b", "--beta",
                                                                  "--gamma", "--file", "--pair",
                                                                  "--hidden", "-n"});
  CHECK(WordList(script, "    else\n      mapfile") == std::set<std::string>{"-n"});
  At(script, "        --alpha|--gamma|--file|--hidden|-n) want=1 opt=$w ;;\n");
  At(script, "        --pair) want=2 opt=$w ;;\n");
  At(script,
     "      --gamma) mapfile -t COMPREPLY < <(compgen -W \"one two three\" -- \"$cur\") ;;\n");
  At(script, "      --file|--hidden) _stdmpirun_files ;;\n");
  for (const char* key : {"@ONE@", "@TWO@", "@VALUES@", "@SHOWN@", "@APP@"}) {
    CHECK(script.find(key) == std::string::npos);  // every placeholder filled
  }
  At(script, "complete -o bashdefault -o default -F _stdmpirun stdmpirun\n");
}

TEST_CASE("stdmpirun's bash completion has all its options") {
  const std::string script = BashCompletion(OptionTable());
  std::set<std::string> shown = WordList(script, "if ((first))");
  for (const OptionSpec& o : OptionTable()) {
    if (!(static_cast<int>(o.scope) & static_cast<int>(Scope::kLauncher))) continue;
    std::string names = std::string(o.names) + ", ";
    for (size_t p = 0, q; (q = names.find(", ", p)) != std::string::npos; p = q + 2) {
      const std::string name = names.substr(p, q - p);
      INFO(name);
      if (name[0] == '-') CHECK(shown.count(name) == 1);
    }
  }
  CHECK(WordList(script, "    else\n      mapfile") ==
        std::set<std::string>{"-n", "-np", "--np", "--native"});
  CHECK(WordList(script, "      --bind-to) ") ==
        std::set<std::string>{"core", "l3cache", "numa", "package", "none"});
  CHECK(WordList(script, "      --launcher) ") == std::set<std::string>{"auto", "mpirun", "srun"});
  CHECK(WordList(script, "      --isolate) ") == std::set<std::string>{"none", "host"});
  const size_t files = At(script, " _stdmpirun_files ;;\n");
  const size_t line = script.rfind('\n', files) + 1;
  const std::string arm = script.substr(line, files - line);
  CHECK(arm.find("|--hostfile|") != std::string::npos);
  CHECK(arm.find("--tasks|") != std::string::npos);
  At(script, "|--cpus-per-proc|");  // an alias takes its value too
  At(script, "        --mca) want=2 opt=$w ;;\n");
}
