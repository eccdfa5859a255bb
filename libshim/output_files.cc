#include "output_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "fsutil.h"

namespace stdmpi {

namespace {

// Opens directory `name` in `at`, creating it; never through a link.
int OpenSubdir(int at, const char* name) {
  if (mkdirat(at, name, 0755) != 0 && errno != EEXIST) return -1;
  return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

}  // namespace

std::string OutputJobDir(const std::string& dir) {
  return dir + (!dir.empty() && dir.back() == '/' ? "" : "/") + "1";
}

int OpenOutputJobDir(const std::string& dir, std::string* err) {
  if (!MakeDirs(dir)) {
    *err = "--output-filename: cannot create " + dir + ": " + std::strerror(errno);
    return -1;
  }
  std::string path = dir;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  int d = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d < 0) {
    const int e = errno;
    struct stat st;
    *err = "--output-filename: cannot open " + dir + ": " +
           (lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)
                ? std::string("it is a symbolic link (give the directory it points to)")
                : std::strerror(e));
    return -1;
  }
  int job = OpenSubdir(d, "1");
  const int e = errno;
  close(d);
  if (job < 0) {
    *err = "--output-filename: cannot create " + OutputJobDir(dir) + ": " + std::strerror(e) +
           (e == ELOOP || e == ENOTDIR ? " (it is a link or a file: remove it)" : "");
  }
  return job;
}

int CreateRankOutputFile(int job_dir, const std::string& dir, int rank, const char* name,
                         std::string* err) {
  const std::string rank_dir = "rank." + std::to_string(rank);
  int r = OpenSubdir(job_dir, rank_dir.c_str());
  int fd = -1;
  if (r >= 0) {
    unlinkat(r, name, 0);
    fd = openat(r, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND | O_CLOEXEC, 0644);
  }
  const int e = errno;
  if (r >= 0) close(r);
  if (fd < 0) {
    *err = "--output-filename: cannot create " + OutputJobDir(dir) + "/" + rank_dir + "/" + name +
           ": " + std::strerror(e);
  }
  return fd;
}

}  // namespace stdmpi
