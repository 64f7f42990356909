#!/bin/sh
# The runtime_aarch64 test: configures libtessera_runtime and its tests for aarch64 with
# cmake/aarch64-linux-gnu.cmake (a runtime-only build, tests on mini_cmocka since the
# target has no cmocka), builds them in BUILD_DIR, and runs them with CTest, which starts
# each test under qemu-aarch64 (the toolchain file's CMAKE_CROSSCOMPILING_EMULATOR).
# Exits 77 (CTest's SKIP_RETURN_CODE for this test) when the cross compiler or qemu is
# missing, 0 when every cross-built test passed, 1 otherwise.
#
#   run_cross_test.sh CMAKE CTEST SOURCE_DIR BUILD_DIR GENERATOR
set -u
if [ $# -ne 5 ]; then
    echo "usage: $0 CMAKE CTEST SOURCE_DIR BUILD_DIR GENERATOR" >&2
    exit 1
fi
cmake=$1 ctest=$2 source_dir=$3 build_dir=$4 generator=$5

for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "runtime_aarch64: skipped: $tool is not installed (scripts/install-deps.sh installs it)"
        exit 77
    fi
done

# The host's compiler settings are not the target's.
unset CC CFLAGS CPPFLAGS LDFLAGS

echo "runtime_aarch64: configuring $build_dir"
"$cmake" -S "$source_dir" -B "$build_dir" -G "$generator" \
    -DCMAKE_TOOLCHAIN_FILE="$source_dir/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTESSERA_RUNTIME_ONLY=ON -DTESSERA_MINI_CMOCKA=ON || {
    echo "runtime_aarch64: configuring for aarch64 failed" >&2
    exit 1
}
echo "runtime_aarch64: building"
"$cmake" --build "$build_dir" -j2 || {
    echo "runtime_aarch64: building for aarch64 failed" >&2
    exit 1
}

# The library must really be an aarch64 ELF file: e_machine (bytes 18-19) is 183.
library=$(ls "$build_dir"/runtime/libtessera_runtime.so.* 2>/dev/null | head -n 1)
machine=$(od -An -tu2 -j18 -N2 "$library" 2>/dev/null | tr -d ' ')
if [ "$machine" != 183 ]; then
    echo "runtime_aarch64: $library is not an aarch64 ELF file (e_machine '$machine')" >&2
    exit 1
fi

echo "runtime_aarch64: running the tests under qemu-aarch64"
cd "$build_dir" && "$ctest" --output-on-failure --no-tests=error -j2 || {
    echo "runtime_aarch64: cross-built tests failed" >&2
    exit 1
}
