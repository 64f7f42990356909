# What `cmake --install` puts where, so that users find Tessera the usual ways:
#
#   <prefix>/include/tessera/*.h                       the public C API
#   <prefix>/lib/libtessera.so*                        the compiler library
#   <prefix>/lib/libtessera_runtime.so*                the device runtime (once it exists)
#   <prefix>/bin/tessera                               the command (once it exists)
#   <prefix>/lib/cmake/Tessera/TesseraConfig*.cmake    find_package(Tessera) -> Tessera::tessera
#   <prefix>/lib/pkgconfig/tessera.pc                  pkg-config --cflags --libs tessera
#
# (lib is ${CMAKE_INSTALL_LIBDIR}, e.g. lib/x86_64-linux-gnu on Debian with a /usr prefix.)
# tests/install/ builds a small program against an installed tree both ways.

include(CMakePackageConfigHelpers)

set(TESSERA_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/Tessera"
    CACHE STRING "Where TesseraConfig.cmake is installed, relative to the prefix")
mark_as_advanced(TESSERA_INSTALL_CMAKEDIR)

# The libraries. libtessera_runtime joins the export set once runtime/ defines it, so a
# libtessera that links it publicly stays exportable. The installed libraries find each
# other through their $ORIGIN run path.
# A runtime-only build (TESSERA_RUNTIME_ONLY) installs libtessera_runtime and the headers
# alone, with no pkg-config file (tessera.pc describes libtessera).
set(_tessera_libraries)
if(TARGET tessera)
  list(APPEND _tessera_libraries tessera)
endif()
if(TARGET tessera_runtime)
  list(APPEND _tessera_libraries tessera_runtime)
endif()
install(TARGETS ${_tessera_libraries}
  EXPORT TesseraTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime
          NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
# (The include directory comes with each target's INSTALL_INTERFACE include path.)

# The `tessera` command: tools/ names its executable target tessera_command (the name
# `tessera` is the library's) with OUTPUT_NAME tessera. It finds libtessera in ../lib.
if(TARGET tessera_command)
  file(RELATIVE_PATH _tessera_bin_to_lib "${CMAKE_INSTALL_FULL_BINDIR}"
       "${CMAKE_INSTALL_FULL_LIBDIR}")
  set_target_properties(tessera_command PROPERTIES
                        INSTALL_RPATH "$ORIGIN/${_tessera_bin_to_lib}")
  install(TARGETS tessera_command RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
          COMPONENT Runtime)
endif()

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/tessera"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT Development
  FILES_MATCHING PATTERN "*.h")

# The CMake package: targets in the Tessera:: namespace, plus a version file that
# accepts any request of the same major version.
install(EXPORT TesseraTargets
  NAMESPACE Tessera::
  FILE TesseraTargets.cmake
  DESTINATION ${TESSERA_INSTALL_CMAKEDIR}
  COMPONENT Development)
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/TesseraConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/TesseraConfig.cmake"
  INSTALL_DESTINATION ${TESSERA_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/TesseraConfig.cmake"
  "${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake"
  DESTINATION ${TESSERA_INSTALL_CMAKEDIR}
  COMPONENT Development)

if(NOT TARGET tessera)
  return()
endif()

# pkg-config. libm is a private dependency of libtessera: a static link needs it
# (pkg-config --static), a shared one does not. A sanitized build's users must link the
# sanitizer runtimes, as the exported target already says.
set(TESSERA_PC_LIBS_EXTRA "")
if(TESSERA_SANITIZE)
  set(TESSERA_PC_LIBS_EXTRA " -fsanitize=address,undefined")
endif()
# Relative install dirs hang off ${prefix}; absolute ones stay as given.
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(TESSERA_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(TESSERA_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
# The prefix is filled in when installing, not when configuring, so that
# `cmake --install build --prefix DIR` writes DIR into the file. The first pass leaves
# @TESSERA_PC_PREFIX@ in place for the second.
set(TESSERA_PC_PREFIX "@TESSERA_PC_PREFIX@")
configure_file("${PROJECT_SOURCE_DIR}/cmake/tessera.pc.in"
               "${PROJECT_BINARY_DIR}/tessera.pc.in" @ONLY)
install(CODE "
  set(TESSERA_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/tessera.pc.in\"
                 \"${PROJECT_BINARY_DIR}/tessera.pc\" @ONLY)
  " COMPONENT Development)
install(FILES "${PROJECT_BINARY_DIR}/tessera.pc"
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
  COMPONENT Development)
