# Cross-compiling for a 64-bit Arm Linux board (aarch64), with Debian's cross toolchain:
#
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DTESSERA_RUNTIME_ONLY=ON -DTESSERA_MINI_CMOCKA=ON
#
# gcc-aarch64-linux-gnu and libc6-dev-arm64-cross give the compiler and the target's C
# library under /usr/aarch64-linux-gnu (the sysroot searched below); qemu-user's
# qemu-aarch64 runs the target's programs here, so CTest runs the cross-built tests
# (scripts/install-deps.sh installs all three, and the arm64 protobuf-c and libcrypto the
# RPC server links). Only the runtime (with the RPC server and the runtime-only `tessera`
# command) cross-compiles: the compiler needs LLVM, which has no cross package here.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(TESSERA_CROSS_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
# qemu-aarch64 with the right C library prefix (see the script).
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/../scripts/qemu-aarch64.sh)

# Libraries, headers and CMake packages come from the target's trees only; programs (the
# build's own tools, protoc-c among them) from the host. The target's trees are the
# cross sysroot (its C library) and Debian's multiarch directories for arm64, where the
# ":arm64" packages of the RPC code's libraries go (libprotobuf-c-dev:arm64,
# libssl-dev:arm64: /usr/lib/aarch64-linux-gnu, headers in /usr/include and
# /usr/include/aarch64-linux-gnu, which aarch64-linux-gnu-gcc searches by itself). With
# "/" as a root, CMAKE_LIBRARY_ARCHITECTURE keeps the searches in the aarch64-linux-gnu
# directories, away from the host's x86_64-linux-gnu ones.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${TESSERA_CROSS_SYSROOT} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config likewise: only the target's .pc files (the host's describe host libraries).
set(ENV{PKG_CONFIG_LIBDIR}
    /usr/lib/aarch64-linux-gnu/pkgconfig:${TESSERA_CROSS_SYSROOT}/lib/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
