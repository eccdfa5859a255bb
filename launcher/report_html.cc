#include "report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

namespace stdmpi {

namespace {

constexpr int kMaxRows = 64;   // timeline rows; more ranks are grouped
constexpr int kMaxCells = 32;  // matrix cells a side; more ranks are grouped
constexpr double kWidth = 960, kLabel = 84, kPlot = kWidth - kLabel - 12;

const char* const kCss = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
margin:24px auto;max-width:1000px;padding:0 16px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;
border-bottom:1px solid #ddd;padding-bottom:4px}
code{background:#f4f4f4;padding:2px 5px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}
th{background:#fafafa;font-weight:600}td.l,th.l{text-align:left}
.note{color:#666;font-size:12.5px}.bad{color:#b00020;font-weight:600}
.bar{display:inline-block;width:80px;height:9px;background:#4c78a8;vertical-align:middle;
margin-right:6px}.bar span{display:block;height:9px;background:#f58518}
table.matrix td{min-width:44px;font-size:12px}
.c{fill:#4c78a8}.m{fill:#f58518}.i{fill:#999}.ax{stroke:#ccc;stroke-width:1}
svg text{font-size:11px;fill:#444}.key{display:inline-block;width:12px;height:12px;
vertical-align:middle;margin:0 4px 0 12px}
)";

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

std::string Num2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

std::string Pct(double part, double whole) {
  const double p = whole > 0 ? std::clamp(100.0 * part / whole, 0.0, 100.0) : 0;
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.0f%%", p);
  return buf;
}

// A bar of the share in MPI (orange) over computing (blue), and the share.
std::string ShareBar(double part, double whole) {
  return "<span class=\"bar\"><span style=\"width:" + Pct(part, whole) + "\"></span></span>" +
         Pct(part, whole);
}

std::string Td(const std::string& s, bool left = false) {
  return std::string(left ? "<td class=\"l\">" : "<td>") + s + "</td>";
}

std::string Exit(const RankProfile& r) {
  std::string s = r.status.compare(0, 5, "exit ") == 0 ? r.status.substr(5) : r.status;
  if (s.empty()) s = "?";
  return r.code > 0 ? "<span class=\"bad\">" + HtmlEscape(s) + "</span>" : HtmlEscape(s);
}

std::string Header(const JobProfile& p, const ReportInfo& info) {
  std::map<std::string, int> hosts;
  int with = 0;
  for (const RankProfile& r : p.ranks) {
    if (!r.has_summary) continue;
    ++with;
    ++hosts[r.host];
  }
  std::string h = "<h1>Where the time went</h1>\n<p><code>" + HtmlEscape(info.command) +
                  "</code></p>\n<p>" + std::to_string(with) + " rank" + (with == 1 ? "" : "s") +
                  " on " + std::to_string(hosts.size()) + " host" + (hosts.size() == 1 ? "" : "s") +
                  ", " + FormatDuration(p.duration) +
                  (info.started.empty() ? "" : ", started " + HtmlEscape(info.started)) + "</p>\n";
  return h;
}

std::string SummarySection(const JobProfile& p, int expected) {
  std::string s =
      "<h2 id=\"summary\">Summary</h2>\n<table>\n<tr><th>rank</th><th class=\"l\">host</th>"
      "<th>wall</th><th>CPU</th><th>max RSS</th><th>requests</th><th>sent</th><th>received</th>"
      "<th>in MPI</th><th class=\"l\">MPI share</th><th class=\"l\">exit</th></tr>\n";
  for (const RankProfile& r : p.ranks) {
    if (!r.has_summary) continue;
    s += "<tr>" + Td(std::to_string(r.rank)) + Td(HtmlEscape(r.host), true) +
         Td(FormatDuration(r.wall())) + Td(FormatDuration(r.cpu())) +
         Td(FormatBytesShort(r.max_rss_kb * 1024)) + Td(std::to_string(r.requests)) +
         Td(FormatBytesShort(r.sent)) + Td(FormatBytesShort(r.received)) +
         Td(FormatDuration(r.mpi)) + Td(ShareBar(std::min(r.mpi, r.wall()), r.wall()), true) +
         Td(Exit(r), true) + "</tr>\n";
  }
  s += "</table>\n<p class=\"note\">wall: the program's run; CPU: user + system time of the "
       "program and what it started; sent, received: the data of its requests; in MPI: from "
       "each request to its reply.";
  for (int r = 0; r < expected; ++r) {
    const RankProfile* f = p.Find(r);
    if (f == nullptr || !f->has_summary) s += " No summary from rank " + std::to_string(r) + ".";
  }
  return s + "</p>\n";
}

// A row of the timeline: one rank, or a group of ranks averaged.
struct TimelineRow {
  std::string label, tip;
  double start = -1, end = -1, init_begin = -1, init_end = -1;
  std::vector<float> busy;  // seconds in MPI per bucket, averaged over the members
};

std::vector<TimelineRow> TimelineRows(const JobProfile& p) {
  const size_t n = p.ranks.size();
  const size_t g = (n + kMaxRows - 1) / kMaxRows;
  std::vector<TimelineRow> rows;
  for (size_t i = 0; i < n; i += std::max<size_t>(g, 1)) {
    TimelineRow t;
    const size_t end = std::min(n, i + std::max<size_t>(g, 1));
    t.busy.assign(static_cast<size_t>(p.buckets), 0.0f);
    double mpi = 0, wall = 0;
    for (size_t k = i; k < end; ++k) {
      const RankProfile& r = p.ranks[k];
      if (r.start >= 0) t.start = t.start < 0 ? r.start : std::min(t.start, r.start);
      t.end = std::max(t.end, r.end);
      if (r.init() > 0) {
        t.init_begin = t.init_begin < 0 ? r.init_begin : std::min(t.init_begin, r.init_begin);
        t.init_end = std::max(t.init_end, r.init_end);
      }
      for (size_t b = 0; b < r.busy.size() && b < t.busy.size(); ++b) {
        t.busy[b] += r.busy[b] / static_cast<float>(end - i);
      }
      mpi += r.mpi;
      wall += r.wall();
    }
    t.label = "rank " + std::to_string(p.ranks[i].rank);
    if (end - i > 1)
      t.label = "ranks " + t.label.substr(5) + "-" + std::to_string(p.ranks[end - 1].rank);
    t.tip = t.label + ": " + Pct(std::min(mpi, wall), wall) + " of the run in MPI";
    rows.push_back(std::move(t));
  }
  return rows;
}

// The time axis: ticks at 1, 2 or 5 times a power of ten.
std::string TimeAxis(double duration, double height) {
  if (!(duration > 0)) return "";
  const double raw = duration / 8, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::string s;
  for (double t = 0; t <= duration * 1.0001 && t / step < 100; t += step) {
    const std::string x = Num(kLabel + t / duration * kPlot);
    s += "<line class=\"ax\" x1=\"" + x + "\" x2=\"" + x + "\" y1=\"14\" y2=\"" + Num(height) +
         "\"/><text x=\"" + x + "\" y=\"11\" text-anchor=\"middle\">" + FormatDuration(t) +
         "</text>\n";
  }
  return s;
}

// One row's bars: the program's run in blue, the time in MPI over it in
// orange, as opaque as the bucket's share (in quarters, runs merged).
std::string TimelineBars(const TimelineRow& t, const JobProfile& p, double y) {
  const double w = p.duration / p.buckets, h = 14;
  auto x = [&p](double sec) { return kLabel + std::clamp(sec / p.duration, 0.0, 1.0) * kPlot; };
  std::string s = "<g><title>" + HtmlEscape(t.tip) + "</title>";
  s += "<text x=\"0\" y=\"" + Num(y + 11) + "\">" + HtmlEscape(t.label) + "</text>";
  if (t.init_begin >= 0 && t.init_end > t.init_begin) {
    s += "<rect class=\"i\" x=\"" + Num(x(t.init_begin)) + "\" y=\"" + Num(y + h) + "\" width=\"" +
         Num(std::max(0.5, x(t.init_end) - x(t.init_begin))) + "\" height=\"3\"/>";
  }
  if (t.start >= 0 && t.end > t.start) {
    s += "<rect class=\"c\" x=\"" + Num(x(t.start)) + "\" y=\"" + Num(y) + "\" width=\"" +
         Num(std::max(0.5, x(t.end) - x(t.start))) + "\" height=\"" + Num(h) + "\"/>";
  }
  const size_t n = t.busy.size();
  for (size_t b = 0; b < n;) {
    const long level = std::lround(std::clamp(t.busy[b] / w, 0.0, 1.0) * 4);
    size_t e = b + 1;
    while (e < n && std::lround(std::clamp(t.busy[e] / w, 0.0, 1.0) * 4) == level) ++e;
    if (level > 0) {
      s += "<rect class=\"m\" fill-opacity=\"" + Num2(static_cast<double>(level) / 4) + "\" x=\"" +
           Num(x(static_cast<double>(b) * w)) + "\" y=\"" + Num(y) + "\" width=\"" +
           Num(std::max(0.5, x(static_cast<double>(e) * w) - x(static_cast<double>(b) * w))) +
           "\" height=\"" + Num(h) + "\"/>";
    }
    b = e;
  }
  return s + "</g>\n";
}

std::string TimelineSection(const JobProfile& p) {
  std::string s =
      "<h2 id=\"timeline\">Timeline</h2>\n<p>Each rank's program from its start to its "
      "end:<span class=\"key\" style=\"background:#4c78a8\"></span>computing"
      "<span class=\"key\" style=\"background:#f58518\"></span>waiting in MPI (a request "
      "before its reply; paler where only part of the moment was); below it"
      "<span class=\"key\" style=\"background:#999;height:4px\"></span>the rank's MPI_Init "
      "(a request made meanwhile waits for it)</p>\n";
  if (p.buckets <= 0 || !(p.duration > 0)) return s + "<p>No timeline: the job took no time.</p>\n";
  const std::vector<TimelineRow> rows = TimelineRows(p);
  const double height = 18 + 18.0 * static_cast<double>(rows.size()) + 4;
  s += "<svg viewBox=\"0 0 " + Num(kWidth) + " " + Num(height) + "\" width=\"" + Num(kWidth) +
       "\" height=\"" + Num(height) + "\" role=\"img\" aria-label=\"timeline\">\n" +
       TimeAxis(p.duration, height);
  for (size_t i = 0; i < rows.size(); ++i) {
    s += TimelineBars(rows[i], p, 18 + 18.0 * static_cast<double>(i));
  }
  s += "</svg>\n";
  if (rows.size() < p.ranks.size()) {
    s += "<p class=\"note\">" + std::to_string(p.ranks.size()) +
         " ranks in groups: each row is the average of its ranks.</p>\n";
  }
  return s;
}

std::string VerbTableByRank(const JobProfile& p,
                            const std::vector<std::pair<std::string, VerbTime>>& order) {
  std::string s =
      "<details><summary>per rank</summary>\n<table>\n<tr><th class=\"l\">verb</th>"
      "<th>rank</th><th>count</th><th>total</th><th>mean</th><th>max</th></tr>\n";
  for (const auto& [verb, a] : order) {
    for (const RankProfile& r : p.ranks) {
      auto it = r.verbs.find(verb);
      if (it == r.verbs.end()) continue;
      const VerbTime& v = it->second;
      s += "<tr>" + Td(HtmlEscape(verb), true) + Td(std::to_string(r.rank)) +
           Td(std::to_string(v.count)) + Td(FormatDuration(v.total)) +
           Td(FormatDuration(v.mean())) + Td(FormatDuration(v.max)) + "</tr>\n";
    }
  }
  return s + "</table></details>\n";
}

std::string VerbSection(const JobProfile& p) {
  const std::vector<std::pair<std::string, VerbTime>> order = VerbsByTotal(p);
  std::string s = "<h2 id=\"verbs\">Time per verb</h2>\n";
  if (order.empty()) return s + "<p>No requests.</p>\n";
  double most = 1e-12;
  for (const auto& [verb, v] : order) most = std::max(most, v.total);
  const double row = 22, height = row * static_cast<double>(order.size()) + 4;
  s += "<svg viewBox=\"0 0 " + Num(kWidth) + " " + Num(height) + "\" width=\"" + Num(kWidth) +
       "\" height=\"" + Num(height) + "\" role=\"img\" aria-label=\"time per verb\">\n";
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& [verb, v] = order[i];
    const double y = row * static_cast<double>(i), w = std::max(1.0, v.total / most * 600);
    s += "<text x=\"110\" y=\"" + Num(y + 15) + "\" text-anchor=\"end\">" + HtmlEscape(verb) +
         "</text><rect class=\"m\" x=\"118\" y=\"" + Num(y + 4) + "\" width=\"" + Num(w) +
         "\" height=\"14\"/><text x=\"" + Num(124 + w) + "\" y=\"" + Num(y + 15) + "\">" +
         FormatDuration(v.total) + " in " + std::to_string(v.count) + " request" +
         (v.count == 1 ? "" : "s") + "</text>\n";
  }
  s += "</svg>\n<table>\n<tr><th class=\"l\">verb</th><th>count</th><th>total</th>"
       "<th>mean</th><th>max</th></tr>\n";
  for (const auto& [verb, v] : order) {
    s += "<tr>" + Td(HtmlEscape(verb), true) + Td(std::to_string(v.count)) +
         Td(FormatDuration(v.total)) + Td(FormatDuration(v.mean())) + Td(FormatDuration(v.max)) +
         "</tr>\n";
  }
  return s + "</table>\n" + VerbTableByRank(p, order);
}

std::string RankRange(int a, int b) {
  return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
}

std::string MatrixSection(const JobProfile& p, int expected) {
  int n = expected;
  for (const RankProfile& r : p.ranks) {
    n = std::max(n, r.rank + 1);
    for (const auto& [to, b] : r.sent_to) n = std::max(n, std::min(to, 1 << 20) + 1);
  }
  const int g = std::max(1, (n + kMaxCells - 1) / kMaxCells), cells = (n + g - 1) / g;
  std::vector<int64_t> m(static_cast<size_t>(cells) * static_cast<size_t>(cells), 0);
  int64_t most = 0;
  for (const RankProfile& r : p.ranks) {
    for (const auto& [to, b] : r.sent_to) {
      if (to >= n) continue;
      int64_t& c = m[static_cast<size_t>(r.rank / g) * cells + static_cast<size_t>(to / g)];
      c = SaturatingAdd(c, b);
      most = std::max(most, c);
    }
  }
  std::string s =
      "<h2 id=\"matrix\">Messages</h2>\n<p>Bytes each rank (row) sent each rank "
      "(column) point to point: send, isend, sendrecv and their byte forms.</p>\n";
  if (most == 0) return s + "<p>No point-to-point messages.</p>\n";
  s += "<table class=\"matrix\">\n<tr><th>from \\ to</th>";
  for (int c = 0; c < cells; ++c)
    s += "<th>" + RankRange(c * g, std::min(n, (c + 1) * g) - 1) + "</th>";
  s += "</tr>\n";
  for (int a = 0; a < cells; ++a) {
    const std::string from = RankRange(a * g, std::min(n, (a + 1) * g) - 1);
    s += "<tr><th>" + from + "</th>";
    for (int b = 0; b < cells; ++b) {
      const int64_t v = m[static_cast<size_t>(a) * cells + static_cast<size_t>(b)];
      const double alpha = v > 0 ? 0.12 + 0.88 * std::sqrt(static_cast<double>(v) / most) : 0;
      s += "<td style=\"background:rgba(245,133,24," + Num2(alpha) + ")\" title=\"rank " + from +
           " to rank " + RankRange(b * g, std::min(n, (b + 1) * g) - 1) + ": " + std::to_string(v) +
           " bytes\">" + (v > 0 ? FormatBytesShort(v) : "") + "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

std::string ImbalanceSection(const JobProfile& p) {
  std::string s =
      "<h2 id=\"imbalance\">Load imbalance per collective</h2>\n<p>For each collective (the "
      "N-th on a communicator), how far apart the ranks arrived: from the first rank's request "
      "to the last's. The ranks that came early waited that long for the last.</p>\n";
  if (p.imbalanced.empty()) return s + "<p>No collective was called by more than one rank.</p>\n";
  const double most = std::max(1e-12, p.imbalanced.front().spread());
  s += "<table>\n<tr><th>spread</th><th class=\"l\"></th><th class=\"l\">collective</th>"
       "<th class=\"l\">on</th><th>ranks</th><th>last</th><th>first</th><th>at</th></tr>\n";
  for (const CollectiveSite& c : p.imbalanced) {
    s += "<tr>" + Td(FormatDuration(c.spread())) +
         Td("<span class=\"bar\" style=\"background:#eee\"><span style=\"width:" +
                Pct(c.spread(), most) + "\"></span></span>",
            true) +
         Td(HtmlEscape(c.verb) + " #" + std::to_string(c.index), true) +
         Td(DescribeCommKey(c.key), true) + Td(std::to_string(c.ranks)) +
         Td("rank " + std::to_string(c.last_rank)) + Td("rank " + std::to_string(c.first_rank)) +
         Td(FormatDuration(c.first)) + "</tr>\n";
  }
  s += "</table>\n";
  if (p.sites_capped) {
    s += "<p class=\"note\">Only the first " + std::to_string(p.sites) +
         " collectives were compared.</p>\n";
  }
  return s;
}

}  // namespace

std::string HtmlEscape(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += "\xef\xbf\xbd";
        } else {
          out.push_back(c);
        }
    }
  }
  return out;
}

std::string RenderReportHtml(const JobProfile& p, const ReportInfo& info) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>stdmpi report: " +
      HtmlEscape(info.command.substr(0, 120)) + "</title>\n<style>" + kCss +
      "</style>\n</head>\n<body>\n";
  h += Header(p, info) + SummarySection(p, info.expected) + TimelineSection(p) + VerbSection(p) +
       MatrixSection(p, info.expected) + ImbalanceSection(p);
  if (p.bad_lines > 0) {
    h += "<p class=\"note\">" + std::to_string(p.bad_lines) +
         " line(s) of the ranks' parts could not be read and were left out.</p>\n";
  }
  return h +
         "<p class=\"note\">Written by stdmpirun --report "
         "(docs/report.md).</p>\n</body>\n</html>\n";
}

}  // namespace stdmpi
