# Finds Tessera's dependencies the way CMake users expect, and names the Debian package
# to install when one is missing (scripts/install-deps.sh installs them all).
#
# Targets defined here:
#   Tessera::LLVM       LLVM 16's C API (code generation)
#   Tessera::ProtobufC  protobuf-c runtime, plus TESSERA_PROTOC_C (the protoc-c compiler)
#   OpenSSL::Crypto     libcrypto (HMAC for the RPC handshake)
#   Tessera::XGBoost    XGBoost's C API (the tuner's cost model)
#   Tessera::Jansson    the JSON library of tuning logs
#   Tessera::OpenBLAS   the reference BLAS for tests and benchmarks
#   Tessera::oneDNN     oneDNN (libdnnl-dev), the benchmarks' low-precision reference;
#                       optional: without it TESSERA_HAVE_ONEDNN is off and the benchmarks
#                       and tests that need it are left out with a message
#   Tessera::cmocka     the unit-test framework
# A runtime-only build (TESSERA_RUNTIME_ONLY) looks for protobuf-c, libcrypto and cmocka.

find_package(PkgConfig QUIET)

function(tessera_missing what package)
  message(FATAL_ERROR
    "Tessera needs ${what}, which was not found.\n"
    "On Debian or Ubuntu: apt-get install ${package}  (or run scripts/install-deps.sh)")
endfunction()

# cmocka: its CMake package, else pkg-config. With TESSERA_MINI_CMOCKA (a runtime-only
# cross build, whose target has no cmocka) the header-only stand-in in
# tests/runtime/mini_cmocka/ instead.
function(tessera_find_cmocka)
  if(TESSERA_MINI_CMOCKA)
    if(NOT TESSERA_RUNTIME_ONLY)
      message(FATAL_ERROR "TESSERA_MINI_CMOCKA serves only the runtime tests: it needs "
                          "TESSERA_RUNTIME_ONLY=ON")
    endif()
    add_library(Tessera::cmocka INTERFACE IMPORTED)
    target_include_directories(Tessera::cmocka INTERFACE
                               "${PROJECT_SOURCE_DIR}/tests/runtime/mini_cmocka")
    return()
  endif()
  find_package(cmocka CONFIG QUIET)
  if(cmocka_FOUND AND TARGET cmocka::cmocka)
    add_library(Tessera::cmocka ALIAS cmocka::cmocka)
  elseif(PkgConfig_FOUND)
    pkg_check_modules(TESSERA_CMOCKA QUIET IMPORTED_TARGET cmocka)
    if(TESSERA_CMOCKA_FOUND)
      add_library(Tessera::cmocka ALIAS PkgConfig::TESSERA_CMOCKA)
    endif()
  endif()
  if(NOT TARGET Tessera::cmocka)
    tessera_missing("cmocka (for tests)" libcmocka-dev)
  endif()
endfunction()

# The RPC code in libtessera_runtime needs protobuf-c and libcrypto on every build,
# a board's included.
# protobuf-c: the runtime library and the protoc-c compiler.
if(PkgConfig_FOUND)
  pkg_check_modules(TESSERA_PROTOBUF_C QUIET IMPORTED_TARGET libprotobuf-c)
endif()
if(TESSERA_PROTOBUF_C_FOUND)
  add_library(Tessera::ProtobufC ALIAS PkgConfig::TESSERA_PROTOBUF_C)
else()
  tessera_missing("protobuf-c (libprotobuf-c)" libprotobuf-c-dev)
endif()
find_program(TESSERA_PROTOC_C NAMES protoc-c protoc-gen-c)
if(NOT TESSERA_PROTOC_C)
  tessera_missing("the protobuf-c compiler (protoc-c)" protobuf-c-compiler)
endif()

# OpenSSL's libcrypto: HMAC-SHA256 for the RPC handshake's challenge-response.
find_package(OpenSSL QUIET COMPONENTS Crypto)
if(NOT OPENSSL_FOUND OR NOT TARGET OpenSSL::Crypto)
  tessera_missing("OpenSSL's libcrypto (for RPC authentication)" libssl-dev)
endif()

# A runtime-only build (TESSERA_RUNTIME_ONLY: libtessera_runtime for a board) needs none
# of the compiler's other dependencies, only cmocka for its tests.
if(TESSERA_RUNTIME_ONLY)
  if(TESSERA_BUILD_TESTS)
    tessera_find_cmocka()
  endif()
  return()
endif()

# LLVM 16: its CMake package first (LLVM_DIR or Debian's /usr/lib/llvm-16), then
# llvm-config.
find_package(LLVM 16 CONFIG QUIET HINTS /usr/lib/llvm-16/lib/cmake/llvm)
if(LLVM_FOUND)
  set(TESSERA_LLVM_LIBDIR "${LLVM_LIBRARY_DIR}")
  set(TESSERA_LLVM_INCLUDE "${LLVM_INCLUDE_DIRS}")
