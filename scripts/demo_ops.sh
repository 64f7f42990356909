#!/bin/sh
# `make demo-ops`: the operator demo, beside the model journey of `make demo`. Installs
# what is missing, builds, starts a device server on loopback (the embedded default
# device), tunes a ResNet-18 conv2d layer and a 1024^3 dense on it for a bounded number of
# trials, exports the tuned kernels as shared objects, loads them back, checks them against
# OpenBLAS and prints their speed next to OpenBLAS's, measured in the same run. Beside the
# fp32 layer, the same layer in int8 (dtype=int8: the VNNI template where the CPU has it) is
# tuned, exported, checked bit for bit against naive C and timed beside the fp32 kernel.
#
#   scripts/demo_ops.sh [BUILD_DIR]      (DEMO_OPS_TRIALS=N sets the trials per operator)
set -eu

build_dir=${1:-build}
trials=${DEMO_OPS_TRIALS:-64}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
demo_dir="$build_dir/demo/ops"
tessera="$build_dir/tools/tessera"

sh "$source_dir/scripts/install-deps.sh"
if [ ! -f "$build_dir/cmake_install.cmake" ]; then
    cmake -S "$source_dir" -B "$build_dir"
fi
cmake --build "$build_dir" -j2 --target tessera_command demo_check demo_check_int8

mkdir -p "$demo_dir"
rm -f "$demo_dir"/*.log "$demo_dir"/*.so "$demo_dir"/server.out

# Single-threaded kernels everywhere, as the benchmarks compare them: the server (which
# runs the candidates) and the checker below both read this.
export TS_NUM_THREADS=1

# The device server, on a free port of the loopback interface; stopped on exit.
"$tessera" rpc-server --host 127.0.0.1 --port 0 --key local --workdir "$demo_dir" \
    >"$demo_dir/server.out" 2>"$demo_dir/server.err" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null || true' EXIT INT TERM
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$demo_dir/server.out")
    [ -n "$port" ] && break
    kill -0 $server_pid 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "demo: the device server did not start:" >&2
    cat "$demo_dir/server.err" >&2
    exit 1
fi
echo "== the device: tessera rpc-server on 127.0.0.1:$port"
"$tessera" rpc-info "127.0.0.1:$port"

conv="N=1 C=128 H=28 W=28 K=128 R=3 S=3 stride=1 pad=1"
dense="M=1024 N=1024 K=1024"
log="$demo_dir/tune.log"

echo
echo "== tuning conv2d $conv ($trials trials on the device)"
# shellcheck disable=SC2086
"$tessera" tune conv2d $conv --rpc "127.0.0.1:$port" --trials "$trials" --check \
    --log "$log"
echo
echo "== tuning conv2d $conv dtype=int8 ($trials trials on the device)"
# shellcheck disable=SC2086
"$tessera" tune conv2d $conv dtype=int8 --rpc "127.0.0.1:$port" --trials "$trials" --check \
    --log "$log"
echo
echo "== tuning dense $dense ($trials trials on the device)"
# shellcheck disable=SC2086
"$tessera" tune dense $dense --rpc "127.0.0.1:$port" --trials "$trials" --check \
    --log "$log"

echo
echo "== what the log holds"
"$tessera" tune --summary "$log"
"$tessera" tune --plot "$log" -o "$demo_dir/tuning-curve.svg"

echo
echo "== exporting the tuned kernels"
# shellcheck disable=SC2086
"$tessera" build conv2d $conv --log "$log" -o "$demo_dir/conv2d.so"
# shellcheck disable=SC2086
"$tessera" build conv2d $conv dtype=int8 --log "$log" -o "$demo_dir/conv2d_int8.so"
# shellcheck disable=SC2086
"$tessera" build dense $dense --log "$log" -o "$demo_dir/dense.so"

echo
echo "== loading them back: checked against OpenBLAS and timed beside it"
# shellcheck disable=SC2086
"$build_dir/benchmarks/demo_check" "$demo_dir/conv2d.so" conv2d $conv
# shellcheck disable=SC2086
"$build_dir/benchmarks/demo_check" "$demo_dir/dense.so" dense $dense
echo
echo "== the int8 layer: checked against naive C and timed beside the fp32 one"
# shellcheck disable=SC2086
"$build_dir/benchmarks/demo_check_int8" "$demo_dir/conv2d_int8.so" "$demo_dir/conv2d.so" $conv
echo
echo "demo: done. The log is $log, the tuning curve $demo_dir/tuning-curve.svg."
