#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "spawn.h"

namespace stdmpi {

namespace {

std::string Sanitize(std::string name) {
  for (char& c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == '_')) {
      c = '_';
    }
  }
  return name;
}

}  // namespace

std::string ImageCacheDir() {
  if (const char* d = getenv("STDMPI_IMAGE_CACHE"); d && *d) return d;
  if (const char* d = getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/stdmpi/images";
  if (const char* h = getenv("HOME"); h && *h) return std::string(h) + "/.cache/stdmpi/images";
  return "/var/tmp/stdmpi-images-" + std::to_string(getuid());
}

bool PrepareImage(const std::vector<std::string>& entries, std::vector<std::string>* dirs,
                  std::string* err) {
  dirs->clear();
  for (const std::string& entry : entries) {
    char real[PATH_MAX];
    struct stat st;
    if (realpath(entry.c_str(), real) == nullptr || stat(real, &st) != 0) {
      *err = "image " + entry + ": " + strerror(errno);
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      dirs->emplace_back(real);
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      *err = "image " + entry + ": neither a directory nor a tar archive";
      return false;
    }
    std::string cache = ImageCacheDir();
    std::string base = strrchr(real, '/') + 1;
    std::string dir = cache + "/" + Sanitize(base) + "-" + std::to_string(st.st_size) + "-" +
                      std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    struct stat dst;
    if (stat(dir.c_str(), &dst) == 0 && S_ISDIR(dst.st_mode)) {
      dirs->push_back(dir);
      continue;
    }
    if (!MakeDirs(cache)) {
      *err = "image " + entry + ": cannot create the cache " + cache + ": " + strerror(errno);
      return false;
    }
    // One rank per machine unpacks; the others wait on the lock, then find it.
    std::string lock = dir + ".lock";
    int fd = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
      *err = "image " + entry + ": cannot lock " + lock + ": " + strerror(errno);
      if (fd >= 0) close(fd);
      return false;
    }
    if (stat(dir.c_str(), &dst) != 0) {
      std::string tmp = dir + ".unpacking-" + std::to_string(getpid());
      // GNU tar finds the compression itself; owners are the unpacker's
      // unless root, as tar does anyway.
      bool ok = false;
      int rc;
      if (!MakeDirs(tmp)) {
        *err = "image " + entry + ": cannot unpack into " + tmp + ": " + strerror(errno);
      } else if ((rc = RunAndWait({"tar", "-x", "-f", real, "-C", tmp, "--no-same-permissions"})) !=
                 0) {
        *err = "image " + entry + ": tar -x failed (status " + std::to_string(rc) +
               "): is it a tar archive?";
      } else if (rename(tmp.c_str(), dir.c_str()) != 0) {
        *err = "image " + entry + ": cannot move it into the cache: " + strerror(errno);
      } else {
        ok = true;
      }
      if (!ok) {
        RunAndWait({"rm", "-rf", tmp});  // leave no half-unpacked tree behind
        close(fd);
        return false;
      }
    }
    close(fd);
    dirs->push_back(dir);
  }
  return true;
}

}  // namespace stdmpi
