// Which cores a rank runs on: pure logic over an hwloc topology.
//
// The shim finds its place among the ranks of its node (local rank and count,
// from MPI), the PUs it may use (its affinity mask: taskset, a cgroup, SLURM),
// and whether the launcher already gave each rank different PUs. Place() turns
// that into a cpuset to bind to, NUMA nodes for memory, and a thread count;
// binding itself happens elsewhere (shim.cc), so this is unit-tested over
// synthetic topologies (tests/unit/topologies).
//
// Ranks take consecutive blocks of cores in hwloc's logical order (the node's
// allowed cores, --cpus-per-rank of them each; like mpirun --map-by core).
// --bind-to l3cache|numa|package widens a rank's binding to the whole objects
// that hold its cores, within what it may use. Nothing is ever widened beyond
// the PUs the rank was allowed.
#ifndef STDMPI_LIBSHIM_PLACEMENT_H_
#define STDMPI_LIBSHIM_PLACEMENT_H_

#include <hwloc.h>

#include <memory>
#include <string>
#include <string_view>

namespace stdmpi {

enum class BindTo { kCore, kL3Cache, kNuma, kPackage, kNone };

bool ParseBindTo(std::string_view s, BindTo* out);
const char* BindToName(BindTo b);

struct BitmapFree {
  void operator()(hwloc_bitmap_t b) const { hwloc_bitmap_free(b); }
};
using Bitmap = std::unique_ptr<hwloc_bitmap_s, BitmapFree>;
Bitmap NewBitmap();
Bitmap CopyBitmap(hwloc_const_bitmap_t b);
// "0-3,8" (OS indexes), "" for an empty set.
std::string ListOf(hwloc_const_bitmap_t b);

struct PlacementInput {
  BindTo bind_to = BindTo::kCore;
  bool bind_to_given = false;  // the user asked for it (else: the default)
  int cpus_per_rank = 0;       // 0: not given (1 core each)
  int local_rank = 0;
  int local_size = 1;
  // PUs this rank may run on now; the node's ranks may use the union of theirs.
  hwloc_const_bitmap_t own = nullptr;
  hwloc_const_bitmap_t node = nullptr;
  // The node's ranks do not all have the same PUs: the launcher (srun's
  // --cpu-bind, mpirun's --bind-to) has placed them, and that stays.
  bool launcher_bound = false;
};

struct Placement {
  Bitmap cpuset;    // PUs to bind to; null: no binding
  Bitmap nodeset;   // NUMA nodes for memory; null: no memory binding
  int threads = 1;  // cores the rank has (OMP_NUM_THREADS and the like)
  int cores = 0;    // cores of the node the ranks share
  bool oversubscribed = false;
  std::string unbound_reason;  // when cpuset is null: why, for the report
};

Placement Place(hwloc_topology_t topo, const PlacementInput& in);

// One rank's line of --report-bindings, without the "rank R on HOST: " part:
//   "cores 2-3 (PUs 2-3,10-11), NUMA 0: [../../BB/BB][../../../..]"
// `cpuset` is what the rank runs on; `bound` says whether stdmpi bound it.
std::string DescribeBinding(hwloc_topology_t topo, hwloc_const_bitmap_t cpuset);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_PLACEMENT_H_
