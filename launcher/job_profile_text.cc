// The text of --summary and --profile (job_profile.h).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "job_profile.h"

namespace stdmpi {

namespace {

using Row = std::vector<std::string>;

// Rows as aligned columns (two spaces apart, indented by two); `right`: the
// columns aligned to the right, as numbers are.
std::string Table(const std::vector<Row>& rows, const std::vector<bool>& right) {
  std::vector<size_t> width;
  for (const Row& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const Row& r : rows) {
    std::string line = " ";
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string pad(width[i] - r[i].size(), ' ');
      const bool to_right = i < right.size() && right[i];
      line += " " + (to_right ? pad + r[i] : r[i] + (i + 1 < r.size() ? pad : ""));
      if (i + 1 < r.size()) line += " ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string Percent(double part, double whole) {
  if (!(whole > 0)) return "-";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.0f%%", std::clamp(100.0 * part / whole, 0.0, 100.0));
  return buf;
}

// The exit column: "0", "3", "signal 9", "stopped", "not started".
std::string ExitCell(const RankProfile& r) {
  if (r.status.compare(0, 5, "exit ") == 0) return r.status.substr(5);
  return r.status.empty() ? "?" : r.status;
}

std::string Host(const std::string& h) {
  return h.size() > 24 ? h.substr(0, 23) + "~" : h;
}

Row SummaryRow(const RankProfile& r) {
  return {std::to_string(r.rank),
          Host(r.host),
          FormatDuration(r.wall()),
          FormatDuration(r.cpu()),
          FormatBytesShort(r.max_rss_kb * 1024),
          std::to_string(r.requests),
          FormatBytesShort(r.sent),
          FormatBytesShort(r.received),
          FormatDuration(r.mpi),
          ExitCell(r)};
}

// The total and median rows of the summary.
void SummaryTotals(const std::vector<const RankProfile*>& rs, std::vector<Row>* rows) {
  std::vector<double> wall, cpu, rss, req, sent, recv, mpi;
  int failed = 0;
  for (const RankProfile* r : rs) {
    wall.push_back(r->wall());
    cpu.push_back(r->cpu());
    rss.push_back(static_cast<double>(r->max_rss_kb));
    req.push_back(static_cast<double>(r->requests));
    sent.push_back(static_cast<double>(r->sent));
    recv.push_back(static_cast<double>(r->received));
    mpi.push_back(r->mpi);
    failed += r->code > 0 ? 1 : 0;
  }
  auto sum = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
  };
  auto bytes = [](double b) { return FormatBytesShort(static_cast<int64_t>(std::llround(b))); };
  rows->push_back({"total", "", "", FormatDuration(sum(cpu)), bytes(sum(rss) * 1024),
                   std::to_string(std::llround(sum(req))), bytes(sum(sent)), bytes(sum(recv)),
                   FormatDuration(sum(mpi)), failed > 0 ? std::to_string(failed) + " failed" : ""});
  rows->push_back({"median", "", FormatDuration(Median(wall)), FormatDuration(Median(cpu)),
                   bytes(Median(rss) * 1024), std::to_string(std::llround(Median(req))),
                   bytes(Median(sent)), bytes(Median(recv)), FormatDuration(Median(mpi)), ""});
}

// Ranks below `expected` that left no summary, as a note.
std::string Missing(const JobProfile& p, int expected) {
  std::vector<int> none;
  for (int r = 0; r < expected; ++r) {
    const RankProfile* f = p.Find(r);
    if (f == nullptr || !f->has_summary) none.push_back(r);
  }
  if (none.empty()) return "";
  std::string list;
  for (size_t i = 0; i < none.size() && i < 20; ++i) {
    list += (i ? ", " : "") + std::to_string(none[i]);
  }
  if (none.size() > 20) list += ", ...";
  return "  no summary from rank " + list +
         ": killed before it ended, a native MPI program, or on a host that cannot write the "
         "part (give --trace FILE on a shared file system)\n";
}

}  // namespace

std::string FormatDuration(double s) {
  char buf[32];
  if (!std::isfinite(s) || s < 0 || s > 1e12) return "-";
  if (s < 0.05e-6) return "0 s";
  if (s < 1e-5) {
    std::snprintf(buf, sizeof(buf), "%.1f us", s * 1e6);
  } else if (s < 1e-3) {
    std::snprintf(buf, sizeof(buf), "%.0f us", s * 1e6);
  } else if (s < 1) {
    std::snprintf(buf, sizeof(buf), "%.1f ms", s * 1e3);
  } else if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.2f s", s);
  } else if (s < 3600) {
    const long t = std::lround(s);
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", t / 60, t % 60);
  } else {
    const long t = std::lround(s / 60);
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", t / 60, t % 60);
  }
  return buf;
}

std::string FormatBytesShort(int64_t n) {
  char buf[32];
  if (n < 10000) {
    std::snprintf(buf, sizeof(buf), "%lld B", static_cast<long long>(n));
    return buf;
  }
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n) / 1024;
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  return buf;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(mid), v.end());
  const double hi = v[mid];
  if (v.size() % 2 == 1) return hi;
  return (*std::max_element(v.begin(), v.begin() + static_cast<long>(mid)) + hi) / 2;
}

std::string DescribeCommKey(int64_t key) {
  if (key == 0) return "the world";
  if (key == 1) return "the program's ranks";
  return "a split/dup communicator (key " + std::to_string(key) + ")";
}

