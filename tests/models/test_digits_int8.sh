#!/bin/sh
# What int8 costs in accuracy on a real data set: the digits CNN (scripts/digits_model.py)
# quantized by `tessera quantize` with each calibration method on 64 train images, the QDQ
# models run by ONNX Runtime (scripts/ort_run.js) on the 540 test images, top-1 accuracy
# against the fp32 model's; then `tessera build --quantize int8` and `tessera run` on the
# same images. The minmax model, in ONNX Runtime and in Tessera, must be within 0.5 points
# of fp32; the others are reported. Skipped (77) without torch, scikit-learn, onnx or
# onnxruntime-node.
#
#   test_digits_int8.sh TESSERA SOURCE_DIR WORK_DIR
set -u
tessera=$1 src=$2 work=$3
/usr/bin/python3 "$src/scripts/digits_model.py" "$work"
case $? in
    0) ;;
    77) exit 77 ;;
    *) echo "FAIL: digits_model.py failed"; exit 1 ;;
esac
accuracy() {
    /usr/bin/python3 "$src/scripts/digits_model.py" --accuracy "$1" "$work/digits_test_labels.npy"
}
rm -rf "$work/ort_fp32"
node "$src/scripts/ort_run.js" "$work/digits.onnx" --input "$work/digits_test.pb" \
    --save-outputs "$work/ort_fp32" >"$work/ort.log" 2>&1
case $? in
    0) ;;
    77) echo "SKIP: onnxruntime-node is missing (scripts/install-ort.sh)"; exit 77 ;;
    *) echo "FAIL: ONNX Runtime on the fp32 model:"; cat "$work/ort.log"; exit 1 ;;
esac
fp32=$(accuracy "$work/ort_fp32/output_0.pb") || exit 1
echo "fp32: $fp32%"
status=0
for method in minmax percentile entropy; do
    model="$work/digits_int8_$method.onnx"
    "$tessera" quantize "$work/digits.onnx" --calib "$work/digits_calib.npy" \
        --method "$method" -o "$model" >"$work/quantize_$method.log" 2>&1 ||
        { echo "FAIL: tessera quantize --method $method:"; cat "$work/quantize_$method.log"; exit 1; }
    rm -rf "$work/ort_$method"
    node "$src/scripts/ort_run.js" "$model" --input "$work/digits_test.pb" \
        --save-outputs "$work/ort_$method" >"$work/ort.log" 2>&1 ||
        { echo "FAIL: ONNX Runtime cannot run the $method QDQ model:"; cat "$work/ort.log"; exit 1; }
    got=$(accuracy "$work/ort_$method/output_0.pb") || exit 1
    echo "int8 ($method calibration, ONNX Runtime): $got%"
    if [ "$method" = minmax ] &&
        ! awk -v a="$got" -v b="$fp32" 'BEGIN { exit !(b - a <= 0.5) }'; then
        echo "FAIL: int8 minmax is more than 0.5 points below fp32"
        status=1
    fi
done
so="$work/digits_int8.so"
rm -rf "$work/tessera_int8"
"$tessera" build "$work/digits.onnx" --quantize int8 --calib "$work/digits_calib.npy" \
    --input-shape input=540x1x8x8 -o "$so" >"$work/build_int8.log" 2>&1 ||
    { echo "FAIL: tessera build --quantize int8:"; cat "$work/build_int8.log"; exit 1; }
"$tessera" run "$so" --input "$work/digits_test.pb" --save-outputs "$work/tessera_int8" \
    >"$work/run_int8.log" 2>&1 || { echo "FAIL: tessera run:"; cat "$work/run_int8.log"; exit 1; }
got=$(accuracy "$work/tessera_int8/output_0.pb") || exit 1
echo "int8 (minmax calibration, Tessera): $got%"
if ! awk -v a="$got" -v b="$fp32" 'BEGIN { exit !(b - a <= 0.5) }'; then
    echo "FAIL: Tessera's int8 build is more than 0.5 points below fp32"
    status=1
fi
exit $status
