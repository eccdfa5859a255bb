// Small file-system helpers shared by the shim, stdmpirun and stdmpi-init.
// Header-only: stdmpi-init links no stdmpi library (it must start fast).
#ifndef STDMPI_LIBSHIM_FSUTIL_H_
#define STDMPI_LIBSHIM_FSUTIL_H_

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace stdmpi {

// Reads the whole of `path` into *out; false with *err ("cannot read PATH:
// REASON") if it cannot be opened.
inline bool ReadFileToString(const std::string& path, std::string* out, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  out->clear();
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

// mkdir -p (mode 0755 for what it creates).
inline bool MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string part = path.substr(0, i);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
  }
  return true;
}

// Writes `n` bytes at `text` to an existing file (cgroup, /proc) in one
// write(2); on failure errno says why. System calls only: safe after fork()
// in a threaded process.
inline bool WriteFile(const char* path, const char* text, size_t n) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text, n) == static_cast<ssize_t>(n);
  int e = errno;
  close(fd);
  errno = e;
  return ok;
}

inline bool WriteFile(const std::string& path, const std::string& text) {
  return WriteFile(path.c_str(), text.data(), text.size());
}

// Writes all `n` bytes at `p` to `fd` (a file or a blocking pipe), again
// after EINTR and short writes; false (errno set) if a write fails.
inline bool WriteFully(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Creates `path` anew for writing, never through a link: a program may have
// put anything at that name (a link to a file of the user's), so the entry is
// removed first (the link itself, not what it points to) and the file is
// created exclusively. Returns the descriptor, or -1 with errno.
inline int CreateFileNoFollow(const std::string& path, mode_t mode) {
  unlink(path.c_str());
  return open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

// Opens `path` for reading if it is a regular file of this user's, not a
// link (a program may have put a link or a device there); else -1.
inline int OpenOwnFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    close(fd);
    return -1;
  }
  return fd;
}

// The directory of this process's executable ("." if it cannot be read):
// stdmpirun and the shim find their companions next to themselves.
inline std::string ExeDir() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return ".";
  exe[n] = '\0';
  std::string dir(exe);
  return dir.substr(0, dir.rfind('/'));
}

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_FSUTIL_H_
