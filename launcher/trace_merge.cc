#include "trace_merge.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "fsutil.h"

namespace stdmpi {

namespace {

// The ranks below `max_ranks` (0: any) whose part PREFIX.rank<N> is there.
std::vector<int> FindParts(const std::string& prefix, int max_ranks) {
  size_t slash = prefix.rfind('/');
  std::string dir = slash == std::string::npos ? "." : prefix.substr(0, slash + 1);
  std::string stem = (slash == std::string::npos ? prefix : prefix.substr(slash + 1)) + ".rank";
  std::vector<int> ranks;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0) continue;
      std::string num = name.substr(stem.size());
      if (num.find_first_not_of("0123456789") != std::string::npos || num.size() > 9) continue;
      int r = std::stoi(num);
      if (max_ranks <= 0 || r < max_ranks) ranks.push_back(r);
    }
    closedir(d);
  }
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

// Appends the complete events of one part to `f` and removes the part;
// false if it was not a regular file of this user's.
bool TakePart(const std::string& part, std::FILE* f, bool* first, TraceMerge* out) {
  int fd = OpenOwnFile(part);
  std::FILE* in = fd < 0 ? nullptr : fdopen(fd, "r");
  unlink(part.c_str());
  if (in == nullptr) {
    if (fd >= 0) close(fd);
    return false;
  }
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, in)) > 0) {
    if (line[n - 1] != '\n' || n < 2 || line[n - 2] != '}') {
      // The last line of a rank killed while it wrote: not JSON.
      if (n > 1 || line[0] != '\n') ++out->cut;
      continue;
    }
    std::fputs(*first ? "" : ",\n", f);
    std::fwrite(line, 1, static_cast<size_t>(n - 1), f);
    *first = false;
    ++out->events;
  }
  free(line);
  std::fclose(in);
  return true;
}

// Calls `line` for each complete line of the open part `in`, in pieces of
// a fixed buffer: a part is never read whole, and a line longer than
// kMaxPartLine is skipped (counted in *cut), so memory stays bounded.
void ReadLines(int fd, int rank, const std::function<void(int, std::string_view)>& line,
               TraceMerge* out) {
  std::string pending;
  bool skipping = false;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    std::string_view chunk(buf, n > 0 ? static_cast<size_t>(n) : 0);
    for (size_t nl; (nl = chunk.find('\n')) != std::string_view::npos;) {
      if (!skipping && pending.size() + nl > kMaxPartLine) {
        ++out->cut;
      } else if (!skipping) {
        pending.append(chunk.substr(0, nl));
        if (!pending.empty()) line(rank, pending);
        ++out->events;
      }
      skipping = false;
      pending.clear();
      chunk.remove_prefix(nl + 1);
    }
    if (!skipping && pending.size() + chunk.size() > kMaxPartLine) {
      ++out->cut;
      skipping = true;
      pending.clear();
    }
    if (!skipping) pending.append(chunk);
  }
  // The last line of a rank killed while it wrote.
  if (!pending.empty()) ++out->cut;
}

}  // namespace

void ReadTraceParts(const std::string& prefix, int max_ranks, bool remove,
                    const std::function<void(int, std::string_view)>& line, TraceMerge* out) {
  for (int r : FindParts(prefix, max_ranks)) {
    const std::string part = prefix + ".rank" + std::to_string(r);
    int fd = OpenOwnFile(part);
    if (remove) unlink(part.c_str());
    if (fd < 0) continue;
    // O_NONBLOCK was for opening a FIFO safely; a regular file reads the same.
    ReadLines(fd, r, line, out);
    close(fd);
    out->ranks.push_back(r);
  }
}

bool MergeTrace(const std::string& prefix, const std::string& file, int max_ranks, TraceMerge* out,
                std::string* err) {
  std::vector<int> ranks = FindParts(prefix, max_ranks);
  // The directory may be the programs' too: never write through their links.
  int fd = CreateFileNoFollow(file, 0644);
  std::FILE* f = fd < 0 ? nullptr : fdopen(fd, "w");
  if (f == nullptr) {
    *err = "--trace: cannot write " + file + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    for (int r : ranks) unlink((prefix + ".rank" + std::to_string(r)).c_str());
    return false;
  }
  std::fputs("[\n", f);
  bool first = true;
  for (int r : ranks) {
    if (TakePart(prefix + ".rank" + std::to_string(r), f, &first, out)) out->ranks.push_back(r);
  }
  std::fputs("\n]\n", f);
  if (std::fclose(f) != 0) {
    *err = "--trace: cannot write " + file + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace stdmpi
