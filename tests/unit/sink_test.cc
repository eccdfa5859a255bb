// The pieces a write is handed to libuv in: none over its 32-bit length.
#include "sink.h"

#include <catch2/catch.hpp>
#include <cstdint>

using namespace stdmpi;

TEST_CASE("a write of 4 GiB or more goes to libuv whole, in pieces under 32 bits") {
  // Only the addresses are computed: nothing is read or written there.
  char* base = reinterpret_cast<char*>(uintptr_t{1} << 20);
  const size_t n = (size_t{5} << 30) + 3;
  std::vector<uv_buf_t> bufs = UvBuffers(base, n);
  REQUIRE(bufs.size() == 6);
  size_t total = 0;
  for (const uv_buf_t& b : bufs) {
    CHECK(b.base == base + total);
    CHECK(b.len <= (size_t{1} << 30));
    total += b.len;
  }
  CHECK(total == n);
  CHECK(bufs.back().len == 3);

  char small[10];
  bufs = UvBuffers(small, sizeof small, 4);
  REQUIRE(bufs.size() == 3);
  CHECK(bufs[2].base == small + 8);
  CHECK(bufs[2].len == 2);
  CHECK(UvBuffers(small, 0).empty());
}
