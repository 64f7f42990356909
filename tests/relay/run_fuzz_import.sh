#!/bin/sh
# Builds the libFuzzer target of the ONNX importer (tests/relay/fuzz_onnx_import.c) with
# clang, straight from the sources it needs (the project itself builds with gcc), and runs
# it for SECONDS on the vendored node-test models as seeds; SECONDS 0 only builds.
#   run_fuzz_import.sh CLANG SOURCE_DIR ONNX_GEN_DIR LAYER_DIR OUT_DIR SECONDS
# Exit 77 (skipped) when clang or its fuzzer runtime is missing.
set -eu
clang=$1 src=$2 gen=$3 layer=$4 out=$5 seconds=$6
if [ -z "$clang" ] || ! command -v "$clang" >/dev/null 2>&1; then
  echo "run_fuzz_import.sh: clang not found; skipped (apt-get install clang libclang-rt-14-dev)"
  exit 77
fi
mkdir -p "$out"
fuzzer=$out/fuzz_onnx_import
# relay_lite's files but the graph builder's, which need the code generator and the
# autotuner (the importer, the passes and the lowering do not).
importer_sources=
for f in "$src"/relay_lite/*.c; do
  case ${f##*/} in
    build*.c | tasks.c | workload.c) ;;
    *) importer_sources="$importer_sources $f" ;;
  esac
done
if ! "$clang" -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$layer" -I"$gen" -I"$src/include" -I"$src" \
    "$src/tests/relay/fuzz_onnx_import.c" $importer_sources "$src"/relay_lite/passes/*.c \
    "$src"/te/*.c "$src"/te/ops/*.c "$gen/onnx.proto3.pb-c.c" \
    -lprotobuf-c -lm -o "$fuzzer.new"; then
  if ! echo 'int main(void){return 0;}' | "$clang" -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null
  then
    echo "run_fuzz_import.sh: $clang has no libFuzzer runtime; skipped (libclang-rt-14-dev)"
    exit 77
  fi
  exit 1
fi
mv "$fuzzer.new" "$fuzzer"
echo "built $fuzzer"
rm -rf "$out/fuzz_seeds"
mkdir -p "$out/fuzz_seeds" "$out/fuzz_corpus"
for model in "$src"/tests/onnx/node/*/model.onnx; do
  cp "$model" "$out/fuzz_seeds/$(basename "$(dirname "$model")").onnx"
done
[ "$seconds" = 0 ] && exit 0
# New inputs go to fuzz_corpus (kept between runs); the seeds are read only.
exec "$fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 "$out/fuzz_corpus" "$out/fuzz_seeds"
