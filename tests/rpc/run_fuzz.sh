#!/bin/sh
# Builds the libFuzzer target of RPC message decoding (tests/rpc/fuzz_rpc_decode.c) with
# clang, straight from the sources it needs (the project itself builds with gcc), and
# runs it for SECONDS on a seed corpus it writes itself; SECONDS 0 only builds.
#   run_fuzz.sh CLANG SOURCE_DIR RPC_GEN_DIR OUT_DIR SECONDS
# Exit 77 (skipped) when clang or its fuzzer runtime is missing.
set -eu
clang=$1 src=$2 gen=$3 out=$4 seconds=$5
if [ -z "$clang" ] || ! command -v "$clang" >/dev/null 2>&1; then
  echo "run_fuzz.sh: clang not found; skipped (apt-get install clang libclang-rt-14-dev)"
  exit 77
fi
mkdir -p "$out"
fuzzer=$out/fuzz_rpc_decode
if ! "$clang" -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$src" -I"$src/include" -I"$gen" \
    "$src/tests/rpc/fuzz_rpc_decode.c" "$src/rpc/frame.c" "$src/rpc/auth.c" \
    "$src/rpc/tracker.c" "$src/rpc/tracker_pool.c" "$src/rpc/server_check.c" \
    "$src/te/error.c" "$src/te/dtype.c" "$gen/rpc.pb-c.c" \
    -lprotobuf-c -lcrypto -lm -o "$fuzzer.new"; then
  # libFuzzer brings its own main: the probe is an empty fuzz target.
  probe='int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}'
  if ! echo "$probe" | "$clang" -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null
  then
    echo "run_fuzz.sh: $clang has no libFuzzer runtime; skipped (libclang-rt-14-dev)"
    exit 77
  fi
  exit 1
fi
mv "$fuzzer.new" "$fuzzer"
echo "built $fuzzer"
rm -rf "$out/fuzz_seeds"
mkdir -p "$out/fuzz_seeds" "$out/fuzz_corpus"
FUZZ_WRITE_SEEDS=$out/fuzz_seeds "$fuzzer"
[ "$seconds" = 0 ] && exit 0
# New inputs go to fuzz_corpus (kept between runs); the seeds are read only.
exec "$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$out/fuzz_corpus" "$out/fuzz_seeds"
