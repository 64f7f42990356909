#!/bin/sh
# `make demo`: the main job, on a fresh machine, for a whole model. Installs what is missing
# (Debian packages, onnxruntime-node from npm into a cache), builds, exports ResNet-18 from
# torchvision (seeded random weights, ONNX opset 17), starts a device server on loopback
# (the embedded default device), tunes every task of the model on it for a bounded number
# of trials, builds one shared object from the tuning log, runs it, and checks its outputs
# and latency against ONNX Runtime's, measured in the same run. The operator demo is
# `make demo-ops` (scripts/demo_ops.sh).
#
#   scripts/demo.sh [BUILD_DIR]
#       DEMO_TRIALS=N    trials per task (default 48: a few minutes on 2 cores)
#       DEMO_MODEL=NAME  another model of scripts/export_models.py (default resnet18)
set -eu

build_dir=${1:-build}
trials=${DEMO_TRIALS:-48}
name=${DEMO_MODEL:-resnet18}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
demo_dir="$build_dir/demo"
tessera="$build_dir/tools/tessera"
pb_compare="$build_dir/tests/models/pb_compare"

sh "$source_dir/scripts/install-deps.sh"
if [ ! -f "$build_dir/cmake_install.cmake" ]; then
    cmake -S "$source_dir" -B "$build_dir"
fi
cmake --build "$build_dir" -j2 --target tessera_command pb_compare

mkdir -p "$demo_dir"
demo_dir=$(cd "$demo_dir" && pwd)
log="$demo_dir/$name.log"
so="$demo_dir/$name.so"
rm -f "$log" "$so" "$demo_dir"/server.out "$demo_dir"/server.err
rm -rf "$demo_dir/ort" "$demo_dir/tessera"

echo "== exporting $name from torchvision (random weights, opset 17)"
/usr/bin/python3 "$source_dir/scripts/export_models.py" "$demo_dir" --models "$name" \
    --opsets 17
model="$demo_dir/${name}_opset17.onnx"
input="$demo_dir/$name.input_0.pb"
"$tessera" graph "$model" 2>/dev/null | tail -n 1

# One thread everywhere, as the comparison below: the server (which runs the candidates)
# and `tessera run` read this.
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
echo
echo "== the device: tessera rpc-server on 127.0.0.1:$port"
"$tessera" rpc-info "127.0.0.1:$port"

echo
echo "== tuning $name, $trials trials per task on the device"
start=$(date +%s)
"$tessera" tune "$model" --log "$log" --trials-per-task "$trials" --rpc "127.0.0.1:$port"
tuned=$(date +%s)

echo
echo "== building one shared object from the log"
"$tessera" build "$model" --log "$log" -o "$so"
built=$(date +%s)
echo "$so: $(wc -c <"$so") bytes (tuning $((tuned - start)) s, build $((built - tuned)) s)"

echo
echo "== running it, and ONNX Runtime on the same input"
"$tessera" run "$so" --input "$input" --save-outputs "$demo_dir/tessera"
node "$source_dir/scripts/ort_run.js" "$model" --input "$input" --save-outputs "$demo_dir/ort"
"$pb_compare" "$demo_dir/tessera" "$demo_dir/ort"

echo
echo "== latency, one thread, both in this run (3 rounds, alternating; medians of 20 runs)"
: >"$demo_dir/latency"
for round in 1 2 3; do
    t=$("$tessera" run "$so" --input "$input" --repeat 20 2>&1 |
        sed -n 's/.*median \([0-9.][0-9.]*\) ms.*/\1/p' | head -n 1)
    o=$(node "$source_dir/scripts/ort_run.js" "$model" --input "$input" --repeat 20 |
        sed -n 's/.*median_ms=\([0-9.][0-9.]*\).*/\1/p')
    echo "round $round: Tessera $t ms, ONNX Runtime $o ms"
    echo "$t $o" >>"$demo_dir/latency"
done
# The median round of each side, and the ratio (> 1: Tessera is faster).
t=$(sort -g -k1,1 "$demo_dir/latency" | sed -n 2p | cut -d' ' -f1)
o=$(sort -g -k2,2 "$demo_dir/latency" | sed -n 2p | cut -d' ' -f2)
echo "$name, one thread: Tessera $t ms, ONNX Runtime $o ms:" \
    "$(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.2f", o / t }')x ONNX Runtime's speed"
echo
echo "demo: done. The tuning log is $log, the model $so."
