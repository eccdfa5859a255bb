#include "image_unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "spawn.h"
#include "tar_stream.h"

namespace stdmpi {

namespace {

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// `path` (clean, "" for the root itself) resolved inside `root` as if `root`
// were "/": no symbolic link, "..", magic /proc link or mount point leads out.
int OpenInRoot(int root, const std::string& path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return static_cast<int>(
      syscall(SYS_openat2, root, path.empty() ? "." : path.c_str(), &how, sizeof(how)));
}

std::string Quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// Makes the members of one archive under one root.
class Unpacker {
 public:
  Unpacker(int root, UnpackCounts* counts) : root_(root), counts_(counts) {}

  bool Add(const TarMember& m, TarReader* reader, std::string* err);
  // Gives the directories their modes and times (after their contents).
  bool Finish(std::string* err);

 private:
  // The directory `dir` under the root, made (0755) where missing: an
  // O_PATH descriptor, or -1 with errno.
  int OpenDir(const std::string& dir);
  // Removes what is at `base` in `dir_fd` (an empty directory too): false
  // with errno if something stays.
  static bool Clear(int dir_fd, const std::string& base);
  bool MakeFile(int dir_fd, const std::string& base, const TarMember& m, TarReader* reader,
                std::string* err);
  bool MakeHardLink(int dir_fd, const std::string& base, const TarMember& m, std::string* err);
  bool MakeDirectory(int dir_fd, const std::string& base, const std::string& path,
                     const TarMember& m);
  bool MakeOther(int dir_fd, const std::string& base, const TarMember& m);

