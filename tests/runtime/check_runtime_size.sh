#!/bin/sh
# The device runtime stays small: libtessera_runtime, stripped, under the limit in bytes
# (DESIGN.md: a board's runtime; 300 KB with RPC and the graph executor).
# usage: check_runtime_size.sh LIBRARY LIMIT_BYTES
lib=$1
limit=$2
tmp=${TMPDIR:-/tmp}/tessera-runtime-size-$$
trap 'rm -f "$tmp"' EXIT
command -v strip >/dev/null 2>&1 || { echo "strip is not installed"; exit 77; }
strip -o "$tmp" "$lib" || exit 1
size=$(wc -c < "$tmp")
echo "libtessera_runtime stripped: $size bytes (limit $limit)"
[ "$size" -lt "$limit" ]
