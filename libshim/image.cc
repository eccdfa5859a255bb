#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "image_unpack.h"
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
  return "";
}

namespace {

// The cache directory, made 0700 where missing, opened without following a
// link and checked: this user's, writable by no one else (else another user
// could put an image of theirs in place of the one asked for). Read access
// for others is taken away. A descriptor, or -1 with *err.
int OpenPrivateCache(const std::string& cache, std::string* err) {
  if (cache.empty()) {
    *err =
        "no cache for unpacked images: HOME is not set (set STDMPI_IMAGE_CACHE to a directory "
        "of your own)";
    return -1;
  }
  const size_t slash = cache.find_last_of('/');
  if (slash != std::string::npos && slash > 0 && !MakeDirs(cache.substr(0, slash))) {
    *err = "cannot create the image cache " + cache + ": " + strerror(errno);
    return -1;
  }
  if (mkdir(cache.c_str(), 0700) != 0 && errno != EEXIST) {
    *err = "cannot create the image cache " + cache + ": " + strerror(errno);
    return -1;
  }
  int fd = open(cache.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    *err = "cannot open the image cache " + cache + ": " + strerror(errno) +
           (errno == ELOOP || errno == ENOTDIR ? " (it must be a directory, not a link)" : "");
    if (fd >= 0) close(fd);
    return -1;
  }
  char mode[8];
  snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
  std::string fix = " (set STDMPI_IMAGE_CACHE to a directory of your own)";
  if (st.st_uid != geteuid()) {
    *err = "the image cache " + cache + " belongs to uid " + std::to_string(st.st_uid) +
           ", not to you" + fix;
  } else if ((st.st_mode & 022) != 0) {
    *err = "the image cache " + cache + " is writable by others (mode " + mode + ")" + fix;
  } else if ((st.st_mode & 077) != 0 && fchmod(fd, 0700) != 0) {
    *err = "cannot make the image cache " + cache + " private: " + strerror(errno);
  } else {
    return fd;
  }
  close(fd);
  return -1;
}

// Unpacks `archive` as `name` in the cache (one rank per machine does, under
// a lock; the others wait, then find it).
bool UnpackIntoCache(int cache, const std::string& cache_dir, const std::string& archive,
                     const std::string& name, std::string* err) {
  const std::string lock = name + ".lock";
  int fd = openat(cache, lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0) {
    *err = "cannot lock " + lock + " in the image cache: " + strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  struct stat st;
  bool ok = fstatat(cache, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
  if (!ok) {
    const std::string tmp = name + ".unpacking-" + std::to_string(getpid());
    UnpackCounts counts;
    int root = -1;
    if (mkdirat(cache, tmp.c_str(), 0755) != 0 ||
        (root = openat(cache, tmp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
      *err = "cannot unpack into the image cache: " + std::string(strerror(errno));
    } else if (UnpackImage(archive, root, &counts, err)) {
      ok = renameat(cache, tmp.c_str(), cache, name.c_str()) == 0;
      if (!ok) *err = "cannot move it into the image cache: " + std::string(strerror(errno));
    }
    if (root >= 0) close(root);
    if (!ok) {
      // Leave no half-unpacked tree behind.
      RunAndWait({"rm", "-rf", "--", cache_dir + "/" + tmp});
    }
  }
  close(fd);
  return ok;
}

}  // namespace

bool PrepareImage(const std::vector<std::string>& entries, std::vector<std::string>* dirs,
                  std::string* err) {
  dirs->clear();
  err->clear();
  int cache = -1;
  const std::string cache_dir = ImageCacheDir();
  for (const std::string& entry : entries) {
    char real[PATH_MAX];
    struct stat st;
    if (realpath(entry.c_str(), real) == nullptr || stat(real, &st) != 0) {
      *err = "image " + entry + ": " + strerror(errno);
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      dirs->emplace_back(real);
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      *err = "image " + entry + ": neither a directory nor a tar archive";
      break;
    }
    if (cache < 0 && (cache = OpenPrivateCache(cache_dir, err)) < 0) {
      *err = "image " + entry + ": " + *err;
      break;
    }
    // Keyed by name, size and time; "u2": unpacked by stdmpi itself.
    const std::string base = strrchr(real, '/') + 1;
    const std::string name = Sanitize(base) + "-" + std::to_string(st.st_size) + "-" +
                             std::to_string(st.st_mtim.tv_sec) + "." +
                             std::to_string(st.st_mtim.tv_nsec) + ".u2";
    if (!UnpackIntoCache(cache, cache_dir, real, name, err)) {
      *err = "image " + entry + ": " + *err;
      break;
    }
    dirs->push_back(cache_dir + "/" + name);
  }
  if (cache >= 0) close(cache);
  return err->empty();
}

}  // namespace stdmpi
