// libFuzzer target: the lines of the ranks' parts as stdmpirun reads them
// after a job (launcher/json_line.h, job_profile.h; the first byte of a line
// picks its rank), and what it makes of them: the text of --summary and
// --profile and the page of --report. A part lies in a directory a program
// may write to, so any bytes must be taken or refused cleanly.
//
// Beyond "no crash, no sanitizer report": the collective sites kept stay
// within their budget, and nothing a part holds brings markup into the page
// (every '<' and '>' there is the renderer's own, opening a tag it writes).
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "job_profile.h"
#include "json_line.h"
#include "report_html.h"

using namespace stdmpi;

namespace {

// The tags the renderer writes.
bool OwnTag(std::string_view at) {
  static constexpr std::string_view kTags[] = {
      "!DOCTYPE", "html", "head", "meta",  "title", "style",   "body",   "h1",
      "h2",       "p",    "code", "table", "tr",    "th",      "td",     "span",
      "svg",      "line", "text", "g",     "rect",  "details", "summary"};
  if (!at.empty() && at[0] == '/') at.remove_prefix(1);
  for (std::string_view t : kTags) {
    if (at.substr(0, t.size()) == t && at.size() > t.size() &&
        (at[t.size()] == ' ' || at[t.size()] == '>')) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  JobProfileBuilder b(size > 0 ? data[0] / 16.0 : 1.0, 32, 1000);
  for (size_t pos = 0; pos < in.size();) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string::npos) nl = in.size();
    const std::string_view line = std::string_view(in).substr(pos, nl - pos);
    const int rank = line.empty() ? 0 : static_cast<unsigned char>(line[0]) % 8;
    b.Feed(rank, line);
    VisitJsonObject(line, [](std::string_view, std::string_view raw) {
      JsonText(raw);
      JsonNumber(raw);
    });
    pos = nl + 1;
  }
  const JobProfile p = b.Finish(5);
  Check(p.sites <= 1000, "collective sites within their budget");
  Check(p.imbalanced.size() <= 5, "at most `top` imbalanced collectives");
  FormatSummary(p, 4);
  FormatProfile(p, 4);
  ReportInfo info;
  info.command = in.substr(0, 200);
  info.expected = 3;
  const std::string h = RenderReportHtml(p, info);
  size_t opened = 0, closed = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    if (h[i] == '<') {
      ++opened;
      Check(OwnTag(std::string_view(h).substr(i + 1)), "every tag in the page is the renderer's");
    }
    closed += h[i] == '>';
  }
  Check(opened == closed, "no stray < or > in the page");
  return 0;
}
