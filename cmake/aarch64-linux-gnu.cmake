# Cross-compiling for a 64-bit Arm Linux board (aarch64), with Debian's cross toolchain:
#
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DTESSERA_RUNTIME_ONLY=ON -DTESSERA_MINI_CMOCKA=ON
#
# gcc-aarch64-linux-gnu and libc6-dev-arm64-cross give the compiler and the target's C
# library under /usr/aarch64-linux-gnu (the sysroot searched below); qemu-user's
# qemu-aarch64 runs the target's programs here, so CTest runs the cross-built tests
# (scripts/install-deps.sh installs all three). Only the runtime cross-compiles: the
# compiler needs LLVM, which has no cross package here.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(TESSERA_CROSS_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${TESSERA_CROSS_SYSROOT})

# Libraries, headers and CMake packages come from the target's tree only; programs (the
# build's own tools) from the host.
set(CMAKE_FIND_ROOT_PATH ${TESSERA_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config likewise: the host's .pc files (cmocka, say) describe host libraries.
set(ENV{PKG_CONFIG_LIBDIR} ${TESSERA_CROSS_SYSROOT}/lib/pkgconfig)
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
