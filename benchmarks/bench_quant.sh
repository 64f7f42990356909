#!/bin/sh
# bench_quant: models quantized to int8 by Tessera, against Tessera's fp32 build of the same
# model and against ONNX Runtime running Tessera's QDQ model, one thread, in one run.
#
#   bench_quant.sh BUILD_DIR [MODEL...]      (default: resnet18 mobilenet_v2)
#
# For each model (torchvision, seeded random weights, opset 17, batch 1, exported by
# scripts/export_models.py into BUILD_DIR/models):
#   1. `tessera quantize` on 8 seeded random inputs (minmax) -> MODEL_int8.onnx (QDQ);
#   2. `tessera tune` and `tessera build` of the fp32 model and of the QDQ model, each with
#      BENCH_QUANT_TRIALS trials per task (default 32), candidates on one thread;
#   3. agreement: the int8 build's output on the seeded input against ONNX Runtime's run
#      of the same QDQ model (top-1 class and the largest difference, reported);
#   4. latency on one thread: ROUNDS rounds alternating Tessera fp32, Tessera int8 and
#      ONNX Runtime int8, each the median of REPEAT runs after a warm-up; the median of the
#      rounds is reported.
# Targets (the issue's): int8 >= 4x Tessera fp32 on ResNet-18; int8 >= 2x ONNX Runtime's
# int8 on each model. The last line is
#   RESULT bench=quant ... ratio=R
# R the worst of (ResNet-18's int8 speed-up over fp32) / 4 and (each model's speed-up over
# ONNX Runtime's int8) / 2: 1.0 means every target is met.
set -eu

build_dir=$(cd "${1:?usage: bench_quant.sh BUILD_DIR [MODEL...]}" && pwd)
shift
models=${*:-resnet18 mobilenet_v2}
source_dir=$(cd "$(dirname "$0")/.." && pwd)
trials=${BENCH_QUANT_TRIALS:-32}
rounds=${BENCH_QUANT_ROUNDS:-3}
repeat=${BENCH_QUANT_REPEAT:-20}
opset=17
tessera="$build_dir/tools/tessera"
models_dir="$build_dir/models"
work="$build_dir/bench_quant"

[ -x "$tessera" ] || { echo "bench_quant: $tessera is not built" >&2; exit 1; }
sh "$source_dir/scripts/install-ort.sh"
mkdir -p "$work"
# shellcheck disable=SC2086
/usr/bin/python3 "$source_dir/scripts/export_models.py" "$models_dir" --opsets $opset \
    --models "$(echo $models | tr ' ' ',')"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
                                                  else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
tessera_ms() {
    TS_NUM_THREADS=1 "$tessera" run "$1" --input "$2" --repeat "$repeat" 2>&1 |
        sed -n 's/.*median \([0-9.][0-9.]*\) ms.*/\1/p' | head -n 1
}
ort_ms() {
    node "$source_dir/scripts/ort_run.js" "$1" --input "$2" --threads 1 --repeat "$repeat" |
        sed -n 's/.*median_ms=\([0-9.][0-9.]*\).*/\1/p'
}
# top-1 index and max |a - b| of two [1, classes] TensorProto files.
agreement() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
def load(p):
    t = onnx.TensorProto()
    with open(p, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t).reshape(-1)
a, b = load(sys.argv[1]), load(sys.argv[2])
print("top1_match=%d max_abs_diff=%.4g" % (int(a.argmax() == b.argmax()), float(np.abs(a - b).max())))
PY
}
# 8 seeded standard-normal samples of the model's input shape (batch 1) as a .npy file.
calibration_samples() { # MODEL NPY
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
import numpy as np
import onnx
model = onnx.load(sys.argv[1])
dims = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
np.save(sys.argv[2], np.random.default_rng(7).standard_normal([8] + dims).astype(np.float32))
PY
}
tune_build() { # MODEL LOG SO
    rm -f "$2"
    TS_NUM_THREADS=1 "$tessera" tune "$1" --log "$2" --trials-per-task "$trials" \
        >"$3.tune.out" 2>&1 || { tail -n 20 "$3.tune.out" >&2; exit 1; }
    "$tessera" build "$1" --log "$2" -o "$3" >"$3.build.out" 2>&1 ||
        { cat "$3.build.out" >&2; exit 1; }
    grep '^kernels:' "$3.build.out"
}

