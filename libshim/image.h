// Root filesystems for --image: directories as they are, tarballs unpacked
// once per machine into a private cache that the user's ranks share.
#ifndef STDMPI_LIBSHIM_IMAGE_H_
#define STDMPI_LIBSHIM_IMAGE_H_

#include <string>
#include <vector>

namespace stdmpi {

// The cache: $STDMPI_IMAGE_CACHE, else $XDG_CACHE_HOME/stdmpi/images, else
// $HOME/.cache/stdmpi/images; "" if none of them is set. It must be the
// user's own and writable by no one else (it is made 0700).
std::string ImageCacheDir();

// Turns each entry (a directory, or a tar archive, compressed or not) into a
// directory: absolute paths, tarballs unpacked under the cache by stdmpi
// itself (image_unpack.h), keyed by name, size and modification time; the
// first rank unpacks under a lock, the others wait and reuse. False with
// *err naming the entry and the cause.
bool PrepareImage(const std::vector<std::string>& entries, std::vector<std::string>* dirs,
                  std::string* err);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_IMAGE_H_
