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

}  // namespace

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
