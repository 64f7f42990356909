#!/bin/sh
# A whole model through the importer: MobileNetV2 from torchvision (random weights) is
# exported to ONNX in the build tree at two opsets by scripts/export_models.py, then
# `tessera graph` must import it, infer the [N, 1000] logits and honour --input-shape, and
# its graph must go through the graph passes (`--after memory_plan`). Skipped (exit 77)
# without python3-torch, python3-torchvision and python3-onnx.
#
#   test_torchvision_import.sh TESSERA SOURCE_DIR WORK_DIR
set -u
tessera=$1
src=$2
work=$3
mkdir -p "$work" || exit 1
/usr/bin/python3 "$src/scripts/export_models.py" "$work" --models mobilenet_v2 --opsets 11,17
case $? in
    0) ;;
    77) echo "SKIP: /usr/bin/python3 cannot import torch, torchvision and onnx"; exit 77 ;;
    *) echo "FAIL: the export failed"; exit 1 ;;
esac
status=0
for opset in 11 17; do
    model="$work/mobilenet_v2_opset$opset.onnx"
    out=$("$tessera" graph "$model" 2>"$work/err") ||
        { echo "FAIL: tessera graph at opset $opset:"; cat "$work/err"; status=1; continue; }
    echo "$out" | grep -q "%output : float32\[1, 1000\] = Gemm" ||
        { echo "FAIL: opset $opset: no [1, 1000] Gemm output"; echo "$out" | tail -5; status=1; }
    grep -q 'dimension 0 ("N") fixed to 1' "$work/err" ||
        { echo "FAIL: opset $opset: no note on the batch dimension"; status=1; }
    out=$("$tessera" graph "$model" --input-shape input=4x3x224x224 2>&1) ||
        { echo "FAIL: --input-shape at opset $opset"; status=1; continue; }
    echo "$out" | grep -q "%output : float32\[4, 1000\]" ||
        { echo "FAIL: opset $opset: --input-shape did not give [4, 1000]"; status=1; }
    echo "opset $opset: $(echo "$out" | grep -c ' = ') nodes imported"
    # The graph passes: every shape known, each of the 52 convolutions anchoring a group
    # (with the pool and the classifier, 54), an arena smaller than the naive sum.
    out=$("$tessera" graph "$model" --after memory_plan 2>"$work/err") ||
        { echo "FAIL: --after memory_plan at opset $opset:"; cat "$work/err"; status=1; continue; }
    echo "$out" | grep -q '?' && { echo "FAIL: opset $opset: a shape is unknown after the passes"; status=1; }
    anchored=$(echo "$out" | grep -c '^  group [0-9]* anchored')
    [ "$anchored" -eq 54 ] || { echo "FAIL: opset $opset: $anchored anchored groups, expected 54"; status=1; }
    plan=$(echo "$out" | grep '^  memory plan: ')
    arena=$(echo "$plan" | sed 's/.*arena \([0-9]*\) bytes.*/\1/')
    naive=$(echo "$plan" | sed 's/.*naive \([0-9]*\) bytes.*/\1/')
    [ -n "$arena" ] && [ "$arena" -lt "$naive" ] ||
        { echo "FAIL: opset $opset: no memory plan with reuse: $plan"; status=1; }
    echo "opset $opset: $plan"
done
exit $status
