#include "placement.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace stdmpi {

bool ParseBindTo(std::string_view s, BindTo* out) {
  if (s == "core" || s == "cores") {
    *out = BindTo::kCore;
  } else if (s == "l3cache" || s == "l3") {
    *out = BindTo::kL3Cache;
  } else if (s == "numa") {
    *out = BindTo::kNuma;
  } else if (s == "package" || s == "socket") {
    *out = BindTo::kPackage;
  } else if (s == "none") {
    *out = BindTo::kNone;
  } else {
    return false;
  }
  return true;
}

const char* BindToName(BindTo b) {
  switch (b) {
    case BindTo::kCore:
      return "core";
    case BindTo::kL3Cache:
      return "l3cache";
    case BindTo::kNuma:
      return "numa";
    case BindTo::kPackage:
      return "package";
    case BindTo::kNone:
      break;
  }
  return "none";
}

Bitmap NewBitmap() {
  return Bitmap(hwloc_bitmap_alloc());
}

Bitmap CopyBitmap(hwloc_const_bitmap_t b) {
  return Bitmap(hwloc_bitmap_dup(b));
}

std::string ListOf(hwloc_const_bitmap_t b) {
  if (b == nullptr || hwloc_bitmap_iszero(b)) return "";
  char* s = nullptr;
  if (hwloc_bitmap_list_asprintf(&s, b) < 0 || s == nullptr) return "?";
  std::string out(s);
  free(s);
  return out;
}

namespace {

// The node's cores in logical order (PUs where the topology has no cores).
std::vector<hwloc_obj_t> Cores(hwloc_topology_t topo) {
  hwloc_obj_type_t type =
      hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
  std::vector<hwloc_obj_t> out;
  int n = hwloc_get_nbobjs_by_type(topo, type);
  for (int i = 0; i < n; ++i) out.push_back(hwloc_get_obj_by_type(topo, type, i));
  return out;
}

// Adds to `set` the PUs of the objects of type `to` that hold `core`,
// within `allowed`.
void Widen(hwloc_topology_t topo, hwloc_obj_t core, BindTo to, hwloc_const_bitmap_t allowed,
           hwloc_bitmap_t set) {
  Bitmap part = NewBitmap();
  if (to == BindTo::kNuma) {
    int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    for (int i = 0; i < n; ++i) {
      hwloc_obj_t numa = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
      if (numa->cpuset && hwloc_bitmap_intersects(numa->cpuset, core->cpuset)) {
        hwloc_bitmap_or(part.get(), part.get(), numa->cpuset);
      }
    }
  } else {
    hwloc_obj_t holder = core;
    if (to == BindTo::kL3Cache || to == BindTo::kPackage) {
      hwloc_obj_t up = hwloc_get_ancestor_obj_by_type(
          topo, to == BindTo::kL3Cache ? HWLOC_OBJ_L3CACHE : HWLOC_OBJ_PACKAGE, core);
      if (up != nullptr) holder = up;
    }
    hwloc_bitmap_copy(part.get(), holder->cpuset);
  }
  if (hwloc_bitmap_iszero(part.get())) hwloc_bitmap_copy(part.get(), core->cpuset);
  hwloc_bitmap_and(part.get(), part.get(), allowed);
  hwloc_bitmap_or(set, set, part.get());
}

int CoresIn(const std::vector<hwloc_obj_t>& cores, hwloc_const_bitmap_t set) {
  int n = 0;
  for (hwloc_obj_t c : cores) n += hwloc_bitmap_intersects(c->cpuset, set) ? 1 : 0;
  return n;
}

}  // namespace

