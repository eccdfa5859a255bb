#include "tar_stream.h"

#include <catch2/catch.hpp>
#include <cstring>

#include "image_unpack.h"

using namespace stdmpi;

namespace {

// A tar header block; fields are written as tar writes them.
struct Header {
  std::string name = {};
  char type = '0';
  int64_t size = 0;
  std::string link = {};
  unsigned mode = 0644;
  int64_t mtime = 1700000000;
  std::string prefix = {};
  bool posix = true;
  bool base256_size = false;
  unsigned major = 0, minor = 0;

  std::string Block() const {
    std::string b(512, '\0');
    auto put = [&b](size_t at, const std::string& s) { std::memcpy(&b[at], s.data(), s.size()); };
    auto octal = [&put](size_t at, size_t width, int64_t v) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%0*llo", static_cast<int>(width - 1),
                    static_cast<long long>(v));
      put(at, buf);
    };
    put(0, name.substr(0, 100));
    octal(100, 8, mode);
    octal(108, 8, 0);
    octal(116, 8, 0);
    if (base256_size) {
      b[124] = static_cast<char>(0x80);
      for (int i = 0; i < 8; ++i) b[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
    } else {
      octal(124, 12, size);
    }
    octal(136, 12, mtime);
    b[156] = type;
    put(157, link.substr(0, 100));
    put(257, posix ? std::string("ustar\0"
                                 "00",
                                 8)
                   : std::string("ustar  \0", 8));
    octal(329, 8, major);
    octal(337, 8, minor);
    if (posix) put(345, prefix);
    put(148, "        ");
    unsigned sum = 0;
    for (unsigned char c : b) sum += c;
    char chk[8];
    std::snprintf(chk, sizeof(chk), "%06o", sum);
    std::memcpy(&b[148], chk, 7);
    return b;
  }
};

std::string Padded(const std::string& data) {
  return data + std::string((512 - data.size() % 512) % 512, '\0');
}

std::string Member(Header h, const std::string& data = "") {
  if (h.type == '0' || h.type == 'L' || h.type == 'K' || h.type == 'x') {
    h.size = static_cast<int64_t>(data.size());
  }
  return h.Block() + Padded(data);
}

std::string End() {
  return std::string(1024, '\0');
}

std::string PaxRecord(const std::string& key, const std::string& value) {
  std::string body = " " + key + "=" + value + "\n";
  size_t n = body.size() + 1;
  while (std::to_string(n).size() + body.size() != n) ++n;
  return std::to_string(n) + body;
}

