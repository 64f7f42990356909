#!/bin/sh
# The board side of test_rpc_aarch64: cross-builds the runtime-only `tessera` (with
# `tessera rpc-server`) for aarch64 with cmake/aarch64-linux-gnu.cmake in BUILD_DIR, the
# way a board's is built. Exits 0 when BUILD_DIR/tools/tessera is there, or 3 when the
# cross build fails (its log is printed).
#
#   run_rpc_aarch64_build.sh CMAKE SOURCE_DIR BUILD_DIR
set -u
if [ $# -ne 3 ]; then
    echo "usage: $0 CMAKE SOURCE_DIR BUILD_DIR" >&2
    exit 2
fi
cmake=$1 source_dir=$2 build_dir=$3
log="$build_dir.log"
mkdir -p "$(dirname "$build_dir")"

# The host's compiler settings are not the target's.
unset CC CFLAGS CPPFLAGS LDFLAGS

{
    "$cmake" -S "$source_dir" -B "$build_dir" \
        -DCMAKE_TOOLCHAIN_FILE="$source_dir/cmake/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_RUNTIME_ONLY=ON -DTESSERA_BUILD_TESTS=OFF &&
        "$cmake" --build "$build_dir" --target tessera_command -j2
} >"$log" 2>&1 || {
    echo "run_rpc_aarch64_build: the aarch64 build failed:" >&2
    cat "$log" >&2
    exit 3
}
test -x "$build_dir/tools/tessera"
