#include "job_profile.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <queue>

#include "json_line.h"

namespace stdmpi {

namespace {

// What one line said, as the walker hands it over.
struct Line {
  std::string_view name, cat, ph, site, label, args_name;
  double ts = -1, dur = -1;
  RankProfile summary;  // the members of a summary line
};

// A count or a byte count: within +-2^53 (a part is read, not trusted).
int64_t Int(std::string_view raw) {
  const double v = JsonNumber(raw, 0);
  return std::isfinite(v) ? static_cast<int64_t>(std::clamp(v, -9.0e15, 9.0e15)) : 0;
}

// A summary's per-verb member "VERB.n" / ".t" / ".max".
void VerbMember(std::string_view rest, std::string_view raw, RankProfile* s) {
  const size_t dot = rest.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return;
  VerbTime& v = s->verbs[std::string(rest.substr(0, dot))];
  const std::string_view what = rest.substr(dot + 1);
  if (what == "n") v.count = Int(raw);
  if (what == "t") v.total = JsonNumber(raw, 0);
  if (what == "max") v.max = JsonNumber(raw, 0);
}

// A member of "args" (`key` without "args.").
void ArgMember(std::string_view key, std::string_view raw, Line* l) {
  RankProfile& s = l->summary;
  if (key == "site")
    l->site = raw;
  else if (key == "name")
    l->args_name = raw;
  else if (key == "labels")
    l->label = raw;
  else if (key == "host")
    s.host = JsonText(raw);
  else if (key == "status")
    s.status = JsonText(raw);
  else if (key == "start")
    s.start = JsonNumber(raw, -1);
  else if (key == "end")
    s.end = JsonNumber(raw, -1);
  else if (key == "init_begin")
    s.init_begin = JsonNumber(raw, -1);
  else if (key == "init_end")
    s.init_end = JsonNumber(raw, -1);
  else if (key == "user")
    s.user = JsonNumber(raw, 0);
  else if (key == "sys")
    s.sys = JsonNumber(raw, 0);
  else if (key == "mpi")
    s.mpi = JsonNumber(raw, 0);
  else if (key == "code")
    s.code = static_cast<int>(std::clamp<int64_t>(Int(raw), -1, 255));
  else if (key == "max_rss_kb")
    s.max_rss_kb = std::clamp<int64_t>(Int(raw), 0, int64_t{1} << 40);  // 1 PiB
  else if (key == "requests")
    s.requests = Int(raw);
  else if (key == "sent")
    s.sent = Int(raw);
  else if (key == "received")
    s.received = Int(raw);
  else if (key.substr(0, 6) == "verbs.")
    VerbMember(key.substr(6), raw, &s);
  else if (key.substr(0, 8) == "sent_to." && s.sent_to.size() < (1u << 16)) {
    int peer = -1;
    const std::string_view p = key.substr(8);
    if (std::from_chars(p.data(), p.data() + p.size(), peer).ec == std::errc() && peer >= 0) {
      s.sent_to[peer] = Int(raw);
    }
  }
}

bool Finite(double v) {
  return std::isfinite(v) && std::fabs(v) < 1e15;
}

}  // namespace

const RankProfile* JobProfile::Find(int rank) const {
  for (const RankProfile& r : ranks) {
    if (r.rank == rank) return &r;
  }
  return nullptr;
}

JobProfileBuilder::JobProfileBuilder(double duration, int buckets, int64_t max_sites)
    : duration_(Finite(duration) && duration > 0 ? duration : 0),
      buckets_(std::clamp(buckets, 0, 100000)),
      max_sites_(max_sites) {}

RankProfile& JobProfileBuilder::Rank(int rank) {
  RankProfile& r = ranks_[rank];
  r.rank = rank;
  return r;
}

bool JobProfileBuilder::Feed(int rank, std::string_view line) {
  Line l;
  const bool ok = VisitJsonObject(line, [&l](std::string_view path, std::string_view raw) {
    if (path == "name")
      l.name = raw;
    else if (path == "cat")
      l.cat = raw;
    else if (path == "ph")
      l.ph = raw;
    else if (path == "ts")
      l.ts = JsonNumber(raw, -1);
    else if (path == "dur")
      l.dur = JsonNumber(raw, -1);
    else if (path.substr(0, 5) == "args.")
      ArgMember(path.substr(5), raw, &l);
  });
  if (!ok || rank < 0) {
    ++bad_;
    return false;
  }
  if (l.ph == "\"X\"" && Finite(l.ts) && Finite(l.dur) && l.dur >= 0) {
    if (l.cat != "\"request\"") return true;  // a step of the start
    RankProfile& r = Rank(rank);
    ++r.events;
    AddBusy(r, l.ts * 1e-6, l.dur * 1e-6);
    if (!l.site.empty()) {
      const std::string name = JsonText(l.name);
      AddSite(rank, JsonText(l.site), std::string_view(name).substr(0, name.find(':')),
              l.ts * 1e-6);
    }
    return true;
  }
  if (l.ph != "\"M\"") {
    ++bad_;
    return false;
  }
  RankProfile& r = Rank(rank);
  if (l.name == "\"process_name\"") {
    // "rank 2: python3 pi.py"
    const std::string n = JsonText(l.args_name);
    const size_t colon = n.find(": ");
    r.command = colon == std::string::npos ? n : n.substr(colon + 2);
  } else if (l.name == "\"process_labels\"") {
    r.note = JsonText(l.label);
  } else if (l.name == "\"stdmpi_summary\"") {
    RankProfile s = std::move(l.summary);
    s.rank = rank;
    s.has_summary = true;
    s.command = std::move(r.command);
    s.note = std::move(r.note);
    s.busy = std::move(r.busy);
    s.events = r.events;
    if (!Finite(s.start) || !Finite(s.end)) s.start = s.end = -1;
    if (!Finite(s.init_begin) || !Finite(s.init_end)) s.init_begin = s.init_end = -1;
    r = std::move(s);
  }
  return true;
}

void JobProfileBuilder::AddBusy(RankProfile& r, double begin, double dur) {
  if (buckets_ <= 0 || duration_ <= 0) return;
  if (r.busy.empty()) r.busy.assign(static_cast<size_t>(buckets_), 0.0f);
  const double w = duration_ / buckets_;
  double a = std::max(0.0, begin);
  const double b = std::min(duration_, begin + dur);
  if (!(b > a)) return;
  int i = std::min(buckets_ - 1, static_cast<int>(a / w));
  while (a < b && i < buckets_) {
    const double edge = std::min(b, (i + 1) * w);
    if (edge > a) r.busy[static_cast<size_t>(i)] += static_cast<float>(edge - a);
    a = std::max(a, edge);
    ++i;
  }
}

void JobProfileBuilder::AddSite(int rank, std::string_view site, std::string_view verb, double ts) {
  // "KEY:N": the N-th collective on the communicator known by KEY.
  const size_t colon = site.find(':');
  int64_t key = -1, index = 0;
  if (colon == std::string_view::npos ||
      std::from_chars(site.data(), site.data() + colon, key).ec != std::errc() ||
      std::from_chars(site.data() + colon + 1, site.data() + site.size(), index).ec !=
          std::errc() ||
      key < 0 || index < 1) {
    return;
  }
  auto it = sites_.find(key);
  const int64_t have = it == sites_.end() ? 0 : static_cast<int64_t>(it->second.size());
  if (index > have) {
    // Sites are numbered from 1 on every rank: a rank's part fills them in
    // order. Beyond the budget the rest is not compared.
    if (site_count_ + (index - have) > max_sites_) {
      capped_ = true;
      return;
    }
    if (it == sites_.end()) it = sites_.emplace(key, std::deque<Site>()).first;
    it->second.resize(static_cast<size_t>(index));
    site_count_ += index - have;
  }
  Site& s = it->second[static_cast<size_t>(index - 1)];
  if (s.ranks == 0) {
    auto v = std::find(verbs_.begin(), verbs_.end(), verb);
    if (v == verbs_.end() && verbs_.size() < 256)
      v = verbs_.insert(verbs_.end(), std::string(verb));
    s.verb = static_cast<uint16_t>(v == verbs_.end() ? 0 : v - verbs_.begin());
  }
  ++s.ranks;
  if (ts < s.first) {
    s.first = ts;
    s.first_rank = rank;
  }
  if (ts >= s.last) {
    s.last = ts;
    s.last_rank = rank;
  }
}

JobProfile JobProfileBuilder::Finish(size_t top) {
  JobProfile p;
  p.duration = duration_;
  p.buckets = buckets_;
  p.sites = site_count_;
  p.sites_capped = capped_;
  p.bad_lines = bad_;
  for (auto& [rank, r] : ranks_) p.ranks.push_back(std::move(r));
  ranks_.clear();
  // The `top` largest spreads: a min-heap of that many.
  using Entry = std::pair<double, std::pair<int64_t, int64_t>>;  // spread, (key, index)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  for (const auto& [key, list] : sites_) {
    for (size_t i = 0; i < list.size(); ++i) {
      const Site& s = list[i];
      if (s.ranks < 2 || top == 0) continue;
      heap.push({s.last - s.first, {key, static_cast<int64_t>(i) + 1}});
      if (heap.size() > top) heap.pop();
    }
  }
  for (; !heap.empty(); heap.pop()) {
    const auto& [spread, at] = heap.top();
    const Site& s = sites_[at.first][static_cast<size_t>(at.second - 1)];
    CollectiveSite c;
    c.verb = s.verb < verbs_.size() ? verbs_[s.verb] : "?";
    c.key = at.first;
    c.index = at.second;
    c.ranks = s.ranks;
    c.first = s.first;
    c.last = s.last;
    c.first_rank = s.first_rank;
    c.last_rank = s.last_rank;
    p.imbalanced.push_back(std::move(c));
  }
  std::reverse(p.imbalanced.begin(), p.imbalanced.end());
  return p;
}

std::vector<std::pair<std::string, VerbTime>> VerbsByTotal(const JobProfile& p) {
  std::map<std::string, VerbTime> all;
  for (const RankProfile& r : p.ranks) {
    for (const auto& [verb, v] : r.verbs) {
      VerbTime& a = all[verb];
      a.count = SaturatingAdd(a.count, v.count);
      a.total += v.total;
      a.max = std::max(a.max, v.max);
    }
  }
  std::vector<std::pair<std::string, VerbTime>> order(all.begin(), all.end());
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second.total > b.second.total; });
  return order;
}

}  // namespace stdmpi