// Reads an archive from memory, `chunk` bytes a read at most.
struct Archive {
  std::string bytes;
  size_t at = 0, chunk = 7;
  TarReader reader{[this](char* buf, size_t n) -> ssize_t {
    size_t k = std::min({n, chunk, bytes.size() - at});
    std::memcpy(buf, bytes.data() + at, k);
    at += k;
    return static_cast<ssize_t>(k);
  }};
  explicit Archive(std::string b) : bytes(std::move(b)) {}
  std::string Data() {
    std::string out;
    char buf[100];
    ssize_t n;
    while ((n = reader.ReadData(buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return n == 0 ? out : "<error>";
  }
};

}  // namespace

TEST_CASE("member paths are cleaned as tar does, and a path that goes up is refused") {
  std::string out, why;
  const std::pair<const char*, const char*> clean[] = {
      {"a/b", "a/b"},
      {"./a/b", "a/b"},
      {"/etc//passwd", "etc/passwd"},
      {"a/./b/", "a/b"},
      {".", ""},
      {"./", ""},
      {"/", ""},
      {"..a/b..", "..a/b.."},
      {"a/...", "a/..."},
  };
  for (const auto& [in, want] : clean) {
    INFO(in);
    CHECK(CleanMemberPath(in, &out, &why));
    CHECK(out == want);
  }
  for (const char* bad : {"..", "../x", "a/..", "a/../b", "/../etc", "./../x", "a//../../b"}) {
    INFO(bad);
    CHECK_FALSE(CleanMemberPath(bad, &out, &why));
    CHECK(why == "goes up a directory (\"..\")");
  }
  CHECK_FALSE(CleanMemberPath(std::string("a\0b", 3), &out, &why));
  CHECK(why == "has a NUL byte");
  CHECK_FALSE(CleanMemberPath("a/" + std::string(256, 'x'), &out, &why));
  CHECK(why == "has a name longer than 255 bytes");
  CHECK(CleanMemberPath("a/" + std::string(255, 'x'), &out, &why));
  CHECK_FALSE(CleanMemberPath(std::string(4097, 'a'), &out, &why));

  std::string dir, base;
  SplitMemberPath("usr/bin/ls", &dir, &base);
  CHECK((dir == "usr/bin" && base == "ls"));
  SplitMemberPath("etc", &dir, &base);
  CHECK((dir.empty() && base == "etc"));
}

TEST_CASE("ustar, GNU and pax members are read with their names, links and data") {
  std::string longname = std::string(150, 'd') + "/" + std::string(120, 'f');
  std::string longlink = "/" + std::string(300, 'l');
  Archive a(Member({.name = "etc/", .type = '5', .mode = 0755}) +
            Member({.name = "etc/issue", .mode = 0600}, "hello\n") +
            Member({.name = "file", .prefix = "usr/share"}, "in prefix") +
            Member({.name = "././@LongLink", .type = 'L', .posix = false}, longname + '\0') +
            Member({.name = "cut", .posix = false}, "long name") +
            Member({.name = "././@LongLink", .type = 'K', .posix = false}, longlink + '\0') +
            Member({.name = "lnk", .type = '2', .posix = false}) +
            Member({.name = "PaxHeaders/x", .type = 'x'}, PaxRecord("path", "pax/" + longname) +
                                                              PaxRecord("mtime", "1234.5") +
                                                              PaxRecord("comment", "ignored")) +
            Member({.name = "short"}, "pax data") +
            Member({.name = "hard", .type = '1', .link = "etc/issue"}) +
            Member({.name = "dev/null", .type = '3', .major = 1, .minor = 3}) +
            Member({.name = "fifo", .type = '6'}) + End());
  TarMember m;
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.type == TarMember::Type::kDirectory && m.path == "etc/" && m.mode == 0755));
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.type == TarMember::Type::kFile && m.path == "etc/issue" && m.size == 6));
  CHECK((m.mode == 0600 && m.mtime == 1700000000));
  CHECK(a.Data() == "hello\n");
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK(m.path == "usr/share/file");
  CHECK(a.Data() == "in prefix");
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK(m.path == longname);
  CHECK(a.Data() == "long name");
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.type == TarMember::Type::kSymlink && m.path == "lnk" && m.link == longlink));
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.path == "pax/" + longname && m.mtime == 1234));
  CHECK(a.Data() == "pax data");
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.type == TarMember::Type::kHardLink && m.link == "etc/issue" && m.path == "hard"));
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.type == TarMember::Type::kCharDevice && m.dev_major == 1 && m.dev_minor == 3));
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK(m.type == TarMember::Type::kFifo);
  CHECK(a.reader.Next(&m) == 0);
  CHECK(a.reader.Next(&m) == 0);
}

TEST_CASE("unread data is skipped, sizes may be base-256 or pax, and an archive may just end") {
  Header big{.name = "big", .base256_size = true};
  big.size = 1000;
  Archive a(big.Block() + Padded(std::string(1000, 'x')) +
            Member({.name = "PaxHeaders/y", .type = 'x'}, PaxRecord("size", "3")) +
            Header{.name = "sized"}.Block() + Padded("abc") +
            Member({.name = "old/", .type = '\0', .posix = false}));
  TarMember m;
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.path == "big" && m.size == 1000));
  REQUIRE(a.reader.Next(&m) == 1);  // big's data skipped
  CHECK((m.path == "sized" && m.size == 3));
  CHECK(a.Data() == "abc");
  REQUIRE(a.reader.Next(&m) == 1);
  CHECK((m.path == "old/" && m.type == TarMember::Type::kDirectory));
  CHECK(a.reader.Next(&m) == 0);  // no end blocks: the end all the same
}

