#!/bin/sh
# The reference itself: ONNX Runtime (scripts/ort_run.js) runs every exported model at
# both opsets on its seeded input and writes its outputs to MODELS_DIR/ort/NAME_opsetN/,
# where the end-to-end tests read them. The two exports of one model hold the same weights,
# so their outputs must agree (pb_compare, rtol 1e-3, atol 1e-4): a check that the export,
# the TensorProto files and the runner are right before anything is compared with them.
# Skipped (77) without the models (no torch) or without onnxruntime-node.
#
#   test_models_ort.sh SOURCE_DIR PB_COMPARE MODELS_DIR
set -u
src=$1
pb_compare=$2
dir=$3

if [ ! -f "$dir/resnet18_opset11.onnx" ]; then
    echo "SKIP: no exported models in $dir (scripts/export_models.py needs python3-torch," \
        "python3-torchvision and python3-onnx)"
    exit 77
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: no node (scripts/install-deps.sh installs nodejs and npm)"
    exit 77
fi
models=$(/usr/bin/python3 "$src/scripts/export_models.py" --list) || exit 1
status=0
for name in $models; do
    for opset in 11 17; do
        out="$dir/ort/${name}_opset$opset"
        rm -rf "$out"
        node "$src/scripts/ort_run.js" "$dir/${name}_opset$opset.onnx" \
            --input "$dir/$name.input_0.pb" --save-outputs "$out"
        rc=$?
        [ $rc -eq 77 ] && exit 77 # onnxruntime-node is not installed: ort_run.js said so
        if [ $rc -ne 0 ] || [ ! -f "$out/output_0.pb" ]; then
            echo "FAIL: ONNX Runtime could not run $name at opset $opset"
            status=1
        fi
    done
    if [ -f "$dir/ort/${name}_opset11/output_0.pb" ] && [ -f "$dir/ort/${name}_opset17/output_0.pb" ]; then
        echo "$name: opset 17's outputs against opset 11's"
        "$pb_compare" "$dir/ort/${name}_opset17" "$dir/ort/${name}_opset11" || status=1
    fi
done
exit $status
