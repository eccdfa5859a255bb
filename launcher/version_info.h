// stdmpirun --version: stdmpi's version and what it runs on (the MPI
// library, hwloc and libuv as the rank program reports them, and the
// launchers it found), so that a bug report names all of it.
#ifndef STDMPI_LAUNCHER_VERSION_INFO_H_
#define STDMPI_LAUNCHER_VERSION_INFO_H_

#include <string>
#include <vector>

namespace stdmpi {

// The first `max_lines` lines `argv` prints on stdout (stderr discarded),
// within `seconds`; empty if it cannot run. No shell: argv as it is. What it
// started is killed with it (its own process group).
std::string FirstLinesOf(const std::vector<std::string>& argv, int max_lines, double seconds);

// A launcher's --version line for FormatVersion: "not found" if `path` is
// not an executable.
std::string LauncherVersion(const std::string& path);

// The text of --version. `shim_lines`: what `stdmpi-shim --version` printed
// (its first line, its own name, is left out); `launchers`: pairs of a
// launcher's path and the first line of its --version.
std::string FormatVersion(const std::string& version, const std::string& shim,
                          const std::string& shim_lines,
                          const std::vector<std::pair<std::string, std::string>>& launchers);

}  // namespace stdmpi

#endif  // STDMPI_LAUNCHER_VERSION_INFO_H_