TEST_CASE("damaged and unsupported archives are refused with the reason") {
  TarMember m;
  std::string block = Header{.name = "x"}.Block();
  block[0] = 'y';  // the checksum no longer matches
  Archive bad(block + End());
  CHECK(bad.reader.Next(&m) == -1);
  CHECK(bad.reader.error() ==
        "a header's checksum does not match: the file is damaged or not a tar archive");

  Archive text(std::string(2000, 'z'));
  CHECK(text.reader.Next(&m) == -1);

  Archive cut(Member({.name = "f"}, std::string(600, 'x')).substr(0, 700));
  REQUIRE(cut.reader.Next(&m) == 1);
  CHECK(cut.Data() == "<error>");
  CHECK(cut.reader.error() == "the archive ends in the middle of a member: it is cut short");

  Archive half(Header{.name = "f"}.Block().substr(0, 300));
  CHECK(half.reader.Next(&m) == -1);
  CHECK(half.reader.error() == "the archive ends in the middle of a member: it is cut short");

  Archive sparse(Member({.name = "s", .type = 'S'}) + End());
  CHECK(sparse.reader.Next(&m) == -1);
  CHECK(sparse.reader.error() ==
        "member \"s\" is a sparse file, which stdmpi does not unpack (make the archive without "
        "--sparse)");

  Archive odd(Member({.name = "q", .type = 'Q'}) + End());
  CHECK(odd.reader.Next(&m) == -1);
  CHECK(odd.reader.error() == "member \"q\" has type 'Q', which stdmpi does not unpack");

  Header huge{.name = "PaxHeaders/z", .type = 'x'};
  huge.size = TarReader::kMaxPaxHeader + 1;
  Archive pax(huge.Block());
  CHECK(pax.reader.Next(&m) == -1);
  CHECK(pax.reader.error() == "a header of 1048577 bytes is over the limit of 1048576");

  Archive badpax(Member({.name = "PaxHeaders/w", .type = 'x'}, "99 path=x\n") + End());
  CHECK(badpax.reader.Next(&m) == -1);
  CHECK(badpax.reader.error() == "a pax header is malformed");

  Header negative{.name = "n"};
  std::string nb = negative.Block();
  nb[124] = static_cast<char>(0xff);  // base-256, negative
  // (the checksum is recomputed by hand for the changed byte)
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i)
    sum += i >= 148 && i < 156 ? ' ' : static_cast<unsigned char>(nb[i]);
  char chk[8];
  std::snprintf(chk, sizeof(chk), "%06o", sum);
  std::memcpy(&nb[148], chk, 7);
  Archive neg(nb + End());
  CHECK(neg.reader.Next(&m) == -1);
  CHECK(neg.reader.error() == "a header has a bad size");
}

TEST_CASE("compressed archives are known by their first bytes") {
  auto tool = [](std::string magic) {
    const char* t =
        DecompressorFor(reinterpret_cast<const unsigned char*>(magic.data()), magic.size());
    return std::string(t ? t : "none");
  };
  CHECK(tool("\x1f\x8b\x08\x00") == "gzip");
  CHECK(tool("\x1f\x9d\x90") == "gzip");
  CHECK(tool("BZh91AY") == "bzip2");
  CHECK(tool(std::string("\xfd"
                         "7zXZ\0",
                         6)) == "xz");
  CHECK(tool("\x28\xb5\x2f\xfd") == "zstd");
  CHECK(tool("LZIP\x01") == "lzip");
  CHECK(tool("etc/") == "none");
  CHECK(tool("\x1f") == "none");
  CHECK(tool("") == "none");
}
