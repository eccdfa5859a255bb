#include "childenv.h"

#include <array>
#include <cctype>

#include "report_mark.h"

namespace stdmpi {

namespace {

bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

std::string_view NameOf(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

}  // namespace

bool IsLauncherVariable(std::string_view name) {
  static constexpr std::array<std::string_view, 8> kPrefixes = {
      "PMIX_",        "OMPI_COMM_WORLD_", "OMPI_APP_CTX_", "OMPI_MCA_orte_",
      "OMPI_MCA_ess", "OMPI_MCA_pmix",    "PMI_",          "OMPI_FIRST_RANKS",
  };
  static constexpr std::array<std::string_view, 8> kNames = {
      "OMPI_COMMAND",
      "OMPI_ARGV",
      "OMPI_FILE_LOCATION",
      "OMPI_NUM_APP_CTX",
      "OMPI_UNIVERSE_SIZE",
      "OMPI_MCA_initial_wdir",
      "OMPI_MCA_mpi_oversubscribe",
      "OMPI_MCA_shmem_RUNTIME_QUERY_hint",
  };
  for (std::string_view p : kPrefixes) {
    if (StartsWith(name, p)) return true;
  }
  for (std::string_view n : kNames) {
    if (name == n) return true;
  }
  return false;
}

void SetEnv(std::vector<std::string>* env, std::string_view name, std::string_view value) {
  std::string entry = std::string(name) + "=" + std::string(value);
  for (std::string& e : *env) {
    if (NameOf(e) == name) {
      e = std::move(entry);
      return;
    }
  }
  env->push_back(std::move(entry));
}

std::string_view GetEnv(const std::vector<std::string>& env, std::string_view name, bool* found) {
  for (const std::string& e : env) {
    if (NameOf(e) == name && e.size() > name.size()) {
      if (found) *found = true;
      return std::string_view(e).substr(name.size() + 1);
    }
  }
  if (found) *found = false;
  return {};
}

const std::vector<std::string>& ThreadCountVariables() {
  static const std::vector<std::string> kVars = {
      "OMP_NUM_THREADS",  "OPENBLAS_NUM_THREADS",   "MKL_NUM_THREADS",
      "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
  };
  return kVars;
}

std::vector<std::string> BuildChildEnv(const ChildEnvInput& in) {
  std::vector<std::string> env;
  env.reserve(in.base.size() + 8);
  for (const std::string& e : in.base) {
    // The output socket and the report mark are the shim's own
    // (rank_process.h, report_mark.h): a program started before MPI_Init
    // would otherwise see them.
    if (e.find('=') == std::string::npos || IsLauncherVariable(NameOf(e)) ||
        NameOf(e) == "STDMPI_OUTPUT_SOCKET" || NameOf(e) == "STDMPI_SHM_FD" ||
        NameOf(e) == kReportMarkVariable) {
      continue;
    }
    env.push_back(e);
  }
  SetEnv(&env, "STDMPI_RANK", std::to_string(in.rank));
  SetEnv(&env, "STDMPI_SIZE", std::to_string(in.size));
  SetEnv(&env, "STDMPI_LOCAL_RANK", std::to_string(in.local_rank));
  SetEnv(&env, "STDMPI_LOCAL_SIZE", std::to_string(in.local_size));
  SetEnv(&env, "STDMPI_APPNUM", std::to_string(in.appnum));
  if (in.shm_fd >= 0) SetEnv(&env, "STDMPI_SHM_FD", std::to_string(in.shm_fd));
  // Python block-buffers stdout on a pipe: without this a print() before a
  // request would arrive after it, and a request would never arrive at all.
  SetEnv(&env, "PYTHONUNBUFFERED", "1");
  // Prepends `first` to a colon-separated list variable.
  auto prepend = [&env](std::string_view name, const std::string& first) {
    bool found;
    std::string_view old = GetEnv(env, name, &found);
    SetEnv(&env, name, found && !old.empty() ? first + ":" + std::string(old) : first);
  };
  if (!in.share_dir.empty()) {
    SetEnv(&env, "STDMPI_HOME", in.share_dir);
    SetEnv(&env, "STDMPI_NCL", in.share_dir + "/ncl/stdmpi.ncl");
    SetEnv(&env, "STDMPI_BASH", in.share_dir + "/bash/stdmpi.sh");
    SetEnv(&env, "STDMPI_AWK", in.share_dir + "/awk/stdmpi.awk");
    prepend("PYTHONPATH", in.share_dir + "/python");
    prepend("R_LIBS", in.share_dir + "/R");
  }
  if (!in.preload_lib.empty()) {
    prepend("LD_PRELOAD", in.preload_lib);
    SetEnv(&env, "STDMPI_LINEBUF", "1");
    // gfortran does its own buffering; this makes its stdout unbuffered.
    SetEnv(&env, "GFORTRAN_UNBUFFERED_PRECONNECTED", "y");
  }
  if (in.threads > 0) {
    for (const std::string& name : ThreadCountVariables()) {
      bool set = false;
      GetEnv(env, name, &set);
      if (!set) SetEnv(&env, name, std::to_string(in.threads));
    }
  }
  return env;
}

}  // namespace stdmpi

namespace stdmpi {

std::vector<std::string> ExpandStdmpiVariables(const std::vector<std::string>& argv,
                                               const std::vector<std::string>& env) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& arg : argv) {
    std::string r;
    size_t i = 0;
    while (i < arg.size()) {
      size_t dollar = arg.find('$', i);
      if (dollar == std::string::npos) {
        r.append(arg, i, std::string::npos);
        break;
      }
      r.append(arg, i, dollar - i);
      // $$STDMPI_NAME (or $${STDMPI_NAME}) stands for the text $STDMPI_NAME.
      std::string_view after(arg.data() + dollar + 1, arg.size() - dollar - 1);
      if (after.substr(0, 8) == "$STDMPI_" || after.substr(0, 9) == "${STDMPI_") {
        r.push_back('$');
        i = dollar + 2;
        size_t end = arg.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_{}", i);
        end = end == std::string::npos ? arg.size() : end;
        r.append(arg, i, end - i);
        i = end;
        continue;
      }
      bool braced = dollar + 1 < arg.size() && arg[dollar + 1] == '{';
      size_t start = dollar + (braced ? 2 : 1);
      size_t end = start;
      while (end < arg.size() &&
             (std::isalnum(static_cast<unsigned char>(arg[end])) || arg[end] == '_')) {
        ++end;
      }
      std::string_view name(arg.data() + start, end - start);
      bool closed = !braced || (end < arg.size() && arg[end] == '}');
      bool found = false;
      std::string_view value;
      if (closed && name.substr(0, 7) == "STDMPI_") value = GetEnv(env, name, &found);
      if (found) {
        r.append(value);
        i = end + (braced ? 1 : 0);
      } else {
        r.push_back('$');
        i = dollar + 1;
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace stdmpi
