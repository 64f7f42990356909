#!/bin/sh
# One whole model end to end against ONNX Runtime, at both opsets, as a user runs it:
# `tessera build MODEL.onnx -o MODEL.so` with the default configurations (no tuning log),
# `tessera run MODEL.so --input INPUT.pb --save-outputs DIR` on the model's seeded input,
# and every output compared with ONNX Runtime's (written by test_models_ort.sh) by
# pb_compare: rtol 1e-3, atol 1e-4, the worst element reported. The shared object is
# removed afterwards (VGG-11's holds 507 MB of weights).
# Skipped (77) without the exported models or ONNX Runtime's outputs.
#
#   test_model_e2e.sh TESSERA PB_COMPARE MODELS_DIR MODEL
set -u
tessera=$1
pb_compare=$2
dir=$3
name=$4

work="$dir/tessera"
mkdir -p "$work" || exit 1
status=0
for opset in 11 17; do
    model="$dir/${name}_opset$opset.onnx"
    reference="$dir/ort/${name}_opset$opset"
    if [ ! -f "$model" ] || [ ! -f "$reference/output_0.pb" ]; then
        echo "SKIP: no $model or no ONNX Runtime outputs in $reference (they need" \
            "python3-torch and onnxruntime-node: scripts/install-deps.sh)"
        exit 77
    fi
    so="$work/${name}_opset$opset.so"
    out="$work/${name}_opset$opset"
    rm -rf "$out" "$so"
    if ! "$tessera" build "$model" -o "$so" >"$out.build.log" 2>&1; then
        echo "FAIL: tessera build $model:"
        tail -n 20 "$out.build.log"
        status=1
        continue
    fi
    grep '^kernels:' "$out.build.log"
    if ! "$tessera" run "$so" --input "$dir/$name.input_0.pb" --save-outputs "$out" \
        >"$out.run.log" 2>&1; then
        echo "FAIL: tessera run $so:"
        tail -n 20 "$out.run.log"
        status=1
        continue
    fi
    echo "$name opset $opset: $(wc -c <"$so") bytes of shared object"
    rm -f "$so"
    "$pb_compare" "$out" "$reference" || status=1
done
exit $status
