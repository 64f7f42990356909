#!/bin/sh
# Runs an aarch64 Linux program here under qemu-user, the stand-in for a 64-bit Arm board:
#   scripts/qemu-aarch64.sh PROGRAM [ARGS ...]
#
# The program's dynamic loader and C library must come from one glibc build. When the
# arm64 C library of Debian's multiarch is installed (libc6:arm64, which the arm64
# protobuf-c and libcrypto that the board's runtime links pull in), the loader finds
# that C library in /lib/aarch64-linux-gnu first, so its own loader must be used too:
# qemu's prefix is then /. Mixing the cross toolchain's loader
# (/usr/aarch64-linux-gnu, libc6-arm64-cross) with the multiarch C library, whose Debian
# revisions differ, makes pthread_create and fork hang in the emulated program.
# Without the multiarch C library, the cross toolchain's sysroot is the prefix.
if [ -e /lib/ld-linux-aarch64.so.1 ]; then
    prefix=/
else
    prefix=/usr/aarch64-linux-gnu
fi
exec qemu-aarch64 -L "$prefix" "$@"