  struct Dir {
    std::string path;
    mode_t mode;
    int64_t mtime;
  };
  int root_;
  UnpackCounts* counts_;
  std::vector<Dir> dirs_;
};

int Unpacker::OpenDir(const std::string& dir) {
  int fd = OpenInRoot(root_, dir, O_PATH | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT) return fd;
  std::string sofar;
  size_t i = 0;
  while (i < dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    const std::string part = dir.substr(i, j - i);
    const std::string next = sofar.empty() ? part : sofar + "/" + part;
    fd = OpenInRoot(root_, next, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      Fd parent(OpenInRoot(root_, sofar, O_PATH | O_DIRECTORY));
      if (parent.fd < 0) return -1;
      // A single name, not followed if it is a link (then EEXIST).
      if (mkdirat(parent.fd, part.c_str(), 0755) != 0 && errno != EEXIST) return -1;
      fd = OpenInRoot(root_, next, O_PATH | O_DIRECTORY);
    }
    if (fd < 0) return -1;
    if (j < dir.size()) close(fd);
    sofar = next;
    i = j + 1;
  }
  return fd;
}

bool Unpacker::Clear(int dir_fd, const std::string& base) {
  if (unlinkat(dir_fd, base.c_str(), 0) == 0 || errno == ENOENT) return true;
  if (errno != EISDIR && errno != EPERM) return false;
  return unlinkat(dir_fd, base.c_str(), AT_REMOVEDIR) == 0;
}

bool Unpacker::MakeFile(int dir_fd, const std::string& base, const TarMember& m, TarReader* reader,
                        std::string* err) {
  if (!Clear(dir_fd, base)) {
    *err = "cannot replace what is at " + Quoted(m.path) + ": " + strerror(errno);
    return false;
  }
  Fd out(openat(dir_fd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (out.fd < 0) {
    *err = "cannot create " + Quoted(m.path) + ": " + strerror(errno);
    return false;
  }
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = reader->ReadData(buf.data(), buf.size());
    if (n < 0) {
      *err = reader->error();
      return false;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out.fd, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        *err = "cannot write " + Quoted(m.path) + ": " + strerror(errno);
        return false;
      }
      done += w;
    }
  }
  const struct timespec times[2] = {{m.mtime, 0}, {m.mtime, 0}};
  if (fchmod(out.fd, m.mode & 0777) != 0 || futimens(out.fd, times) != 0) {
    *err = "cannot set the mode of " + Quoted(m.path) + ": " + strerror(errno);
    return false;
  }
  return true;
}

bool Unpacker::MakeHardLink(int dir_fd, const std::string& base, const TarMember& m,
                            std::string* err) {
  std::string target, why, tdir, tbase;
  if (!CleanMemberPath(m.link, &target, &why) || target.empty()) {
    *err = "member " + Quoted(m.path) + " is a hard link to " + Quoted(m.link) + ", which " +
           (why.empty() ? "is the image's root" : why) + ": refused";
    return false;
  }
  SplitMemberPath(target, &tdir, &tbase);
  Fd from(OpenInRoot(root_, tdir, O_PATH | O_DIRECTORY));
  // The target's own name is not followed: a link to a symbolic link links
  // the symbolic link itself.
  if (from.fd < 0 || !Clear(dir_fd, base) ||
      linkat(from.fd, tbase.c_str(), dir_fd, base.c_str(), 0) != 0) {
    *err = "member " + Quoted(m.path) + " is a hard link to " + Quoted(m.link) +
           ", which cannot be made: " + strerror(errno) +
           (errno == ENOENT ? " (the target must come earlier in the archive)" : "");
    return false;
  }
  return true;
}

bool Unpacker::MakeDirectory(int dir_fd, const std::string& base, const std::string& path,
                             const TarMember& m) {
  struct stat st;
  if (fstatat(dir_fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) {
    if (!Clear(dir_fd, base) || mkdirat(dir_fd, base.c_str(), 0700) != 0) return false;
  }
  dirs_.push_back({path, static_cast<mode_t>((m.mode & 01777) | 0700), m.mtime});
  return true;
}

// Symbolic links, FIFOs, whiteouts; other device nodes are skipped.
bool Unpacker::MakeOther(int dir_fd, const std::string& base, const TarMember& m) {
  using Type = TarMember::Type;
  const bool whiteout = m.type == Type::kCharDevice && m.dev_major == 0 && m.dev_minor == 0;
  if ((m.type == Type::kCharDevice && !whiteout) || m.type == Type::kBlockDevice) {
    ++counts_->devices_skipped;
    return true;
  }
  if (!Clear(dir_fd, base)) return false;
  int rc;
  if (m.type == Type::kSymlink) {
    rc = symlinkat(m.link.c_str(), dir_fd, base.c_str());
  } else if (m.type == Type::kFifo) {
    rc = mknodat(dir_fd, base.c_str(), S_IFIFO | (m.mode & 0777), 0);
  } else {
    rc = mknodat(dir_fd, base.c_str(), S_IFCHR, makedev(0, 0));
    // A kernel before 5.8 makes whiteouts for root only: skipped then.
    if (rc != 0 && errno == EPERM) {
      ++counts_->devices_skipped;
      return true;
    }
  }
  if (rc != 0) return false;
  const struct timespec times[2] = {{m.mtime, 0}, {m.mtime, 0}};
  utimensat(dir_fd, base.c_str(), times, AT_SYMLINK_NOFOLLOW);
  return true;
}

bool Unpacker::Add(const TarMember& m, TarReader* reader, std::string* err) {
  std::string path, why, dir, base;
  if (!CleanMemberPath(m.path, &path, &why)) {
    *err = "member " + Quoted(m.path) + " " + why + ": refused";
    return false;
  }
  ++counts_->members;
  if (path.empty()) return true;  // the root itself ("./"): ours
  if (m.type == TarMember::Type::kSymlink &&
      (m.link.empty() || m.link.find('\0') != std::string::npos)) {
    *err = "member " + Quoted(m.path) + " is a symbolic link without a usable target";
    return false;
  }
  SplitMemberPath(path, &dir, &base);
  Fd dir_fd(OpenDir(dir));
  if (dir_fd.fd < 0) {
    *err = "cannot make the directory of " + Quoted(m.path) + ": " + strerror(errno);
    return false;
  }
  switch (m.type) {
    case TarMember::Type::kFile:
      return MakeFile(dir_fd.fd, base, m, reader, err);
    case TarMember::Type::kHardLink:
      return MakeHardLink(dir_fd.fd, base, m, err);
    case TarMember::Type::kDirectory:
      if (MakeDirectory(dir_fd.fd, base, path, m)) return true;
      break;
    default:
      if (MakeOther(dir_fd.fd, base, m)) return true;
      break;
  }
  *err = "cannot create " + Quoted(m.path) + ": " + strerror(errno);
  return false;
}

bool Unpacker::Finish(std::string* err) {
  // The deepest first: a directory's time is set after its contents.
  for (size_t i = dirs_.size(); i-- > 0;) {
    const Dir& d = dirs_[i];
    Fd fd(OpenInRoot(root_, d.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    const struct timespec times[2] = {{d.mtime, 0}, {d.mtime, 0}};
    if (fd.fd < 0 || fchmod(fd.fd, d.mode) != 0 || futimens(fd.fd, times) != 0) {
      *err = "cannot set the mode of " + Quoted(d.path) + ": " + strerror(errno);
      return false;
    }
  }
  return true;
}

// The archive's bytes: from the file, or from its decompressor's stdout.
class ArchiveSource {
 public:
  ~ArchiveSource() { Stop(); }
  bool Open(const std::string& archive, std::string* err);
  ssize_t Read(char* buf, size_t n) {
    for (;;) {
      ssize_t r = read(fd_, buf, n);
      if (r >= 0 || errno != EINTR) return r;
    }
  }
  // After the archive's end: the decompressor must have succeeded.
  bool Close(std::string* err);

 private:
  void Stop();
  int file_ = -1, fd_ = -1;
  pid_t pid_ = -1;
  std::string tool_;
};

bool ArchiveSource::Open(const std::string& archive, std::string* err) {
  file_ = open(archive.c_str(), O_RDONLY | O_CLOEXEC);
  if (file_ < 0) {
    *err = strerror(errno);
    return false;
  }
  unsigned char magic[6] = {};
  ssize_t n = pread(file_, magic, sizeof(magic), 0);
  const char* tool = DecompressorFor(magic, n > 0 ? static_cast<size_t>(n) : 0);
  if (tool == nullptr) {
    fd_ = file_;
    file_ = -1;
    return true;
  }
  tool_ = tool;
  std::string path;
  SpawnFailure failure;
  const char* path_env = getenv("PATH");
  if (!ResolveExecutable(tool_, path_env ? path_env : "", &path, &failure)) {
    *err = "it is compressed with " + tool_ + ", which is not installed";
    return false;
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    *err = std::string("pipe: ") + strerror(errno);
    return false;
  }
  // Its complaints are ours to word (Close): its stderr goes nowhere.
  Fd null(open("/dev/null", O_WRONLY | O_CLOEXEC));
  pid_ = fork();
  if (pid_ == 0) {
    dup2(file_, 0);
    dup2(p[1], 1);
    if (null.fd >= 0) dup2(null.fd, 2);
    signal(SIGPIPE, SIG_DFL);
    execl(path.c_str(), tool_.c_str(), "-dc", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(p[1]);
  fd_ = p[0];
  if (pid_ < 0) {
    *err = std::string("fork: ") + strerror(errno);
    return false;
  }
  return true;
}

bool ArchiveSource::Close(std::string* err) {
  if (pid_ < 0) return true;
  // What follows the archive's end (the padding of its last record) is read
  // too: the decompressor's status then says whether all of it was sound.
  char buf[8192];
  while (Read(buf, sizeof(buf)) > 0) {
  }
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  *err = tool_ + " -dc " + DescribeWaitStatus(status) + ": the compressed archive is damaged";
  return false;
}

void ArchiveSource::Stop() {
  if (fd_ >= 0) close(fd_);
  if (file_ >= 0) close(file_);
  fd_ = file_ = -1;
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

}  // namespace

const char* DecompressorFor(const unsigned char* m, size_t n) {
  if (n >= 2 && m[0] == 0x1f && (m[1] == 0x8b || m[1] == 0x9d)) return "gzip";
  if (n >= 3 && memcmp(m, "BZh", 3) == 0) return "bzip2";
  if (n >= 6 && memcmp(m,
                       "\xfd"
                       "7zXZ\0",
                       6) == 0)
    return "xz";
  if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return "zstd";
  if (n >= 4 && memcmp(m, "LZIP", 4) == 0) return "lzip";
  return nullptr;
}

bool UnpackImage(const std::string& archive, int root_fd, UnpackCounts* counts, std::string* err) {
  // openat2 is what keeps every path inside (Linux 5.6).
  Fd probe(OpenInRoot(root_fd, "", O_PATH | O_DIRECTORY));
  if (probe.fd < 0) {
    *err = errno == ENOSYS
               ? "this kernel has no openat2 (Linux 5.6 or later unpacks images "
                 "safely): unpack the image yourself and give its directory"
               : std::string("cannot open the directory to unpack into: ") + strerror(errno);
    return false;
  }
  ArchiveSource source;
  if (!source.Open(archive, err)) return false;
  TarReader reader([&source](char* buf, size_t n) { return source.Read(buf, n); });
  Unpacker unpacker(root_fd, counts);
  TarMember m;
  int got;
  while ((got = reader.Next(&m)) == 1) {
    if (unpacker.Add(m, &reader, err)) continue;
    if (reader.error().empty()) return false;  // refused, or the file system said no
    got = -1;
    break;
  }
  if (got < 0) {
    // A damaged compressed archive reads as a cut-short one: the
    // decompressor says better what is wrong.
    if (source.Close(err)) *err = reader.error();
    return false;
  }
  if (counts->members == 0) {
    *err = "it holds no member: is it a tar archive?";
    return false;
  }
  return source.Close(err) && unpacker.Finish(err);
}

}  // namespace stdmpi
