// libFuzzer target: an image tarball, as anyone may have made it.
//
// Beyond "no crash, no sanitizer report": the reader keeps its bounds (a
// member's data is exactly its size, names within the limit), and every
// member path the unpacking would use is clean: relative, no "." or ".."
// component, no empty one, unchanged by cleaning it again; a path with a
// ".." component is always refused. The first byte sets the size of the
// reads, as a pipe from a decompressor gives them.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "tar_stream.h"

using namespace stdmpi;

namespace {

bool HasDotDot(const std::string& p) {
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (p.compare(i, j - i, "..") == 0 && j - i == 2) return true;
    i = j + 1;
  }
  return false;
}

void CheckPath(const std::string& raw) {
  std::string clean, why, again, why2;
  const bool ok = CleanMemberPath(raw, &clean, &why);
  if (HasDotDot(raw)) Check(!ok, "a path with a .. component is refused");
  if (!ok) {
    Check(!why.empty(), "a refused path says why");
    return;
  }
  Check(clean.empty() || (clean.front() != '/' && clean.back() != '/'), "clean paths are relative");
  Check(clean.find("//") == std::string::npos, "clean paths have no empty component");
  Check(!HasDotDot(clean), "clean paths never go up");
  Check(clean != "." && clean.rfind("./", 0) != 0 && clean.find("/./") == std::string::npos &&
            (clean.size() < 2 || clean.compare(clean.size() - 2, 2, "/.") != 0),
        "clean paths have no . component");
  Check(CleanMemberPath(clean, &again, &why2) && again == clean, "cleaning is idempotent");
  std::string dir, base;
  SplitMemberPath(clean, &dir, &base);
  Check((dir.empty() ? base : dir + "/" + base) == clean, "a split path joins back");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 251;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t at = 0;
  TarReader reader([&](char* buf, size_t n) -> ssize_t {
    size_t k = std::min({n, chunk, in.size() - at});
    std::memcpy(buf, in.data() + at, k);
    at += k;
    return static_cast<ssize_t>(k);
  });
  TarMember m;
  int got;
  int members = 0;
  while ((got = reader.Next(&m)) == 1 && ++members < 10000) {
    Check(m.path.size() <= TarReader::kMaxName + 255 + 1, "paths stay within the limit");
    Check(m.link.size() <= TarReader::kMaxName + 1, "link targets stay within the limit");
    CheckPath(m.path);
    if (m.type == TarMember::Type::kHardLink) CheckPath(m.link);
    Check(m.size >= 0 && (m.type == TarMember::Type::kFile || m.size == 0),
          "only files have data");
    // Read half of the data now and then: the rest is skipped by Next.
    int64_t read = 0;
    char buf[300];
    ssize_t n;
    while ((members % 2 == 0 || read < m.size / 2) &&
           (n = reader.ReadData(buf, sizeof(buf))) > 0) {
      read += n;
    }
    Check(read <= m.size, "a member's data is never more than its size");
    Check(!reader.error().empty() || read == m.size || members % 2 != 0,
          "a member's data is all of its size");
  }
  if (got < 0) Check(!reader.error().empty(), "a refused archive says why");
  Check(at <= in.size(), "never reads past the input");
  return 0;
}
