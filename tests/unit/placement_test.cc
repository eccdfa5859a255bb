// Core choice over synthetic machines (tests/unit/topologies): the exact
// cpusets each rank gets.
#include "placement.h"

#include <catch2/catch.hpp>

#include <string>

using namespace stdmpi;

namespace {

struct Topology {
  hwloc_topology_t t = nullptr;
  explicit Topology(const std::string& name) {
    hwloc_topology_init(&t);
    std::string path = std::string(STDMPI_TOPOLOGY_DIR) + "/" + name;
    REQUIRE(hwloc_topology_set_xml(t, path.c_str()) == 0);
    REQUIRE(hwloc_topology_load(t) == 0);
  }
  ~Topology() { hwloc_topology_destroy(t); }
};

Bitmap Set(const char* list) {
  Bitmap b = NewBitmap();
  hwloc_bitmap_list_sscanf(b.get(), list);
  return b;
}

// The PUs rank `r` of `n` gets, or "unbound: REASON".
std::string Cpus(const Topology& topo, int r, int n, int cpr = 0, BindTo to = BindTo::kCore,
                 const char* allowed = nullptr) {
  PlacementInput in;
  in.local_rank = r;
  in.local_size = n;
  in.cpus_per_rank = cpr;
  in.bind_to = to;
  Bitmap a = allowed ? Set(allowed) : nullptr;
  in.own = a.get();
  in.node = a.get();
  Placement p = Place(topo.t, in);
  if (!p.cpuset) return "unbound: " + p.unbound_reason;
  return ListOf(p.cpuset.get());
}

}  // namespace

TEST_CASE("bind-to names") {
  BindTo b;
  CHECK((ParseBindTo("core", &b) && b == BindTo::kCore));
  CHECK((ParseBindTo("l3cache", &b) && b == BindTo::kL3Cache));
  CHECK((ParseBindTo("numa", &b) && b == BindTo::kNuma));
  CHECK((ParseBindTo("package", &b) && b == BindTo::kPackage));
  CHECK((ParseBindTo("socket", &b) && b == BindTo::kPackage));
  CHECK((ParseBindTo("none", &b) && b == BindTo::kNone));
  CHECK_FALSE(ParseBindTo("hwthread", &b));
  CHECK(std::string(BindToName(BindTo::kL3Cache)) == "l3cache");
}

TEST_CASE("2 packages x 8 cores x 2 NUMA: a core each, in order") {
  Topology t("2pack-8core-2numa.xml");
  for (int r = 0; r < 16; ++r) CHECK(Cpus(t, r, 16) == std::to_string(r));
  CHECK(Cpus(t, 1, 4) == "1");
  // Blocks of cores, and the widened bindings.
  CHECK(Cpus(t, 2, 4, 4) == "8-11");
  CHECK(Cpus(t, 0, 2, 1, BindTo::kNuma) == "0-7");
  CHECK(Cpus(t, 1, 2, 1, BindTo::kNuma) == "0-7");
  CHECK(Cpus(t, 1, 2, 8, BindTo::kNuma) == "8-15");
  CHECK(Cpus(t, 1, 2, 8, BindTo::kPackage) == "8-15");
  CHECK(Cpus(t, 0, 2, 9, BindTo::kPackage) ==
        "unbound: oversubscribed: 2 ranks x 9 cores on 16 cores");
  // No L3 in this machine: l3cache binds to the cores themselves.
  CHECK(Cpus(t, 3, 4, 2, BindTo::kL3Cache) == "6-7");
  CHECK(Cpus(t, 3, 4, 2, BindTo::kNone) == "unbound: --bind-to none");
}

TEST_CASE("memory goes to the NUMA nodes of the rank's cores, threads to its cores") {
  Topology t("2pack-8core-2numa.xml");
  PlacementInput in;
  in.local_rank = 1;
  in.local_size = 2;
  in.cpus_per_rank = 8;
  Placement p = Place(t.t, in);
  REQUIRE(p.cpuset);
  REQUIRE(p.nodeset);
  CHECK(ListOf(p.nodeset.get()) == "1");
  CHECK(p.threads == 8);
  CHECK(p.cores == 16);
  in.local_rank = 0;
  in.local_size = 1;
  in.cpus_per_rank = 12;  // across both packages
  p = Place(t.t, in);
  CHECK(ListOf(p.cpuset.get()) == "0-11");
  CHECK(ListOf(p.nodeset.get()) == "0-1");
}

