// The environment of a rank's child (docs/protocol.md, "The child's environment").
#ifndef STDMPI_LIBSHIM_CHILDENV_H_
#define STDMPI_LIBSHIM_CHILDENV_H_

#include <string>
#include <string_view>
#include <vector>

namespace stdmpi {

struct ChildEnvInput {
  std::vector<std::string> base;  // the shim's own environment, "NAME=VALUE" each
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  int appnum = 0;  // which program of an MPMD job (STDMPI_APPNUM)
  // <prefix>/share/stdmpi with the language bridges, or empty if not found.
  std::string share_dir;
  // The line-buffering library to preload, or empty.
  std::string preload_lib;
  // Threads the command should use (its cores): OMP_NUM_THREADS and the
  // BLAS libraries' variables, each unless already set. 0: none set.
  int threads = 0;
  // The shared region's descriptor (STDMPI_SHM_FD), or -1.
  int shm_fd = -1;
};

// The variables that set thread counts of OpenMP and the BLAS libraries.
const std::vector<std::string>& ThreadCountVariables();

// True for variables by which the MPI launcher tells the shim which rank it is
// (PMIX_*, OMPI_COMM_WORLD_*, OMPI_MCA_orte_* ...). The child must not see
// them: an MPI program started as a child would try to join as the shim's rank.
bool IsLauncherVariable(std::string_view name);

// The child's environment: the shim's, without launcher variables, plus
// STDMPI_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE, PYTHONUNBUFFERED=1, STDMPI_HOME, the
// bridges' paths (STDMPI_NCL, STDMPI_BASH, STDMPI_AWK), the Python bridge first
// on PYTHONPATH and the R package first on R_LIBS; with `preload_lib`, also
// LD_PRELOAD of it, STDMPI_LINEBUF=1 and GFORTRAN_UNBUFFERED_PRECONNECTED=y.
std::vector<std::string> BuildChildEnv(const ChildEnvInput& in);

// Replaces $STDMPI_NAME and ${STDMPI_NAME} in each argument with the value
// from `env` (unknown names stay as they are). So that
//   stdmpirun -n 2 awk -f '$STDMPI_AWK' -f prog.awk
// works: the variable exists only in the rank, not in the user's shell. No
// shell is involved and nothing else is expanded. $$STDMPI_NAME (and
// $${STDMPI_NAME}) stand for the text $STDMPI_NAME, unexpanded; any other $$
// (a shell's own pid in `sh -c 'echo $$'`) stays as it is.
std::vector<std::string> ExpandStdmpiVariables(const std::vector<std::string>& argv,
                                               const std::vector<std::string>& env);

// Sets (or replaces) NAME=VALUE in `env`.
void SetEnv(std::vector<std::string>* env, std::string_view name, std::string_view value);
// The value of NAME in `env`, or nullptr-like empty view with *found = false.
std::string_view GetEnv(const std::vector<std::string>& env, std::string_view name,
                        bool* found = nullptr);

}  // namespace stdmpi

#endif  // STDMPI_LIBSHIM_CHILDENV_H_
