#include "trace_merge.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace stdmpi {

bool MergeTrace(const std::string& file, TraceMerge* out, std::string* err) {
  size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? "." : file.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? file : file.substr(slash + 1);
  std::string stem = base + ".rank";
  std::vector<int> ranks;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0) continue;
      std::string num = name.substr(stem.size());
      if (num.find_first_not_of("0123456789") != std::string::npos || num.size() > 9) continue;
      ranks.push_back(std::stoi(num));
    }
    closedir(d);
  }
  std::sort(ranks.begin(), ranks.end());
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (f == nullptr) {
    *err = "--trace: cannot write " + file + ": " + std::strerror(errno);
    return false;
  }
  std::fputs("[\n", f);
  bool first = true;
  for (int r : ranks) {
    std::string part = (slash == std::string::npos ? "" : dir) + stem + std::to_string(r);
    std::ifstream in(part, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof() || line.empty() || line.back() != '}') {
        // The last line of a rank killed while it wrote: not JSON.
        if (!line.empty()) ++out->cut;
        continue;
      }
      std::fputs(first ? "" : ",\n", f);
      std::fputs(line.c_str(), f);
      first = false;
      ++out->events;
    }
    unlink(part.c_str());
  }
  std::fputs("\n]\n", f);
  bool ok = std::fclose(f) == 0;
  if (!ok) {
    *err = "--trace: cannot write " + file + ": " + std::strerror(errno);
    return false;
  }
  out->ranks = ranks;
  return true;
}

}  // namespace stdmpi
