#!/bin/sh
# bench_models: whole models, Tessera tuned within a stated trial budget against ONNX Runtime
# (onnxruntime-node, scripts/ort_run.js) in the same run, on one and two threads.
#
#   bench_models.sh BUILD_DIR [MODEL...]      (default: resnet18 mobilenet_v2 squeezenet1_1)
#
# For each model (torchvision, seeded random weights, opset 17, batch 1, exported by
# scripts/export_models.py into BUILD_DIR/models):
#   1. `tessera tune MODEL.onnx --log LOG --trials-per-task N` (N = BENCH_MODELS_TRIALS,
#      default 32) from an empty log, candidates measured on one thread (TS_NUM_THREADS=1);
#      the log stays in BUILD_DIR/bench_models/;
#   2. `tessera build MODEL.onnx --log LOG -o MODEL.so`;
#   3. the outputs on the seeded input against ONNX Runtime's (pb_compare, rtol 1e-3, atol
#      1e-4): a wrong model's speed means nothing, so a mismatch ends the benchmark;
#   4. latency on 1 and 2 threads (TS_NUM_THREADS for Tessera, intra-op threads for ONNX
#      Runtime in sequential mode): ROUNDS rounds that alternate the two sides, each the
#      median of REPEAT runs after a warm-up; the median of the rounds is reported.
# Also reported: tuning and build time, the .so's size and the stripped runtime's size.
# The last line is
#   RESULT bench=models trials_per_task=N resnet18_1t=R ... ratio=R
# each R = ONNX Runtime's latency / Tessera's (> 1: Tessera is faster), ratio the worst
# one-thread R. Timings are only as quiet as the machine: say so when it is shared.
set -eu

build_dir=$(cd "${1:?usage: bench_models.sh BUILD_DIR [MODEL...]}" && pwd)
shift
models=${*:-resnet18 mobilenet_v2 squeezenet1_1}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
trials=${BENCH_MODELS_TRIALS:-32}
rounds=${BENCH_MODELS_ROUNDS:-3}
repeat=${BENCH_MODELS_REPEAT:-20}
opset=17
tessera="$build_dir/tools/tessera"
pb_compare="$build_dir/tests/models/pb_compare"
models_dir="$build_dir/models"
work="$build_dir/bench_models"

for tool in "$tessera" "$pb_compare"; do
    [ -x "$tool" ] || { echo "bench_models: $tool is not built" >&2; exit 1; }
done
sh "$source_dir/scripts/install-ort.sh"
mkdir -p "$work"
# shellcheck disable=SC2086
/usr/bin/python3 "$source_dir/scripts/export_models.py" "$models_dir" --opsets $opset \
    --models "$(echo $models | tr ' ' ',')"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
                                                  else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One round's median latency in ms, from each side's own report.
tessera_ms() {
    TS_NUM_THREADS=$1 "$tessera" run "$2" --input "$3" --repeat "$repeat" 2>&1 |
        sed -n 's/.*median \([0-9.][0-9.]*\) ms.*/\1/p' | head -n 1
}
ort_ms() {
    node "$source_dir/scripts/ort_run.js" "$2" --input "$3" --threads "$1" --repeat "$repeat" |
        sed -n 's/.*median_ms=\([0-9.][0-9.]*\).*/\1/p'
}

runtime_lib=$(ls "$build_dir"/runtime/libtessera_runtime.so.*.*.* 2>/dev/null | head -n 1)
runtime_size=0
if [ -n "$runtime_lib" ]; then
    strip -o "$work/libtessera_runtime.stripped" "$runtime_lib"
    runtime_size=$(wc -c <"$work/libtessera_runtime.stripped")
fi

result="RESULT bench=models trials_per_task=$trials"
worst=""
printf '%-14s %7s %10s %9s %9s %9s %9s %9s\n' model threads tessera_ms ort_ms ratio tune_s \
    build_s so_kb
for name in $models; do
    model="$models_dir/${name}_opset$opset.onnx"
    input="$models_dir/$name.input_0.pb"
    log="$work/$name.log"
    so="$work/$name.so"

    echo "== $name: tuning, $trials trials per task (log $log)"
    rm -f "$log"
    t0=$(now)
    TS_NUM_THREADS=1 "$tessera" tune "$model" --log "$log" --trials-per-task "$trials" \
        >"$work/$name.tune.out" 2>&1
    tail -n 1 "$work/$name.tune.out"
    t1=$(now)
    "$tessera" build "$model" --log "$log" -o "$so" >"$work/$name.build.out" 2>&1 || {
        cat "$work/$name.build.out" >&2
        exit 1
    }
    t2=$(now)
    grep '^kernels:' "$work/$name.build.out"
    tune_s=$(elapsed "$t0" "$t1")
    build_s=$(elapsed "$t1" "$t2")
    so_kb=$(( $(wc -c <"$so") / 1024 ))

    rm -rf "$work/$name.ort" "$work/$name.tessera"
    node "$source_dir/scripts/ort_run.js" "$model" --input "$input" \
        --save-outputs "$work/$name.ort"
    "$tessera" run "$so" --input "$input" --save-outputs "$work/$name.tessera" >/dev/null
    if ! "$pb_compare" "$work/$name.tessera" "$work/$name.ort"; then
        echo "bench_models: $name: Tessera's outputs differ from ONNX Runtime's" >&2
        exit 1
    fi

    for threads in 1 2; do
        : >"$work/t.ms"
        : >"$work/o.ms"
        for _ in $(seq 1 "$rounds"); do
            tessera_ms "$threads" "$so" "$input" >>"$work/t.ms"
            ort_ms "$threads" "$model" "$input" >>"$work/o.ms"
        done
        t_ms=$(median <"$work/t.ms")
        o_ms=$(median <"$work/o.ms")
        if [ -z "$t_ms" ] || [ -z "$o_ms" ]; then
            echo "bench_models: $name: no latency from one side (tessera '$t_ms', ort '$o_ms')" >&2
            exit 1
        fi
        ratio=$(awk -v o="$o_ms" -v t="$t_ms" 'BEGIN { printf "%.3f", o / t }')
        printf '%-14s %7s %10.3f %9.3f %9s %9s %9s %9s\n' "$name" "$threads" "$t_ms" "$o_ms" \
            "$ratio" "$tune_s" "$build_s" "$so_kb"
        result="$result ${name}_${threads}t=$ratio ${name}_${threads}t_ms=$t_ms ${name}_${threads}t_ort_ms=$o_ms"
        if [ "$threads" = 1 ]; then
            if [ -z "$worst" ] || awk -v r="$ratio" -v w="$worst" 'BEGIN { exit !(r < w) }'; then
                worst=$ratio
            fi
        fi
    done
    result="$result ${name}_tune_s=$tune_s ${name}_build_s=$build_s ${name}_so_bytes=$(wc -c <"$so")"
done
echo "runtime: $runtime_lib, $runtime_size bytes stripped"
echo "$result runtime_bytes=$runtime_size ratio=$worst"
