#!/bin/sh
# The board side of test_codegen_aarch64: cross-builds libtessera_runtime for aarch64
# (the runtime-only build with cmake/aarch64-linux-gnu.cmake, in BUILD_DIR), then
# cg_export_helper against it, and runs the helper under qemu-aarch64 on the aarch64
# shared object MODULE and the data in DATA_DIR. Exits with the helper's status, or 3
# when the cross build fails (its log is printed).
#
#   run_aarch64_helper.sh CMAKE SOURCE_DIR BUILD_DIR MODULE DATA_DIR
set -u
if [ $# -ne 5 ]; then
    echo "usage: $0 CMAKE SOURCE_DIR BUILD_DIR MODULE DATA_DIR" >&2
    exit 2
fi
cmake=$1 source_dir=$2 build_dir=$3 module=$4 data_dir=$5
log="$build_dir.log"

# The host's compiler settings are not the target's.
unset CC CFLAGS CPPFLAGS LDFLAGS

{
    "$cmake" -S "$source_dir" -B "$build_dir" \
        -DCMAKE_TOOLCHAIN_FILE="$source_dir/cmake/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_RUNTIME_ONLY=ON -DTESSERA_BUILD_TESTS=OFF &&
        "$cmake" --build "$build_dir" --target tessera_runtime -j2 &&
        aarch64-linux-gnu-gcc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -Wall -Werror \
            -I"$source_dir/include" "$source_dir/tests/codegen/cg_export_helper.c" \
            -L"$build_dir/runtime" -ltessera_runtime -Wl,-rpath,"$build_dir/runtime" \
            -o "$build_dir/cg_export_helper"
} >"$log" 2>&1 || {
    echo "run_aarch64_helper: the aarch64 build failed:" >&2
    cat "$log" >&2
    exit 3
}
exec sh "$source_dir/scripts/qemu-aarch64.sh" "$build_dir/cg_export_helper" "$module" "$data_dir"
