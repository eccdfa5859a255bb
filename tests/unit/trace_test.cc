#include "trace.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "trace_merge.h"

using namespace stdmpi;

TEST_CASE("JSON strings: any bytes give valid JSON") {
  CHECK(JsonString("@mpi send 1 0 hi") == "\"@mpi send 1 0 hi\"");
  CHECK(JsonString("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(JsonString(std::string("\x00\n\xff", 3)) == "\"\\u0000\\u000a\\u00ff\"");
}

TEST_CASE("a request as a complete trace event") {
  CHECK(TraceEvent("recv", 1500.25, 20.5, 3, "@mpi recv 0 5", true, 6) ==
        "{\"name\":\"recv\",\"cat\":\"request\",\"ph\":\"X\",\"ts\":1500.250,\"dur\":20.500,"
        "\"pid\":3,\"tid\":3,\"args\":{\"request\":\"@mpi recv 0 5\",\"ok\":true,"
        "\"reply_bytes\":6}}");
  CHECK(TraceProcessName(2, "python3 pi.py") ==
        "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"tid\":2,\"args\":{\"name\":\"rank 2: "
        "python3 pi.py\"}}\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":2,\"tid\":2,"
        "\"args\":{\"sort_index\":2}}");
  CHECK(TraceStartupEvent("MPI_Init", 70000, 45000.5, 1) ==
        "{\"name\":\"MPI_Init\",\"cat\":\"startup\",\"ph\":\"X\",\"ts\":70000.000,"
        "\"dur\":45000.500,\"pid\":1,\"tid\":1}");
}

TEST_CASE("the ranks' parts merge into one JSON array, a cut-off line left out") {
  char dir[] = "/tmp/stdmpi-trace-test-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string file = std::string(dir) + "/t.json";
  std::string prefix = file + ".stdmpi-7-1";
  {
    std::ofstream(prefix + ".rank1") << "{\"a\":1}\n{\"b\":2}\n{\"cut";
    std::ofstream(prefix + ".rank0") << "{\"c\":3}\n";
    std::ofstream(prefix + ".rank3") << "{\"not\":\"this job's: beyond its 3 ranks\"}\n";
    std::ofstream(file + ".stdmpi-6-1.rank2") << "{\"another\":\"job\"}\n";
    std::ofstream(std::string(dir) + "/t.json.rankx") << "not a part\n";
    std::ofstream(std::string(dir) + "/secret") << "{\"secret\":1}\n";
  }
  // A program's links: a part pointing to a file of the user's is not read,
  // and the merged file is not written through a link.
  REQUIRE(symlink((std::string(dir) + "/secret").c_str(), (prefix + ".rank2").c_str()) == 0);
  REQUIRE(symlink((std::string(dir) + "/secret").c_str(), file.c_str()) == 0);
  TraceMerge m;
  std::string err;
  REQUIRE(MergeTrace(prefix, file, 3, &m, &err));
  CHECK(m.ranks == std::vector<int>{0, 1});
  std::stringstream secret;
  secret << std::ifstream(std::string(dir) + "/secret").rdbuf();
  CHECK(secret.str() == "{\"secret\":1}\n");
  CHECK(m.events == 3);
  CHECK(m.cut == 1);
  std::stringstream got;
  got << std::ifstream(file).rdbuf();
  CHECK(got.str() == "[\n{\"c\":3},\n{\"a\":1},\n{\"b\":2}\n]\n");
  CHECK(access((prefix + ".rank0").c_str(), F_OK) != 0);  // parts removed
  for (const char* name : {"/t.json", "/t.json.rankx", "/secret", "/t.json.stdmpi-7-1.rank3",
                           "/t.json.stdmpi-6-1.rank2"}) {
    unlink((std::string(dir) + name).c_str());
  }
  CHECK(rmdir(dir) == 0);
}