else()
  find_program(TESSERA_LLVM_CONFIG NAMES llvm-config-16 llvm-config
               HINTS /usr/lib/llvm-16/bin)
  if(TESSERA_LLVM_CONFIG)
    execute_process(COMMAND ${TESSERA_LLVM_CONFIG} --version
                    OUTPUT_VARIABLE _llvm_version OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT _llvm_version MATCHES "^16\\.")
      tessera_missing("LLVM 16 (found ${_llvm_version} at ${TESSERA_LLVM_CONFIG})" llvm-16-dev)
    endif()
    execute_process(COMMAND ${TESSERA_LLVM_CONFIG} --libdir
                    OUTPUT_VARIABLE TESSERA_LLVM_LIBDIR OUTPUT_STRIP_TRAILING_WHITESPACE)
    execute_process(COMMAND ${TESSERA_LLVM_CONFIG} --includedir
                    OUTPUT_VARIABLE TESSERA_LLVM_INCLUDE OUTPUT_STRIP_TRAILING_WHITESPACE)
  else()
    tessera_missing("LLVM 16 (its CMake package or llvm-config-16)" llvm-16-dev)
  endif()
endif()
find_library(TESSERA_LLVM_LIBRARY NAMES LLVM-16 LLVM HINTS "${TESSERA_LLVM_LIBDIR}" NO_DEFAULT_PATH)
if(NOT TESSERA_LLVM_LIBRARY)
  tessera_missing("the LLVM 16 shared library (libLLVM-16.so)" llvm-16-dev)
endif()
add_library(Tessera::LLVM INTERFACE IMPORTED)
target_include_directories(Tessera::LLVM SYSTEM INTERFACE "${TESSERA_LLVM_INCLUDE}")
target_link_libraries(Tessera::LLVM INTERFACE "${TESSERA_LLVM_LIBRARY}")

# OpenBLAS: its CMake package, else pkg-config.
if(TESSERA_BUILD_TESTS OR TESSERA_BUILD_BENCHMARKS)
  find_package(OpenBLAS CONFIG QUIET)
  if(OpenBLAS_FOUND)
    add_library(Tessera::OpenBLAS INTERFACE IMPORTED)
    target_include_directories(Tessera::OpenBLAS SYSTEM INTERFACE ${OpenBLAS_INCLUDE_DIRS})
    target_link_libraries(Tessera::OpenBLAS INTERFACE ${OpenBLAS_LIBRARIES})
  elseif(PkgConfig_FOUND)
    pkg_check_modules(TESSERA_OPENBLAS QUIET IMPORTED_TARGET openblas)
    if(TESSERA_OPENBLAS_FOUND)
      add_library(Tessera::OpenBLAS ALIAS PkgConfig::TESSERA_OPENBLAS)
    endif()
  endif()
  if(NOT TARGET Tessera::OpenBLAS)
    tessera_missing("OpenBLAS (for tests and benchmarks)" libopenblas-dev)
  endif()
endif()

# oneDNN 2.x (libdnnl-dev): the reference of the low-precision benchmark, never linked
# into Tessera's libraries. Debian builds it with OpenMP threading, so whoever links it
# also links OpenMP to set oneDNN's thread count (omp_set_num_threads).
set(TESSERA_HAVE_ONEDNN OFF)
if(TESSERA_BUILD_TESTS OR TESSERA_BUILD_BENCHMARKS)
  find_path(TESSERA_ONEDNN_INCLUDE oneapi/dnnl/dnnl.h)
  find_library(TESSERA_ONEDNN_LIBRARY NAMES dnnl)
  find_package(OpenMP QUIET COMPONENTS C)
  if(TESSERA_ONEDNN_INCLUDE AND TESSERA_ONEDNN_LIBRARY AND TARGET OpenMP::OpenMP_C)
    add_library(Tessera::oneDNN INTERFACE IMPORTED)
    target_include_directories(Tessera::oneDNN SYSTEM INTERFACE "${TESSERA_ONEDNN_INCLUDE}")
    target_link_libraries(Tessera::oneDNN INTERFACE "${TESSERA_ONEDNN_LIBRARY}" OpenMP::OpenMP_C)
    set(TESSERA_HAVE_ONEDNN ON)
  else()
    message(STATUS "oneDNN not found (apt-get install libdnnl-dev, or run "
                   "scripts/install-deps.sh): bench_lowp and test_onednn_reference are left out")
  endif()
endif()

# XGBoost's C API (libxgboost-dev): the model-based tuner's cost model.
find_path(TESSERA_XGBOOST_INCLUDE xgboost/c_api.h)
find_library(TESSERA_XGBOOST_LIBRARY NAMES xgboost)
if(NOT TESSERA_XGBOOST_INCLUDE OR NOT TESSERA_XGBOOST_LIBRARY)
  tessera_missing("XGBoost's C API (for the model-based tuner)" libxgboost-dev)
endif()
add_library(Tessera::XGBoost INTERFACE IMPORTED)
target_include_directories(Tessera::XGBoost SYSTEM INTERFACE "${TESSERA_XGBOOST_INCLUDE}")
target_link_libraries(Tessera::XGBoost INTERFACE "${TESSERA_XGBOOST_LIBRARY}")

# Jansson (libjansson-dev): reads and writes tuning logs (JSON lines).
if(PkgConfig_FOUND)
  pkg_check_modules(TESSERA_JANSSON QUIET IMPORTED_TARGET jansson)
endif()
if(TESSERA_JANSSON_FOUND)
  add_library(Tessera::Jansson ALIAS PkgConfig::TESSERA_JANSSON)
else()
  tessera_missing("Jansson (for tuning logs)" libjansson-dev)
endif()

if(TESSERA_BUILD_TESTS)
  tessera_find_cmocka()
endif()
