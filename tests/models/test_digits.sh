#!/bin/sh
# The real data set: a small CNN trained on scikit-learn's 8x8 digits
# (scripts/digits_model.py), built by Tessera for the whole 540-image test split at once
# (--input-shape), run, and its top-1 accuracy compared with torch's on the same split:
# the same to the hundredth of a point. The base the quantized builds are measured from.
# Skipped (77) without python3-torch, python3-sklearn and python3-onnx.
#
#   test_digits.sh TESSERA SOURCE_DIR WORK_DIR
set -u
tessera=$1 src=$2 work=$3
/usr/bin/python3 "$src/scripts/digits_model.py" "$work"
case $? in
    0) ;;
    77) exit 77 ;;
    *) echo "FAIL: digits_model.py failed"; exit 1 ;;
esac
so="$work/digits_fp32.so"
"$tessera" build "$work/digits.onnx" --input-shape input=540x1x8x8 -o "$so" \
    >"$work/build.log" 2>&1 || { echo "FAIL: tessera build:"; cat "$work/build.log"; exit 1; }
rm -rf "$work/fp32"
"$tessera" run "$so" --input "$work/digits_test.pb" --save-outputs "$work/fp32" \
    >"$work/run.log" 2>&1 || { echo "FAIL: tessera run:"; cat "$work/run.log"; exit 1; }
got=$(/usr/bin/python3 "$src/scripts/digits_model.py" --accuracy "$work/fp32/output_0.pb" \
    "$work/digits_test_labels.npy") || { echo "FAIL: --accuracy failed"; exit 1; }
want=$(cat "$work/digits_fp32_accuracy.txt")
echo "digits fp32 top-1 on 540 test images: Tessera $got%, torch $want%"
[ "$got" = "$want" ] || { echo "FAIL: Tessera's accuracy differs from torch's"; exit 1; }
