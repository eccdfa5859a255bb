# What `cmake --install BUILD --prefix P` lays out besides the programs, the
# bridges and the header (installed by the directories that build them) and
# stdmpirun(1) with its bash completion (launcher/CMakeLists.txt):
#   P/lib/pkgconfig/stdmpi.pc            cc $(pkg-config --cflags stdmpi)
#   P/lib/cmake/stdmpi/                  find_package(stdmpi): stdmpi::stdmpi
#   P/share/modulefiles/stdmpi/VERSION   module use P/share/modulefiles
#   P/share/doc/stdmpi/                  LICENSE, examples/
# The paths are P/lib, not P/lib/<multiarch>: the C bridge is a header alone,
# the same on every architecture.
include(CMakePackageConfigHelpers)

set(STDMPI_PKGCONFIG_DIR lib/pkgconfig)
set(STDMPI_CMAKE_DIR lib/cmake/stdmpi)
set(STDMPI_MODULE_DIR ${CMAKE_INSTALL_DATADIR}/modulefiles/stdmpi)
set(STDMPI_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/stdmpi)

# The C bridge as a CMake target: the header's directory, nothing to link.
add_library(stdmpi_c INTERFACE)
add_library(stdmpi::stdmpi ALIAS stdmpi_c)
set_target_properties(stdmpi_c PROPERTIES EXPORT_NAME stdmpi)
target_include_directories(stdmpi_c INTERFACE $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/include>
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
install(TARGETS stdmpi_c EXPORT stdmpiTargets)
install(EXPORT stdmpiTargets NAMESPACE stdmpi:: DESTINATION ${STDMPI_CMAKE_DIR})
# Relocatable: the config finds the prefix from its own place.
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/stdmpiConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/stdmpiConfig.cmake INSTALL_DESTINATION ${STDMPI_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/stdmpiConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_BINARY_DIR}/cmake/stdmpiConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/stdmpiConfigVersion.cmake
        DESTINATION ${STDMPI_CMAKE_DIR})

# Files that name the install prefix are made when installing, with the prefix
# installed to (cmake --install --prefix P; /usr in the .deb), not the one
# configured: the template is configured now with @STDMPI_PREFIX@ left in it,
# and again at install time.
function(stdmpi_install_with_prefix template destination name)
  set(STDMPI_PREFIX "@STDMPI_PREFIX@")
  set(_stage ${CMAKE_BINARY_DIR}/install-time)
  configure_file(${template} ${_stage}/${name}.in @ONLY)
  install(CODE "
    get_filename_component(STDMPI_PREFIX \"\${CMAKE_INSTALL_PREFIX}\" ABSOLUTE)
    configure_file(\"${_stage}/${name}.in\" \"${_stage}/${name}\" @ONLY)
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${destination}\" TYPE FILE
         FILES \"${_stage}/${name}\")")
endfunction()
stdmpi_install_with_prefix(${CMAKE_CURRENT_LIST_DIR}/stdmpi.pc.in ${STDMPI_PKGCONFIG_DIR} stdmpi.pc)
stdmpi_install_with_prefix(${CMAKE_CURRENT_LIST_DIR}/stdmpi.module.in ${STDMPI_MODULE_DIR}
                           ${PROJECT_VERSION})

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${STDMPI_DOC_DIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${STDMPI_DOC_DIR}/examples
        USE_SOURCE_PERMISSIONS)
