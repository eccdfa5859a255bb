// Reading a tar archive for --image, one member at a time, and the rules a
// member's path must follow before anything is made of it.
//
// stdmpi unpacks image tarballs itself instead of running tar(1): an archive
// is data from anywhere, and nothing in it may make the unpacking create,
// read or write anything outside the directory it unpacks into
// (image_unpack.h creates each member). This part only reads: the formats of
// GNU tar, POSIX ustar and pax (long names, long link targets, large sizes),
// checksums checked, every length bounded. It never touches the file system.
#ifndef STDMPI_LIBSHIM_TAR_STREAM_H_
#define STDMPI_LIBSHIM_TAR_STREAM_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace stdmpi {

struct TarMember {
  enum class Type { kFile, kHardLink, kSymlink, kCharDevice, kBlockDevice, kDirectory, kFifo };
  Type type = Type::kFile;
  std::string path;  // as stored (see CleanMemberPath)
  std::string link;  // the target of a link
  uint32_t mode = 0;
  int64_t size = 0;  // bytes of data (files only)
  int64_t mtime = 0;
  uint32_t dev_major = 0, dev_minor = 0;
};

class TarReader {
 public:
  // `read(buf, n)` gives up to n bytes of the (uncompressed) archive: the
  // count, 0 at its end, -1 on an error.
  explicit TarReader(std::function<ssize_t(char*, size_t)> read) : read_(std::move(read)) {}

  // The next member: 1 with *m set, 0 at the end of the archive, -1 if the
  // archive is damaged or has what stdmpi does not take (error() says which).
  // What was not read of the previous member's data is skipped.
  int Next(TarMember* m);
  // Reads the current member's data: the count, 0 once all of it was read,
  // -1 on an error.
  ssize_t ReadData(char* buf, size_t n);
  const std::string& error() const { return error_; }

  // Longest path or link target taken, and largest pax header.
  static constexpr size_t kMaxName = 4096;
  static constexpr int64_t kMaxPaxHeader = 1 << 20;

 private:
  // Fills *m from the header `b`: 1, or -1 if refused.
  int Member(const char* b, int64_t size, TarMember* m);
  bool ReadExact(char* buf, size_t n);
  bool Skip(int64_t n);
  // The data of a metadata member (a long name, a pax header), whole.
  bool ReadSmall(int64_t size, int64_t limit, std::string* out);
  bool ApplyPax(std::string_view records);
  // Records why the archive is refused (the first reason stays): -1, false.
  int Fail(std::string why);
  bool Refuse(std::string why);

  std::function<ssize_t(char*, size_t)> read_;
  std::string error_;
  int64_t left_ = 0;     // data of the current member not read yet
  int64_t padding_ = 0;  // zeros after it, up to a block's end
  // Set by a pax header or a GNU long name for the next member only.
  std::string next_path_, next_link_;
  int64_t next_size_ = -1, next_mtime_ = -1;
  bool ended_ = false;
};

// The path a member is unpacked at, relative to the image's root: leading
// slashes and "." components dropped, as tar does ("/usr/bin/" becomes
// "usr/bin"); "" for the root itself. False, with *why, for a path that could
// reach outside (a ".." component) or that no file system takes (a NUL byte,
// a component over 255 bytes).
bool CleanMemberPath(std::string_view path, std::string* out, std::string* why);

// "usr/bin" and "ls" of "usr/bin/ls"; "" and "etc" of "etc".
void SplitMemberPath(const std::string& clean, std::string* dir, std::string* base);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_TAR_STREAM_H_
