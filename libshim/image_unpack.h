// Unpacking an image tarball into a directory, with nothing in the archive
// able to reach outside it.
//
// Every member's path is cleaned first (tar_stream.h: no "..", leading "/"
// dropped) and resolved inside the directory with openat2(RESOLVE_IN_ROOT):
// a symbolic link the archive made earlier (to "/etc", to "../..") leads to
// the image's own /etc, never the host's. Hard links link to members of the
// image only. What the unpacking makes:
//   - files, directories, symbolic links, hard links and FIFOs, with their
//     modification times; files owned by the user who unpacks;
//   - permission bits without setuid and setgid (directories keep their
//     sticky bit, and always let their owner in, so that the cache can be
//     removed);
//   - no device nodes but overlayfs's whiteouts (character device 0:0, a file
//     a layer deletes): a container gets a minimal /dev of its own.
#ifndef STDMPI_LIBSHIM_IMAGE_UNPACK_H_
#define STDMPI_LIBSHIM_IMAGE_UNPACK_H_

#include <cstdint>
#include <string>

namespace stdmpi {

struct UnpackCounts {
  int64_t members = 0;
  int64_t devices_skipped = 0;
};

// Unpacks the tar archive at `archive` (plain, or compressed with gzip,
// bzip2, xz, zstd or lzip: their programs decompress it) into the empty
// directory `root_fd`. False with *err saying why (the member, the cause);
// what was unpacked so far stays for the caller to remove.
bool UnpackImage(const std::string& archive, int root_fd, UnpackCounts* counts, std::string* err);

// The program that decompresses an archive starting with `magic`, or nullptr
// for an uncompressed one.
const char* DecompressorFor(const unsigned char* magic, size_t n);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_IMAGE_UNPACK_H_
