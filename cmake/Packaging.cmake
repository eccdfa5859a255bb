# `cpack -G DEB` in the build tree: stdmpi as a Debian package (prefix /usr),
# made from what `cmake --install` lays out (cmake/Install.cmake).
#   cpack -G DEB && sudo apt-get install ./stdmpi_*.deb
set(CPACK_PACKAGE_NAME stdmpi)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the stdmpi authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "any program that prints a line and reads a line is an MPI rank")
set(CPACK_PACKAGE_DESCRIPTION
    "stdmpirun runs N copies of a program (Python, R, NCL, bash, awk, C, anything
that prints a line and reads a line) as the ranks of one MPI job: a rank prints a
request such as @mpi allreduce sum 0.785 and reads the answer. It starts the
ranks through Open MPI's mpirun, or srun inside a SLURM job. Bridges for Python,
R, NCL, bash, awk and C are included; stdmpirun(1) has the options.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(STDMPI_MAINTAINER "stdmpi maintainers <maintainers@users.noreply.h-seed-162840d2.example>"
    CACHE STRING "The Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${STDMPI_MAINTAINER}")

# The install prefix is /usr at install time too (CPACK_SET_DESTDIR), so that
# the files that name it (stdmpi.pc, the module file) say /usr.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # stdmpi_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The libraries the programs link (libopenmpi, libhwloc, libuv, libstdc++...)
# from dpkg-shlibdeps; what starts the ranks besides: mpirun.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "openmpi-bin")
# The bridges' languages, and what unpacks compressed --image archives and
# runs ranks under SLURM.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3, r-base-core")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3-numpy, gawk, ncl-ncarg, bzip2, xz-utils, zstd, slurm-client, lmod, bash-completion")
set(CPACK_STRIP_FILES ON)  # the debugging symbols stay in the build tree

include(CPack)