TEST_CASE("SMT: a core is all of its hardware threads, L3 widening") {
  Topology t("smt2-2l3.xml");
  CHECK(Cpus(t, 0, 8) == "0,8");
  CHECK(Cpus(t, 1, 8) == "1,9");
  CHECK(Cpus(t, 1, 4, 2) == "2-3,10-11");
  CHECK(Cpus(t, 5, 8, 1, BindTo::kL3Cache) == "4-7,12-15");
  CHECK(Cpus(t, 0, 2, 1, BindTo::kPackage) == "0-15");
  CHECK(Cpus(t, 0, 9) == "unbound: oversubscribed: 9 ranks on 8 cores");
  // One NUMA node: no memory binding.
  PlacementInput in;
  in.local_size = 2;
  CHECK_FALSE(Place(t.t, in).nodeset);
}

TEST_CASE("a restricted cpuset is never widened") {
  Topology t("2pack-8core-2numa.xml");
  // taskset -c 4-11: two ranks of two cores.
  CHECK(Cpus(t, 0, 2, 2, BindTo::kCore, "4-11") == "4-5");
  CHECK(Cpus(t, 1, 2, 2, BindTo::kCore, "4-11") == "6-7");
  CHECK(Cpus(t, 0, 2, 1, BindTo::kPackage, "4-11") == "4-7");
  CHECK(Cpus(t, 1, 2, 4, BindTo::kNuma, "4-11") == "8-11");
  CHECK(Cpus(t, 0, 9, 1, BindTo::kCore, "4-11") == "unbound: oversubscribed: 9 ranks on 8 cores");
  // SMT: only the allowed thread of a core.
  Topology s("smt2-2l3.xml");
  CHECK(Cpus(s, 1, 2, 1, BindTo::kCore, "0-3") == "1");
  CHECK(Cpus(s, 0, 1, 2, BindTo::kL3Cache, "0-3") == "0-3");
}

TEST_CASE("cpus-per-rank that does not divide the cores leaves the rest idle") {
  Topology t("2pack-8core-2numa.xml");
  CHECK(Cpus(t, 0, 5, 3) == "0-2");
  CHECK(Cpus(t, 2, 5, 3) == "6-8");
  CHECK(Cpus(t, 4, 5, 3) == "12-14");
  CHECK(Cpus(t, 0, 6, 3) == "unbound: oversubscribed: 6 ranks x 3 cores on 16 cores");
}

TEST_CASE("oversubscribed and launcher-placed ranks: threads") {
  Topology t("2pack-8core-2numa.xml");
  PlacementInput in;
  in.local_size = 40;
  Placement p = Place(t.t, in);
  CHECK(p.oversubscribed);
  CHECK_FALSE(p.cpuset);
  CHECK(p.threads == 1);
  // srun gave each task its own 4 cores: kept as they are.
  Bitmap own = Set("4-7"), node = Set("0-15");
  in = PlacementInput{};
  in.local_rank = 1;
  in.local_size = 4;
  in.own = own.get();
  in.node = node.get();
  in.launcher_bound = true;
  p = Place(t.t, in);
  CHECK_FALSE(p.cpuset);
  CHECK(p.unbound_reason == "placed by the launcher");
  CHECK(p.threads == 4);
  in.cpus_per_rank = 2;
  CHECK(Place(t.t, in).threads == 2);
}

TEST_CASE("binding reports in the style of Open MPI's") {
  Topology t("2pack-8core-2numa.xml");
  CHECK(DescribeBinding(t.t, Set("2-3").get()) ==
        "cores 2-3 (PUs 2-3), NUMA 0: [././B/B/./././.][./././././././.]");
  CHECK(DescribeBinding(t.t, Set("9").get()) ==
        "core 9 (PU 9), NUMA 1: [./././././././.][./B/./././././.]");
  Topology s("smt2-2l3.xml");
  CHECK(DescribeBinding(s.t, Set("1,9").get()) ==
        "core 1 (PUs 1,9), NUMA 0: [../BB/../../../../../..]");
  CHECK(DescribeBinding(s.t, Set("1").get()) == "core 1 (PU 1), NUMA 0: [../B./../../../../../..]");
}
