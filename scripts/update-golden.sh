#!/bin/sh
# Rewrites the golden files (tests/*/golden/*.expected) from the current printer output.
# Run after an intended change to the printer or a lowering, then review `git diff`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-"$top/build"}
cmake --build "$build" -j2
TESSERA_UPDATE_GOLDEN=1 ctest --test-dir "$build" -R 'test_printer|test_lower_golden' --output-on-failure
git -C "$top" status --short -- 'tests/*/golden'
