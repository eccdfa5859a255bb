// The shared region between a shim and its program (docs/protocol.md,
// "Arrays through shared memory"): an anonymous memory file (memfd) the
// program inherits as descriptor STDMPI_SHM_FD. A `:shm=OFF` request names
// bytes in it instead of sending them through the pipe, and the reply's bytes
// are written there. The program grows it (ftruncate) to hold what it
// writes; the shim grows it to hold a reply. Nobody can shrink it (a seal),
// so the shim's mapping never loses pages under it. It has no name: it is
// gone when the last process holding it ends, however that ends.
#ifndef STDMPI_LIBSHIM_SHM_REGION_H_
#define STDMPI_LIBSHIM_SHM_REGION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stdmpi {

class ShmRegion {
 public:
  ShmRegion() = default;
  ~ShmRegion();
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;

  // Makes the (empty) region; it may grow to `limit` bytes. False with why.
  bool Create(int64_t limit, std::string* why);
  // The descriptor the program inherits (-1: none).
  int fd() const { return fd_; }
  int64_t limit() const { return limit_; }

  // The bytes [off, off + n) as the program left them. False with why: past
  // the region's end, or past its limit.
  bool View(int64_t off, int64_t n, std::string_view* out, std::string* why);
  // Writes `data` at `off`, growing the region to hold it.
  bool Write(int64_t off, std::string_view data, std::string* why);
  // Where a reply of `n` bytes goes, the region grown to hold it.
  bool Place(int64_t off, int64_t n, char** out, std::string* why);

 private:
  // Maps at least `end` bytes of the file (its current size); `off` starts
  // the range asked for (for the message).
  bool MapTo(int64_t off, int64_t end, std::string* why);
  bool WithinLimit(int64_t off, int64_t n, std::string* why) const;

  int fd_ = -1;
  char* base_ = nullptr;
  size_t mapped_ = 0;
  int64_t limit_ = 0;
};

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_SHM_REGION_H_
