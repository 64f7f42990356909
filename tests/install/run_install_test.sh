#!/usr/bin/env bash
# Installs a built Tessera into a fresh prefix and builds a user's program against it
# twice: with CMake's find_package(Tessera) and with pkg-config. Both programs must run
# and print the expected numbers. Registered with CTest by tests/install/CMakeLists.txt:
#
#   run_install_test.sh CMAKE BUILD_DIR WORK_DIR LIBDIR VERSION C_COMPILER
#
# CMAKE is the cmake to use, BUILD_DIR Tessera's build tree, WORK_DIR a scratch folder
# (emptied first), LIBDIR CMAKE_INSTALL_LIBDIR, VERSION the project's version.
set -euo pipefail

if [ $# -ne 6 ]; then
    echo "usage: $0 CMAKE BUILD_DIR WORK_DIR LIBDIR VERSION C_COMPILER" >&2
    exit 2
fi
cmake=$1
build_dir=$2
work_dir=$3
libdir=$4
version=$5
cc=$6
here=$(cd "$(dirname "$0")" && pwd)
prefix=$work_dir/prefix
expected="tessera $version
C = 11 22 33 44 55 66"

fail() {
    echo "install test: $*" >&2
    exit 1
}

# Runs a program and checks that it succeeds and prints exactly the expected text.
check_output() {
    local what=$1
    shift
    local output status=0
    output=$("$@") || status=$?
    [ "$status" -eq 0 ] || fail "$what: $* exited with status $status"
    if [ "$output" != "$expected" ]; then
        printf 'install test: %s printed:\n%s\nexpected:\n%s\n' "$what" "$output" \
            "$expected" >&2
        exit 1
    fi
    echo "install test: $what printed the expected result"
}

rm -rf "$work_dir"
mkdir -p "$work_dir"

# 1. Install into the scratch prefix, as a user would into /usr/local.
"$cmake" --install "$build_dir" --prefix "$prefix" >"$work_dir/install.log" ||
    { cat "$work_dir/install.log" >&2; fail "cmake --install failed"; }
for file in include/tessera/tessera.h include/tessera/te.h include/tessera/ops.h \
    "$libdir/cmake/Tessera/TesseraConfig.cmake" \
    "$libdir/cmake/Tessera/TesseraConfigVersion.cmake" \
    "$libdir/cmake/Tessera/TesseraTargets.cmake" \
    "$libdir/pkgconfig/tessera.pc"; do
    [ -f "$prefix/$file" ] || fail "$file is not in the installed tree"
done
ls "$prefix/$libdir"/libtessera.* >/dev/null 2>&1 || fail "no libtessera in $prefix/$libdir"

# 2. CMake: find_package(Tessera) must find this prefix, not another Tessera.
"$cmake" -S "$here/consumer" -B "$work_dir/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release >"$work_dir/cmake-configure.log" 2>&1 ||
    { cat "$work_dir/cmake-configure.log" >&2; fail "configuring the consumer failed"; }
grep -q "Tessera $version from $prefix/$libdir/cmake/Tessera" "$work_dir/cmake-configure.log" ||
    { cat "$work_dir/cmake-configure.log" >&2; fail "find_package did not find $prefix"; }
"$cmake" --build "$work_dir/cmake-build" >"$work_dir/cmake-build.log" 2>&1 ||
    { cat "$work_dir/cmake-build.log" >&2; fail "building the consumer with CMake failed"; }
check_output "find_package(Tessera) consumer" "$work_dir/cmake-build/consumer"

# 3. pkg-config, looking only at this prefix (PKG_CONFIG_LIBDIR replaces the system's
#    search path, so a Tessera installed elsewhere cannot answer).
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
export PKG_CONFIG_LIBDIR="$PKG_CONFIG_PATH"
pc_prefix=$(pkg-config --variable=prefix tessera) || fail "pkg-config does not know tessera"
[ "$pc_prefix" = "$prefix" ] || fail "tessera.pc says prefix=$pc_prefix, not $prefix"
pc_version=$(pkg-config --modversion tessera)
[ "$pc_version" = "$version" ] || fail "tessera.pc says version $pc_version, not $version"
pkg-config --static --libs tessera | grep -q -- "-lm" ||
    fail "pkg-config --static --libs tessera does not name libm"
pc_libdir=$(pkg-config --variable=libdir tessera)
# A static-only libtessera (BUILD_SHARED_LIBS=OFF) needs its private libraries too.
pc_args="--cflags --libs"
[ -e "$prefix/$libdir/libtessera.so" ] || pc_args="--static $pc_args"
# shellcheck disable=SC2046,SC2086 # the flags are meant to be split into words
"$cc" -std=c11 -Wall -Wextra -Werror "$here/consumer/consumer.c" -o "$work_dir/consumer-pc" \
    $(pkg-config $pc_args tessera) -Wl,-rpath,"$pc_libdir" ||
    fail "compiling with \$(pkg-config $pc_args tessera) failed"
check_output "pkg-config consumer" "$work_dir/consumer-pc"

echo "install test: passed"
