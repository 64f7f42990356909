#!/bin/sh
# Every model scripts/export_models.py writes, at both opsets, imports with `tessera graph`:
# the graph verifies, the symbolic batch dimension is fixed to 1 with a note (the images),
# and the output's shape is inferred, the logits [1, 1000] or the encoder's [1, 16, 64].
# ShuffleNetV2's channel shuffle reshapes by a Shape/Gather/Concat chain of the batch
# dimension, so its logits' batch extent waits for constant folding ([?, 1000]) at import;
# after the fold_constants pass (`tessera graph --after fold_constants`) every model's
# output shape must be known.
# Skipped (77) when the models are not there (no torch to export them).
#
#   test_models_import.sh TESSERA MODELS_DIR
set -u
tessera=$1
dir=$2

folded_output() {
    case $1 in
    transformer_encoder) echo "float32[1, 16, 64]" ;;
    *) echo "float32[1, 1000]" ;;
    esac
}
expected_output() {
    case $1 in
    shufflenet_v2_x1_0) echo "float32[?, 1000]" ;;
    *) folded_output "$1" ;;
    esac
}

if [ ! -f "$dir/resnet18_opset11.onnx" ]; then
    echo "SKIP: no exported models in $dir (scripts/export_models.py needs python3-torch," \
        "python3-torchvision and python3-onnx)"
    exit 77
fi
models=$(/usr/bin/python3 "$(dirname "$0")/../../scripts/export_models.py" --list) || exit 1
status=0
count=0
for name in $models; do
    for opset in 11 17; do
        model="$dir/${name}_opset$opset.onnx"
        if [ ! -f "$model" ]; then
            echo "FAIL: $model was not exported"
            status=1
            continue
        fi
        out=$("$tessera" graph "$model" 2>"$dir/import.err") || {
            echo "FAIL: tessera graph $model:"
            cat "$dir/import.err"
            status=1
            continue
        }
        want="%output : $(expected_output "$name")"
        if ! echo "$out" | grep -qF "$want"; then
            echo "FAIL: $name opset $opset: no '$want' in the graph; its last lines:"
            echo "$out" | tail -n 3
            status=1
            continue
        fi
        if [ "$name" != transformer_encoder ] &&
            ! grep -q 'dimension 0 ("N") fixed to 1' "$dir/import.err"; then
            echo "FAIL: $name opset $opset: no note on the symbolic batch dimension"
            status=1
            continue
        fi
        folded=$("$tessera" graph "$model" --after fold_constants 2>/dev/null)
        want="%output : $(folded_output "$name")"
        if ! echo "$folded" | grep -qF "$want"; then
            echo "FAIL: $name opset $opset: no '$want' after fold_constants"
            status=1
            continue
        fi
        nodes=$(echo "$out" | grep -c ' = ')
        ops=$(echo "$out" | sed -n 's/.* = \([A-Za-z]*\) ".*/\1/p' | sort -u | tr '\n' ' ')
        echo "ok: $name opset $opset: $nodes nodes ($ops)"
        count=$((count + 1))
    done
done
echo "$count models imported"
exit $status
