#include "config_files.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace stdmpi;

using Words = std::vector<std::string>;

TEST_CASE("config files: later settings win and flags can be turned off and mca adds up") {
  ConfigArgs c;
  std::string err;
  REQUIRE(
      c.AddFile("# site\nisolate = host\ntag-output = true\nmca = btl tcp,self\n"
                "mca = plm_rsh_agent ssh\ntimeout = 600   # ten minutes\nnet = yes\n\n",
                "/etc/stdmpi/stdmpi.conf", &err));
  REQUIRE(c.AddFile("tag-output = no\ntimeout=30\nmca = pml ob1\nmca = btl self,vader\n",
                    "~/.config/stdmpi/stdmpi.conf", &err));
  REQUIRE(c.AddWords("--max-line 1M --spin-us=0 --net=false", "STDMPI_OPTIONS", &err));
  CHECK(c.Words({}) == Words{"--isolate", "host", "--mca", "plm_rsh_agent", "ssh", "--timeout",
                             "30", "--mca", "pml", "ob1", "--mca", "btl", "self,vader",
                             "--max-line", "1M", "--spin-us", "0"});
  // An --mca KEY the command line gives again is left to it (mpirun refuses
  // a parameter twice); the others stay.
  CHECK(c.Words({"--mca", "btl", "tcp,self", "-n", "2", "true"}) ==
        Words{"--isolate", "host", "--mca", "plm_rsh_agent", "ssh", "--timeout", "30", "--mca",
              "pml", "ob1", "--max-line", "1M", "--spin-us", "0"});
  CHECK(c.Describe({"--timeout 5"}) ==
        "--isolate host: /etc/stdmpi/stdmpi.conf line 2\n"
        "--mca plm_rsh_agent ssh: /etc/stdmpi/stdmpi.conf line 5\n"
        "--timeout 30: ~/.config/stdmpi/stdmpi.conf line 2 (replaced by the command line)\n"
        "--mca pml ob1: ~/.config/stdmpi/stdmpi.conf line 3\n"
        "--mca btl self,vader: ~/.config/stdmpi/stdmpi.conf line 4\n"
        "--max-line 1M: STDMPI_OPTIONS\n"
        "--spin-us 0: STDMPI_OPTIONS\n"
        "--timeout 5: the command line\n");
}

TEST_CASE("config files: every mistake names the file and the line and the fix") {
  auto bad = [](std::string text) {
    ConfigArgs c;
    std::string err;
    CHECK_FALSE(c.AddFile(text, "F", &err));
    return err;
  };
  CHECK(bad("isolate host\n") == "F line 1: expected \"name = value\", not \"isolate host\"");
  CHECK(bad("\n\nisolat = host\n") ==
        "F line 3: \"isolat\" is not an option of stdmpirun (see stdmpirun --help)");
  CHECK(bad("isolate = bogus\n") == "F line 1: --isolate bogus: expected none or host");
  CHECK(bad("tag-output = maybe\n") ==
        "F line 1: tag-output is a flag: give true or false, not \"maybe\"");
  CHECK(bad("mca = btl\n") ==
        "F line 1: mca needs two values (KEY VALUE), e.g. mca = btl tcp,self");
  CHECK(bad("n = 4\n") ==
        "F line 1: --np belongs on the command line of a job, not in a config file");
  CHECK(bad("tasks = t.txt\n") ==
        "F line 1: --tasks belongs on the command line of a job, not in a config file");
  ConfigArgs c;
  std::string err;
  CHECK_FALSE(c.AddWords("--tag-output python3", "STDMPI_OPTIONS", &err));
  CHECK(err.find("STDMPI_OPTIONS: \"python3\" is not an option of stdmpirun") == 0);
  CHECK_FALSE(c.AddWords("--timeout", "STDMPI_OPTIONS", &err));
  CHECK(err == "STDMPI_OPTIONS: --timeout needs a value");
  CHECK_FALSE(c.AddWords("--tag-output=maybe", "STDMPI_OPTIONS", &err));
  CHECK(err ==
        "STDMPI_OPTIONS: --tag-output is a flag: give =true or =false, not \"--tag-output=maybe\"");
  CHECK_FALSE(c.AddFile("retries = 2\n", "F", &err));
  CHECK(err == "F line 1: --retries belongs on the command line of a job, not in a config file");
}

TEST_CASE("words split as a shell splits them without expansion") {
  Words w;
  std::string err;
  REQUIRE(
      SplitWords("  --bind '/a b:/c'  --launcher-arg=\"--x \\\"y\\\"\" a\\ b $HOME\n", &w, &err));
  CHECK(w == Words{"--bind", "/a b:/c", "--launcher-arg=--x \"y\"", "a b", "$HOME"});
  w.clear();
  CHECK_FALSE(SplitWords("--bind 'open", &w, &err));
  CHECK(err == "a ' quote is not closed");
}