Placement Place(hwloc_topology_t topo, const PlacementInput& in) {
  Placement p;
  std::vector<hwloc_obj_t> all = Cores(topo);
  hwloc_const_bitmap_t node =
      in.node != nullptr ? in.node : hwloc_topology_get_allowed_cpuset(topo);
  hwloc_const_bitmap_t own = in.own != nullptr ? in.own : node;
  // The cores the node's ranks share: those with a PU any of them may use.
  std::vector<hwloc_obj_t> cores;
  for (hwloc_obj_t c : all) {
    if (hwloc_bitmap_intersects(c->cpuset, node)) cores.push_back(c);
  }
  p.cores = static_cast<int>(cores.size());
  const int cpr = in.cpus_per_rank > 0 ? in.cpus_per_rank : 1;
  const int64_t need = static_cast<int64_t>(in.local_size) * cpr;
  const int share = in.local_size > 0 ? p.cores / in.local_size : p.cores;
  if (need > p.cores) p.oversubscribed = true;

  if (in.launcher_bound) {
    // Each rank already has its own PUs: keep them.
    p.threads = std::max(1, CoresIn(cores, own));
    if (in.cpus_per_rank > 0) p.threads = std::min(p.threads, in.cpus_per_rank);
    p.unbound_reason = "placed by the launcher";
    return p;
  }
  if (in.bind_to == BindTo::kNone || p.oversubscribed) {
    p.threads = p.oversubscribed ? std::max(1, share) : cpr;
    if (in.bind_to == BindTo::kNone) {
      p.unbound_reason = "--bind-to none";
    } else {
      p.unbound_reason = "oversubscribed: " + std::to_string(in.local_size) +
                         (in.local_size == 1 ? " rank" : " ranks") +
                         (cpr > 1 ? " x " + std::to_string(cpr) + " cores" : "") + " on " +
                         std::to_string(p.cores) + (p.cores == 1 ? " core" : " cores");
    }
    return p;
  }
  p.cpuset = NewBitmap();
  for (int i = 0; i < cpr; ++i) {
    hwloc_obj_t core = cores[static_cast<size_t>(in.local_rank * cpr + i)];
    Widen(topo, core, in.bind_to, node, p.cpuset.get());
  }
  p.threads = cpr;
  if (hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) > 1) {
    p.nodeset = NewBitmap();
    hwloc_cpuset_to_nodeset(topo, p.cpuset.get(), p.nodeset.get());
    if (hwloc_bitmap_iszero(p.nodeset.get())) p.nodeset.reset();
  }
  return p;
}

std::string DescribeBinding(hwloc_topology_t topo, hwloc_const_bitmap_t cpuset) {
  std::vector<hwloc_obj_t> cores = Cores(topo);
  Bitmap core_ids = NewBitmap();
  for (hwloc_obj_t c : cores) {
    if (hwloc_bitmap_intersects(c->cpuset, cpuset))
      hwloc_bitmap_set(core_ids.get(), c->logical_index);
  }
  std::string out;
  int ncores = hwloc_bitmap_weight(core_ids.get());
  out += (ncores == 1 ? "core " : "cores ") + ListOf(core_ids.get());
  int npus = hwloc_bitmap_weight(cpuset);
  out += std::string(npus == 1 ? " (PU " : " (PUs ") + ListOf(cpuset) + ")";
  Bitmap nodes = NewBitmap();
  hwloc_cpuset_to_nodeset(topo, cpuset, nodes.get());
  if (!hwloc_bitmap_iszero(nodes.get())) out += ", NUMA " + ListOf(nodes.get());
  out += ": ";
  // [B./../..] per package: a character per PU, cores separated by '/'.
  std::vector<hwloc_obj_t> groups;
  int npack = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
  for (int i = 0; i < npack; ++i)
    groups.push_back(hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, i));
  if (groups.empty()) groups.push_back(hwloc_get_root_obj(topo));
  for (hwloc_obj_t g : groups) {
    out += '[';
    bool first = true;
    for (hwloc_obj_t c : cores) {
      if (!hwloc_bitmap_isincluded(c->cpuset, g->cpuset)) continue;
      if (!first) out += '/';
      first = false;
      int pu = -1;
      while ((pu = hwloc_bitmap_next(c->cpuset, pu)) != -1) {
        out += hwloc_bitmap_isset(cpuset, static_cast<unsigned>(pu)) ? 'B' : '.';
      }
    }
    out += ']';
  }
  return out;
}

}  // namespace stdmpi
