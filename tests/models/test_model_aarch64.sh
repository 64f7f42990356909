#!/bin/sh
# A whole model on an AArch64 board, stood in by qemu-aarch64: SqueezeNet 1.1 (opset 17)
# built on the host for "llvm -mtriple=aarch64-linux-gnu -mattr=+neon" with the default
# configurations, uploaded to the runtime-only `tessera rpc-server` cross-built for
# aarch64 (tests/rpc/run_rpc_aarch64_build.sh) and run there by `tessera run --rpc` on the
# seeded input; its output is compared with ONNX Runtime's (rtol 1e-3, atol 1e-4). The
# shared object must be an aarch64 ELF and the server must report the board's key.
# Skipped (77) without the exported model and ONNX Runtime's outputs, or without the
# cross compiler or qemu-aarch64 (scripts/install-deps.sh installs them).
#
#   test_model_aarch64.sh CMAKE SOURCE_DIR TESSERA PB_COMPARE MODELS_DIR WORK_DIR
set -u
cmake=$1 src=$2 tessera=$3 pb_compare=$4 dir=$5 work=$6
name=squeezenet1_1
model="$dir/${name}_opset17.onnx"
reference="$dir/ort/${name}_opset17"
if [ ! -f "$model" ] || [ ! -f "$reference/output_0.pb" ]; then
    echo "SKIP: no $model or no ONNX Runtime outputs in $reference"
    exit 77
fi
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    echo "SKIP: qemu-aarch64 or aarch64-linux-gnu-gcc is missing"
    exit 77
fi
mkdir -p "$work/board" || exit 1
sh "$src/tests/rpc/run_rpc_aarch64_build.sh" "$cmake" "$src" "$work/runtime" || exit 1

# The board: the server on a free port, under qemu, its kernels on one thread (qemu-user
# cannot always start threads in the child the server forks).
log="$work/board.log"
TS_NUM_THREADS=1 sh "$src/scripts/qemu-aarch64.sh" "$work/runtime/tools/tessera" rpc-server \
    --host 127.0.0.1 --port 0 --key qemu-arm64 --workdir "$work/board" >"$log" 2>&1 &
board=$!
trap 'kill $board 2>/dev/null; wait $board 2>/dev/null' EXIT
port=
for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 $board 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "FAIL: the aarch64 rpc-server did not start:"
    cat "$log"
    exit 1
fi

so="$work/$name.so"
out="$work/$name"
rm -rf "$so" "$out"
target="llvm -mtriple=aarch64-linux-gnu -mattr=+neon"
if ! "$tessera" build "$model" --target "$target" -o "$so" >"$work/build.log" 2>&1; then
    echo "FAIL: tessera build --target '$target':"
    tail -n 20 "$work/build.log"
    exit 1
fi
grep '^kernels:' "$work/build.log"
# ELF header: class 64 (byte 4 = 2), machine EM_AARCH64 = 183 (bytes 18-19, little end).
machine=$(od -An -tu1 -j18 -N2 "$so" | tr -s ' ' | sed 's/^ //')
if [ "$machine" != "183 0" ]; then
    echo "FAIL: $so is not an aarch64 shared object (e_machine bytes: $machine)"
    exit 1
fi
if ! "$tessera" run "$so" --rpc "127.0.0.1:$port" --input "$dir/$name.input_0.pb" \
    --save-outputs "$out" --repeat 1 >"$work/run.log" 2>&1; then
    echo "FAIL: tessera run --rpc:"
    tail -n 20 "$work/run.log"
    exit 1
fi
cat "$work/run.log"
grep -q "(qemu-arm64)" "$work/run.log" || { echo "FAIL: the run did not name the board"; exit 1; }
"$pb_compare" "$out" "$reference"
