#include "shm_region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace stdmpi {

namespace {

// Above the descriptors a program commonly opens by number (3..9 in shell
// scripts), and the same number in the program as in the shim.
constexpr int kLowestFd = 10;

}  // namespace

ShmRegion::~ShmRegion() {
  if (base_ != nullptr) munmap(base_, mapped_);
  if (fd_ >= 0) close(fd_);
}

bool ShmRegion::Create(int64_t limit, std::string* why) {
  limit_ = limit;
  int fd = memfd_create("stdmpi-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    *why = std::string("memfd_create: ") + strerror(errno);
    return false;
  }
  // Growing only: a program that shrinks it cannot take pages from under the
  // shim's mapping (a SIGBUS); no more seals after this one.
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    *why = std::string("sealing the shared region: ") + strerror(errno);
    close(fd);
    return false;
  }
  fd_ = fcntl(fd, F_DUPFD_CLOEXEC, kLowestFd);
  close(fd);
  if (fd_ < 0) {
    *why = std::string("fcntl(F_DUPFD_CLOEXEC): ") + strerror(errno);
    return false;
  }
  return true;
}

bool ShmRegion::WithinLimit(int64_t off, int64_t n, std::string* why) const {
  if (off <= limit_ && n <= limit_ - off) return true;
  *why = "bytes " + std::to_string(off) + ".." + std::to_string(off + n) +
         " are past the shared region's limit of " + std::to_string(limit_) +
         " bytes (4 x --max-message)";
  return false;
}

bool ShmRegion::MapTo(int64_t off, int64_t end, std::string* why) {
  if (static_cast<size_t>(end) <= mapped_) return true;
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    *why = std::string("fstat of the shared region: ") + strerror(errno);
    return false;
  }
  if (st.st_size < end) {
    *why = "bytes " + std::to_string(off) + ".." + std::to_string(end) +
           " are past the end of the shared region (" + std::to_string(st.st_size) +
           " bytes): grow it (ftruncate its descriptor) first";
    return false;
  }
  // The whole file as it is now, up to the limit: fewer remaps as it grows.
  const size_t size = static_cast<size_t>(std::min<int64_t>(st.st_size, limit_));
  void* p = base_ == nullptr ? mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0)
                             : mremap(base_, mapped_, size, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) {
    *why = std::string("mapping the shared region (") + std::to_string(size) +
           " bytes): " + strerror(errno);
    return false;
  }
  base_ = static_cast<char*>(p);
  mapped_ = size;
  return true;
}

bool ShmRegion::View(int64_t off, int64_t n, std::string_view* out, std::string* why) {
  if (fd_ < 0) {
    *why = "this rank has no shared region";
    return false;
  }
  if (!WithinLimit(off, n, why) || !MapTo(off, off + n, why)) return false;
  *out = std::string_view(base_ + off, static_cast<size_t>(n));
  return true;
}

bool ShmRegion::Place(int64_t off, int64_t n, char** out, std::string* why) {
  if (fd_ < 0) {
    *why = "this rank has no shared region";
    return false;
  }
  if (!WithinLimit(off, n, why)) return false;
  if (static_cast<size_t>(off + n) <= mapped_) {
    // Mapped already (the region never shrinks): no system call.
    *out = base_ + off;
    return true;
  }
  struct stat st;
  if (fstat(fd_, &st) != 0) {
    *why = std::string("fstat of the shared region: ") + strerror(errno);
    return false;
  }
  if (st.st_size < off + n && ftruncate(fd_, off + n) != 0) {
    *why = "growing the shared region to " + std::to_string(off + n) + " bytes: " + strerror(errno);
    return false;
  }
  if (!MapTo(off, off + n, why)) return false;
  *out = base_ + off;
  return true;
}

bool ShmRegion::Write(int64_t off, std::string_view data, std::string* why) {
  char* at;
  if (!Place(off, static_cast<int64_t>(data.size()), &at, why)) return false;
  if (!data.empty()) std::memcpy(at, data.data(), data.size());
  return true;
}

}  // namespace stdmpi