result="RESULT bench=quant trials_per_task=$trials threads=1"
worst=""
worse() { # keep the smaller of $worst and $1
    if [ -z "$worst" ] || awk -v r="$1" -v w="$worst" 'BEGIN { exit !(r < w) }'; then
        worst=$1
    fi
}
printf '%-14s %10s %10s %10s %12s %12s\n' model fp32_ms int8_ms ort_int8_ms int8/fp32 ort/int8
for name in $models; do
    model="$models_dir/${name}_opset$opset.onnx"
    input="$models_dir/$name.input_0.pb"
    qdq="$work/${name}_int8.onnx"
    calib="$work/$name.calib.npy"
    calibration_samples "$model" "$calib"
    echo "== $name: quantize (8 random samples, minmax)"
    "$tessera" quantize "$model" --calib "$calib" -o "$qdq" >"$work/$name.quantize.out" 2>&1 ||
        { cat "$work/$name.quantize.out" >&2; exit 1; }
    head -n 1 "$work/$name.quantize.out"
    echo "== $name: fp32, $trials trials per task"
    tune_build "$model" "$work/$name.fp32.log" "$work/$name.fp32.so"
    echo "== $name: int8, $trials trials per task"
    tune_build "$qdq" "$work/$name.int8.log" "$work/$name.int8.so"

    rm -rf "$work/$name.ort_int8" "$work/$name.tessera_int8"
    node "$source_dir/scripts/ort_run.js" "$qdq" --input "$input" \
        --save-outputs "$work/$name.ort_int8" >/dev/null
    "$tessera" run "$work/$name.int8.so" --input "$input" \
        --save-outputs "$work/$name.tessera_int8" >/dev/null
    agree=$(agreement "$work/$name.tessera_int8/output_0.pb" "$work/$name.ort_int8/output_0.pb")
    echo "$name: Tessera int8 against ONNX Runtime int8: $agree"

    : >"$work/f.ms"
    : >"$work/i.ms"
    : >"$work/o.ms"
    for _ in $(seq 1 "$rounds"); do
        tessera_ms "$work/$name.fp32.so" "$input" >>"$work/f.ms"
        tessera_ms "$work/$name.int8.so" "$input" >>"$work/i.ms"
        ort_ms "$qdq" "$input" >>"$work/o.ms"
    done
    f_ms=$(median <"$work/f.ms")
    i_ms=$(median <"$work/i.ms")
    o_ms=$(median <"$work/o.ms")
    if [ -z "$f_ms" ] || [ -z "$i_ms" ] || [ -z "$o_ms" ]; then
        echo "bench_quant: $name: a side gave no latency ('$f_ms' '$i_ms' '$o_ms')" >&2
        exit 1
    fi
    over_fp32=$(awk -v f="$f_ms" -v i="$i_ms" 'BEGIN { printf "%.3f", f / i }')
    over_ort=$(awk -v o="$o_ms" -v i="$i_ms" 'BEGIN { printf "%.3f", o / i }')
    printf '%-14s %10.3f %10.3f %10.3f %12s %12s\n' "$name" "$f_ms" "$i_ms" "$o_ms" \
        "$over_fp32" "$over_ort"
    result="$result ${name}_fp32_ms=$f_ms ${name}_int8_ms=$i_ms ${name}_ort_int8_ms=$o_ms"
    result="$result ${name}_int8_over_fp32=$over_fp32 ${name}_int8_over_ort=$over_ort"
    result="$result ${name}_$(echo "$agree" | sed "s/ / ${name}_/")"
    worse "$(awk -v r="$over_ort" 'BEGIN { printf "%.3f", r / 2 }')"
    if [ "$name" = resnet18 ]; then
        worse "$(awk -v r="$over_fp32" 'BEGIN { printf "%.3f", r / 4 }')"
    fi
done
echo "$result ratio=$worst"