std::string FormatSummary(const JobProfile& p, int expected) {
  std::vector<Row> rows = {
      {"rank", "host", "wall", "CPU", "max RSS", "requests", "sent", "received", "in MPI", "exit"}};
  std::vector<const RankProfile*> have;
  for (const RankProfile& r : p.ranks) {
    if (!r.has_summary) continue;
    have.push_back(&r);
    rows.push_back(SummaryRow(r));
  }
  if (have.size() > 1) SummaryTotals(have, &rows);
  std::string out = "stdmpirun: summary of " + std::to_string(have.size()) + " rank" +
                    (have.size() == 1 ? "" : "s") + " (" + FormatDuration(p.duration) + " job)\n";
  out += Table(rows, {true, false, true, true, true, true, true, true, true, false});
  out +=
      "  wall: the program's run; CPU: user + system time of the program and what it started;\n"
      "  sent, received: the data of its requests; in MPI: from each request to its reply\n";
  return out + Missing(p, expected);
}

namespace {

std::string MpiShareTable(const JobProfile& p) {
  std::vector<Row> rows = {{"rank", "wall", "in MPI", "computing", "MPI %", "MPI_Init"}};
  double wall = 0, mpi = 0, init = 0;
  for (const RankProfile& r : p.ranks) {
    if (!r.has_summary) continue;
    const double w = r.wall(), m = std::min(r.mpi, w > 0 ? w : r.mpi);
    rows.push_back({std::to_string(r.rank), FormatDuration(w), FormatDuration(m),
                    FormatDuration(std::max(0.0, w - m)), Percent(m, w), FormatDuration(r.init())});
    wall += w;
    mpi += m;
    init += r.init();
  }
  if (rows.size() > 2) {
    rows.push_back({"all", FormatDuration(wall), FormatDuration(mpi),
                    FormatDuration(std::max(0.0, wall - mpi)), Percent(mpi, wall),
                    FormatDuration(init)});
  }
  return "\n  time in MPI and computing, per rank (MPI_Init: the rank's MPI starting while its\n"
         "  program starts; a request made before MPI is up waits for it, counted as computing)\n" +
         Table(rows, {true, true, true, true, true, true});
}

Row VerbRow(const std::string& verb, const std::string& rank, const VerbTime& v) {
  return {verb,
          rank,
          std::to_string(v.count),
          FormatDuration(v.total),
          FormatDuration(v.mean()),
          FormatDuration(v.max)};
}

std::string VerbTable(const JobProfile& p) {
  const std::vector<std::pair<std::string, VerbTime>> order = VerbsByTotal(p);
  const bool every_rank = p.ranks.size() <= 16;
  std::vector<Row> rows = {{"verb", "rank", "count", "total", "mean", "max"}};
  for (const auto& [verb, a] : order) {
    const bool all_row = p.ranks.size() > 1;
    if (all_row) rows.push_back(VerbRow(verb, "all", a));
    std::vector<std::pair<double, const RankProfile*>> per;
    for (const RankProfile& r : p.ranks) {
      auto it = r.verbs.find(verb);
      if (it != r.verbs.end()) per.push_back({it->second.total, &r});
    }
    if (!every_rank) {
      std::stable_sort(per.begin(), per.end(),
                       [](const auto& x, const auto& y) { return x.first > y.first; });
      per.resize(std::min<size_t>(per.size(), 3));
    }
    for (size_t i = 0; i < per.size(); ++i) {
      const RankProfile* r = per[i].second;
      rows.push_back(
          VerbRow(i == 0 && !all_row ? verb : "", std::to_string(r->rank), r->verbs.at(verb)));
    }
  }
  std::string head = "\n  time per verb (count, total, mean, max), ";
  head += every_rank ? "per rank\n" : "over all ranks and the 3 ranks with the most\n";
  return head + Table(rows, {false, true, true, true, true, true});
}

std::string ImbalanceTable(const JobProfile& p) {
  if (p.imbalanced.empty()) return "\n  no collective was called by more than one rank\n";
  std::vector<Row> rows = {{"spread", "collective", "on", "ranks", "last", "first"}};
  const size_t n = std::min<size_t>(p.imbalanced.size(), 5);
  for (size_t i = 0; i < n; ++i) {
    const CollectiveSite& c = p.imbalanced[i];
    rows.push_back({FormatDuration(c.spread()), c.verb + " #" + std::to_string(c.index),
                    DescribeCommKey(c.key), std::to_string(c.ranks),
                    "rank " + std::to_string(c.last_rank), "rank " + std::to_string(c.first_rank)});
  }
  std::string out =
      "\n  most imbalanced collectives (spread: from the first rank's arrival to the last's;\n"
      "  #N: the N-th collective on that communicator)\n" +
      Table(rows, {true, false, false, true, false, false});
  if (p.sites_capped) {
    out += "  (only the first " + std::to_string(p.sites) + " collectives were compared)\n";
  }
  return out;
}

}  // namespace

std::string FormatProfile(const JobProfile& p, int expected) {
  int with = 0;
  for (const RankProfile& r : p.ranks) with += r.has_summary ? 1 : 0;
  std::string out = "stdmpirun: profile of " + std::to_string(with) + " rank" +
                    (with == 1 ? "" : "s") + " (" + FormatDuration(p.duration) +
                    " job; in MPI: from each request to its reply, computing: the rest)\n";
  out += MpiShareTable(p) + VerbTable(p) + ImbalanceTable(p);
  for (const RankProfile& r : p.ranks) {
    if (!r.note.empty()) out += "  rank " + std::to_string(r.rank) + ": " + r.note + "\n";
  }
  return out + Missing(p, expected);
}

}  // namespace stdmpi
